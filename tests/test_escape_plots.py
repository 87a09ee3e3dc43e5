"""The figure helpers of Chapter 7 draw what they are given, one artist per curve."""
from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np

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
    sweep = DimensionSweep(dims, np.array([1.0, 2.0, 3.0]), np.full(3, 0.1), np.ones(3))
    escape_plots.plot_escape_versus_dimension(right, {"sgd": sweep}, {"sgd": LineFit(1, 0, 0, 0)}, "q")
    assert right.get_xscale() == "log"
    plt.close(fig)


def test_basin_and_exponential_figures():
    fig, axes = plt.subplots(1, 3)
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
    x = np.array([1.0, 2.0, 3.0])
    escape_plots.plot_escape_fit(axes[2], x, np.exp(x), 0.1 * np.exp(x), np.exp(x), np.exp(x), "x", "l", "k")
    assert axes[2].get_yscale() == "log"
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
