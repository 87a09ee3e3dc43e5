"""Figures of Chapter 7 (three views of escaping), drawn onto axes that the chapter creates."""
from __future__ import annotations

import matplotlib as mpl
import numpy as np
from matplotlib.lines import Line2D

from .escape_basins import ASSUMPTION_DOMAIN, BasinFractions, SharpFlatLandscape
from .plotting import COLORS

#: One colour per step size in the sharp-and-flat figures.
STEP_COLORS = ("tab:blue", "tab:orange", "tab:red", "tab:purple")
#: One colour per method, the same in every figure of Chapter 7. GD is blue, not grey, so that
#: it stands out from the light grey reference lines it lies on.
METHOD_COLORS = {"gd": "tab:blue", "perturbed_gd": "tab:purple", "sgd": COLORS["iterate"]}
#: Line styles of the convolutions, from the smallest radius to the largest (solid).
CONVOLUTION_STYLES = (":", "-.", "--", "-")
#: Reference lines (a saddle value, a barrier): light grey, thin, drawn below the data.
REFERENCE = {"color": "0.7", "lw": 0.9, "zorder": 1}
METHOD_LABELS = {"gd": "GD", "perturbed_gd": "perturbed GD", "sgd": "SGD"}


def plot_saddle_trajectories(ax, runs: dict, landscape, title: str) -> None:
    """Median ``f(x_t)`` over the trials of each method (``runs``: method name -> SaddleRun) (Chapter 7)."""
    for name, run in runs.items():
        wide = name == "gd"      # GD lies on the saddle-value line: drawn thicker, under the others
        ax.plot(run.median_values, color=METHOD_COLORS[name], label=METHOD_LABELS[name],
                lw=2.6 if wide else 1.5, zorder=2 if wide else 3)
    ax.axhline(landscape.saddle_value, ls=":", label="saddle value", **REFERENCE)
    ax.axhline(landscape.saddle_value - landscape.depth, ls="--", label="minimum value", **REFERENCE)
    ax.set(xlabel="step t", ylabel="median f(x_t)", title=title)


def plot_escape_versus_dimension(ax, sweeps: dict, fits: dict, title: str) -> None:
    """Mean escape step against ``d`` with error bars and the fitted line ``a + b ln d`` (Chapter 7)."""
    for name, sweep in sweeps.items():
        color = METHOD_COLORS[name]
        ax.errorbar(sweep.dims, sweep.mean, yerr=sweep.standard_error, fmt="o", color=color,
                    ms=4, capsize=2, label=METHOD_LABELS[name])
        fit = fits[name]
        ax.plot(sweep.dims, fit.intercept + fit.slope * np.log(sweep.dims), color=color, lw=1,
                label=f"{METHOD_LABELS[name]} fit: {fit.slope:.2f} ln d + {fit.intercept:.0f}")
    ax.set(xscale="log", xlabel="dimension d", ylabel="mean escape step", title=title)


def plot_convolved_landscape(ax, landscape: SharpFlatLandscape, radii) -> None:
    """``f`` (dark grey) and its Gaussian convolutions for each positive radius in ``radii``, from
    light orange and dotted to dark brown and solid as the radius grows (Chapter 7)."""
    grid = np.linspace(-2.5, 2.5, 1001)
    positive = [radius for radius in radii if radius != 0]
    shades = mpl.colormaps["YlOrBr"](np.linspace(0.45, 0.95, len(positive)))
    for radius in radii:
        if radius == 0:
            ax.plot(grid, landscape.value(grid, 0.0), color=COLORS["f"], lw=1.5, label="f")
            continue
        index = positive.index(radius)      # the largest radius solid, the styles before it below
        style = CONVOLUTION_STYLES[max(index + len(CONVOLUTION_STYLES) - len(positive), 0)]
        ax.plot(grid, landscape.value(grid, radius), color=shades[index], lw=1.6, ls=style,
                label=f"g, radius {radius:.2f}")
    ax.axvline(landscape.barrier(), ls=":", **REFERENCE)
    ax.set(xlabel="x", ylabel="value", title="f and its convolutions")


def plot_convexity_constant(ax, radii, constants, critical: float, domain=ASSUMPTION_DOMAIN) -> None:
    """Assumption 1's constant ``c`` on ``domain`` against the noise radius, with the critical
    radius (Chapter 7)."""
    ax.plot(radii, constants, color=COLORS["convolved"])
    ax.axhline(0.0, color="0.5", lw=0.8)
    ax.axvline(critical, color=COLORS["bound"], ls="--", lw=1, label="sharp minimum disappears")
    ax.set(xlabel="noise radius", ylabel="one-point convexity c",
           title=f"Assumption 1 on [{domain[0]:g}, {domain[1]:g}]")


