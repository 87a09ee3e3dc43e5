"""Runs of Chapters 4-6 end to end at the smoke preset: caches, resume, the headline numbers,
momentum buffers (the cache's own checks are in test_cifar_cache_checks)."""
from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest
import torch

from sgd_escape.cifar.experiments import EXPERIMENTS, preset_config, total_units
from sgd_escape.cifar.pipeline import run_experiment
from sgd_escape.cifar.results import load_result
from sgd_escape.cifar.runner import BudgetExhausted, Run


@pytest.fixture(scope="module")
def smoke_root(tmp_path_factory):
    return tmp_path_factory.mktemp("data")


def smoke(experiment, root, work):
    return run_experiment(experiment, "smoke", data="synthetic", out=root, work=work, progress=False)


@pytest.mark.slow
@pytest.mark.parametrize("experiment", list(EXPERIMENTS))
def test_smoke_run_writes_a_cache_the_loader_accepts(experiment, smoke_root, tmp_path):
    smoke(experiment, smoke_root, tmp_path / "work")
    result = load_result(experiment, "smoke", smoke_root)
    config = preset_config(experiment, "smoke")
    assert result.provenance["dataset_source"].startswith("synthetic")
    assert result.config["dataset"] == experiment.rsplit("-", 1)[1]
    assert {"git_commit", "device_name", "torch_version", "wall_seconds", "command"} <= set(result.provenance)
    kind = config["kind"]
    if kind == "fig5":
        _assert_distances_are_to_the_last_snapshot(result, tmp_path / "work", config["epochs"])
        assert result.curves["inner_raw"].shape == (config["epochs"], config["trials"])
        assert result.curves["grad_norm_max"].shape == (config["epochs"], config["trials"])
        assert np.all(result.curves["grad_norm_min"] <= result.curves["grad_norm_max"])
        assert np.all(result.curves["ball_raw_min"] <= result.curves["ball_raw_max"])
        assert np.all(result.curves["step_raw_min"] <= result.curves["step_raw_max"])
        assert result.curves["step_length_min"].shape == result.curves["ball_raw_min"].shape
        assert np.all(result.curves["step_length_min"] > 0)
    elif kind == "slope":
        branches = config["branches"]
        assert result.curves["inner_raw"].shape == (config["branch_epochs"], branches, branches)
        assert result.scalars["inner_products_to_other_finals"] == config["branch_epochs"] * branches * (branches - 1)
    else:
        assert result.curves["restart_distance_from_init"].shape == (len(config["restart_epochs"]),)
        assert result.curves["base_distance_from_init"][0] == 0
        starts = config["restart_epochs"]
        assert result.curves["path_inner_raw"].shape == (max(starts), len(starts))
        assert result.scalars["inner_products_whole_trajectory"] == result.scalars["inner_products"] + sum(starts)
        _assert_epoch_distances_are_between_snapshots(result, tmp_path / "work", config)


def _assert_epoch_distances_are_between_snapshots(result, work, config):
    """Chapter 6's motion per epoch is ||x_{t+1} - x_t|| between the snapshots of each phase."""
    from sgd_escape.cifar.runner import Run

    run = Run(work, result.config, "cpu", None, 1, progress=False)
    curves, length = result.curves, config["restart_length"]
    base = [run.load_snapshot("base", t)["params"].double() for t in range(config["base_epochs"] + 1)]
    expected = [(later - earlier).norm(dim=1).item() for earlier, later in zip(base, base[1:])]
    np.testing.assert_allclose(curves["base_epoch_distance"], expected, rtol=1e-6)
    # the triangle inequality: a step is at least the change of the distance from x_0
    assert np.all(curves["base_epoch_distance"] >= np.abs(np.diff(curves["base_distance_from_init"])) - 1e-9)
    # a restart's last epoch ends at its end point, which the probe measured from x_{T-1}
    np.testing.assert_allclose(curves["restart_epoch_distance"][-1], curves["inner_distance"][length - 1], rtol=1e-6)
    first = (run.load_snapshot("restarts", 1)["params"] - run.load_snapshot("restarts", 0)["params"]).double()
    np.testing.assert_allclose(curves["restart_epoch_distance"][0], first.norm(dim=1).numpy(), rtol=1e-6)


