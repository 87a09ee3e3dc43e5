"""The tables and summaries of Section 5.4, the spectrum of minima (Chapter 6, :ref:`ch6`): one
row per restart, the paper's observations checked per network, and how far SGD moves per epoch.

Inputs are what :func:`~sgd_escape.cifar.figures.load_cached` returns for the ``spectrum``
experiments; tables are shown with :func:`~sgd_escape.cifar.tables.show_table`.
"""
from __future__ import annotations

import numpy as np

from ..book import bound_text


def spectrum_rows(results: dict) -> list[list]:
    """One row per restart of Section 5.4 (Chapter 6): where it started, where it ended."""
    rows = []
    for net, result in results.items():
        if result is None:
            rows.append([net, "not cached", "", "", "", "", "", ""])
            continue
        c, whole = result.curves, result.scalars["whole_trajectory_one_point_convex"]
        for k, start in enumerate(c["restart_epochs"]):
            raw, on_the_way = c["inner_raw"][:, k], c["path_inner_raw"][:start, k]
            before = f"{on_the_way.min():.3g}" if on_the_way.size else "none (starts at x_0)"
            rows.append([f"{net} ({result.preset})", int(start), f"{c['restart_train_loss'][-1, k]:.3f}",
                         f"{c['restart_test_loss'][-1, k]:.3f}", f"{c['restart_distance_from_init'][k]:.3g}",
                         f"{raw.min():.3g}", before, "yes" if whole[k] else "no"])
    return rows


def spectrum_trends(results: dict) -> dict:
    """Whether, over the restarts in order of their start epoch, the final losses fall and the
    distance from the initial point grows (the paper's Figure 6 observations), per network
    (Chapter 6). Returns ``{network: {observation: bool}}``, keyed as :data:`SPECTRUM_OBSERVATIONS`."""
    trends = {}
    for net, result in results.items():
        if result is None:
            continue
        c = result.curves
        trends[net] = {"train_loss_falls": bool(np.all(np.diff(c["restart_train_loss"][-1]) < 0)),
                       "test_loss_falls": bool(np.all(np.diff(c["restart_test_loss"][-1]) < 0)),
                       "distance_grows": bool(np.all(np.diff(c["restart_distance_from_init"]) > 0)),
                       "all_one_point_convex": bool(np.all(c["inner_raw"] > 0)),
                       "whole_trajectories_one_point_convex": all(result.scalars["whole_trajectory_one_point_convex"])}
    return trends


#: The paper's observations of Section 5.4, as keys of :func:`spectrum_trends`, with their labels.
SPECTRUM_OBSERVATIONS = {
    "train_loss_falls": "training loss falls with later restarts",
    "test_loss_falls": "validation loss falls with later restarts",
    "distance_grows": "distance from x_0 grows with later restarts",
    "all_one_point_convex": "every restart one-point convex to its end",
    "whole_trajectories_one_point_convex": "every whole trajectory one-point convex to its restart's end",
}


def spectrum_observation_rows(results: dict) -> list[list]:
    """One row per observation of Section 5.4 (Chapter 6), one column per network: yes or no,
    and where one-point convexity fails, how many inner products are not positive (for the
    restarts alone also where the lowest lies, and its cosine)."""
    trends = spectrum_trends(results)
    return [[label] + ["yes" if trend[key] else _failure_detail(results[net], key)
                       for net, trend in trends.items()]
            for key, label in SPECTRUM_OBSERVATIONS.items()]


def _failure_detail(result, key: str) -> str:
    c, s = result.curves, result.scalars
    if key == "all_one_point_convex":
        raw = c["inner_raw"]                                   # (restart epoch, restart)
        epoch, k = np.unravel_index(raw.argmin(), raw.shape)
        return (f"no: {int((raw <= 0).sum())} of {raw.size}, the lowest at epoch {epoch} of the "
                f"restart from epoch {c['restart_epochs'][k]} (cosine {c['inner_cosine'][epoch, k]:.2g})")
    if key == "whole_trajectories_one_point_convex":
        return f"no: {s['nonpositive_inner_whole_trajectory']} of {s['inner_products_whole_trajectory']}"
    return "no"


