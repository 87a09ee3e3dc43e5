"""The three side remarks of Section 5 in numbers (Chapter 4): the paper's footnote 7, points one
SGD step away from ``x_t`` against the ball of Figure 5b (:ref:`ch4-one-step`); Section 5.1's
smooth schedule against the step schedule (:ref:`ch4-smooth`); and footnote 6's VGG against the
ResNet and DenseNet (:ref:`ch4-vgg`), the last two through :func:`count_rows` and
:func:`failure_share`.

Both probes of footnote 7 ask for the sign of ``<-grad f(w), x_T - x_t>`` at points ``w`` near
``x_t``; the ball draws ``w`` uniformly within radius 0.5, the step probe takes
``w = x_t - eta_t g`` for gradients ``g`` of training minibatches, the points that SGD itself
would reach. Only epochs from epoch 5 on count, as in Figure 5.
"""
from __future__ import annotations

import numpy as np

from .probes import counted_ball_epochs, not_positive
from .results import cached_or_none
from .training import learning_rate


def counted_probes(result) -> dict:
    """The step and ball curves of one Figure 5 result at the probed epochs from epoch 5 on, as
    flat arrays (Chapter 4): ``step_mean``, ``step_min``, ``ball_mean``, ``step_cosine``,
    ``ball_cosine``, ``length_min``, ``length_max`` (one entry per epoch and probed trial)."""
    c = result.curves
    keep = counted_ball_epochs(c["ball_epochs"], c["inner_raw"].shape[0])
    names = {"step_mean": "step_raw_mean", "step_min": "step_raw_min", "ball_mean": "ball_raw_mean",
             "step_cosine": "step_cosine_mean", "ball_cosine": "ball_cosine_mean",
             "length_min": "step_length_min", "length_max": "step_length_max"}
    return {short: c[name][keep].ravel() for short, name in names.items()}


def _median(values) -> float:
    finite = np.asarray(values, dtype=float)
    finite = finite[np.isfinite(finite)]
    return float(np.median(finite)) if finite.size else float("nan")


def step_probe_rows(results: dict) -> list[list]:
    """One row per cached network of :func:`~sgd_escape.cifar.figures.load_cached` (Chapter 4):
    setting, epochs probed from epoch 5, points per epoch, epochs with a step point whose value is
    not positive, epochs whose mean over the steps is not positive (beside the ball's count), the
    median mean cosine of the steps and of the balls, and the range of the steps' lengths against
    the ball's radius. Eight cells per row, for :func:`~sgd_escape.cifar.tables.show_table`."""
    rows = []
    for net, result in results.items():
        if result is None:
            rows.append([net, "not cached"] + [""] * 6)
            continue
        p = counted_probes(result)
        lengths = (f"{p['length_min'].min():.2g} to {p['length_max'].max():.2g} (ball: {result.config['ball_radius']:g})"
                   if p["length_min"].size else "none")
        rows.append([f"{net} ({result.preset})", p["step_mean"].size, result.config["step_points"],
                     int(not_positive(p["step_min"]).sum()),
                     f"{int(not_positive(p['step_mean']).sum())} (ball: {int(not_positive(p['ball_mean']).sum())})",
                     f"{_median(p['step_cosine']):.3g}", f"{_median(p['ball_cosine']):.3g}", lengths])
    return rows


def step_verdict(results: dict) -> dict:
    """Totals over the cached Figure 5 runs, from epoch 5 on (Chapter 4): epochs probed
    (``probed``); of them, those with a step point whose value is not positive
    (``step_nonpositive``), whose step mean is not positive (``step_mean_nonpositive``), whose
    ball mean is not positive (``ball_mean_nonpositive``), and where the two means have the same
    sign (``same_sign``); the shortest and longest step (``shortest``, ``longest``); the median
    mean cosines ``step_cosine`` and ``ball_cosine``, and the median over epochs of the gap
    between the two, ``cosine_gap``; and the ball radius ``radius``."""
    probes = [counted_probes(r) for r in results.values() if r is not None]
    joined = {key: np.concatenate([p[key] for p in probes]) if probes else np.zeros(0) for key in
              ("step_mean", "step_min", "ball_mean", "step_cosine", "ball_cosine", "length_min", "length_max")}
    step_positive, ball_positive = joined["step_mean"] > 0, joined["ball_mean"] > 0
    radii = {r.config["ball_radius"] for r in results.values() if r is not None}
    return {"probed": int(joined["step_mean"].size),
            "step_nonpositive": int(not_positive(joined["step_min"]).sum()),
            "step_mean_nonpositive": int(not_positive(joined["step_mean"]).sum()),
            "ball_mean_nonpositive": int(not_positive(joined["ball_mean"]).sum()),
            "same_sign": int((step_positive == ball_positive).sum()),
            "shortest": float(joined["length_min"].min()) if joined["length_min"].size else float("nan"),
            "longest": float(joined["length_max"].max()) if joined["length_max"].size else float("nan"),
            "step_cosine": _median(joined["step_cosine"]), "ball_cosine": _median(joined["ball_cosine"]),
            "cosine_gap": _median(np.abs(joined["step_cosine"] - joined["ball_cosine"])),
            "radius": radii.pop() if len(radii) == 1 else float("nan")}


