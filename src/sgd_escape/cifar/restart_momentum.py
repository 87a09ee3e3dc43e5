"""Exercise 6.2 in numbers (Chapter 6, :ref:`ch6-exercises`): the restarts of Section 5.4 with a
fresh momentum buffer (``spectrum-resnet-cifar10``) against restarts that keep the buffer of the
run at 0.1 (``spectrumkeep-resnet-cifar10``).

The second run trains, beside its restarts, their *twins*: the same starting points, seeds and
minibatches, with fresh buffers. A twin is therefore a restart of the first run, and the cache
holds how far each restart is from its twin at every epoch
(:func:`~sgd_escape.cifar.pipeline.fresh_twins`).
"""
from __future__ import annotations

import numpy as np

from .experiments import differs_only_in, keeps_restart_momentum, training_set_size

#: The curves a twin shares with the restart of the plain run that it repeats.
REPEATED = ("train_loss", "test_loss", "train_loss_running")


def require_pair(fresh, kept) -> None:
    """Raise a ValueError unless ``fresh`` and ``kept`` are the two runs of Exercise 6.2 at one
    preset: a spectrum run with fresh buffers and one whose restarts kept the buffer (Chapter 6)."""
    if fresh.config["kind"] != "spectrum" or keeps_restart_momentum(fresh.config):
        raise ValueError("fresh must be a spectrum result whose restarts start with fresh momentum buffers")
    if not keeps_restart_momentum(kept.config):
        raise ValueError("kept must be a spectrum result whose restarts keep the momentum buffer")
    if not differs_only_in(fresh.config, kept.config, "restart_momentum"):
        raise ValueError("kept must have the config of fresh apart from the momentum buffer")


def repetition_gap(fresh, kept) -> float:
    """The largest difference between the run at 0.1 of both runs, and between the twins of
    ``kept`` and the restarts of ``fresh``, over the losses they record: 0 when the twins are the
    plain run's restarts to the last bit (Chapter 6)."""
    require_pair(fresh, kept)
    gaps = [np.abs(fresh.curves[f"base_{k}"] - kept.curves[f"base_{k}"]).max() for k in REPEATED]
    gaps += [np.abs(fresh.curves[f"restart_{k}"] - kept.curves[f"twin_{k}"]).max() for k in REPEATED]
    return float(max(gaps))


def kept_shift(result) -> np.ndarray:
    """Per restart: how far the kept buffer alone carries it, ``eta' m / (1 - m) ||b_0||`` (the sum
    of ``eta' m^j b_0`` over its steps ``j >= 1``; ``eta'`` the restart's rate, ``b_0`` the buffer in
    gradient units; Chapter 6)."""
    config = result.config
    m = config["momentum"]
    return config["restart_lr"] * m / (1 - m) * result.curves["restart_momentum_norm"]


def estimated_shift(result) -> np.ndarray:
    """Per restart: the estimate of :func:`kept_shift` that the plain cache allows, with one epoch's
    net motion per step of the run at 0.1, ``||x_s - x_{s-1}|| / steps``, for ``eta ||b_0||`` (Chapter 6)."""
    config, curves = result.config, result.curves
    m, steps = config["momentum"], training_set_size(config) // config["batch_size"]
    starts = np.asarray(curves["restart_epochs"])
    if (starts < 1).any():
        raise ValueError("result must restart from epochs >= 1: the estimate needs the epoch before")
    per_step = curves["base_epoch_distance"][starts - 1] / steps
    return config["restart_lr"] / config["lr"] * m / (1 - m) * per_step


def per_restart(fresh, kept) -> dict:
    """Exercise 6.2's measurements, one array entry per restart (Chapter 6): ``start`` (its epoch),
    ``shift`` (:func:`kept_shift`), ``estimate`` (:func:`estimated_shift`), ``cosine`` (of the
    kept buffer's push with the restart's way), ``gap_first`` and ``gap_end`` (the distance to its
    twin after one epoch and at the end), ``travel`` (the kept restart's distance from its start
    to its end), ``first_loss_change`` (kept minus fresh, running training loss of the first
    epoch) and ``test_accuracy_change`` (kept minus fresh, at the end)."""
    require_pair(fresh, kept)
    c = kept.curves
    return {"start": np.asarray(c["restart_epochs"]), "shift": kept_shift(kept), "estimate": estimated_shift(kept),
            "cosine": c["restart_momentum_cosine"], "gap_first": c["twin_distance"][1],
            "gap_end": c["twin_distance"][-1], "travel": c["inner_distance"][0],
            "first_loss_change": c["restart_train_loss_running"][0] - c["twin_train_loss_running"][0],
            "test_accuracy_change": c["restart_test_accuracy"][-1] - c["twin_test_accuracy"][-1]}


def table_rows(measured: dict) -> list[list[str]]:
    """One row per restart of :func:`per_restart`'s ``measured``, to 3 significant digits
    (Chapter 6): the columns of :data:`COLUMNS`."""
    ratio = measured["gap_end"] / measured["travel"]
    keys = ("shift", "estimate", "cosine", "gap_first", "gap_end", "travel")
    return [[str(int(s))] + [f"{measured[k][i]:.3g}" for k in keys] + [f"{ratio[i]:.2g}", f"{measured['first_loss_change'][i]:+.2g}"]
            for i, s in enumerate(measured["start"])]


#: The column headings of :func:`table_rows`.
COLUMNS = ["restart from epoch", "shift of the kept buffer", "estimate from the net motion",
           "cosine of the buffer's push with the way", "from its twin after 1 epoch", "from its twin at the end",
           "restart's travel", "end gap / travel", "first epoch's loss, kept - fresh"]


def verdicts(result) -> dict:
    """Section 5.4's signs in one spectrum result (Chapter 6): ``nonpositive`` (a string "n of N"
    along the restarts) and ``convex`` (how many restarts are one-point convex along their way)."""
    s = result.scalars
    return {"nonpositive": f"{s['nonpositive_inner']} of {s['inner_products']}",
            "convex": sum(s["restart_one_point_convex"]), "restarts": s["restarts"]}


def plot_twin_gaps(ax, result) -> None:
    """Exercise 6.2's picture (Chapter 6): each restart's distance from its twin at every epoch
    start, as a share of :func:`kept_shift`, beside the share of the shift the kept buffer has
    added by then, ``1 - m^(steps t)`` (steps: SGD steps per epoch). Draws on ``ax``; returns None."""
    c, config = result.curves, result.config
    gaps = c["twin_distance"] / kept_shift(result)
    epochs = np.arange(gaps.shape[0])
    for k, start in enumerate(c["restart_epochs"]):
        ax.plot(epochs, gaps[:, k], marker="o", ms=3, lw=1.2, label=f"restart from epoch {start}")
    steps = training_set_size(config) // config["batch_size"]
    smooth = np.linspace(0, epochs[-1], 200)
    ax.plot(smooth, 1 - config["momentum"] ** (steps * smooth), color="0.3", ls="--", lw=1.0,
            label="share of the shift added by the buffer")
    ax.set_ylim(0, 1.05 * max(1.0, float(gaps.max())))
    ax.set_xlabel("epoch of the restart")
    ax.set_ylabel("distance to the twin / shift")
    ax.legend(fontsize=8, loc="lower right")
