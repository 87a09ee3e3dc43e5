"""Run an experiment of Section 5 at a preset, resumably, and cache its result (Chapters 4-6).

``run_experiment`` is what ``python -m sgd_escape run`` calls. Work in progress (state and
weight snapshots) goes to ``.cache/runs/<experiment>/<preset>/``; the finished result goes to
``data/<experiment>/<preset>/`` (see :mod:`sgd_escape.cifar.results`).
"""
from __future__ import annotations

import numbers
import shutil
import time
from pathlib import Path

import numpy as np
import torch

from ..checks import require_nonnegative
from .datasets import NUM_CLASSES, load_cifar
from .conditions import conditions_curves
from .experiments import check_names, estimates_conditions, keeps_restart_momentum, preset_config, total_units
from .models import build_ensemble, load_members
from .probes import (all_pairs_inner_products, ball_probe, counted_ball_epochs, first_counted_epoch,
                     not_positive, one_point_inner_products, pairwise_distances, sgd_step_probe)
from .provenance import provenance
from .results import data_root, find_repository_root, make_command, write_result
from .runner import Run, load_snapshot_members, probe_phase, replicate_into, train_phase
from .training import configure_backends, learning_rate, probe_gradient, require_device, to_device


def schedule_of(config: dict, lr: float | None = None) -> dict:
    """The schedule that :func:`~sgd_escape.cifar.runner.train_phase` takes, from ``config``, with
    ``lr`` in place of the config's learning rate when given (Chapters 4-6)."""
    keys = ("lr", "momentum", "weight_decay", "batch_size", "train_eval_examples")
    schedule = {k: config[k] for k in keys}
    schedule["lr_milestones"] = config.get("lr_milestones", [])
    if "lr_per_epoch" in config:                  # the smooth schedule of the fig5smooth runs
        schedule["lr_per_epoch"] = config["lr_per_epoch"]
    if lr is not None:
        schedule["lr"] = lr
    return schedule


def _probe_set(config, data):
    count = config["probe_examples"]
    return data.train_images(count), data.train_labels[:count]


def _gradient_at(run, model, config, data, phase, epoch):
    snapshot = run.load_snapshot(phase, epoch)
    load_members(list(model.parameters()), snapshot["params"])
    images, labels = _probe_set(config, data)
    return probe_gradient(model, images, labels, data, config["probe_batch_size"]), snapshot["params"]


def run_fig5(run: Run, config: dict, data) -> tuple[dict, dict]:
    """Figure 5 (Chapter 4): train the trials together, then probe every epoch start.

    Returns ``(scalars, curves)`` (:func:`fig5_scalars`; the curves as in
    :class:`~sgd_escape.cifar.results.CachedResult`).
    """
    classes, trials, epochs = NUM_CLASSES[config["dataset"]], config["trials"], config["epochs"]
    model = build_ensemble(config["architecture"], trials, classes, config["seed"]).to(run.device)
    seeds = [config["seed"] + k for k in range(trials)]
    records = train_phase(run, "train", model, data, seeds, epochs, schedule_of(config))
    final = run.load_snapshot("train", epochs)["params"]

    def trajectory(epoch):
        gradients, points = _gradient_at(run, model, config, data, "train", epoch)
        return one_point_inner_products(gradients, points, final)

    inner = probe_phase(run, "probe", list(range(epochs)), trajectory)
    chunk = min(config["ball_points"], trials)     # as many networks at once as in training: they fit
    ball_model = build_ensemble(config["architecture"], chunk, classes).to(run.device)
    images, labels = data.train_images(config["ball_examples"]), data.train_labels[:config["ball_examples"]]
    ball_epochs = list(range(0, epochs, config["ball_every"]))

    def ball(epoch):
        points = run.load_snapshot("train", epoch)["params"]
        parts = [ball_probe(ball_model, points[m], final[m], config["ball_radius"], config["ball_points"],
                            config["seed"] + 1000 * epoch + m, images, labels, data,
                            config["probe_batch_size"]) for m in range(config["ball_trials"])]
        return {key: torch.stack([p[key] for p in parts]) for key in parts[0]}

    neighbourhood = probe_phase(run, "ball", ball_epochs, ball)

    def one_step(epoch):      # footnote 7: points one SGD step away instead of the ball
        points = run.load_snapshot("train", epoch)["params"]
        lr = learning_rate(epoch, config["lr"], config["lr_milestones"], per_epoch=config.get("lr_per_epoch"))
        parts = [sgd_step_probe(ball_model, points[m], final[m], lr, config["step_points"],
                                config["seed"] + 1000 * epoch + m, images, labels, data,
                                config["probe_batch_size"], config["batch_size"])
                 for m in range(config["ball_trials"])]
        return {key: torch.stack([p[key] for p in parts]) for key in parts[0]}

    steps = probe_phase(run, "step", ball_epochs, one_step)
    curves = {**_numpy(records), **_numpy(inner, "inner_"), **_numpy(neighbourhood, "ball_"),
              **_numpy(steps, "step_"), "ball_epochs": np.asarray(ball_epochs)}
    return fig5_scalars(curves, config), curves


