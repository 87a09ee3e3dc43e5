"""Figures of Chapters 2 and 3 (the main theorem and its proof), one function per figure."""
from __future__ import annotations

import numpy as np
from matplotlib.patches import Circle
from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter

from sgd_escape.plotting import COLORS

BAND_ALPHA = 0.25
#: Plots of squared distances start at this multiple of b/lambda: below it the trials only
#: pass on their way across x* (Chapter 2's captions quote it).
DISTANCE_AXIS_FLOOR = 1e-3


def one_point_estimates(ax, y, estimates: dict, exact: dict) -> None:
    """c(y) estimated by Monte Carlo (bands: +-3 standard errors) and by quadrature, per noise level (Chapter 2).

    ``y`` has shape (p,); ``estimates`` maps a noise name to its
    :class:`~sgd_escape.assumption.OnePointEstimate` at ``y``, ``exact`` to an array of shape (p,).
    Draws on ``ax``; returns None.
    """
    for (name, est), colour in zip(estimates.items(), ("tab:purple", "tab:orange", "tab:brown")):
        ax.fill_between(y, est.c_hat - 3 * est.stderr, est.c_hat + 3 * est.stderr, color=colour, alpha=BAND_ALPHA)
        ax.plot(y, est.c_hat, color=colour, lw=1, label=f"{name}: Monte Carlo, +-3 s.e.")
    for k, curve in enumerate(exact.values()):       # on top of the estimates, which they should match
        ax.plot(y, curve, color="black", lw=0.7, ls=":", zorder=3, label="exact (quadrature)" if k == 0 else None)
    ax.axhline(0, color=COLORS["target"], lw=0.8)
    ax.set(xlabel="y", ylabel="c(y)")
    ax.legend(fontsize=8)


def distance_runs(ax, result, shown: int = 30) -> None:
    """||y_t - x*||^2 of some trials, their mean, Step 2's envelope, 20b/lambda and delta^2 (Chapter 2).

    ``result`` is a :class:`~sgd_escape.theorem_experiments.Theorem1Result`; ``shown`` trials are
    drawn. Draws on ``ax``; returns None.
    """
    exp, s = result.experiment, result.experiment.setting
    t = np.arange(result.run.sq_dist.shape[0])
    ax.plot(t, result.run.sq_dist[:, :shown], color=COLORS["iterate"], lw=0.4, alpha=0.35)
    ax.plot(t, result.run.sq_dist.mean(axis=1), color=COLORS["iterate"], lw=2, label="mean over trials")
    ax.plot(t, s.envelope(exp.initial_sq_distance, t), color=COLORS["bound"], lw=2,
            label=r"$b/\lambda + (1-\lambda)^t\|y_0-x^*\|^2$")
    ax.axhline(s.markov_radius_sq, color=COLORS["bound"], ls="--", label=r"$20b/\lambda$")
    ax.axhline(s.tail(result.T2).radius_sq, color=COLORS["bound"], ls=":", label=r"$\delta^2$ (window bound)")
    ax.axvspan(exp.T1, exp.T1 + result.T2, color="0.9", zorder=0)
    ax.set(yscale="log", xlabel="t", ylabel=r"$\|y_t - x^*\|^2$", ylim=(DISTANCE_AXIS_FLOOR * s.floor, None))
    ax.legend(fontsize=8, loc="upper right", bbox_to_anchor=(1.0, 0.93))  # between 20b/lambda and delta^2


def shrinking_stages(ax, schedule, sq, lengths) -> None:
    """Corollary 2's stages: squared distances and each stage's 20b/lambda (Chapter 2).

    ``schedule`` (a :class:`~sgd_escape.theory.ShrinkingSchedule`), ``sq`` (shape (sum of lengths
    + 1, trials)) and ``lengths`` are what :func:`~sgd_escape.theorem_experiments.run_shrinking`
    returns (for two stages: ``coro.schedule`` and the rest of
    :func:`~sgd_escape.theorem_experiments.run_corollary2`). Draws on ``ax``; returns None.
    """
    t = np.arange(sq.shape[0])
    ax.plot(t, sq[:, :30], color=COLORS["iterate"], lw=0.4, alpha=0.35)
    ax.plot(t, sq.mean(axis=1), color=COLORS["iterate"], lw=2, label="mean over trials")
    styles = ("--", "-", "-.", ":")
    for k, (radius, end) in enumerate(zip(schedule.radii_sq, np.cumsum(lengths))):
        label = f"$20b_{{{k + 1}}}/\\lambda_{{{k + 1}}}$ (stage {k + 1})"
        ax.axhline(radius, color=COLORS["bound"], ls=styles[k % len(styles)], label=label)
        if end < t[-1]:
            ax.axvline(end, color=COLORS["target"], lw=0.8)
    top = 3 * max(sq.max(), max(schedule.radii_sq))
    ax.set(yscale="log", xlabel="t", ylabel=r"$\|y_t - x^*\|^2$",
           ylim=(DISTANCE_AXIS_FLOOR * schedule.stages[-1].floor, top))
    # Above the axes, in one row: inside, the stage boundaries would cross its entries.
    ax.legend(fontsize=8, loc="lower center", bbox_to_anchor=(0.5, 1.0), ncol=len(lengths) + 1)