def _assert_distances_are_to_the_last_snapshot(result, work, epochs):
    """Figure 5's x_T is the weights after the last epoch: the probe's distances are to it."""
    from sgd_escape.cifar.runner import Run

    run = Run(work, result.config, "cpu", None, 1, progress=False)
    final = run.load_snapshot("train", epochs)["params"].double()
    for t in range(epochs):
        start = run.load_snapshot("train", t)["params"].double()
        np.testing.assert_allclose(result.curves["inner_distance"][t], (final - start).norm(dim=1).numpy(), rtol=1e-6)
    assert result.curves["inner_distance"][-1].min() > 0


def test_fig5_headline_numbers_are_the_minimum_from_epoch_5_and_the_maxima_around_the_drop():
    from sgd_escape.cifar.pipeline import fig5_scalars

    raw = np.ones((8, 2))
    raw[3, 0], raw[6, 1], raw[7, 0] = -9.0, -0.5, 0.25        # epoch 3 comes before epoch 5
    norms = np.ones((8, 2))
    norms[2, 1], norms[6, 0] = 4.0, 12.0                       # before and after the drop at 5
    curves = {"inner_raw": raw, "inner_cosine": raw / 10, "ball_epochs": np.array([0, 4, 6]),
              "ball_raw_min": np.array([[-1.0], [-2.0], [0.5]]), "grad_norm_max": norms,
              "step_raw_min": np.array([[-3.0], [-4.0], [0.75]]),
              "step_length_max": np.array([[0.5], [0.25], [0.125]]),
              "test_accuracy": np.full((9, 2), 0.5), "train_loss": np.full((9, 2), 2.0)}
    scalars = fig5_scalars(curves, {"lr_milestones": [5], "epochs": 8})
    assert scalars["min_step_inner_from_epoch_5"] == 0.75 and scalars["max_step_length"] == 0.5
    assert scalars["min_inner_from_epoch_5"] == -0.5 and scalars["min_cosine_from_epoch_5"] == -0.05
    assert scalars["negative_inner_from_epoch_5"] == 1 and scalars["inner_products_from_epoch_5"] == 6
    assert scalars["min_ball_inner_from_epoch_5"] == 0.5
    assert scalars["max_grad_norm_before_first_drop"] == 4.0 and scalars["max_grad_norm_after_first_drop"] == 12.0


def test_whole_trajectory_counts_only_the_base_epochs_before_each_restart():
    from sgd_escape.cifar.pipeline import spectrum_scalars

    path = np.ones((3, 2))
    path[2, 0] = -1.0          # after restart 0 began (epoch 2): not on its way, so not counted
    path[1, 1] = -1.0          # on restart 1's way (it starts at epoch 3)
    curves = {"inner_raw": np.ones((4, 2)), "path_inner_raw": path, "restart_epochs": np.array([2, 3])}
    scalars = spectrum_scalars(curves)
    assert scalars["restart_one_point_convex"] == [True, True]
    assert scalars["whole_trajectory_one_point_convex"] == [True, False]
    assert scalars["nonpositive_inner_whole_trajectory"] == 1
    assert scalars["inner_products_whole_trajectory"] == 8 + 2 + 3


@pytest.mark.slow
@pytest.mark.parametrize("experiment", ["fig5-resnet-cifar10", "slope-resnet-cifar10", "spectrumkeep-resnet-cifar10"])
def test_interrupted_and_resumed_run_equals_the_uninterrupted_run(experiment, tmp_path):
    whole = load_result(experiment, "smoke", smoke(experiment, tmp_path / "a", tmp_path / "wa").parent.parent)
    stops = 0
    while True:
        try:
            run_experiment(experiment, "smoke", data="synthetic", out=tmp_path / "b", work=tmp_path / "wb",
                           progress=False, max_minutes=0)
            break
        except BudgetExhausted:
            stops += 1
    resumed = load_result(experiment, "smoke", tmp_path / "b")
    assert stops >= 5
    assert resumed.curves.keys() == whole.curves.keys()
    for key, values in whole.curves.items():
        np.testing.assert_array_equal(resumed.curves[key], values, err_msg=key)
    assert resumed.scalars == whole.scalars


def test_a_work_folder_of_another_config_is_refused(tmp_path):
    Run(tmp_path, {"a": 1}, "cpu", None, 1, progress=False).save()
    with pytest.raises(RuntimeError, match="another config"):
        Run(tmp_path, {"a": 2}, "cpu", None, 1, progress=False)


@pytest.mark.parametrize("damage", [lambda data: data[:50], lambda data: b"not a checkpoint" * 4],
                         ids=["truncated", "garbage"])
