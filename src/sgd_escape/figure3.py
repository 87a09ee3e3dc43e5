"""The book's Figure 3: GD and SGD on a spiky function, and restarts in stages (Chapter 1).

All panels of rows 2 and 3 (:func:`panel_plan`) run as one batch of trials through
:func:`sgd_escape.sgd.run_sgd`. The five criteria that our reproduction must meet are
measured from that batch by :func:`figure3_criteria` and judged against the thresholds of
:class:`Figure3Criteria` by :func:`criteria_hold`.
"""
from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from .checks import require_in_interval, require_int_at_least, require_nonnegative
from .landscapes import FIGURE3, Figure3Setup, SpikyFunction
from .sgd import run_sgd

ROW2 = ("gd", "small", "medium", "large")
#: Plots of Figure 3 show ``f`` this far beyond the initial region.
PLOT_MARGIN = 0.5
#: Local minima for the criteria are searched this far beyond the initial region.
SEARCH_MARGIN = 2.0


@dataclass(frozen=True)
class Figure3Criteria:
    """Thresholds of the five measured properties of Figure 3 that the book states (Chapter 1).

    The centre region ``[-h, h]`` of criteria 2 and 3 is ``Figure3Setup.centre_half_width``.
    The target of criterion 5 is narrower than the last stage's start region and than the
    spacing of the local minima of ``f`` next to ``x* = 0``, so GD from the same starts (every
    stage noise 0) fails it: only the noise can carry the trials there.
    """

    gd_near_radius: float = 0.5            # 1. GD: "near x*" means within this distance ...
    gd_max_fraction_near: float = 0.2      # ... and fewer than this share of GD trials get there,
    gd_min_distinct_minima: int = 10       # ... stuck at no fewer than this many minima of f
    medium_min_fraction_inside: float = 0.8  # 3. medium noise: at least this share in the centre
    min_spread_ratio: float = 3.0          # 4. large noise: spread >= this times the medium one
    target_half_width: float = 0.1         # 5. the last stage ends in [-this, this] ...
    last_stage_min_fraction: float = 0.8   # ... with at least this share of its trials

    def __post_init__(self):
        for name in ("gd_max_fraction_near", "medium_min_fraction_inside", "last_stage_min_fraction"):
            require_in_interval(name, getattr(self, name), 0.0, 1.0, closed=True)
        for name in ("gd_near_radius", "min_spread_ratio", "target_half_width"):
            require_nonnegative(name, getattr(self, name))
        require_int_at_least("gd_min_distinct_minima", self.gd_min_distinct_minima, 0)


#: The thresholds the book's Figure 3 must meet.
CRITERIA = Figure3Criteria()


def stage_names(setup: Figure3Setup = FIGURE3) -> tuple:
    """The panel names of row 3's restart stages, ``("stage1", "stage2", ...)``, one per entry of
    ``setup.stage_noises`` (Chapter 1)."""
    return tuple(f"stage{i + 1}" for i in range(len(setup.stage_noises)))


def panel_plan(setup: Figure3Setup = FIGURE3) -> dict:
    """Noise radius and initial half-width of every simulated panel, by name (Chapter 1).

    Returns ``{panel: (noise radius, initial half-width)}`` for ``"gd"``, the noise levels of
    row 2 and the stages of row 3 (:func:`stage_names`), in that order.
    """
    plan = {"gd": (0.0, setup.init_half_width)}
    for name in ROW2[1:]:
        plan[name] = (setup.noise_levels[name], setup.init_half_width)
    for name, noise, half in zip(stage_names(setup), setup.stage_noises, setup.stage_half_widths):
        plan[name] = (noise, half)
    return plan