def large_step_distances(ax, paths: dict) -> None:
    """||x_t - x*|| of GD for several step sizes (Chapter 2, Theorem 3), with an inset on a linear
    scale of the first steps of the paths that stay near their start, where a small rise is visible.

    ``paths`` maps a label to a GD path of shape (steps + 1, 2) (:func:`~sgd_escape.large_step.gd_path`,
    x* = 0). Draws on ``ax``; returns None.
    """
    inset = ax.inset_axes([0.56, 0.25, 0.4, 0.36])
    for (label, path), colour in zip(paths.items(), ("tab:blue", "tab:orange", "tab:red")):
        norms = np.linalg.norm(path, axis=-1)
        ax.plot(norms, marker="o", ms=3, color=colour, label=label)
        if norms[:5].max() <= 2 * norms[0]:
            inset.plot(norms[:5], marker="o", ms=3, color=colour)
    inset.axhline(np.linalg.norm(next(iter(paths.values()))[0]), color="0.5", lw=0.8, ls=":")
    inset.set_title(r"first steps, linear scale; dotted: $\|x_0 - x^*\|$", fontsize=7)
    inset.tick_params(labelsize=7)
    ax.set(yscale="log", xlabel="t", ylabel=r"$\|x_t - x^*\|$")
    ax.legend(fontsize=8, loc="upper left")


def moving_away_fractions(ax, ratios, fractions: dict, gd_ratio: float) -> None:
    """Fraction of SGD steps that move away from x*, against eta over the noisy threshold, one line
    per dimension (Chapter 2, Theorem 3 with noise).

    ``fractions`` maps d to an array shaped like ``ratios``
    (:func:`~sgd_escape.large_step.fraction_moving_away`); ``gd_ratio`` is GD's exact threshold in
    the same units. Draws on ``ax``; returns None.
    """
    colours = ("tab:blue", "tab:orange", "tab:purple", "tab:red", "tab:brown", "tab:gray")  # not the bound's green
    for k, (d, fraction) in enumerate(fractions.items()):
        ax.plot(ratios, fraction, color=colours[k % len(colours)], label=f"d = {d}")
    ax.axvline(1.0, color="black", ls="--", lw=1, zorder=3, label="noisy threshold")
    ax.axvline(gd_ratio, color=COLORS["target"], ls=":", label="GD's exact threshold")
    ax.set(xlabel=r"$\eta$ / noisy threshold", ylabel="fraction of steps moving away", ylim=(-0.02, 1.02))
    ax.legend(fontsize=8, loc="upper left")


def figure4(ax, f, x_t, eta: float) -> None:
    """The picture of Figure 4 from a real GD step of size ``eta`` from ``x_t`` (shape (2,)) on the
    flower function ``f`` (Chapter 2). Draws on ``ax``; returns None."""
    x_next = x_t - eta * f.grad(x_t)
    radius = np.linalg.norm(x_t)
    lim = 1.15 * max(np.linalg.norm(x_next), radius)
    grid = np.linspace(-lim, lim, 241)
    X, Y = np.meshgrid(grid, grid)
    ax.contour(X, Y, f.value(np.stack([X, Y], axis=-1)), levels=12, colors="0.75", linewidths=0.6)
    ax.add_patch(Circle((0, 0), radius, fill=False, color=COLORS["bound"], lw=1.5))
    ax.plot(*np.stack([x_t, x_next]).T, "o", color=COLORS["iterate"])
    ax.annotate("", xy=x_next, xytext=x_t, zorder=4,        # the head stops short of the dot
                arrowprops=dict(arrowstyle="-|>", color=COLORS["iterate"], lw=1.5, shrinkA=4, shrinkB=6))
    ax.plot(0, 0, "*", color=COLORS["target"], ms=12)
    away = {"x_t": x_t - x_next, "x_next": x_next - x_t}     # each label on the side away from the arrow
    for point, text, offset in ((x_t, r"$x_t$", away["x_t"]), (x_next, r"$x_{t+1}$", away["x_next"]),
                                (np.zeros(2), r"$x^*$", np.array([1.0, 1.0]))):
        offset = 12 * offset / np.linalg.norm(offset)
        ax.annotate(text, point, textcoords="offset points", xytext=tuple(offset), ha="center", va="center")
    ax.set(aspect="equal", xlim=(-lim, lim), ylim=(-lim, lim), xticks=[], yticks=[])