def test_a_damaged_resume_state_stops_with_the_way_out_and_deletes_nothing(tmp_path, damage):
    Run(tmp_path, {"a": 1}, "cpu", None, 1, progress=False).save()
    damaged = damage((tmp_path / "state.pt").read_bytes())
    (tmp_path / "state.pt").write_bytes(damaged)
    with pytest.raises(RuntimeError, match=r"state\.pt cannot be read .*--fresh to start over") as error:
        Run(tmp_path, {"a": 1}, "cpu", None, 1, progress=False)
    assert "weights_only" not in str(error.value)         # torch's advice to unpickle unsafely is not passed on
    assert (tmp_path / "state.pt").read_bytes() == damaged


@pytest.mark.parametrize("error", [torch.cuda.OutOfMemoryError("CUDA out of memory"),
                                   RuntimeError("CUDA error: an illegal memory access")],
                         ids=["out-of-memory", "cuda-error"])
def test_a_device_error_while_resuming_is_not_called_a_damaged_file(tmp_path, monkeypatch, error):
    """The file is fine: advising --fresh would throw finished work away."""
    Run(tmp_path, {"a": 1}, "cpu", None, 1, progress=False).save()

    def failing_load(*args, **kwargs):
        raise error

    monkeypatch.setattr(torch, "load", failing_load)
    with pytest.raises(type(error), match="^CUDA") as raised:
        Run(tmp_path, {"a": 1}, "cpu", None, 1, progress=False)
    assert "--fresh" not in str(raised.value)


def test_unknown_names_are_refused_with_the_valid_ones(tmp_path):
    with pytest.raises(ValueError, match="valid experiments: fig5-resnet-cifar10"):
        preset_config("fig7", "mini")
    with pytest.raises(ValueError, match="valid presets: smoke, mini, cpu, reduced, paper"):
        run_experiment("fig5-resnet-cifar10", "tiny", data="synthetic", out=tmp_path)


def test_a_diverged_probe_counts_as_not_positive():
    from sgd_escape.cifar.pipeline import fig5_scalars, slope_scalars, spectrum_scalars

    nan = np.full((2, 3, 3), np.nan)
    slope = slope_scalars({"inner_raw": nan, "inner_cosine": nan, "final_distances": np.ones((3, 3))})
    assert slope["nonpositive_to_other_finals"] == 12 and slope["fraction_nonpositive_to_other_finals"] == 1.0
    curves = {"inner_raw": np.array([[np.nan, 1.0]] * 2), "path_inner_raw": np.ones((2, 2)),
              "restart_epochs": np.array([1, 2])}
    spectrum = spectrum_scalars(curves)
    assert spectrum["nonpositive_inner"] == 2 and spectrum["restart_one_point_convex"] == [False, True]
    raw = np.ones((7, 2))
    raw[6, 1] = np.nan
    fig5 = fig5_scalars({"inner_raw": raw, "inner_cosine": raw, "ball_epochs": np.array([0]),
                         "ball_raw_min": np.ones((1, 1)), "grad_norm_max": np.ones((7, 2)),
                         "step_raw_min": np.ones((1, 1)), "step_length_max": np.ones((1, 1)),
                         "test_accuracy": np.ones((8, 2)), "train_loss": np.ones((8, 2))},
                        {"lr_milestones": [3], "epochs": 7})
    assert fig5["negative_inner_from_epoch_5"] == 1


@pytest.mark.parametrize("experiment", list(EXPERIMENTS))
def test_every_preset_probes_whole_batches(experiment):
    from sgd_escape.cifar.experiments import PRESETS

    for preset in PRESETS:
        config = preset_config(experiment, preset)
        for key in ("probe_examples", "ball_examples"):
            if key in config:
                assert config[key] % min(config["probe_batch_size"], config[key]) == 0, (preset, key)


def test_short_runs_count_from_their_last_epoch_and_a_run_without_a_counted_ball_says_nan():
    from sgd_escape.cifar.pipeline import fig5_scalars
    from sgd_escape.cifar.probes import counted_ball_epochs, first_counted_epoch

    assert [first_counted_epoch(e) for e in (1, 3, 6, 40)] == [0, 2, 5, 5]
    assert counted_ball_epochs([0, 2, 4, 6], 40).tolist() == [False, False, False, True]
    assert counted_ball_epochs([0, 2], 3).tolist() == [False, True]
    raw = np.ones((4, 1))
    curves = {"inner_raw": raw, "inner_cosine": raw, "ball_epochs": np.array([0, 2]),
              "ball_raw_min": np.array([[-1.0], [-2.0]]), "grad_norm_max": raw,
              "step_raw_min": np.array([[-1.0], [-2.0]]), "step_length_max": np.ones((2, 1)),
              "test_accuracy": np.ones((5, 1)), "train_loss": np.ones((5, 1))}
    scalars = fig5_scalars(curves, {"lr_milestones": [2], "epochs": 4})
    assert np.isnan(scalars["min_ball_inner_from_epoch_5"])   # balls at 0 and 2 come before epoch 3
    assert np.isnan(scalars["min_step_inner_from_epoch_5"])
    assert scalars["inner_products_from_epoch_5"] == 1


