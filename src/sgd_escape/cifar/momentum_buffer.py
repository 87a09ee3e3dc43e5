"""Exercise 5.3 in numbers (Chapter 5, :ref:`ch5-exercises`): Section 5.3's branches started with
the shared run's momentum buffer (``slope-resnet-cifar10``) against the same branches started with
zeroed buffers (``slopezero-resnet-cifar10``).

The two runs share their seeds, so they share the branch point, and branch ``i`` of one run meets
the same minibatches in the same order as branch ``i`` of the other: its twin. Only the momentum
buffers at the branch point differ. The caches keep losses and probe values, not weights, so twins
are compared through their losses.
"""
from __future__ import annotations

import numpy as np

from .experiments import differs_only_in, training_set_size
from .probes import not_positive


def require_twins(shared, zeroed) -> None:
    """Raise a ValueError unless ``shared`` and ``zeroed`` are the two runs of Exercise 5.3 at one
    preset: a slope run with the shared buffer and one with zeroed buffers (Chapter 5)."""
    if shared.config.get("branch_momentum", "shared") != "shared" or shared.config["kind"] != "slope":
        raise ValueError("shared must be a slope result whose branches share the run's momentum buffer")
    if zeroed.config.get("branch_momentum") != "zeroed":
        raise ValueError("zeroed must be a slope result whose branches start with zeroed buffers")
    if not differs_only_in(shared.config, zeroed.config, "branch_momentum"):
        raise ValueError("zeroed must have the config of shared apart from the momentum buffer")


def branch_point_gap(shared, zeroed) -> float:
    """The largest difference between the two runs' losses at the branch point, over branches and
    both splits: 0 when the branches of both runs start from the same weights (Chapter 5)."""
    require_twins(shared, zeroed)
    return max(float(np.abs(shared.curves[k][0] - zeroed.curves[k][0]).max()) for k in ("train_loss", "test_loss"))


def first_epoch_change(shared, zeroed) -> dict:
    """The change of each branch's running training loss over its first epoch when its buffer
    starts at zero (Chapter 5): ``changes`` (zeroed minus shared, one per branch), ``lower``
    (branches whose loss is lower with the zeroed buffer) and ``branches``."""
    require_twins(shared, zeroed)
    changes = zeroed.curves["train_loss_running"][0] - shared.curves["train_loss_running"][0]
    return {"changes": changes, "lower": int((changes < 0).sum()), "branches": int(changes.size)}


def twin_over_sibling(shared, zeroed, key: str = "train_loss") -> np.ndarray:
    """Per epoch from the first after the branch point: the mean gap between a branch's ``key``
    and its twin's, over the mean gap between two branches of the shared run (Chapter 5). Near 0:
    the buffer barely matters; near 1: a zeroed buffer moves a branch as far as another data order.
    """
    require_twins(shared, zeroed)
    a, b = shared.curves[key][1:], zeroed.curves[key][1:]
    other = ~np.eye(a.shape[1], dtype=bool)
    siblings = np.abs(a[:, :, None] - a[:, None, :])[:, other].mean(axis=1)
    return np.abs(a - b).mean(axis=1) / siblings


def statistics(result) -> dict:
    """Section 5.3's statistics of one slope result (Chapter 5): the counts of non-positive inner
    products towards other branches' ends, the mean cosine towards them at the first and the last
    probed epoch, the distances between the ends, and the mean final loss and test accuracy."""
    c = result.curves
    other = ~np.eye(c["inner_raw"].shape[1], dtype=bool)
    towards_others, ends = c["inner_raw"][:, other], c["final_distances"][other]
    return {"inner products not positive, j != i": f"{int(not_positive(towards_others).sum())} of {towards_others.size}",
            "mean cosine, first probed epoch": c["inner_cosine"][0][other].mean(),
            "mean cosine, last probed epoch": c["inner_cosine"][-1][other].mean(),
            "distance between ends, least": ends.min(), "distance between ends, mean": ends.mean(),
            "distance between ends, largest": ends.max(),
            "final training loss (mean)": c["train_loss"][-1].mean(),
            "final test accuracy (mean)": c["test_accuracy"][-1].mean()}


def statistics_rows(shared, zeroed) -> list[list[str]]:
    """One row per statistic of :func:`statistics`: its name and its value in both runs, to 3
    significant digits (Chapter 5)."""
    require_twins(shared, zeroed)
    first, second = statistics(shared), statistics(zeroed)
    return [[name, _cell(first[name]), _cell(second[name])] for name in first]


def _cell(value) -> str:
    return value if isinstance(value, str) else f"{value:.3g}"


def summary(shared, zeroed, forget: float = 0.01) -> dict:
    """The numbers of Exercise 5.3's answer (Chapter 5), as a dict: ``start_gap``
    (:func:`branch_point_gap`), ``lower`` and ``branches`` and the least and largest ``drop``
    of the first epoch's running loss (:func:`first_epoch_change`), ``twin_first``,
    ``twin_median`` and the ``twin`` ratios (:func:`twin_over_sibling`, training loss),
    ``steps`` per epoch, ``memory_epochs`` (epochs until the buffer weighs below ``forget``),
    the relative change of the mean distance between the ends, signed (``end_change``), and, twin pair
    by twin pair, of each distance between two ends (``pair_changes``, one per pair of
    branches: the zeroed run's distance over the shared run's, minus 1)."""
    if not 0 < forget < 1:
        raise ValueError(f"forget must lie strictly between 0 and 1, got {forget}")
    first, twin = first_epoch_change(shared, zeroed), twin_over_sibling(shared, zeroed)
    config = shared.config
    steps = training_set_size(config) // config["batch_size"]
    ends = [statistics(r) for r in (shared, zeroed)]
    return {"start_gap": branch_point_gap(shared, zeroed), "lower": first["lower"],
            "branches": first["branches"], "drop_least": float(-first["changes"].max()),
            "drop_largest": float(-first["changes"].min()), "twin": twin, "twin_first": float(twin[0]),
            "twin_median": float(np.median(twin)), "steps": steps,
            "memory_epochs": float(np.log(forget) / np.log(config["momentum"]) / steps),
            "end_change": float(ends[1]["distance between ends, mean"] / ends[0]["distance between ends, mean"] - 1),
            "pair_changes": _pair_distance_changes(shared, zeroed)}


def _pair_distance_changes(shared, zeroed) -> np.ndarray:
    upper = np.triu_indices(shared.curves["final_distances"].shape[0], 1)   # each pair once
    return zeroed.curves["final_distances"][upper] / shared.curves["final_distances"][upper] - 1