def step1_gaps(ax, chain: dict, names) -> None:
    """Each expression of Step 1 minus the first one (E||y_{t+1} - x*||^2), per point (Chapter 3).
    ``chain`` maps each name in ``names`` to an array over the points; the gaps are drawn in the
    chain's own units, so pass it divided by b for gaps in units of b. Draws on ``ax``; returns None."""
    base = chain[names[0]]
    gaps = [chain[name] - base for name in names[1:]]
    for i, gap in enumerate(gaps, start=1):
        ax.scatter(np.full(gap.shape, i) + np.linspace(-0.2, 0.2, gap.size), gap, s=4, color=COLORS["bound"])
    ax.set_xticks(range(1, len(names)), [f"{n}\n- next" for n in names[1:]])
    ax.axhline(0, color=COLORS["target"], lw=0.8)
    ax.set_yscale("symlog", linthresh=1e-2)
    top = max(float(np.max(gap)) for gap in gaps)
    ax.set(ylabel="gap", ylim=(-1e-2, 3 * top if top > 0 else None))   # symlog's autoscale clips the top row


def supermartingale_mean(ax, G) -> None:
    """Mean of G_t over trials with +-2 standard errors (Chapter 3, Step 2).

    ``G`` has shape (steps + 1, trials). Draws on ``ax``; returns None.
    """
    t = np.arange(G.shape[0])
    mean, se = G.mean(axis=1), G.std(axis=1, ddof=1) / np.sqrt(G.shape[1])
    ax.fill_between(t, mean - 2 * se, mean + 2 * se, color=COLORS["iterate"], alpha=BAND_ALPHA)
    ax.plot(t, mean, color=COLORS["iterate"], label=r"mean of $G_t$, $\pm 2$ s.e.")
    ax.axhline(G[0].mean(), color=COLORS["bound"], ls="--", label=r"$G_0$")
    ax.set(xlabel="t", ylabel=r"$G_t$")
    ax.set_yscale("symlog", linscale=2)       # a wide linear band keeps the ticks at -1, 0, 1 apart
    low, high = ax.get_ylim()
    ax.set_ylim(low, high * 4 if high > 0 else high)    # room above the line at G_0
    ax.legend(fontsize=8)


def markov_histogram(ax, sq_T1, floor: float) -> None:
    """||y_T1 - x*||^2 in units of b/lambda, with Markov's lines at 2 and 20 (Chapter 3).

    ``sq_T1`` has one value per trial; ``floor`` is b/lambda. Draws on ``ax``; returns None.
    """
    scaled = sq_T1 / floor
    ax.hist(scaled, bins=np.geomspace(max(scaled.min(), 1e-6), 30, 60), color=COLORS["count"])
    ax.set_xscale("log")
    ax.axvline(2, color=COLORS["bound"], ls=":", label=r"$2b/\lambda$ (bound on the mean)")
    ax.axvline(20, color=COLORS["bound"], ls="--", label=r"$20b/\lambda$")
    ax.set(xlabel=r"$\|y_{T_1}-x^*\|^2 \,/\, (b/\lambda)$", ylabel="trials")
    ax.legend(fontsize=8)


def deviation_scatter(ax, chain: dict) -> None:
    """Step 3: the largest deviation of ||y_{t+1} - x*||^2 from its conditional mean, against its bound
    (Chapter 3). ``chain`` is :func:`~sgd_escape.proof_checks.step1_chain`'s output. Draws on
    ``ax``; returns None."""
    ax.scatter(chain["deviation_bound"], chain["deviation"], s=5, color=COLORS["iterate"])
    top = chain["deviation_bound"].max()
    ax.plot([0, top], [0, top], color=COLORS["bound"], label="bound = deviation")
    ax.set(xlabel=r"$3.5\eta^2r^2 + 7\eta r\|y_t-x^*\|$", ylabel="largest deviation over draws")
    ax.legend(fontsize=8)


def lemma5_histogram(ax, ratios) -> None:
    """Histogram of Lemma 5's ratio (left side over delta^2) at the points of
    :func:`~sgd_escape.proof_checks.lemma5_grid`, with the lemma's limit 1 (Chapter 3).

    ``ratios`` is an array of any shape; non-finite entries are left out. Draws on ``ax``;
    returns None.
    """
    ax.hist(ratios[np.isfinite(ratios)].ravel(), bins=60, color=COLORS["count"])
    ax.axvline(1, color=COLORS["bound"], ls="--", label="Lemma 5's limit")
    ax.set(xlabel=r"left side of Lemma 5 $/\ \delta^2$", ylabel="grid points", yscale="log", xlim=(0, 1.05))
    ax.set_ylim(bottom=0.8)                               # show bins that hold a single point
    ax.legend(fontsize=8)