@pytest.mark.parametrize("experiment", list(EXPERIMENTS))
def test_presets_grow_in_work_and_chapters_prefer_the_larger(experiment):
    from sgd_escape.cifar.experiments import PRESETS, image_passes
    from sgd_escape.cifar.results import PRESET_PREFERENCE

    passes = [image_passes(preset_config(experiment, preset))["passes"] for preset in PRESETS]
    assert passes == sorted(passes) and len(set(passes)) == len(passes), dict(zip(PRESETS, passes))
    assert PRESET_PREFERENCE == tuple(reversed(PRESETS[1:]))      # smoke is for the tests only


@pytest.mark.slow
def test_exercise_5_3_branches_start_at_the_same_point_with_zeroed_buffers(smoke_root, tmp_path):
    """Exercise 5.3's run differs from Section 5.3's only in the branches' momentum buffers: the
    branch point is the same, the branches' first epoch is not."""
    for name in ("slope-resnet-cifar10", "slopezero-resnet-cifar10"):
        smoke(name, tmp_path, tmp_path / name)
    shared, zeroed = (load_result(name, "smoke", tmp_path) for name in ("slope-resnet-cifar10", "slopezero-resnet-cifar10"))
    assert zeroed.config == {**shared.config, "experiment": "slopezero-resnet-cifar10", "branch_momentum": "zeroed"}
    for key in ("test_loss", "train_loss"):                       # evaluated at the branch point
        np.testing.assert_array_equal(zeroed.curves[key][0], shared.curves[key][0])
        assert not np.allclose(zeroed.curves[key][1], shared.curves[key][1])


def test_zeroed_branches_get_no_momentum_buffer_and_shared_ones_get_the_runs():
    import torch
    from sgd_escape.cifar.models import build_ensemble
    from sgd_escape.cifar.runner import replicate_into
    from sgd_escape.cifar.training import make_optimizer

    one = build_ensemble("resnet14", 1, 10, 0)
    source = make_optimizer(one, 0.1, 0.9, 0.0)
    one(torch.zeros(2, 3, 32, 32)).sum().backward()
    source.step()                                                  # the shared run's buffer: its gradient
    branches = build_ensemble("resnet14", 3, 10)
    for saved, expect_buffer in ((None, False), (source.state_dict(), True)):
        optimizer = make_optimizer(branches, 0.1, 0.9, 0.0)
        replicate_into(branches, one.state_dict(), saved, optimizer)
        assert all(("momentum_buffer" in optimizer.state[p]) == expect_buffer for p in branches.parameters())
    first = next(iter(branches.parameters()))
    shared_buffer = next(iter(source.state.values()))["momentum_buffer"]
    assert torch.equal(optimizer.state[first]["momentum_buffer"], shared_buffer.repeat(3, *[1] * (shared_buffer.dim() - 1)))


@pytest.mark.slow
def test_exercise_6_2_twins_repeat_the_plain_restarts_and_the_kept_buffer_is_the_runs(tmp_path):
    """Exercise 6.2's run: its twins are the plain run's restarts to the last bit, its restarts
    start from the same points with the buffer the run at 0.1 had there, and the twin distances
    are measured between the two phases' snapshots."""
    from sgd_escape.cifar.runner import Run

    for name in ("spectrum-resnet-cifar10", "spectrumkeep-resnet-cifar10"):
        smoke(name, tmp_path, tmp_path / name)
    fresh, kept = (load_result(name, "smoke", tmp_path) for name in ("spectrum-resnet-cifar10", "spectrumkeep-resnet-cifar10"))
    assert kept.config == {**fresh.config, "experiment": "spectrumkeep-resnet-cifar10", "restart_momentum": "kept"}
    for key in ("train_loss", "test_loss", "train_loss_running"):
        np.testing.assert_array_equal(kept.curves[f"twin_{key}"], fresh.curves[f"restart_{key}"])
    np.testing.assert_array_equal(kept.curves["restart_test_loss"][0], fresh.curves["restart_test_loss"][0])
    assert not np.allclose(kept.curves["restart_test_loss"][1], fresh.curves["restart_test_loss"][1])
    run = Run(tmp_path / "spectrumkeep-resnet-cifar10", kept.config, "cpu", None, 1, progress=False)
    starts, length = kept.config["restart_epochs"], kept.config["restart_length"]
    buffers = torch.cat([run.load_snapshot("base", e)["momentum"] for e in starts]).double()
    np.testing.assert_allclose(kept.curves["restart_momentum_norm"], buffers.norm(dim=1).numpy(), rtol=1e-12)
    gap = run.load_snapshot("restarts", length)["params"] - run.load_snapshot("fresh_twins", length)["params"]
    np.testing.assert_allclose(kept.curves["twin_distance"][-1], gap.double().norm(dim=1).numpy(), rtol=1e-12)
    assert np.all(kept.curves["twin_distance"][0] == 0) and np.all(kept.curves["twin_distance"][1:] > 0)
    assert run.state["units"] == total_units(kept.config)                 # the progress bar's length