def early_sign_differences(results: dict) -> list[tuple]:
    """``(network, epoch)`` for each probed epoch before epoch 5 (which Figure 5 leaves out) where
    the means over the steps and over the ball, for the first trial, differ in sign (Chapter 4)."""
    found = []
    for net, result in results.items():
        if result is None:
            continue
        c = result.curves
        early = ~counted_ball_epochs(c["ball_epochs"], c["inner_raw"].shape[0])
        differ = (c["step_raw_mean"][:, 0] > 0) != (c["ball_raw_mean"][:, 0] > 0)
        found += [(net, int(epoch)) for epoch in c["ball_epochs"][early & differ]]
    return found



def step_failures_at_x_t(results: dict) -> list[tuple]:
    """``(network, epoch, step mean, value at x_t)`` for each epoch from epoch 5 on whose mean over
    the steps (first trial) is not positive, beside panel (a)'s value at ``x_t`` itself (Chapter 4).
    The steps take their gradients on the ball's images, panel (a) on ``probe_examples``."""
    found = []
    for net, result in results.items():
        if result is None:
            continue
        c = result.curves
        keep = counted_ball_epochs(c["ball_epochs"], c["inner_raw"].shape[0])
        for epoch, mean in zip(c["ball_epochs"][keep], c["step_raw_mean"][keep, 0]):
            if not mean > 0:
                found.append((net, int(epoch), float(mean), float(c["inner_raw"][epoch, 0])))
    return found


def count_rows(groups: dict) -> list[list]:
    """Figure 5's counts from epoch 5 on, one row per network of each group (Chapter 4): setting
    (network, group, preset), inner products not positive (of all), the smallest cosine, balls and
    steps with a non-positive mean (first trial, of all), and the final test accuracy. ``groups``
    maps a label (``"smooth schedule"``, say) to results as
    :func:`~sgd_escape.cifar.figures.load_cached` returns them. Six cells per row, for
    :func:`~sgd_escape.cifar.tables.show_table`."""
    rows = []
    for group, results in groups.items():
        for net, result in results.items():
            if result is None:
                rows.append([f"{net}, {group}", "not cached", "", "", "", ""])
                continue
            s, p = result.scalars, counted_probes(result)
            rows.append([f"{net}, {group} ({result.preset})",
                         f"{s['negative_inner_from_epoch_5']} of {s['inner_products_from_epoch_5']}",
                         f"{s['min_cosine_from_epoch_5']:.3g}",
                         f"{int(not_positive(p['ball_mean']).sum())} of {p['ball_mean'].size}",
                         f"{int(not_positive(p['step_mean']).sum())} of {p['step_mean'].size}",
                         f"{s['final_test_accuracy_mean']:.3f}"])
    return rows


def figure5_at_preset(preset: str | None, networks=("resnet", "densenet")) -> dict:
    """``{network: CachedResult or None}``: the step-schedule Figure 5 run of each network on
    CIFAR-10 at ``preset`` (None where it is not cached, or where ``preset`` is None; Chapter 4).
    A side remark's runs are compared with these, so that no comparison sets a run of one preset
    beside a run of another."""
    return {net: cached_or_none(f"fig5-{net}-cifar10", preset) for net in networks}


def step_schedule_twins(side: dict) -> dict:
    """For each network of ``side`` (as :func:`~sgd_escape.cifar.figures.load_cached` returns
    the smooth schedule's runs), the step-schedule Figure 5 run of that network at the same
    preset, or None (Chapter 4). Figure 5 itself may show another preset of that network."""
    return {net: cached_or_none(f"fig5-{net}-cifar10", run.preset if run else None) for net, run in side.items()}


def failure_share(verdict: dict) -> float:
    """The share of Figure 5's sign tests from epoch 5 on that fail, from
    :func:`~sgd_escape.cifar.tables.fig5_verdict`: inner products at the trajectory that are not
    positive and balls whose mean is not positive, over all of both (NaN when none; Chapter 4)."""
    tests = verdict["total"] + verdict["ball_probed"]
    return (verdict["nonpositive"] + verdict["ball_mean_nonpositive"]) / tests if tests else float("nan")


def schedule_comparison(smooth_config: dict, step_config: dict) -> dict:
    """How the two schedules of one run length spend it (Chapter 4): the first epoch whose smooth
    rate is at most a tenth of the start (``smooth_tenth_epoch``, -1 if none), the step schedule's
    first drop (``step_first_drop``), and the last epoch's rates (``smooth_last_rate``,
    ``step_last_rate``) and their ratio (``last_ratio``)."""
    epochs, base = range(smooth_config["epochs"]), smooth_config["lr"]
    smooth = [learning_rate(e, base, [], per_epoch=smooth_config["lr_per_epoch"]) for e in epochs]
    step = [learning_rate(e, base, step_config["lr_milestones"]) for e in epochs]
    return {"smooth_tenth_epoch": next((e for e, rate in enumerate(smooth) if rate <= base / 10), -1),
            "step_first_drop": step_config["lr_milestones"][0], "smooth_last_rate": smooth[-1],
            "step_last_rate": step[-1], "last_ratio": smooth[-1] / step[-1]}