def stage_step_size_per_panel(setup: Figure3Setup = FIGURE3, stage_step_sizes=None) -> dict:
    """The step size of every panel of :func:`panel_plan`, by name (Chapter 1): ``setup.step_size``
    everywhere, except row 3's stages when ``stage_step_sizes`` gives one step size per stage
    (the reading of row 3 that shrinks the learning rate, :func:`shrinking_step_stages`)."""
    plan = panel_plan(setup)
    steps = dict.fromkeys(plan, setup.step_size)
    if stage_step_sizes is None:
        return steps
    names = stage_names(setup)
    sizes = np.asarray(stage_step_sizes, dtype=float)
    if sizes.shape != (len(names),) or not np.all(np.isfinite(sizes)) or np.any(sizes <= 0):
        raise ValueError(f"stage_step_sizes must hold one finite step size > 0 per stage "
                         f"({len(names)}), got {stage_step_sizes!r}")
    steps.update(zip(names, sizes.tolist()))
    return steps


def shrinking_step_stages(setup: Figure3Setup = FIGURE3) -> tuple:
    """Row 3 as the paper's caption reads it, with shrinking learning rates (Chapter 1).

    Returns ``(fixed_noise_setup, stage_step_sizes)``: every stage keeps the first stage's noise
    radius ``r_1``, and stage ``k`` takes the step ``eta * r_k / r_1``, so that its window
    ``eta_k * r_1 = eta * r_k`` (the smoothed function of F(3,1)) is the one of the text's
    reading, in which ``eta`` stays and ``r`` shrinks. Pass both to :func:`simulate_figure3`.
    """
    first = setup.stage_noises[0]
    if first <= 0:
        raise ValueError(f"setup.stage_noises must start with a radius > 0, got {first!r}")
    fixed = replace(setup, stage_noises=(first,) * len(setup.stage_noises))
    return fixed, tuple(setup.step_size * noise / first for noise in setup.stage_noises)


def simulate_figure3(f: SpikyFunction, setup: Figure3Setup = FIGURE3, seed: int = 0,
                     stage_step_sizes=None) -> dict:
    """Last iterates of every panel, ``{panel: array of shape (setup.trials,)}``, from one batched
    run of ``setup.steps`` SGD steps (Chapter 1); the panels are those of :func:`panel_plan`.

    Every panel steps with ``setup.step_size``, row 3's stages with ``stage_step_sizes`` where
    given (one per stage, :func:`stage_step_size_per_panel`)."""
    rng = np.random.default_rng(require_int_at_least("seed", seed, 0))
    plan = panel_plan(setup)
    eta = np.repeat(list(stage_step_size_per_panel(setup, stage_step_sizes).values()), setup.trials)
    noise = np.repeat([radius for radius, _ in plan.values()], setup.trials)
    half = np.repeat([half for _, half in plan.values()], setup.trials)
    x0 = rng.uniform(-1.0, 1.0, size=noise.shape) * half
    last = run_sgd(f.grad, x0, eta, noise, setup.steps, rng)
    return dict(zip(plan, last.reshape(len(plan), setup.trials)))


def _nearest(points, candidates):
    return candidates[np.abs(points[:, None] - candidates[None, :]).argmin(axis=1)]


def gd_minima_count(f: SpikyFunction, last, span: float) -> int:
    """Number of distinct local minima of ``f`` in ``[-span, span]`` at which GD's last iterates
    sit (within 1e-3): criterion 1 of Figure 3 (Chapter 1)."""
    minima = f.local_minima(-span, span)
    nearest = _nearest(last, minima)
    at_minimum = np.abs(last - nearest) < 1e-3
    return int(len(np.unique(np.round(nearest[at_minimum], 6))))


def gd_orbit_width(f: SpikyFunction, step_size: float, starts, steps: int = 3000) -> float:
    """Width of the orbit that GD without noise settles into from ``starts`` (Chapter 1, Explore):
    the largest step ``|x_{T+1} - x_T|`` after ``steps`` steps. Near 0 where GD converges to a
    minimum; where the step size makes that minimum unstable and GD falls into a 2-cycle, it is
    the distance between the cycle's two points."""
    require_int_at_least("steps", steps, 1)
    last = run_sgd(f.grad, np.asarray(starts, dtype=float), step_size, 0.0, steps)
    return float(np.abs(step_size * f.grad(last)).max())