def test_snapshots_keep_the_momentum_buffers_and_restarts_can_start_from_them(tmp_path):
    from sgd_escape.cifar.models import build_ensemble
    from sgd_escape.cifar.runner import load_snapshot_members, momentum_buffers
    from sgd_escape.cifar.training import make_optimizer

    run = Run(tmp_path, {"experiment": "x"}, "cpu", None, 1, progress=False)
    one = build_ensemble("resnet14", 1, 10, 0)
    optimizer = make_optimizer(one, 0.1, 0.9, 0.0)
    assert all(torch.equal(b, torch.zeros_like(p)) for b, p in zip(momentum_buffers(one, optimizer), one.parameters()))
    run.save_snapshot("base", 0, one, optimizer)
    one(torch.ones(2, 3, 32, 32)).sum().backward()
    optimizer.step()
    run.save_snapshot("base", 1, one, optimizer)
    run.save_snapshot("plain", 1, one)
    assert torch.all(run.load_snapshot("base", 0)["momentum"] == 0) and "momentum" not in run.load_snapshot("plain", 1)
    restarts = build_ensemble("resnet14", 2, 10)
    fresh_optimizer = make_optimizer(restarts, 0.01, 0.9, 0.0)
    load_snapshot_members(restarts, [run.load_snapshot("base", e) for e in (0, 1)], fresh_optimizer)
    first, source = next(iter(restarts.parameters())), next(iter(one.parameters()))
    buffer = fresh_optimizer.state[first]["momentum_buffer"].reshape(2, -1)      # members lead every tensor
    saved = optimizer.state[source]["momentum_buffer"].reshape(-1)
    assert torch.all(buffer[0] == 0) and torch.equal(buffer[1], saved) and torch.any(saved != 0)
    with pytest.raises(ValueError, match="^snapshots must hold momentum buffers"):
        load_snapshot_members(restarts, [run.load_snapshot("plain", 1)] * 2, fresh_optimizer)


def test_a_kept_buffer_counts_its_twins_in_the_work_and_the_expected_curves():
    from sgd_escape.cifar.experiments import image_passes
    from sgd_escape.cifar.results import expected_shapes

    fresh, kept = (preset_config(name, "cpu") for name in ("spectrum-resnet-cifar10", "spectrumkeep-resnet-cifar10"))
    assert total_units(kept) == total_units(fresh) + kept["restart_length"] + 1
    assert image_passes(kept)["passes"] > image_passes(fresh)["passes"]
    extra = set(expected_shapes(kept)) - set(expected_shapes(fresh))
    assert extra == {"twin_train_loss", "twin_distance", "restart_momentum_norm", "restart_momentum_cosine"}
    assert expected_shapes(kept)["twin_distance"] == (kept["restart_length"] + 1, len(kept["restart_epochs"]))


def test_restarts_train_at_the_restart_rate_and_the_smooth_schedule_is_passed_on():
    from sgd_escape.cifar.pipeline import schedule_of

    spectrum = preset_config("spectrum-resnet-cifar10", "mini")
    assert spectrum["lr"] == 0.1 and spectrum["restart_lr"] == 0.01
    assert schedule_of(spectrum)["lr"] == 0.1 and schedule_of(spectrum, spectrum["restart_lr"])["lr"] == 0.01
    smooth = {"lr": 0.1, "momentum": 0.9, "weight_decay": 5e-4, "batch_size": 128, "train_eval_examples": 8,
              "lr_milestones": [], "lr_per_epoch": 0.97}
    assert schedule_of(smooth)["lr_per_epoch"] == 0.97