def hover_scaling(axes, sweep, maxima, quantiles=(0.1, 0.9)) -> None:
    """Left: the measured hover level against eta, with b/lambda, eta r^2/(2c) and the level of the
    quadratic alone; right: the largest squared distance over windows of length T2 (median, a band
    between ``quantiles`` of the trials, and its least-squares line in log T2) on the left axis, and
    delta^2(T2) on a second axis at the right (Chapter 2).

    ``axes`` holds two axes; ``sweep`` is a :class:`~sgd_escape.hover_scaling.HoverSweep`,
    ``maxima`` a :class:`~sgd_escape.hover_scaling.WindowMaxima`. Draws; returns None."""
    left, right = axes
    _hover_level_panel(left, sweep)
    _window_maxima_panel(right, maxima, quantiles)


def _hover_level_panel(ax, sweep) -> None:
    etas = sweep.etas
    ax.plot(etas, sweep.floors, color=COLORS["bound"], label=r"$b/\lambda$")
    ax.plot(etas, sweep.approx, color=COLORS["bound"], ls="--", label=r"$\eta r^2/(2c)$")
    ax.plot(etas, sweep.quadratic_level, color=COLORS["target"], ls=":", lw=1,
            label=r"quadratic $a\|y\|^2/2$ alone")
    ax.errorbar(etas, sweep.level, yerr=2 * sweep.stderr, fmt="o", ms=4, color=COLORS["iterate"],
                label=r"measured, $\pm 2$ s.e.")
    ax.set(xscale="log", yscale="log", xlabel=r"step size $\eta$", ylabel=r"mean $\|y_t - x^*\|^2$")
    ax.xaxis.set_major_locator(LogLocator(subs=(1.0, 2.0, 5.0)))
    ax.xaxis.set_major_formatter(FuncFormatter(lambda value, _: f"{value:g}"))
    ax.xaxis.set_minor_formatter(NullFormatter())
    ax.legend(fontsize=8, loc="lower center", bbox_to_anchor=(0.5, 1.0), ncol=2)


def _window_maxima_panel(ax, maxima, quantiles) -> None:
    T2s = maxima.T2s
    low, high = np.quantile(maxima.maxima, quantiles, axis=1)
    ax.fill_between(T2s, low, high, color=COLORS["iterate"], alpha=BAND_ALPHA,
                    label=f"trials, {quantiles[0]:.0%} to {quantiles[1]:.0%}")
    ax.plot(T2s, maxima.median, color=COLORS["iterate"], marker="o", ms=3, label="median over trials")
    fit = maxima.growth(maxima.median)
    ax.plot(T2s, fit.intercept + fit.slope * np.log(T2s), color=COLORS["target"], ls=":", lw=1,
            label=r"line in $\log T_2$")
    bound_axis = _bound_axis(ax, T2s, maxima.bounds)
    # the trials in the lower part of the left axis, the bound above them on the right one: the
    # two scales differ, and the curves should not seem to cross
    ax.set(xscale="log", xlabel=r"window length $T_2$", ylim=(0, 1.5 * high.max()),
           ylabel=r"largest $\|y_t - x^*\|^2$ in the window")
    handles, labels = (sum(pair, []) for pair in zip(ax.get_legend_handles_labels(),
                                                      bound_axis.get_legend_handles_labels()))
    ax.legend(handles, labels, fontsize=8, loc="lower center", bbox_to_anchor=(0.5, 1.0), ncol=2)


def _bound_axis(ax, T2s, bounds):
    """A second y axis at the right of ``ax`` showing delta^2(T2), in units of a power of 10."""
    bound_axis = ax.twinx()
    bound_axis.spines["right"].set_visible(True)
    bound_axis.grid(False)
    power = int(np.floor(np.log10(bounds.max())))
    bound_axis.plot(T2s, bounds / 10.0**power, color=COLORS["bound"], label=r"$\delta^2$ (right axis)")
    bound_axis.set_ylim(0, 1.05 * bounds.max() / 10.0**power)
    bound_axis.set_ylabel(rf"$\delta^2 = \mu^2 b/\lambda$, in units of $10^{{{power}}}$", color=COLORS["bound"])
    bound_axis.tick_params(axis="y", colors=COLORS["bound"])
    return bound_axis
