"""What Chapters 4-6 show from the committed caches, and the trainer benchmark on a CPU."""
from __future__ import annotations

import importlib.util
from types import SimpleNamespace

import matplotlib
import numpy as np
import pytest

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from conftest import ROOT  # noqa: E402
from sgd_escape.cifar import figures, spectrum_tables, tables  # noqa: E402
from sgd_escape.cifar.experiments import SECTION5_CIFAR10  # noqa: E402
from sgd_escape.cifar.results import best_cached  # noqa: E402


@pytest.mark.parametrize("experiment", SECTION5_CIFAR10)
def test_every_cifar10_experiment_has_a_valid_committed_cache(experiment):
    result = best_cached(experiment, ROOT / "data")
    assert result is not None, f"data/{experiment} holds no cache that matches its preset"
    assert result.provenance["dataset_source"] and result.provenance["git_commit"] != "unknown"


def test_data_folder_stays_small():
    size = sum(p.stat().st_size for p in (ROOT / "data").rglob("*") if p.is_file())
    assert size < 20e6, size


def test_figure5_panels_and_verdict_follow_the_cached_numbers(monkeypatch):
    monkeypatch.chdir(ROOT / "chapters")
    results = figures.load_cached("fig5")
    fig, axes = plt.subplots(1, 3)
    figures.plot_figure5(axes, results)
    assert len(axes[0].lines) == 1 + len(results)           # the zero line and one line per network
    verdict = tables.fig5_verdict(results)
    assert verdict["total"] == sum(r.scalars["inner_products_from_epoch_5"] for r in results.values())
    plt.close(fig)


def test_tables_escape_html_and_keep_a_markdown_form():
    table = tables.show_table(["a", "b"], [[1, "<x>"]])
    assert "&lt;x&gt;" in table.html and "| 1 | <x> |" in table.markdown
    with pytest.raises(ValueError, match="rows must have 2 cells"):
        tables.show_table(["a", "b"], [[1, 2, 3]])


def _spectrum_result(**changes):
    """Three restarts whose losses fall, distances grow and inner products stay positive."""
    curves = {"restart_train_loss": np.array([[2.3, 2.3, 2.3], [1.5, 1.2, 0.9]]),
              "restart_test_loss": np.array([[2.3, 2.3, 2.3], [1.6, 1.4, 1.1]]),
              "restart_distance_from_init": np.array([3.0, 5.0, 8.0]), "inner_raw": np.full((4, 3), 0.1)}
    scalars = {"whole_trajectory_one_point_convex": [True, True, True]}
    for key, value in changes.items():
        (scalars if key in scalars else curves)[key] = value
    return SimpleNamespace(curves=curves, scalars=scalars)


@pytest.mark.parametrize("key, change", [
    ("train_loss_falls", {"restart_train_loss": np.array([[2.3] * 3, [1.5, 1.5, 0.9]])}),
    ("test_loss_falls", {"restart_test_loss": np.array([[2.3] * 3, [1.6, 1.7, 1.1]])}),
    ("distance_grows", {"restart_distance_from_init": np.array([3.0, 2.0, 8.0])}),
    ("all_one_point_convex", {"inner_raw": np.array([[0.1] * 3] * 3 + [[0.1, 0.0, 0.1]])}),
    ("whole_trajectories_one_point_convex", {"whole_trajectory_one_point_convex": [True, False, True]}),
])
def test_each_spectrum_trend_fails_exactly_when_its_observation_does(key, change):
    assert all(spectrum_tables.spectrum_trends({"net": _spectrum_result()})["net"].values())
    trend = spectrum_tables.spectrum_trends({"net": _spectrum_result(**change)})["net"]
    assert [k for k, holds in trend.items() if not holds] == [key]