def test_epoch_distances_are_between_consecutive_snapshots_not_from_the_first():
    from sgd_escape.cifar.pipeline import epoch_distances

    path = {0: [[0.0, 0.0]], 1: [[3.0, 4.0]], 2: [[3.0, 5.0]]}          # one member: 5 then 1
    run = SimpleNamespace(load_snapshot=lambda phase, epoch: {"params": torch.tensor(path[epoch])})
    np.testing.assert_allclose(epoch_distances(run, "restarts", 2), [[5.0], [1.0]])


def _resume_until_done(work, call, most=20):
    """Call ``call(run)`` with a run of budget 0 (it stops after every unit) until it finishes."""
    for stops in range(most):
        try:
            return call(Run(work, {"experiment": "x"}, "cpu", 0, 1, progress=False)), stops
        except BudgetExhausted:
            continue
    raise AssertionError(f"not finished after {most} resumptions: a unit is repeated")


def test_a_resumed_probe_phase_computes_every_unit_once_in_order(tmp_path):
    from sgd_escape.cifar.runner import probe_phase

    computed = []

    def compute(unit):
        computed.append(unit)
        return {"value": torch.tensor(10.0 * unit)}

    results, stops = _resume_until_done(tmp_path, lambda run: probe_phase(run, "probe", [3, 1, 2], compute))
    assert computed == [3, 1, 2] and stops == 3
    assert results["value"].tolist() == [30.0, 10.0, 20.0]


def test_a_resumed_train_phase_trains_each_epoch_once_from_the_saved_weights_and_momentum(tmp_path, monkeypatch):
    """A one-weight model on f(w) = w^2 / 2 with momentum: stopping after every epoch and resuming
    (a new model each time, as a new process builds) must give the records of an uninterrupted run."""
    from sgd_escape.cifar import runner, training

    trained = []

    def train_epoch(model, optimizer, data, plan, lr):
        trained.append(lr)
        for group in optimizer.param_groups:
            group["lr"] = lr
        optimizer.zero_grad()
        (model.weight ** 2).sum().div(2).backward()
        optimizer.step()
        return {"grad_norm_max": model.weight.grad.detach().abs().reshape(1).clone()}

    monkeypatch.setattr(runner, "train_epoch", train_epoch)
    monkeypatch.setattr(runner, "evaluate", lambda model, *args: {"loss": model.weight.detach().reshape(1).clone()})
    monkeypatch.setattr(training, "epoch_plan", lambda *args: None)
    data = SimpleNamespace(train_images=lambda count: None, train_labels=torch.zeros(4), test_images=None,
                           test_labels=None, train_size=4)
    schedule = {"lr": 0.5, "momentum": 0.9, "weight_decay": 0.0, "batch_size": 1, "train_eval_examples": 1,
                "lr_milestones": [2]}

    def train(run):
        model = torch.nn.Linear(1, 1, bias=False)
        model.members = 1
        model.register_buffer("running_mean", torch.zeros(1))          # snapshots hold the buffers too
        with torch.no_grad():
            model.weight.fill_(1.0)
        return runner.train_phase(run, "train", model, data, [0], 4, schedule)

    whole = train(Run(tmp_path / "whole", {"experiment": "x"}, "cpu", None, 1, progress=False))
    trained.clear()
    resumed, stops = _resume_until_done(tmp_path / "resumed", train)
    assert trained == [0.5, 0.5, 0.05, 0.05] and stops == 5            # epochs 0-3 once; 5 evaluations
    assert resumed.keys() == whole.keys()
    for key in whole:
        torch.testing.assert_close(resumed[key], whole[key], msg=key)


def test_active_time_adds_up_over_saves_and_the_budget_stops_before_a_unit_that_would_overrun_it(tmp_path, monkeypatch):
    from sgd_escape.cifar import runner

    clock = iter([0.0, 0.0, 10.0, 25.0, 40.0, 40.0])       # the run's start and mark, then each reading
    monkeypatch.setattr(runner, "time", SimpleNamespace(monotonic=lambda: next(clock)))
    run = Run(tmp_path, {"experiment": "x"}, "cpu", 1, 1, progress=False)     # a one-minute budget
    run.save()
    run.save()
    assert run.state["active_seconds"] == 25.0
    with pytest.raises(BudgetExhausted):                   # at 40 s, another 30-second unit would end at 70 s
        run.unit_done(30.0)