def trapped_in_spurious_basins(f: SpikyFunction, last, half_width: float, span: float):
    """For each point: whether its basin of the convolved ``f`` (the interval between two
    neighbouring local maxima) holds a spurious minimum ``m != 0``, and its distance to ``m``
    (criterion 2 of Figure 3, Chapter 1). Returns ``(spurious, distance)``, a boolean and a
    float array of the shape of ``last`` (the distance is NaN where no minimum was found)."""
    minima = f.local_minima(-span, span, half_width)
    maxima = f.local_maxima(-span, span, half_width)
    basin_of_point = np.searchsorted(maxima, last)
    basin_of_minimum = np.searchsorted(maxima, minima)
    owner = np.full(len(maxima) + 1, np.nan)
    owner[basin_of_minimum] = minima  # one minimum per basin: minima and maxima interleave
    basin_minimum = owner[basin_of_point]
    spurious = np.isfinite(basin_minimum) & (np.abs(basin_minimum) > 1e-3)
    return spurious, np.abs(last - basin_minimum)


def centre_region_shape(f: SpikyFunction, half_width: float, centre: float, span: float,
                        resolution: float = 1e-3) -> dict:
    """The convolved ``f`` (window ``half_width``) on the restart region ``[-centre, centre]``
    around x* = 0 (Chapter 1): ``basin_edge``, the distance from x* to the nearest local maximum
    in ``[-span, span]`` (inf if none: the central basin's edge); ``one_point_c``, the smallest
    ``g'(x) x / x^2`` over the region (positive: one-point strongly convex towards x* there);
    ``nonconvex_share``, the fraction of the region where ``g'' < 0``."""
    require_nonnegative("half_width", half_width)
    require_in_interval("centre", centre, 0.0, span)
    grid = np.arange(-centre, centre + resolution / 2, resolution)
    slope = f.convolved_grad(grid, half_width)
    away = np.abs(grid) > resolution / 2                        # the ratio is 0/0 at x* itself
    maxima = np.abs(f.local_maxima(-span, span, half_width))
    return {"basin_edge": float(maxima.min()) if maxima.size else float("inf"),
            "one_point_c": float(np.min(slope[away] / grid[away])),
            "nonconvex_share": float(np.mean(np.gradient(slope, grid) < 0))}


def figure3_criteria(f: SpikyFunction, results: dict, setup: Figure3Setup = FIGURE3,
                     criteria: Figure3Criteria = CRITERIA) -> dict:
    """The five measured properties of Figure 3 that the book states (Chapter 1)."""
    span, centre = setup.init_half_width + SEARCH_MARGIN, setup.centre_half_width
    small_window = setup.step_size * setup.noise_levels["small"]
    outside = results["small"][np.abs(results["small"]) > centre]
    trapped, distance = trapped_in_spurious_basins(f, outside, small_window, span)
    last_stage = results[stage_names(setup)[-1]]
    return {
        "gd_fraction_near_target": float(np.mean(np.abs(results["gd"]) < criteria.gd_near_radius)),
        "gd_distinct_minima": gd_minima_count(f, results["gd"], span),
        "small_outside_count": int(outside.size),
        "small_outside_all_trapped": bool(trapped.all()) if outside.size else False,
        "small_outside_max_distance": float(distance.max()) if outside.size else float("nan"),
        "medium_fraction_inside": float(np.mean(np.abs(results["medium"]) <= centre)),
        "spread_ratio_large_to_medium": float(np.std(results["large"]) / np.std(results["medium"])),
        "last_stage_fraction_near_target": float(np.mean(np.abs(last_stage) <= criteria.target_half_width)),
    }


def stage_handoffs(results: dict, setup: Figure3Setup = FIGURE3) -> list:
    """For each pair of consecutive stages of row 3: the share of stage ``k``'s last iterates
    inside stage ``k+1``'s start region ``[-h, h]``. Row 3 restarts every stage afresh in a
    chosen region; these shares check that the previous stage really ends there (Chapter 1)."""
    names = stage_names(setup)
    return [float(np.mean(np.abs(results[name]) <= half))
            for name, half in zip(names[:-1], setup.stage_half_widths[1:])]