def fig5_scalars(curves: dict, config: dict) -> dict:
    """Headline numbers of Figure 5: minimum inner products from epoch 5 on (along the trajectory,
    in the balls, one SGD step away), the longest such step, gradient norms (Chapter 4).
    Returns a dict of JSON numbers (NaN where nothing was probed)."""
    raw, cos = curves["inner_raw"], curves["inner_cosine"]
    first = first_counted_epoch(raw.shape[0])
    counted = counted_ball_epochs(curves["ball_epochs"], raw.shape[0])
    ball_min, step_min = curves["ball_raw_min"][counted], curves["step_raw_min"][counted]
    milestone = (config["lr_milestones"] or [config["epochs"]])[0]
    norms_max = curves["grad_norm_max"]
    return {"min_inner_from_epoch_5": float(raw[first:].min()),
            "min_cosine_from_epoch_5": float(cos[first:].min()),
            "negative_inner_from_epoch_5": int(not_positive(raw[first:]).sum()),
            "inner_products_from_epoch_5": int(raw[first:].size),
            "min_ball_inner_from_epoch_5": float(ball_min.min()) if ball_min.size else float("nan"),
            "min_step_inner_from_epoch_5": float(step_min.min()) if step_min.size else float("nan"),
            "max_step_length": float(curves["step_length_max"].max()),
            "max_grad_norm_before_first_drop": float(norms_max[:milestone].max()),
            "max_grad_norm_after_first_drop": float(norms_max[milestone:].max()) if norms_max.shape[0] > milestone else float("nan"),
            "final_test_accuracy_mean": float(curves["test_accuracy"][-1].mean()),
            "final_train_loss_mean": float(curves["train_loss"][-1].mean())}


def run_slope(run: Run, config: dict, data) -> tuple[dict, dict]:
    """Section 5.3 (Chapter 5): a shared start, then branches; all-pairs inner products.

    Returns ``(scalars, curves)`` (:func:`slope_scalars`; the curves as in
    :class:`~sgd_escape.cifar.results.CachedResult`).
    """
    classes, branches, length = NUM_CLASSES[config["dataset"]], config["branches"], config["branch_epochs"]
    shared = build_ensemble(config["architecture"], 1, classes, config["seed"]).to(run.device)
    train_phase(run, "shared", shared, data, [config["seed"]], config["shared_epochs"], schedule_of(config))
    start = run.phase("shared")
    model = build_ensemble(config["architecture"], branches, classes).to(run.device)
    seeds = [config["seed"] + 1000 + k for k in range(branches)]
    buffer = None if config.get("branch_momentum") == "zeroed" else start["optimizer"]     # Exercise 5.3
    records = train_phase(run, "branches", model, data, seeds, length, schedule_of(config),
                          initialise=lambda m, o: replicate_into(m, start["model"], buffer, o))
    finals = run.load_snapshot("branches", length)["params"]

    def probe(epoch):
        gradients, points = _gradient_at(run, model, config, data, "branches", epoch)
        return all_pairs_inner_products(gradients, points, finals)

    inner = probe_phase(run, "probe", list(range(length)), probe)
    curves = {**_numpy(records), **_numpy(inner, "inner_"),
              "final_distances": pairwise_distances(finals).cpu().numpy()}
    return slope_scalars(curves), curves


