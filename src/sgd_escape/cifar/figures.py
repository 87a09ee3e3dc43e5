"""Figures 5 and 6 of the paper from the cached results (introduced in Chapter 4, :ref:`ch4`).

Chapters never train: they read ``data/`` through :func:`load_cached`, and a network whose
result is missing is drawn as "not cached". The tables and notes beside the figures are in
:mod:`sgd_escape.cifar.tables`, for Section 5's side remarks :mod:`sgd_escape.cifar.side_remarks`
and, for Section 5.4, :mod:`sgd_escape.cifar.spectrum_tables`.
"""
from __future__ import annotations

import numpy as np
from matplotlib.ticker import LogLocator, MaxNLocator, NullFormatter, StrMethodFormatter

from ..plotting import COLORS
from .experiments import EXPERIMENTS
from .results import best_cached

NETWORK_COLORS = {"resnet": COLORS["iterate"], "densenet": COLORS["count"], "vgg": COLORS["bound"]}


def load_cached(kind: str) -> dict:
    """``{label: CachedResult or None}``: the most faithful cached preset of each network on
    CIFAR-10 (``None`` when missing), plus ``"<network>, CIFAR-100"`` entries where cached
    (Chapters 4-6; ``kind`` is ``"fig5"``, ``"slope"`` or ``"spectrum"``)."""
    results = {net: best_cached(f"{kind}-{net}-cifar10") for net in ("resnet", "densenet")}
    for net in ("resnet", "densenet"):
        name = f"{kind}-{net}-cifar100"
        if name in EXPERIMENTS and (result := best_cached(name)) is not None:
            results[f"{net}, CIFAR-100"] = result
    return results


def color_of(label: str) -> str:
    """The colour of a network's curves, from a label of :func:`load_cached` (Chapters 4-6)."""
    return NETWORK_COLORS[label.split(",")[0]]


def style_of(label: str) -> str:
    """The line style of a label of :func:`load_cached`: dashed for CIFAR-100, else solid (Chapters 4-6)."""
    return "--" if "CIFAR-100" in label else "-"


def _not_cached(ax, label: str) -> None:
    ax.text(0.5, 0.5, f"{label}: not cached", ha="center", va="center", transform=ax.transAxes)


def _band(ax, x, low, mid, high, color, label, ls="-"):
    ax.plot(x, mid, color=color, ls=ls, label=label)
    ax.fill_between(x, low, high, color=color, alpha=0.2, linewidth=0)


def _integer_ticks() -> MaxNLocator:
    """Ticks at whole numbers only (epochs, counts), as many as the axis length allows."""
    return MaxNLocator(nbins="auto", steps=[1, 2, 5, 10], integer=True)


def _legend(ax, **kwargs):
    """A legend on an opaque white frame, so that grid and lines behind it do not cross its text."""
    return ax.legend(frameon=True, framealpha=1.0, facecolor="white", edgecolor="0.8", **kwargs)


def symlog_threshold(values, decades: int = 6) -> float:
    """The linear half-width of a symmetric-log axis for ``values`` (Chapter 4): the power of ten
    at or below the smallest nonzero ``|value|``, but at most ``decades`` powers of ten below the
    largest, so that values of either sign near zero are spread out and stay on their side of it.
    NaNs are ignored; returns 1.0 when no value is nonzero."""
    size = np.abs(np.asarray(values, dtype=float))
    size = size[np.isfinite(size) & (size > 0)]
    if size.size == 0:
        return 1.0
    return float(10.0 ** max(np.floor(np.log10(size.min())), np.floor(np.log10(size.max())) - decades))


def _sign_axis(ax, drawn: list, first_epoch: int) -> None:
    """A probe's y axis: symmetric-log around the values ``drawn`` (a list of arrays), a dark zero
    line, and the epochs before ``first_epoch`` shaded, where the paper's claim does not start."""
    if drawn:
        ax.set_yscale("symlog", linthresh=symlog_threshold(np.concatenate(drawn)), linscale=1.0)
        ax.yaxis.get_major_locator().set_params(numticks=7)     # labels of every decade would collide
    ax.axhline(0, color="0.2", lw=1.0)
    ax.axvspan(-0.5, first_epoch - 0.5, color="0.9", zorder=0)