def criteria_hold(measured: dict, criteria: Figure3Criteria = CRITERIA) -> dict:
    """The book's five criteria for Figure 3 (Chapter 1) as booleans, from
    :func:`figure3_criteria`'s output and the thresholds in ``criteria``."""
    c = criteria
    return {
        "1 GD stuck": measured["gd_fraction_near_target"] < c.gd_max_fraction_near
        and measured["gd_distinct_minima"] >= c.gd_min_distinct_minima,
        "2 small noise trapped": measured["small_outside_count"] > 0 and measured["small_outside_all_trapped"],
        "3 medium concentrates": measured["medium_fraction_inside"] >= c.medium_min_fraction_inside,
        "4 large spreads": measured["spread_ratio_large_to_medium"] >= c.min_spread_ratio,
        "5 stages converge": measured["last_stage_fraction_near_target"] >= c.last_stage_min_fraction,
    }


def criteria_over_seeds(f: SpikyFunction, seeds, setup: Figure3Setup = FIGURE3,
                        stage_step_sizes=None) -> list:
    """One row of measured criteria per seed: ``[{"seed": s, **figure3_criteria(...)}, ...]``
    (Chapter 1), each from its own :func:`simulate_figure3` run (with ``stage_step_sizes``)."""
    stage_step_size_per_panel(setup, stage_step_sizes)      # refuse bad step sizes before any run
    rows = []
    for seed in seeds:
        seed = require_int_at_least("seed", seed, 0)
        run = simulate_figure3(f, setup, seed, stage_step_sizes)
        rows.append({"seed": seed, **figure3_criteria(f, run, setup)})
    return rows


# -- drawing ----------------------------------------------------------------------------
#: Colour, line style and width of each stage's convolution in panel F(3,1): the curves nearly
#: coincide, so they differ in all three, the first (widest window, smoothest) widest and below.
STAGE_STYLES = (("tab:orange", "-", 3.0), ("tab:purple", "--", 1.6), ("tab:cyan", ":", 1.6), ("tab:olive", "-.", 1.2))


def _draw_function(ax, f, half_width, span, label=None, color=None, linestyle="-", linewidth=1.6, show_f=True):
    """Grey: ``f``; orange (or ``color``): ``f`` convolved with the window of half-width
    ``half_width`` (none when it is 0). Labels the axes "x" and "f"."""
    from .plotting import COLORS

    xs = np.linspace(-span, span, 2001)
    if show_f:
        ax.plot(xs, f.value(xs), color=COLORS["f"], lw=0.6, alpha=0.5 if half_width else 1.0)
    if half_width:
        ax.plot(xs, f.convolved_value(xs, half_width), color=COLORS["convolved"] if color is None else color,
                lw=linewidth, ls=linestyle, label=label)
    ax.set(xlabel="x", ylabel="f")


def _draw_last_iterates(ax, f, last, half_width, span):
    """Red dots: last iterates on the (convolved) curve; blue bars: how many ended in each bin,
    on a right-hand axis labelled "count", which is returned."""
    from .plotting import COLORS

    span = max(span, float(np.max(np.abs(last))) + PLOT_MARGIN)  # a random walk may leave the frame
    _draw_function(ax, f, half_width, span)
    ax.plot(last, f.convolved_value(last, half_width), "o", ms=3, color=COLORS["iterate"], alpha=0.7)
    counts = ax.twinx()
    counts.hist(last, bins=np.linspace(-span, span, 61), color=COLORS["count"], alpha=0.35)
    counts.set_ylim(0, len(last))
    counts.set_ylabel("count", color=COLORS["count"])
    counts.tick_params(axis="y", colors=COLORS["count"])
    counts.grid(False)
    return counts