def plot_basin_fractions(ax, from_sharp: dict, from_flat: dict, critical: float) -> None:
    """Fraction of trials ending in the sharp basin, per step size (solid: started in the sharp
    minimum, dashed: in the flat one) (Chapter 7)."""
    for color, (step, sharp) in zip(STEP_COLORS, from_sharp.items()):
        flat: BasinFractions = from_flat[step]
        ax.plot(sharp.radii, sharp.sharp, "o-", color=color, ms=3, label=f"step {step:g}, start sharp")
        ax.plot(flat.radii, flat.sharp, "s--", color=color, ms=3, label=f"step {step:g}, start flat")
    ax.axvline(critical, color=COLORS["bound"], ls="--", lw=1, label="convolution loses sharp minimum")
    ax.set(xscale="log", xlabel=r"noise radius $\rho = \eta s$ (step size $\times$ noise std)",
           ylabel="fraction ending in sharp basin", ylim=(-0.03, 1.03))


def plot_basin_baselines(ax, from_sharp: dict, from_flat: dict, gibbs: dict, bowl_only: dict,
                         critical: float | None = None) -> None:
    """Measured fractions in the sharp basin (markers: circles from the sharp start, squares from
    the flat one) against the stationary Gibbs fraction (solid) and the bowl-only null (dashed),
    per step size; ``gibbs`` and ``bowl_only`` map each step size to one value per radius. With
    ``critical``, also the radius at which the convolution loses the sharp minimum, drawn as in
    ``plot_basin_fractions`` (Chapter 7)."""
    for color, (step, sharp) in zip(STEP_COLORS, from_sharp.items()):
        ax.plot(sharp.radii, sharp.sharp, "o", color=color, ms=3)
        ax.plot(from_flat[step].radii, from_flat[step].sharp, "s", color=color, ms=3, mfc="none")
        ax.plot(sharp.radii, gibbs[step], "-", color=color, lw=1, label=f"step {step:g}, Gibbs")
        ax.plot(sharp.radii, bowl_only[step], "--", color=color, lw=1, label=f"step {step:g}, bowl only")
    if critical is not None:
        ax.axvline(critical, color=COLORS["bound"], ls="--", lw=1, label="convolution loses sharp minimum")
    ax.set(xscale="log", xlabel=r"noise radius $\rho = \eta s$ (step size $\times$ noise std)",
           ylabel="fraction ending in sharp basin", ylim=(-0.03, 1.03))


def basin_legend(ax, steps, baselines: bool = False, **kwargs):
    """A compact legend for the sharp-and-flat figures (Chapter 7): one colour per step size in
    ``steps`` and the critical radius, then the styles in black (the two starts of
    ``plot_basin_fractions``, or with ``baselines`` the markers and curves of ``plot_basin_baselines``).
    ``kwargs`` go to ``ax.legend``; returns the legend."""
    handles = [Line2D([], [], color=color, lw=2, label=f"step {step:g}")
               for color, step in zip(STEP_COLORS, steps)]
    handles.append(Line2D([], [], color=COLORS["bound"], ls="--", lw=1, label="sharp minimum lost"))
    styles = ({"measured, sharp start": dict(ls="", marker="o"),
               "measured, flat start": dict(ls="", marker="s", mfc="none"),
               "Gibbs fraction": dict(ls="-"), "bowl-only null": dict(ls="--")} if baselines else
              {"start sharp": dict(ls="-", marker="o"), "start flat": dict(ls="--", marker="s")})
    handles += [Line2D([], [], color="0.25", lw=1, ms=4, label=label, **style)
                for label, style in styles.items()]
    return ax.legend(handles=handles, **kwargs)


def plot_escape_fit(ax, x, means, errors, fitted, prediction, xlabel: str, label: str,
                    color: str) -> None:
    """Mean escape steps (log scale) with error bars, the fitted curve (solid) and the
    small-noise prediction (dotted), all evaluated at ``x`` (Chapter 7)."""
    ax.errorbar(x, means, yerr=errors, fmt="o", ms=4, capsize=2, color=color, label=label)
    ax.plot(x, fitted, color=color, lw=1)
    ax.plot(x, prediction, ls=":", color=color, lw=1.5)
    ax.set(yscale="log", xlabel=xlabel, ylabel="mean escape step")