def slope_scalars(curves: dict) -> dict:
    """Counts of non-positive inner products (to other branches' ends, and to any end), and the
    range of distances between the branches' ends (Chapter 5). Returns a dict of JSON numbers."""
    raw, distances = curves["inner_raw"], curves["final_distances"]
    branches = raw.shape[1]
    other = ~torch.eye(branches, dtype=torch.bool).numpy()
    others = raw[:, other]
    return {"inner_products_to_other_finals": int(others.size),
            "nonpositive_to_other_finals": int(not_positive(others).sum()),
            "fraction_nonpositive_to_other_finals": float(not_positive(others).mean()),
            "inner_products_to_any_final": int(raw.size),
            "nonpositive_to_any_final": int(not_positive(raw).sum()),
            "min_cosine_to_any_final": float(curves["inner_cosine"].min()),
            "min_pairwise_final_distance": float(distances[other].min()),
            "max_pairwise_final_distance": float(distances[other].max())}


def run_spectrum(run: Run, config: dict, data) -> tuple[dict, dict]:
    """Section 5.4 and Figure 6 (Chapter 6): a long run at 0.1, restarts at 0.01.

    Returns ``(scalars, curves)`` (:func:`spectrum_scalars`; the curves as in
    :class:`~sgd_escape.cifar.results.CachedResult`).
    """
    classes, length, starts = NUM_CLASSES[config["dataset"]], config["restart_length"], config["restart_epochs"]
    check_restart_epochs(starts, config["base_epochs"])
    keep = keeps_restart_momentum(config)            # Exercise 6.2's run
    base = build_ensemble(config["architecture"], 1, classes, config["seed"]).to(run.device)
    base_records = train_phase(run, "base", base, data, [config["seed"]], config["base_epochs"], schedule_of(config),
                               snapshot_momentum=keep)
    model = build_ensemble(config["architecture"], len(starts), classes).to(run.device)
    seeds = [config["seed"] + 2000 + k for k in range(len(starts))]
    records = train_phase(run, "restarts", model, data, seeds, length, schedule_of(config, config["restart_lr"]),
                          initialise=lambda m, o: load_snapshot_members(m, [run.load_snapshot("base", e) for e in starts],
                                                                        o if keep else None))
    finals = run.load_snapshot("restarts", length)["params"]
    origin = run.load_snapshot("base", 0)["params"]

    def probe(epoch):
        gradients, points = _gradient_at(run, model, config, data, "restarts", epoch)
        return one_point_inner_products(gradients, points, finals)

    inner = probe_phase(run, "probe", list(range(length)), probe)

    def path_probe(epoch):    # the run at 0.1 on its way to the restart points, towards every restart's end
        gradients, points = _gradient_at(run, base, config, data, "base", epoch)
        return {key: value[0] for key, value in all_pairs_inner_products(gradients, points, finals).items()}

    path = probe_phase(run, "path_probe", list(range(max(starts))), path_probe)
    base_path = torch.cat([run.load_snapshot("base", e)["params"] for e in range(config["base_epochs"] + 1)])
    curves = {**_numpy(records, "restart_"), **_numpy(base_records, "base_"), **_numpy(inner, "inner_"),
              **_numpy(path, "path_inner_"),
              "restart_epochs": torch.tensor(starts).numpy(),
              "restart_distance_from_init": (finals - origin).double().norm(dim=1).cpu().numpy(),
              "base_distance_from_init": (base_path - origin).double().norm(dim=1).cpu().numpy(),
              "base_epoch_distance": (base_path[1:] - base_path[:-1]).double().norm(dim=1).cpu().numpy(),
              "restart_epoch_distance": epoch_distances(run, "restarts", length)}
    if keep:
        curves.update(fresh_twins(run, config, data, seeds))
    if estimates_conditions(config):                 # Theorem 1's constants (Chapter 6)
        curves.update(conditions_curves(run, model, config, data))
    return spectrum_scalars(curves), curves