def test_fig5_verdict_counts_signs_from_epoch_5_and_the_longest_step():
    curves = {"grad_norm_max": np.array([[1.0, 2.0], [3.0, 1.0], [20.0, 5.0], [1.0, 1.0]]),
              "ball_epochs": np.array([0, 2, 4, 6]), "ball_raw_min": np.array([[-1.0], [1.0], [3.0], [-0.5]]),
              "ball_raw_mean": np.array([[-0.5], [2.0], [4.0], [np.nan]]),
              "ball_raw_max": np.array([[1.0], [3.0], [5.0], [0.5]]),
              "inner_raw": np.linspace(-0.7, 0.7, 8)[:, None], "inner_distance": np.linspace(1.0, 0.125, 8)[:, None]}
    config = {"lr": 0.1, "lr_milestones": [2], "epochs": 8, "ball_points": 4, "ball_radius": 0.5}
    result = SimpleNamespace(curves=curves, config=config, preset="mini",
                             scalars={"negative_inner_from_epoch_5": 2, "inner_products_from_epoch_5": 6})
    verdict = tables.fig5_verdict({"a": result, "b": None})
    assert verdict["nonpositive"] == 2 and verdict["total"] == 6
    assert verdict["ball_nonpositive"] == 1                   # epoch 6 only: epoch 0 is before epoch 5
    assert verdict["ball_mean_nonpositive"] == 1              # a NaN mean (a diverged probe) is no success
    assert verdict["ball_probed"] == 1                        # of the balls probed from epoch 5 on
    assert verdict["ball_mean_mixed"] == 1                    # epoch 6: mean NaN, yet a point at 0.5 > 0
    assert verdict["ball_mean_reach"] == pytest.approx(2.0)   # radius 0.5 over the 0.25 still to go
    assert verdict["max_step"] == pytest.approx(0.3)          # 0.1 x 3 beats 0.01 x 20
    # the value at x_6 itself, and radius 0.5 over the distance 0.25 still to go at epoch 6
    assert tables.ball_nonpositive_rows({"a": result}) == [["a (mini, 4 points)", 6, 0, "-0.5", "nan", "0.5", "0.5", "2"]]
    # Lemma 6: the one ball from epoch 5 on has a NaN mean, so it is counted as not positive
    assert tables.hoeffding_ball_rows({"a": result, "b": None}) == [["a (mini)", 1, 4, 0, 1, "none", "none"]]


def test_hoeffding_ball_rows_certify_tight_balls_and_count_the_points_wide_ones_need():
    curves = {"ball_epochs": np.array([5, 6, 7]), "ball_raw_mean": np.array([[1.0], [0.1], [-0.1]]),
              "ball_raw_min": np.array([[0.9], [-1.0], [-0.2]]), "ball_raw_max": np.array([[1.1], [1.0], [0.0]])}
    result = SimpleNamespace(curves=curves, config={"epochs": 8, "ball_points": 4}, preset="mini")
    # wide ball: range 2 over mean 0.1; 2 sqrt(ln 20 / (2 n)) < 0.1 needs n > 599.1, so 600 points
    assert tables.hoeffding_ball_rows({"a": result}) == [["a (mini)", 3, 4, 1, 1, "20", 600]]
    assert tables.hoeffding_ball_rows({"b": None}) == [["none", "", "", "", "", "", ""]]


def test_hoeffding_ball_rows_round_the_largest_spread_up_so_the_prose_bound_stays_true():
    curves = {"ball_epochs": np.array([5]), "ball_raw_mean": np.array([[1.0]]),
              "ball_raw_min": np.array([[0.5]]), "ball_raw_max": np.array([[1.350028]])}
    result = SimpleNamespace(curves=curves, config={"epochs": 6, "ball_points": 100}, preset="mini")
    # range over mean 0.850028: "0.85" (nearest) would understate it in "at most ... times that mean"
    assert tables.hoeffding_ball_rows({"a": result})[0][5] == "0.86"


def test_gradient_norm_rows_compare_the_first_two_learning_rates_only():
    # epochs 0-1 at the initial rate, 2-3 after the first drop, 4 after the second (not counted)
    mean = np.array([[1.0, 1.0], [1.0, 3.0], [2.0, 2.0], [2.0, 2.0], [9.0, 9.0]])
    top = np.array([[5.0, 1.0], [1.0, 1.0], [2.0, 4.0], [2.0, 2.0], [9.0, 9.0]])
    result = SimpleNamespace(curves={"grad_norm_mean": mean, "grad_norm_max": top}, preset="mini",
                             config={"lr_milestones": [2, 4], "epochs": 5})
    assert tables.gradient_norm_growth({"a": result, "b": None}) == {
        "a": {"mean": (1.5, 2.0), "largest": (5.0, 4.0), "largest_epoch": 2, "window": 2, "largest_later": 2.0}}
    rows = tables.gradient_norm_rows({"a": result, "b": None})
    assert rows[0] == ["a (mini)", "1.5 → 2", "yes", "5 → 4 (epoch 2)", "no"]
    assert rows[-1][0] == "paper" and len(rows) == 2 and {len(row) for row in rows} == {5}