def plot_figure5(axes, results: dict, quantity: str = "raw", first_epoch: int = 5) -> None:
    """Figure 5 (Chapter 4): (a) minimum over trials of the inner product at ``x_t``; (b) the
    ball probe, mean with min-max band; (c) stochastic gradient norms, mean with min-max band.
    ``quantity`` is ``"raw"`` or ``"cosine"``; with two axes, panel (c) is left out. Panels (a)
    and (b) have a symmetric-log y axis (see :func:`symlog_threshold`), so that the sign of the
    small values of late epochs stays visible against the zero line."""
    if quantity not in ("raw", "cosine"):
        raise ValueError(f"quantity must be 'raw' or 'cosine', got {quantity!r}")
    drawn = {0: [], 1: []}
    for net, result in results.items():
        color = color_of(net)
        if result is None:
            for ax in axes:
                _not_cached(ax, net)
            continue
        c = result.curves
        lowest = c[f"inner_{quantity}"].min(1)
        epochs = np.arange(lowest.shape[0])
        axes[0].plot(epochs, lowest, marker="o", ls=style_of(net), ms=3, color=color,
                     label=f"{net} ({result.preset})")
        trial = 0
        ball = [c[f"ball_{quantity}_{k}"][:, trial] for k in ("min", "mean", "max")]
        _band(axes[1], c["ball_epochs"], *ball, color, net, style_of(net))
        drawn[0].append(lowest)
        drawn[1].extend(ball)
        if len(axes) < 3:
            continue
        steps = np.arange(c["grad_norm_mean"].shape[0])
        _band(axes[2], steps, c["grad_norm_min"].min(1), c["grad_norm_mean"].mean(1), c["grad_norm_max"].max(1),
              color, net, style_of(net))
    name = "inner product" if quantity == "raw" else "cosine"
    titles = (f"(a) min over trials at $x_t$ (grey: $t < {first_epoch}$)", "(b) ball around $x_t$ (first trial)",
              "(c) stochastic gradient norm")
    ylabels = (f"smallest {name} (symlog)", f"{name} in the ball (symlog)", "stochastic gradient norm")
    for ax, title, ylabel in zip(axes, titles, ylabels):
        ax.set_title(title, fontsize=9)
        ax.set_xlabel("epoch $t$")
        ax.set_ylabel(ylabel)
        ax.xaxis.set_major_locator(_integer_ticks())
    for k, ax in enumerate(axes[:2]):
        _sign_axis(ax, drawn[k], first_epoch)
    if axes[0].get_legend_handles_labels()[0]:
        _legend(axes[0], fontsize=9)        # three panels: the figure is shown at ~60% size


def plot_slope(axes, results: dict) -> None:
    """Section 5.3 (Chapter 5): histogram of the cosines between every negative gradient and the
    vector to every other branch's final point (networks side by side in shared bins); the
    smallest cosine per epoch."""
    cosines = {}
    for net, result in results.items():
        if result is None:
            for ax in axes:
                _not_cached(ax, net)
            continue
        cos = result.curves["inner_cosine"]
        others = ~np.eye(cos.shape[1], dtype=bool)
        cosines[net] = (result, cos[:, others].reshape(cos.shape[0], -1))
    if cosines:
        values = {net: cos[np.isfinite(cos)] for net, (_, cos) in cosines.items()}
        bins = int(np.clip(np.sqrt(max(v.size for v in values.values())), 10, 40))
        edges = np.histogram_bin_edges(np.concatenate(list(values.values())), bins=bins)
        _, _, bars = axes[0].hist(list(values.values()), bins=edges, rwidth=0.9,
                                  color=[color_of(net) for net in values],
                                  label=[f"{net} ({cosines[net][0].preset})" for net in values])
        for net, patches in zip(values, bars if len(values) > 1 else [bars]):
            if style_of(net) != "-":
                for patch in patches:
                    patch.set_hatch("///")
                    patch.set_edgecolor("white")
    for net, (result, cos) in cosines.items():
        color, ls = color_of(net), style_of(net)
        axes[1].plot(np.arange(cos.shape[0]), cos.min(1), marker="o", ls=ls, ms=3, color=color,
                     label=f"{net} ({result.preset})")
    axes[0].set_xlabel("cosine of $-\\nabla f(x_{t,i})$ and $x_{T,j} - x_{t,i}$, $j \\neq i$")
    axes[0].set_ylabel("count")
    axes[0].yaxis.set_major_locator(_integer_ticks())
    axes[0].axvline(0, color="0.2", lw=1.0)
    axes[1].set_xlabel("epoch $t$ after the branch point")
    axes[1].set_ylabel("smallest cosine")
    axes[1].xaxis.set_major_locator(_integer_ticks())
    axes[1].axhline(0, color="0.2", lw=1.0)
    for ax in axes:
        if ax.get_legend_handles_labels()[0]:
            _legend(ax, fontsize=8)


def plot_figure6(axes, results: dict) -> None:
    """Figure 6 (Chapter 6): final training and validation loss of each restart, and its
    distance from the initial point, against the epoch it restarted from."""
    for net, result in results.items():
        if result is None:
            for ax in axes:
                _not_cached(ax, net)
            continue
        c, color = result.curves, color_of(net)
        starts = c["restart_epochs"]
        axes[0].plot(starts, c["restart_train_loss"][-1], marker="o", ls=style_of(net), color=color, label=f"{net} training")
        axes[0].plot(starts, c["restart_test_loss"][-1], marker="s", ls=":", color=color, label=f"{net} validation")
        axes[1].plot(starts, c["restart_distance_from_init"], marker="o", ls=style_of(net), color=color,
                     label=f"{net} ({result.preset})")
    axes[0].set_ylabel("loss at the end of the restart")
    axes[1].set_ylabel("distance from $x_0$")
    for ax in axes:
        ax.set_xlabel("epoch the restart starts from")
        ax.legend(fontsize=8)