def fresh_twins(run: Run, config: dict, data, seeds) -> dict:
    """Exercise 6.2 (Chapter 6): beside restarts that kept the momentum buffer of the run at 0.1,
    their twins, which start from the same points with fresh buffers and meet the same minibatches
    (the restarts of a plain spectrum run).

    Returns the curves ``twin_*`` (the twins' evaluations and per-epoch summaries),
    ``twin_distance`` ``[L + 1, R]`` (how far each restart is from its twin at every epoch start),
    ``restart_momentum_norm`` ``[R]`` (the kept buffer's length, in gradient units) and
    ``restart_momentum_cosine`` ``[R]`` (the cosine between the step the buffer points along, minus
    the buffer, and the restart's way to its end; NaN for a restart from epoch 0, whose buffer is zero).
    """
    starts, length = config["restart_epochs"], config["restart_length"]
    snapshots = [run.load_snapshot("base", e) for e in starts]
    twins = build_ensemble(config["architecture"], len(starts), NUM_CLASSES[config["dataset"]]).to(run.device)
    records = train_phase(run, "fresh_twins", twins, data, seeds, length, schedule_of(config, config["restart_lr"]),
                          initialise=lambda m, o: load_snapshot_members(m, snapshots))
    gaps = [(run.load_snapshot("restarts", t)["params"] - run.load_snapshot("fresh_twins", t)["params"]).double().norm(dim=1)
            for t in range(length + 1)]
    buffer = torch.cat([s["momentum"] for s in snapshots]).double()
    way = run.load_snapshot("restarts", length)["params"].double() - torch.cat([s["params"] for s in snapshots]).double()
    cosine = -(buffer * way).sum(1) / (buffer.norm(dim=1) * way.norm(dim=1))
    return {**_numpy(records, "twin_"), "twin_distance": torch.stack(gaps).cpu().numpy(),
            "restart_momentum_norm": buffer.norm(dim=1).cpu().numpy(), "restart_momentum_cosine": cosine.cpu().numpy()}


def epoch_distances(run: Run, phase: str, epochs: int) -> np.ndarray:
    """``[epochs, members]``: how far each member moved over each epoch of a phase,
    ``||x_{t+1} - x_t||`` between its snapshots (Chapter 6): motion, where the distance from
    ``x_0`` shows only net displacement."""
    previous, moved = run.load_snapshot(phase, 0)["params"], []
    for epoch in range(1, epochs + 1):
        current = run.load_snapshot(phase, epoch)["params"]
        moved.append((current - previous).double().norm(dim=1))
        previous = current
    return torch.stack(moved).cpu().numpy()


def check_restart_epochs(starts, base_epochs: int) -> None:
    """Raise ``ValueError`` unless the restarts start from distinct epochs of the run at 0.1, in
    increasing order within ``[0, base_epochs]`` (Chapter 6); returns None."""
    whole = all(isinstance(s, numbers.Integral) and not isinstance(s, bool) for s in starts or [])
    if not starts or not whole or list(starts) != sorted(set(starts)) or starts[0] < 0 or starts[-1] > base_epochs:
        raise ValueError(f"restart_epochs must be increasing integer epochs in "
                         f"[0, base_epochs={base_epochs}], got {starts!r}")


def spectrum_scalars(curves: dict) -> dict:
    """Signs of the inner products towards each restart's end: along the restart alone, and along
    its whole trajectory (the run at 0.1 from ``x_0`` to the restart point, then the restart;
    Chapter 6). Returns a dict of JSON numbers and per-restart lists of booleans."""
    raw, path = curves["inner_raw"], curves["path_inner_raw"]
    on_the_way = whole_trajectory_mask(path.shape[0], curves["restart_epochs"])
    whole_positive = (raw > 0).all(0) & np.where(on_the_way, path > 0, True).all(0)
    return {"restarts": int(raw.shape[1]), "min_inner_any_restart": float(raw.min()),
            "nonpositive_inner": int(not_positive(raw).sum()), "inner_products": int(raw.size),
            "restart_one_point_convex": [bool(v) for v in (raw > 0).all(0)],
            "nonpositive_inner_whole_trajectory": int(not_positive(raw).sum() + not_positive(path[on_the_way]).sum()),
            "inner_products_whole_trajectory": int(raw.size + on_the_way.sum()),
            "whole_trajectory_one_point_convex": [bool(v) for v in whole_positive]}