def test_gradient_norm_growth_compares_equal_windows_so_the_first_epochs_stay_out():
    # epochs 0-3 at the initial rate, 4-5 after the first drop: the windows are epochs 2-3 and 4-5;
    # the small norms of epochs 0-1 (the climb from the initialisation) would make the mean "grow"
    mean = np.array([[0.1], [0.1], [2.0], [2.0], [1.5], [1.5], [9.0]])
    top = np.array([[9.0], [1.0], [3.0], [3.0], [2.0], [2.5], [9.0]])
    result = SimpleNamespace(curves={"grad_norm_mean": mean, "grad_norm_max": top}, preset="mini",
                             config={"lr_milestones": [4, 6], "epochs": 7})
    growth = tables.gradient_norm_growth({"a": result})["a"]
    assert growth == {"mean": (2.0, 1.5), "largest": (3.0, 2.5), "largest_epoch": 5, "window": 2, "largest_later": 2.5}
    # a drop after 2 epochs of 7: the window is the 2 epochs before it, not the 5 after it
    result.config = {"lr_milestones": [2], "epochs": 7}
    growth = tables.gradient_norm_growth({"a": result})["a"]
    assert growth["window"] == 2 and growth["mean"] == (0.1, 2.0) and growth["largest"] == (9.0, 3.0)


def test_the_committed_figure5_caches_list_every_failing_ball():
    results = figures.load_cached("fig5")
    verdict = tables.fig5_verdict(results)
    rows = [row for row in tables.ball_nonpositive_rows(results) if row[0] != "none"]
    assert len(rows) == verdict["ball_nonpositive"] <= verdict["ball_probed"]
    assert all(float(row[3]) <= 0 for row in rows)                # the smallest value in the ball


@pytest.mark.slow
def test_benchmark_script_runs_on_a_cpu_with_tiny_settings():
    spec = importlib.util.spec_from_file_location("cifar_trainer", ROOT / "benchmarks" / "cifar_trainer.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    report = module.main(["--device", "cpu", "--data", "synthetic", "--train-examples", "256",
                          "--architecture", "resnet14", "--members", "2", "--workers", "0", "--project"])
    assert report["plain_seconds_per_network_epoch"] > 0 and report["trainer_seconds_per_epoch"] > 0
    assert report["speedup_per_network"] == pytest.approx(
        report["plain_seconds_per_network_epoch"] / report["trainer_seconds_per_network_epoch"])