def plot_figure3(f: SpikyFunction, results: dict, setup: Figure3Setup = FIGURE3):
    """The twelve panels F(r,c) of Figure 3 (Chapter 1); returns the matplotlib figure.

    Each of the paper's three rows is a block titled "Row r" whose four panels sit in two
    lines of two, F(r,1) F(r,2) above F(r,3) F(r,4), so that the figure stays readable at the
    width of a book page.
    """
    import matplotlib.pyplot as plt

    fig = plt.figure(figsize=(7.4, 12.4), layout="constrained")
    blocks = fig.subfigures(3, 1, hspace=0.02)
    titles = ("Row 1: f and its convolutions with the noise windows",
              "Row 2: last iterates of GD and SGD at three noise levels",
              "Row 3: restarts in stages near $x^* = 0$")
    rows = []
    for block, title in zip(blocks, titles):
        block.suptitle(title, fontsize=11, fontweight="bold")
        rows.append(block.subplots(2, 2).ravel())
    span, eta, levels = setup.init_half_width + PLOT_MARGIN, setup.step_size, setup.noise_levels
    twins = []
    _draw_function(rows[0][0], f, 0.0, span)
    rows[0][0].set_title("F(1,1): f")
    for col, name in enumerate(ROW2[1:], start=1):
        _draw_function(rows[0][col], f, eta * levels[name], span)
        rows[0][col].set_title(f"F(1,{col + 1}): f convolved, r = {levels[name]:g} ({name})")
    for col, name in enumerate(ROW2):
        radius = levels.get(name, 0.0)
        twins.append(_draw_last_iterates(rows[1][col], f, results[name], eta * radius, span))
        rows[1][col].set_title(f"F(2,{col + 1}): " + ("GD, no noise" if name == "gd" else f"SGD, r = {radius:g}"))
    stage_span = setup.stage_half_widths[0] + 0.1
    for k, noise in enumerate(setup.stage_noises):
        color, linestyle, linewidth = STAGE_STYLES[k % len(STAGE_STYLES)]
        _draw_function(rows[2][0], f, eta * noise, stage_span, label=f"r = {noise:g}", color=color,
                       linestyle=linestyle, linewidth=linewidth, show_f=k == 0)
    rows[2][0].legend(loc="upper center", fontsize=8.5, handlelength=2.6)
    rows[2][0].set_title("F(3,1): convolutions near $x^* = 0$")
    for col, (name, noise, half) in enumerate(zip(stage_names(setup), setup.stage_noises,
                                                   setup.stage_half_widths), start=1):
        twins.append(_draw_last_iterates(rows[2][col], f, results[name], eta * noise, stage_span))
        rows[2][col].set_title(f"F(3,{col + 1}): stage {col}, r = {noise:g}, start in ±{half:g}")
    for ax in [ax for row in rows for ax in row] + twins:
        ax.title.set_fontsize(9.5)
        ax.xaxis.label.set_fontsize(9)
        ax.yaxis.label.set_fontsize(9)
        ax.tick_params(labelsize=8.5)
    return fig


def criteria_columns(setup: Figure3Setup = FIGURE3, criteria: Figure3Criteria = CRITERIA) -> dict:
    """Column title and format of every key of :func:`criteria_over_seeds` rows, with the
    regions read from ``setup`` and ``criteria`` (Chapter 1)."""
    centre, target = setup.centre_half_width, criteria.target_half_width
    return {
        "seed": ("seed", "{}"),
        "gd_fraction_near_target": (f"GD: share within {criteria.gd_near_radius:g} of x*", "{:.0%}"),
        "gd_distinct_minima": ("GD: distinct minima of f", "{}"),
        "small_outside_count": (f"small r: trials outside ±{centre:g}", "{}"),
        "small_outside_all_trapped": ("... all in spurious basins", "{}"),
        "medium_fraction_inside": (f"medium r: share in ±{centre:g}", "{:.0%}"),
        "spread_ratio_large_to_medium": ("spread large / medium", "{:.1f}"),
        "last_stage_fraction_near_target": (f"last stage: share in ±{target:g}", "{:.0%}"),
    }


def criteria_table_html(rows: list, setup: Figure3Setup = FIGURE3, criteria: Figure3Criteria = CRITERIA) -> str:
    """An HTML table of :func:`criteria_over_seeds` rows, for the chapter to display (Chapter 1)."""
    columns = criteria_columns(setup, criteria)
    head = "".join(f"<th>{title}</th>" for title, _ in columns.values())
    body = "".join(
        "<tr>" + "".join(f"<td>{fmt.format(row[key])}</td>" for key, (_, fmt) in columns.items()) + "</tr>"
        for row in rows
    )
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"