def whole_trajectory_mask(base_epochs_probed: int, restart_epochs) -> np.ndarray:
    """``[epochs, restarts]``: True where base epoch ``t`` lies on the way to restart ``k``'s start
    (Chapter 6)."""
    return np.arange(base_epochs_probed)[:, None] < np.asarray(restart_epochs)[None, :]


RUNNERS = {"fig5": run_fig5, "slope": run_slope, "spectrum": run_spectrum}


def scalars_of(config: dict, curves: dict) -> dict:
    """The headline numbers of a result, from its curves (what ``run_experiment`` stores, and
    what the loader checks; Chapters 4-6). Returns the dict of the kind's ``*_scalars``."""
    if config["kind"] == "fig5":
        return fig5_scalars(curves, config)
    return {"slope": slope_scalars, "spectrum": spectrum_scalars}[config["kind"]](curves)


def _numpy(records: dict, prefix: str = "") -> dict:
    return {prefix + k: v.double().numpy() if v.is_floating_point() else v.numpy() for k, v in records.items()}


def default_work_dir(experiment: str, preset: str) -> Path:
    """Where a run keeps its state and snapshots: ``.cache/runs/<experiment>/<preset>/`` of the
    repository, or of the working directory outside one (Chapters 4-6)."""
    root = find_repository_root(required=False) or Path.cwd()
    return root / ".cache" / "runs" / experiment / preset


def require_writable_folder(folder: Path) -> None:
    """Raise a ValueError now, not after the training, when ``folder`` or a parent is a file (Chapter 4)."""
    for path in (folder, *folder.parents):
        if path.exists():
            if not path.is_dir():
                raise ValueError(f"cannot write results into {folder}: {path} is a file, not a folder")
            return


def run_experiment(experiment: str, preset: str, *, data=None, device: str = "cpu", out=None,
                   work=None, max_minutes: float | None = None, datasets_dir=None,
                   progress: bool = True, fresh: bool = False, command: str | None = None,
                   download: bool = True) -> Path:
    """Run (or resume) ``experiment`` at ``preset`` and write ``<out>/<experiment>/<preset>/``
    (Chapters 4-6; ``python -m sgd_escape run``).

    Raises :class:`~sgd_escape.cifar.runner.BudgetExhausted` when it stops at ``max_minutes``
    (its state is saved: call again to resume). Returns the result folder.
    """
    began = time.monotonic()                      # the budget includes loading the data
    check_names(experiment, preset)
    device = str(require_device(device))
    if max_minutes is not None:
        require_nonnegative("max_minutes", max_minutes)
    config = preset_config(experiment, preset)
    folder = Path(out or data_root()) / experiment / preset      # known before hours of training
    require_writable_folder(folder)
    work_dir = Path(work) if work else default_work_dir(experiment, preset)
    if fresh:
        shutil.rmtree(work_dir, ignore_errors=True)
    configure_backends(device)
    arrays = load_cifar(config["dataset"], data, datasets_dir, download)
    data_on_device = to_device(arrays, config["train_examples"], config["test_examples"], torch.device(device),
                               dataset=config["dataset"])
    run = Run(work_dir, config, device, max_minutes, total_units(config), progress,
              dataset_source=arrays.source, began=began)
    try:
        scalars, curves = RUNNERS[config["kind"]](run, config, data_on_device)
    finally:
        run.close()
    run.save()
    prov = provenance(command or make_command(experiment, preset), device, arrays.source,
                      run.state["started_utc"], run.state["active_seconds"])
    return write_result(folder, experiment, preset, config, scalars, curves, prov)
