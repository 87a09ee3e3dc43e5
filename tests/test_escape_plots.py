"""The figure helpers of Chapter 7 draw what they are given, one artist per curve."""
from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.colors import to_rgb

from sgd_escape import escape_plots
from sgd_escape.escape_basins import BasinFractions, SharpFlatLandscape
from sgd_escape.escape_saddles import DimensionSweep, QuarticSaddle, SaddleRun
from sgd_escape.escape_stats import LineFit


def test_saddle_figures_draw_one_curve_per_method():
    fig, (left, right) = plt.subplots(1, 2)
    runs = {"gd": SaddleRun(np.array([np.inf]), np.linspace(1, 0, 5)),
            "sgd": SaddleRun(np.array([3.0]), np.linspace(1, -0.2, 5))}
    escape_plots.plot_saddle_trajectories(left, runs, QuarticSaddle(3), "q")
    assert len(left.lines) == 4  # two methods, saddle value, minimum value
    dims = np.array([10, 100, 1000])
    sweep = DimensionSweep(dims, np.array([1.0, 2.0, 3.0]), np.array([0.1, 0.2, 0.4]), np.ones(3))
    escape_plots.plot_escape_versus_dimension(right, {"sgd": sweep}, {"sgd": LineFit(1, 0, 0, 0)}, "q")
    assert right.get_xscale() == "log" and len(right.containers) == 1
    _assert_error_bars(right.containers[0], dims, sweep.mean, sweep.standard_error)
    plt.close(fig)


def _assert_error_bars(container, x, y, error):
    """``container`` (from ``ax.errorbar``) draws the points (x, y) with bars y - error to y + error."""
    points, _, (bars,) = container.lines
    np.testing.assert_allclose(points.get_xdata(), x)
    np.testing.assert_allclose(points.get_ydata(), y)
    np.testing.assert_allclose([segment[:, 1] for segment in bars.get_segments()], np.stack([y - error, y + error], 1))


def test_basin_figures_draw_one_curve_per_start():
    fig, axes = plt.subplots(1, 2)
    landscape = SharpFlatLandscape()
    escape_plots.plot_convolved_landscape(axes[0], landscape, [0.0, 0.2, 0.5])
    assert len(axes[0].lines) == 4  # three functions and the barrier
    fractions = BasinFractions(np.array([0.1, 1.0]), np.array([1.0, 0.5]), np.array([0.0, 0.5]))
    escape_plots.plot_basin_fractions(axes[1], {0.01: fractions}, {0.01: fractions}, 0.5)
    assert len(axes[1].lines) == 3  # two starts and the critical radius
    axes[1].clear()
    escape_plots.plot_basin_baselines(axes[1], {0.01: fractions}, {0.01: fractions},
                                      {0.01: [0.5, 0.4]}, {0.01: [0.45, 0.48]})
    assert len(axes[1].lines) == 4  # two starts, the Gibbs fraction and the bowl-only null
    assert list(axes[1].lines[2].get_ydata()) == [0.5, 0.4]
    plt.close(fig)


def test_escape_fit_draws_the_means_with_error_bars_the_fit_solid_and_the_prediction_dotted():
    fig, ax = plt.subplots()
    x, means = np.array([1.0, 2.0, 3.0]), np.exp([1.0, 2.0, 3.0])
    escape_plots.plot_escape_fit(ax, x, means, 0.1 * means, 2 * means, 3 * means, "x", "l", "k")
    assert ax.get_yscale() == "log" and len(ax.containers) == 1
    _assert_error_bars(ax.containers[0], x, means, 0.1 * means)
    curves = {line.get_linestyle(): line for line in ax.lines if line.get_linestyle() in ("-", ":")}
    np.testing.assert_allclose(curves["-"].get_ydata(), 2 * means)
    np.testing.assert_allclose(curves[":"].get_ydata(), 3 * means)
    plt.close(fig)