def test_benchmark_projections_measure_each_network_once_across_presets(monkeypatch):
    from sgd_escape.cifar.experiments import image_passes, preset_config

    spec = importlib.util.spec_from_file_location("cifar_trainer", ROOT / "benchmarks" / "cifar_trainer.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    measured = []
    monkeypatch.setattr(module, "throughput", lambda arrays, net, device, members, steps: measured.append((net, members)) or 1e3)
    rates = {}
    projections = [module.projection(None, "cpu", preset, 10, rates) for preset in ("reduced", "paper")]
    wanted = {(w["architecture"], w["members"]) for w in (image_passes(preset_config(n, p))
              for n in SECTION5_CIFAR10 for p in ("reduced", "paper"))}
    assert sorted(measured) == sorted(wanted)                     # each once, though both presets use most
    for preset, projection in zip(("reduced", "paper"), projections):
        name = "fig5-resnet-cifar10"
        work = image_passes(preset_config(name, preset))
        assert projection["device_hours"][name] == pytest.approx(work["passes"] / 1e3 / 3600)


def test_cifar100_results_join_the_chapters_once_cached(tmp_path, monkeypatch):
    from cifar_fakes import write_fake_result

    monkeypatch.setenv("SGD_ESCAPE_DATA", str(tmp_path))
    assert set(figures.load_cached("fig5")) == {"resnet", "densenet"}
    name = "fig5-densenet-cifar100"
    write_fake_result(tmp_path, name, "mini")
    assert figures.load_cached("fig5")["densenet, CIFAR-100"].config["dataset"] == "cifar100"
    assert figures.color_of("densenet, CIFAR-100") == figures.color_of("densenet")


def test_projected_work_counts_every_training_epoch_of_every_member():
    from sgd_escape.cifar.experiments import image_passes, preset_config

    config = preset_config("fig5-resnet-cifar10", "paper")
    work = image_passes(config)
    assert work["architecture"] == "resnet34" and work["members"] == 5
    assert work["passes"] >= 5 * 300 * 50_000
    assert image_passes(preset_config("fig5-resnet-cifar10", "reduced"))["passes"] < work["passes"] / 10


def test_spectrum_observation_rows_follow_the_trends():
    rows = spectrum_tables.spectrum_observation_rows({"a": _spectrum_result(),
                                             "b": _spectrum_result(restart_distance_from_init=np.array([3.0, 2.0, 8.0]))})
    assert len(rows) == len(spectrum_tables.SPECTRUM_OBSERVATIONS)
    assert rows[2] == [spectrum_tables.SPECTRUM_OBSERVATIONS["distance_grows"], "yes", "no"]
    assert all(row[1:] == ["yes", "yes"] for k, row in enumerate(rows) if k != 2)


def test_spectrum_observation_rows_say_how_many_inner_products_fail_and_where_the_lowest_lies():
    raw = np.full((4, 3), 0.1)
    raw[1, 2], raw[3, 0] = -0.5, 0.0                     # restart 2 at its epoch 1 is the lowest
    result = _spectrum_result(inner_raw=raw, inner_cosine=raw / 10, restart_epochs=np.array([0, 4, 8]),
                              whole_trajectory_one_point_convex=[False, True, False])
    result.scalars.update(nonpositive_inner_whole_trajectory=3, inner_products_whole_trajectory=20)
    rows = {row[0]: row[1] for row in spectrum_tables.spectrum_observation_rows({"a": result})}
    labels = spectrum_tables.SPECTRUM_OBSERVATIONS
    assert rows[labels["all_one_point_convex"]] == \
        "no: 2 of 12, the lowest at epoch 1 of the restart from epoch 8 (cosine -0.05)"
    assert rows[labels["whole_trajectories_one_point_convex"]] == "no: 3 of 20"


def test_sgd_steps_are_epochs_times_whole_batches():
    result = SimpleNamespace(config={"branch_epochs": 4, "train_examples": 384, "batch_size": 128})
    assert tables.sgd_steps(result, "branch_epochs") == 12
    result = SimpleNamespace(config={"restart_length": 2, "train_examples": None, "batch_size": 128})
    assert tables.sgd_steps(result, "restart_length") == 2 * 390          # 50,000 images: 390 whole batches


def _fig5_result():
    raw = np.ones((8, 2))
    raw[2, 0], raw[6, 1] = -1.0, -0.5                       # epoch 2 is before the paper's epoch 5
    curves = {"inner_raw": raw, "inner_cosine": raw / 10, "inner_distance": np.full((8, 2), 3.0),
              "ball_epochs": np.array([0, 4]), "ball_raw_min": np.zeros((2, 1)), "ball_raw_mean": np.ones((2, 1)),
              "ball_raw_max": np.full((2, 1), 2.0), "grad_norm_min": np.ones((8, 2)),
              "grad_norm_mean": np.ones((8, 2)), "grad_norm_max": np.ones((8, 2))}
    return SimpleNamespace(curves=curves, preset="mini")


def test_nonpositive_rows_list_the_failures_from_epoch_5_only():
    rows = tables.nonpositive_rows({"net": _fig5_result()})
    assert rows == [["net (mini)", 6, 1, "-0.5", "-0.05", "3"]]


def test_figure5_panel_a_is_the_minimum_over_trials():
    fig, axes = plt.subplots(1, 3)
    figures.plot_figure5(axes, {"resnet": _fig5_result()})
    drawn = [line for line in axes[0].lines if len(line.get_ydata()) == 8]
    assert len(drawn) == 1
    np.testing.assert_array_equal(drawn[0].get_ydata(), _fig5_result().curves["inner_raw"].min(1))
    plt.close(fig)


def test_symlog_threshold_keeps_small_values_of_either_sign_off_the_linear_band():
    from sgd_escape.cifar.figures import symlog_threshold

    assert symlog_threshold([0.1, -3e-5, 2e-3, np.nan]) == pytest.approx(1e-5)   # at or below the smallest
    assert symlog_threshold([1.0, -1e-12]) == pytest.approx(1e-6)                # at most 6 decades down
    assert symlog_threshold([0.0, np.nan]) == 1.0


def test_motion_per_epoch_draws_each_restart_from_the_epoch_it_starts_at():
    curves = {"base_epoch_distance": np.array([0.4, 0.5, 0.6, 0.7]), "restart_epochs": np.array([2, 4]),
              "restart_epoch_distance": np.array([[0.03, 0.05], [0.02, 0.04]])}
    result = SimpleNamespace(curves=curves, preset="mini")
    fig, axes = plt.subplots(1, 2)
    figures.plot_motion_per_epoch(axes, {"resnet": result, "densenet": None})
    base, first, second = axes[0].lines
    np.testing.assert_array_equal(base.get_xdata(), [1, 2, 3, 4])           # epoch t + 1 of the run at 0.1
    np.testing.assert_array_equal(first.get_xdata(), [3, 4])                 # restart from epoch 2
    np.testing.assert_array_equal(second.get_ydata(), [0.05, 0.04])
    assert axes[0].get_yscale() == "log" and "not cached" in axes[1].texts[0].get_text()
    assert [t.get_text() for t in axes[1].get_legend().get_texts()] == [
        "run at 0.1", "restart from epoch 2", "restart from epoch 4"]
    fig.canvas.draw()
    low, high = axes[0].get_ylim()
    labels = [t.get_text() for t in axes[0].get_yticklabels() if low <= t.get_position()[1] <= high]
    assert {"0.02", "0.05", "0.1", "0.2", "0.5"} <= set(labels)      # not the decades alone
    plt.close(fig)


def test_motion_summary_compares_each_restart_with_the_epoch_that_led_to_its_start():
    curves = {"base_epoch_distance": np.array([1.0, 2.0, 4.0]), "base_distance_from_init": np.array([0, 1, 2, 3.5]),
              "restart_epochs": np.array([1, 3]), "restart_epoch_distance": np.array([[0.1, 0.8], [0.2, 0.6], [0.3, 0.4]]),
              "inner_distance": np.array([[0.2, 1.2], [0.3, 0.4], [0.1, 0.1]])}            # row 0: ||x_T - x_s|| per restart
    summary = spectrum_tables.motion_summary(curves)
    assert summary["early"] == 2.0 and summary["late"] == 4.0 and summary["path"] == 2.0   # 7 / 3.5
    eight = dict(curves, base_epoch_distance=np.array([0.1, 1, 3, 5, 5, 5, 6, 8.0]))  # quarters of 2 epochs
    assert spectrum_tables.motion_summary(eight)["early"] == 2.0 and spectrum_tables.motion_summary(eight)["late"] == 7.0
    assert summary["drop"] == pytest.approx(np.median([0.1 / 1.0, 0.8 / 4.0]))         # epochs 1 and 3 led there
    assert summary["restart_change"] == pytest.approx(np.median([3.0, 0.5]))
    assert summary["late_change"] == pytest.approx(np.median([0.3 / 0.2, 0.4 / 0.6]))    # last over middle epoch
    assert summary["restart_path"] == pytest.approx(np.median([0.6 / 0.2, 1.8 / 1.2]))    # path over displacement
    assert tables.value_range([1.04, 0.98], ".2g") == "0.98 to 1" and tables.value_range([1.0, 1.001], ".2g") == "1"
    runs = {"a": SimpleNamespace(config={"train_examples": None}), "b": None}
    assert tables.images_phrase(runs) == "on the whole training set"
    runs["b"] = SimpleNamespace(config={"train_examples": 1024})
    assert tables.images_phrase(runs) == "on a subset of the images"
    assert tables.trend_word([2.0, 1.5], "grows", "shrinks") == "grows"
    assert tables.trend_word([0.5, 1.0], "grows", "shrinks") == "shrinks"
    assert tables.trend_word([0.5, 2.0], "grows", "shrinks") == "grows in some networks, shrinks in others"
    assert tables.trend_word([0.95, 1.04], "grows", "shrinks", "levels off") == "levels off"
    assert tables.trend_word([0.95, 1.04], "grows", "shrinks") == "grows in some networks, shrinks in others"
    assert tables.trend_word([0.5, 1.3, 1.0], "grows", "shrinks", "levels off", band=0.2) == \
        "grows in some networks, shrinks in others, levels off in the rest"


def test_restart_origins_split_each_trend_into_start_point_and_restart():
    curves = {"restart_epochs": np.array([1, 3]), "restart_distance_from_init": np.array([1.5, 3.2]),
              "base_distance_from_init": np.array([0, 1.2, 2.0, 3.0]),
              "restart_train_loss": np.array([[2.0, 1.8], [1.5, 1.1]]),           # rows: start, end
              "inner_distance": np.array([[0.4, 0.5], [0.1, 0.1]])}               # row 0: ||x_T - x_s||
    origins = spectrum_tables.restart_origins(curves)
    np.testing.assert_allclose(origins["start_distance"], [1.2, 3.0])            # epochs 1 and 3 of the run at 0.1
    np.testing.assert_allclose(origins["separation"], [1.7])
    np.testing.assert_allclose(origins["moved"], [0.4, 0.5])
    summary = spectrum_tables.origin_summary({"a": SimpleNamespace(curves=curves), "b": None})
    np.testing.assert_allclose(summary["own_change"], [0.3, 0.2])
    np.testing.assert_allclose(summary["start_gap"], [1.8])
    np.testing.assert_allclose(summary["loss_fall"], [0.5, 0.7])
    assert summary["distance_inherited"] and summary["ends_apart"]              # 0.3 < 1.8 / 2, 1.7 > 0.5
    close = spectrum_tables.origin_summary({"a": SimpleNamespace(curves=dict(curves, restart_distance_from_init=np.array([1.5, 1.9])))})
    assert not close["ends_apart"] and not close["distance_inherited"]           # 0.4 < 0.5; |1.9 - 3.0| > 0.9
    rows = spectrum_tables.restart_origin_rows({"resnet": SimpleNamespace(curves=curves, preset="mini"), "densenet": None})
    assert rows == [["resnet (mini)", 1, "2.000 → 1.500", "1.2 → 1.5", "0.4", "(first restart)"],
                    ["resnet (mini)", 3, "1.800 → 1.100", "3 → 3.2", "0.5", "1.70"]]
    with pytest.raises(ValueError, match="restart_epochs"):
        spectrum_tables.restart_origins(dict(curves, restart_epochs=np.array([3, 1])))
    with pytest.raises(ValueError, match="results"):
        spectrum_tables.origin_summary({"a": None})
    single = {key: value[..., :1] for key, value in curves.items()}                     # one restart: no pairs
    alone = spectrum_tables.origin_summary({"a": SimpleNamespace(curves=dict(single, base_distance_from_init=curves["base_distance_from_init"]))})
    assert alone["separation"].size == 0 and not alone["ends_apart"] and not alone["distance_inherited"]


def test_slope_against_paper_divides_each_network_by_its_own_paper_fraction():
    def result(fraction):
        return SimpleNamespace(scalars={"fraction_nonpositive_to_other_finals": fraction})
    ratios = tables.slope_against_paper({"resnet": result(2 / 343_000), "densenet": result(0.01), "gone": None})
    assert ratios == {"resnet": pytest.approx(1.0), "densenet": pytest.approx(10.0)}
    assert tables.paper_slope_fraction("densenet") == 0.001


def test_ball_cosines_from_epoch_5_skip_earlier_balls_and_missing_networks():
    curves = {"ball_epochs": np.array([0, 5, 7]), "ball_cosine_mean": np.array([[0.1, 0.4], [0.2, 0.5], [0.3, 0.6]])}
    result = SimpleNamespace(curves=curves, config={"epochs": 8})
    assert tables.ball_cosines_from_epoch_5({"a": result, "b": None}).tolist() == [0.2, 0.5, 0.3, 0.6]
    assert tables.ball_cosines_from_epoch_5({"b": None}).size == 0


def _step_result():
    """Four ball epochs (0, 2, 4, 6) of an eight-epoch run, so that only epoch 6 counts."""
    curves = {"inner_raw": np.ones((8, 1)), "ball_epochs": np.array([0, 2, 4, 6]),
              "ball_raw_mean": np.array([[-1.0], [1.0], [1.0], [0.5]]), "ball_cosine_mean": np.full((4, 1), 0.1),
              "step_raw_mean": np.array([[1.0], [1.0], [1.0], [-0.25]]), "step_raw_min": np.array([[1.0], [1.0], [1.0], [-1.0]]),
              "step_cosine_mean": np.full((4, 1), -0.05), "step_length_min": np.array([[9.0], [0.1], [0.1], [0.2]]),
              "step_length_max": np.array([[9.0], [0.3], [0.3], [0.4]])}
    return SimpleNamespace(curves=curves, config={"ball_radius": 0.5, "step_points": 3}, preset="mini")


def test_step_verdict_counts_from_epoch_5_and_compares_the_signs_with_the_ball():
    from sgd_escape.cifar import side_remarks

    verdict = side_remarks.step_verdict({"a": _step_result(), "b": None})
    assert verdict["probed"] == 1 and verdict["step_nonpositive"] == 1 and verdict["step_mean_nonpositive"] == 1
    assert verdict["ball_mean_nonpositive"] == 0 and verdict["same_sign"] == 0     # -0.25 beside 0.5
    assert (verdict["shortest"], verdict["longest"]) == (0.2, 0.4)                 # epoch 0's 9.0 comes before epoch 5
    assert verdict["step_cosine"] == -0.05 and verdict["radius"] == 0.5
    assert verdict["cosine_gap"] == pytest.approx(0.15)                          # |-0.05 - 0.1|
    rows = side_remarks.step_probe_rows({"a": _step_result(), "b": None})
    assert rows == [["a (mini)", 1, 3, 1, "1 (ball: 0)", "-0.05", "0.1", "0.2 to 0.4 (ball: 0.5)"],
                    ["b", "not cached", "", "", "", "", "", ""]]
    assert side_remarks.step_verdict({"b": None})["probed"] == 0
    assert side_remarks.early_sign_differences({"a": _step_result(), "b": None}) == [("a", 0)]   # -1 beside 1
    assert side_remarks.step_failures_at_x_t({"a": _step_result(), "b": None}) == [("a", 6, -0.25, 1.0)]


def test_step_probe_figure_draws_the_ball_and_the_steps_for_each_network():
    result = _step_result()
    for probe in ("step", "ball"):
        for key in ("min", "max"):
            result.curves[f"{probe}_cosine_{key}"] = result.curves[f"{probe}_cosine_mean"] + (0.01 if key == "max" else -0.01)
    fig, axes = plt.subplots(1, 2)
    figures.plot_step_probe(axes, {"resnet": result, "densenet": None})
    assert len(axes[0].lines) == 3 and axes[0].get_yscale() == "symlog"     # ball, steps, zero line
    assert [line.get_label() for line in axes[0].lines[:2]] == ["ball of radius 0.5", "one SGD step"]
    assert "not cached" in axes[1].texts[0].get_text() and axes[0].get_title() == "resnet (mini)"
    with pytest.raises(ValueError, match="quantity must be"):
        figures.plot_step_probe(axes, {}, "norm")
    plt.close(fig)


def test_count_rows_put_each_networks_counts_under_each_group():
    from sgd_escape.cifar import side_remarks

    result = _step_result()
    result.scalars = {"negative_inner_from_epoch_5": 2, "inner_products_from_epoch_5": 9,
                      "min_cosine_from_epoch_5": -0.0125, "final_test_accuracy_mean": 0.5}
    rows = side_remarks.count_rows({"step schedule": {"a": result}, "smooth schedule": {"a": None}})
    assert rows == [["a, step schedule (mini)", "2 of 9", "-0.0125", "0 of 1", "1 of 1", "0.500"],
                    ["a, smooth schedule", "not cached", "", "", "", ""]]
    share = side_remarks.failure_share({"nonpositive": 2, "total": 9, "ball_mean_nonpositive": 1, "ball_probed": 3})
    assert share == 0.25 and np.isnan(side_remarks.failure_share({"nonpositive": 0, "total": 0,
                                                                  "ball_mean_nonpositive": 0, "ball_probed": 0}))


def test_side_remarks_are_compared_with_step_runs_of_their_own_preset(monkeypatch):
    """A GPU session may leave the smooth runs at `cpu` while Figure 5 shows `reduced`: each
    smooth run is compared with the step run of its own preset, never with another preset's."""
    from sgd_escape.cifar import side_remarks

    monkeypatch.setenv("SGD_ESCAPE_DATA", str(ROOT / "data"))
    twins = side_remarks.step_schedule_twins({"resnet": SimpleNamespace(preset="mini"),
                                              "densenet": SimpleNamespace(preset="reduced"), "vgg": None})
    assert twins["resnet"].experiment == "fig5-resnet-cifar10" and twins["resnet"].preset == "mini"
    assert twins["densenet"] is None and twins["vgg"] is None          # no reduced cache is committed
    at_cpu = side_remarks.figure5_at_preset("cpu")
    assert {net: r.preset for net, r in at_cpu.items()} == {"resnet": "cpu", "densenet": "cpu"}
    assert side_remarks.figure5_at_preset(None, ("resnet",)) == {"resnet": None}


def test_schedule_comparison_finds_where_the_smooth_rate_falls_below_a_tenth():
    from sgd_escape.cifar import side_remarks

    smooth = {"epochs": 40, "lr": 0.1, "lr_per_epoch": 0.99 ** 7.5}
    compared = side_remarks.schedule_comparison(smooth, {"lr_milestones": [20, 30]})
    assert compared["smooth_tenth_epoch"] == 31                   # 0.99 ** (7.5 * 31) < 0.1 < 0.99 ** (7.5 * 30)
    assert compared["step_first_drop"] == 20 and compared["step_last_rate"] == pytest.approx(0.001)
    assert compared["last_ratio"] == pytest.approx(0.99 ** (7.5 * 39) / 0.01)


def test_nonpositive_rows_count_epoch_5_itself_and_not_epoch_4():
    result = _fig5_result()
    result.curves["inner_raw"][4, 0] = result.curves["inner_raw"][5, 0] = -2.0
    assert [row[1:3] for row in tables.nonpositive_rows({"net": result})] == [[5, 0], [6, 1]]


def test_hoeffding_ball_rows_report_no_spread_when_no_ball_has_a_positive_mean():
    curves = {"ball_epochs": np.array([5, 6]), "ball_raw_mean": np.array([[-0.1], [-0.05]]),
              "ball_raw_min": np.array([[-0.2], [-1.0]]), "ball_raw_max": np.array([[0.0], [1.0]])}
    result = SimpleNamespace(curves=curves, config={"epochs": 8, "ball_points": 4}, preset="mini")
    assert tables.hoeffding_ball_rows({"a": result}) == [["a (mini)", 2, 4, 0, 2, "none", "none"]]


def test_spectrum_rows_read_each_restarts_own_way_there_and_its_last_epoch():
    result = _spectrum_result(path_inner_raw=np.array([[0.5, 0.4, 0.3], [0.2, 0.6, 0.7], [-1.0, 0.8, 0.9]]),
                              restart_epochs=np.array([0, 2, 3]))
    result.preset, result.scalars["whole_trajectory_one_point_convex"] = "mini", [True, False, True]
    rows = spectrum_tables.spectrum_rows({"net": result, "other": None})
    # restart 0 starts at x_0: nothing on its way; the -1.0 at epoch 2 comes after restart 1's start
    assert rows == [["net (mini)", 0, "1.500", "1.600", "3", "0.1", "none (starts at x_0)", "yes"],
                    ["net (mini)", 2, "1.200", "1.400", "5", "0.1", "0.4", "no"],
                    ["net (mini)", 3, "0.900", "1.100", "8", "0.1", "0.3", "yes"],
                    ["other", "not cached", "", "", "", "", "", ""]]


def test_ends_lie_apart_only_if_every_separation_exceeds_every_restarts_own_motion():
    curves = {"restart_epochs": np.array([1, 2, 3]), "restart_distance_from_init": np.array([1.0, 3.0, 3.2]),
              "base_distance_from_init": np.array([0.0, 1.0, 2.0, 3.0]),
              "restart_train_loss": np.ones((2, 3)), "inner_distance": np.array([[0.5, 0.5, 0.5]])}
    summary = spectrum_tables.origin_summary({"a": SimpleNamespace(curves=curves)})
    np.testing.assert_allclose(summary["separation"], [2.0, 0.2])
    assert not summary["ends_apart"]                  # 0.2 < 0.5, though 2.0 > 0.5


def test_step_verdict_takes_medians_over_finite_epochs_and_failures_read_their_own_epoch():
    from sgd_escape.cifar import side_remarks

    curves = {"inner_raw": np.arange(10.0)[:, None], "ball_epochs": np.array([0, 5, 6, 7]),
              "step_raw_mean": np.array([[1.0], [-1.0], [2.0], [3.0]]), "step_raw_min": np.zeros((4, 1)),
              "ball_raw_mean": np.ones((4, 1)), "step_length_min": np.ones((4, 1)), "step_length_max": np.ones((4, 1)),
              "step_cosine_mean": np.array([[9.0], [0.1], [0.2], [0.9]]),
              "ball_cosine_mean": np.array([[9.0], [0.3], [0.3], [np.nan]])}      # a diverged ball probe
    result = SimpleNamespace(curves=curves, config={"ball_radius": 0.5}, preset="mini")
    verdict = side_remarks.step_verdict({"a": result})
    assert verdict["step_cosine"] == pytest.approx(0.2)        # median of 0.1, 0.2, 0.9 (the mean is 0.4)
    assert verdict["ball_cosine"] == pytest.approx(0.3)        # the NaN left out
    assert verdict["cosine_gap"] == pytest.approx(0.15)        # median of |0.1 - 0.3|, |0.2 - 0.3|
    assert side_remarks.step_failures_at_x_t({"a": result}) == [("a", 5, -1.0, 5.0)]   # inner_raw at epoch 5