def motion_summary(curves: dict) -> dict:
    """Section 5.4 (Chapter 6): a spectrum result's motion per epoch in seven numbers. ``early``,
    ``late``: the run at 0.1's mean motion per epoch over the first quarter of its epochs (from
    its second epoch: in the first the momentum buffer is still building up) and over the last
    quarter; ``path``: its path length over its net displacement from ``x_0``; ``drop``: median
    over restarts of a restart's first epoch over the run at 0.1's epoch that led to its start;
    ``restart_change``: median of a restart's last epoch over its first; ``late_change``: median
    of a restart's last epoch over its middle one (does the motion still shrink in the second
    half?); ``restart_path``: median of a restart's path length over its net displacement
    ``||x_T - x_s||``."""
    base, restarts = curves["base_epoch_distance"], curves["restart_epoch_distance"]   # (E0,), (L, R)
    before = base[np.maximum(curves["restart_epochs"], 1) - 1]
    quarter = max(1, base.size // 4)
    return {"early": float(base[1:1 + quarter].mean() if base.size > 1 else base[0]),
            "late": float(base[-quarter:].mean()),
            "path": float(base.sum() / curves["base_distance_from_init"][-1]),
            "drop": float(np.median(restarts[0] / before)),
            "restart_change": float(np.median(restarts[-1] / restarts[0])),
            "late_change": float(np.median(restarts[-1] / restarts[len(restarts) // 2])),
            "restart_path": float(np.median(restarts.sum(axis=0) / curves["inner_distance"][0]))}


def restart_origins(curves: dict) -> dict:
    """Section 5.4 (Chapter 6): how much of Figure 6's trends the restarts make themselves and how
    much they inherit from their start points, per restart in start order (arrays of length R).
    ``start_loss``, ``end_loss``: training loss at a restart's start and end; ``start_distance``,
    ``end_distance``: distance from ``x_0`` at both; ``moved``: how far the restart moves its point,
    ``||x_T,k - x_s_k||``; ``separation`` (length R - 1): ``|d_k+1 - d_k|`` of consecutive end
    distances, by the triangle inequality a lower bound on ``||x_T,k+1 - x_T,k||``."""
    starts, ends = curves["restart_epochs"], curves["restart_distance_from_init"]
    if np.any(np.diff(starts) <= 0):
        raise ValueError(f"restart_epochs must increase, got {starts}")
    return {"start_loss": curves["restart_train_loss"][0], "end_loss": curves["restart_train_loss"][-1],
            "start_distance": curves["base_distance_from_init"][starts], "end_distance": ends,
            "moved": curves["inner_distance"][0], "separation": np.abs(np.diff(ends))}


def restart_origin_rows(results: dict) -> list[list]:
    """One row per restart of Section 5.4 (Chapter 6): training loss and distance from ``x_0`` at
    its start and end, how far it moves its point, and how far its end lies at least from the
    previous restart's end (:func:`restart_origins`)."""
    rows = []
    for net, result in results.items():
        if result is None:
            continue
        o = restart_origins(result.curves)
        for k, start in enumerate(result.curves["restart_epochs"]):
            apart = bound_text(o["separation"][k - 1], "lower", 3) if k else "(first restart)"   # a bound: rounded down
            rows.append([f"{net} ({result.preset})", int(start), f"{o['start_loss'][k]:.3f} → {o['end_loss'][k]:.3f}",
                         f"{o['start_distance'][k]:.3g} → {o['end_distance'][k]:.3g}", f"{o['moved'][k]:.3g}", apart])
    return rows


def origin_summary(results: dict) -> dict:
    """:func:`restart_origins` pooled over the shown networks (Chapter 6): arrays ``own_change``
    (a restart's change of its distance from ``x_0``), ``start_gap`` (between consecutive start
    points), ``loss_fall`` (training loss a restart removes), ``separation`` and ``moved``; and two
    verdicts: ``distance_inherited``, every restart changes its distance by less than half the
    smallest gap between start points; ``ends_apart``, every separation exceeds every ``moved``."""
    origins = [restart_origins(r.curves) for r in results.values() if r is not None]
    if not origins:
        raise ValueError("results must hold at least one cached spectrum result")
    def pooled(values):
        return np.concatenate(list(values))
    summary = {"own_change": pooled(o["end_distance"] - o["start_distance"] for o in origins),
               "start_gap": pooled(np.diff(o["start_distance"]) for o in origins),
               "loss_fall": pooled(o["start_loss"] - o["end_loss"] for o in origins),
               "separation": pooled(o["separation"] for o in origins), "moved": pooled(o["moved"] for o in origins)}
    gaps, separation = np.abs(summary["start_gap"]), summary["separation"]     # empty with one restart each
    summary["distance_inherited"] = bool(gaps.size and np.abs(summary["own_change"]).max() < gaps.min() / 2)
    summary["ends_apart"] = bool(separation.size and separation.min() > summary["moved"].max())
    return summary