def test_saddle_figures_draw_the_minimum_value_and_the_fitted_line():
    fig, (left, right) = plt.subplots(1, 2)
    landscape = QuarticSaddle(3, negative_curvature=2.0)
    escape_plots.plot_saddle_trajectories(left, {"gd": SaddleRun(np.array([np.inf]), np.zeros(3))}, landscape, "q")
    minimum = [line for line in left.lines if line.get_label() == "minimum value"][0]
    assert minimum.get_ydata()[0] == landscape.saddle_value - landscape.depth
    dims = np.array([10, 100, 1000])
    sweep = DimensionSweep(dims, np.array([1.0, 2.0, 3.0]), np.full(3, 0.1), np.ones(3))
    escape_plots.plot_escape_versus_dimension(right, {"sgd": sweep}, {"sgd": LineFit(2.0, 5.0, 0, 0)}, "q")
    np.testing.assert_allclose(right.lines[-1].get_ydata(), 5.0 + 2.0 * np.log(dims))
    plt.close(fig)


def test_saddle_reference_lines_stay_behind_a_distinct_gradient_descent_line():
    fig, ax = plt.subplots()
    landscape = QuarticSaddle(3)
    runs = {"gd": SaddleRun(np.array([np.inf]), np.full(5, landscape.saddle_value)),
            "sgd": SaddleRun(np.array([3.0]), np.linspace(1, -0.2, 5))}
    escape_plots.plot_saddle_trajectories(ax, runs, landscape, "q")
    lines = {line.get_label(): line for line in ax.lines}
    gd, sgd = lines["GD"], lines["SGD"]
    for reference in (lines["saddle value"], lines["minimum value"]):
        assert reference.get_zorder() < gd.get_zorder()
        assert reference.get_linewidth() < gd.get_linewidth()
        assert not np.allclose(to_rgb(reference.get_color()), to_rgb(gd.get_color()), atol=0.1)
    assert gd.get_linewidth() > sgd.get_linewidth()      # GD is under the others, so wider
    plt.close(fig)


def test_convolutions_differ_in_colour_and_dash_pattern():
    fig, ax = plt.subplots()
    escape_plots.plot_convolved_landscape(ax, SharpFlatLandscape(), [0.0, 0.1, 0.3, 0.49, 0.8])
    curves = [line for line in ax.lines if line.get_label().startswith("g,")]
    assert len(curves) == 4
    colours = np.array([to_rgb(line.get_color()) for line in curves])
    gaps = np.linalg.norm(colours[:, None] - colours[None], axis=-1)[np.triu_indices(4, 1)]
    assert gaps.min() > 0.15
    assert [line.get_linestyle() for line in curves] == [":", "-.", "--", "-"]
    plt.close(fig)


def test_basin_figures_mark_the_critical_radius_and_share_a_compact_legend():
    fig, (left, right) = plt.subplots(1, 2)
    fractions = BasinFractions(np.array([0.1, 1.0]), np.array([1.0, 0.5]), np.array([0.0, 0.5]))
    steps = (0.01, 0.02)
    runs = {step: fractions for step in steps}
    escape_plots.plot_basin_fractions(left, runs, runs, 0.5)
    escape_plots.plot_basin_baselines(right, runs, runs, {s: [0.5, 0.4] for s in steps},
                                      {s: [0.45, 0.48] for s in steps}, critical=0.5)
    for ax in (left, right):
        vertical = [line for line in ax.lines if list(line.get_xdata()) == [0.5, 0.5]]
        assert len(vertical) == 1 and vertical[0].get_color() == escape_plots.COLORS["bound"]
    labels = [text.get_text() for text in escape_plots.basin_legend(left, steps, fontsize=9).get_texts()]
    assert labels == ["step 0.01", "step 0.02", "sharp minimum lost", "start sharp", "start flat"]
    legend = escape_plots.basin_legend(right, steps, baselines=True, fontsize=9)
    assert len(legend.get_texts()) == 7 and legend.get_texts()[0].get_fontsize() == 9
    plt.close(fig)