def plot_whole_trajectories(axes, results: dict) -> None:
    """Section 5.4 (Chapter 6): for every restart, the cosine of ``-grad f`` and the direction to
    the restart's end along its whole trajectory: the run at 0.1 up to the restart, then the
    restart at 0.01. One panel per network; one legend, on an opaque frame right of the last panel."""
    handles = {}
    for ax, (net, result) in zip(axes, results.items()):
        if result is None:
            _not_cached(ax, net)
            continue
        c = result.curves
        for k, start in enumerate(c["restart_epochs"]):
            cosine = np.concatenate([c["path_inner_cosine"][:start, k], c["inner_cosine"][:, k]])
            line, = ax.plot(np.arange(cosine.size), cosine, lw=1.2, label=f"restart from epoch {start}")
            ax.axvline(start, color=line.get_color(), ls=":", lw=0.8)
            handles.setdefault(line.get_label(), line)
        ax.axhline(0, color="0.5", lw=0.8)
        ax.set_title(f"{net} ({result.preset})", fontsize=9)
        ax.set_xlabel("epoch along the whole trajectory")
        ax.xaxis.set_major_locator(_integer_ticks())
    axes[0].set_ylabel("cosine towards the restart's end")
    if handles:
        _legend(axes[-1], handles=list(handles.values()), fontsize=8, loc="upper left", bbox_to_anchor=(1.02, 1.0),
                borderaxespad=0.0, title="dotted: restart begins", title_fontsize=8)


def plot_motion_per_epoch(axes, results: dict) -> None:
    """Section 5.4 (Chapter 6): how far SGD moves in each epoch, ``||x_{t+1} - x_t||``, along the
    run at 0.1 and along each restart at 0.01 (drawn from the epoch it starts at), on a log
    scale. Travelling shows as motion that holds its level, settling as motion that shrinks."""
    for ax, (net, result) in zip(axes, results.items()):
        if result is None:
            _not_cached(ax, net)
            continue
        c = result.curves
        base = c["base_epoch_distance"]
        ax.plot(np.arange(1, base.size + 1), base, color="0.25", lw=1.6, marker="o", ms=3, label="run at 0.1")
        for k, start in enumerate(c["restart_epochs"]):
            moved = c["restart_epoch_distance"][:, k]
            ax.plot(start + np.arange(1, moved.size + 1), moved, lw=1.2, marker="o", ms=3,
                    label=f"restart from epoch {start}")
        ax.set_yscale("log")
        ax.yaxis.set_major_locator(LogLocator(subs=(1.0, 2.0, 5.0)))   # a short log axis needs more than decades
        ax.yaxis.set_major_formatter(StrMethodFormatter("{x:g}"))      # the log formatter labels decades only
        ax.yaxis.set_minor_formatter(NullFormatter())
        ax.set_title(f"{net} ({result.preset})", fontsize=9)
        ax.set_xlabel("epoch $t + 1$")
        ax.xaxis.set_major_locator(_integer_ticks())
    axes[0].set_ylabel(r"$\|x_{t+1} - x_t\|$")
    handles = axes[0].get_legend_handles_labels()[0] or axes[-1].get_legend_handles_labels()[0]
    if handles:
        _legend(axes[-1], handles=handles, fontsize=8, loc="upper left", bbox_to_anchor=(1.02, 1.0), borderaxespad=0.0)


def plot_step_probe(axes, results: dict, quantity: str = "cosine", first_epoch: int = 5) -> None:
    """The paper's footnote 7 (Chapter 4): on one axis per network, the mean over points one SGD
    step away from ``x_t`` with their min-max band, beside Figure 5b's ball (grey), for the first
    trial. ``quantity`` is ``"raw"`` or ``"cosine"``; the y axis is symmetric-log, as in
    :func:`plot_figure5`."""
    if quantity not in ("raw", "cosine"):
        raise ValueError(f"quantity must be 'raw' or 'cosine', got {quantity!r}")
    for ax, (net, result) in zip(axes, results.items()):
        ax.set_title(net if result is None else f"{net} ({result.preset})", fontsize=9)
        if result is None:
            _not_cached(ax, net)
            continue
        c, bands, radius = result.curves, [], result.config["ball_radius"]
        for probe, color, label in (("ball", "0.55", f"ball of radius {radius:g}"), ("step", color_of(net), "one SGD step")):
            band = [c[f"{probe}_{quantity}_{k}"][:, 0] for k in ("min", "mean", "max")]
            _band(ax, c["ball_epochs"], *band, color, label)
            bands.extend(band)
        _sign_axis(ax, bands, first_epoch)
        ax.set_xlabel("epoch $t$")
        ax.set_ylabel(("inner product" if quantity == "raw" else "cosine") + " (symlog)")
        ax.xaxis.set_major_locator(_integer_ticks())
        _legend(ax, fontsize=8)
