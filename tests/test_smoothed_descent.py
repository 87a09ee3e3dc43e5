"""Chapter 1's measurement of how closely y_t follows gradient descent on the smoothed g
(``sgd_escape.smoothed_descent``), and row 3 of Figure 3 run with shrinking step sizes
(``figure3.shrinking_step_stages``, ``simulate_figure3(..., stage_step_sizes=...)``)."""
from __future__ import annotations

import re
from dataclasses import replace

import matplotlib

matplotlib.use("Agg")
import numpy as np  # noqa: E402
import pytest  # noqa: E402

from sgd_escape import figure3  # noqa: E402
from sgd_escape.landscapes import FIGURE3, figure3_function  # noqa: E402
from sgd_escape.smoothed_descent import (SmoothedTracking, plot_tracking, same_basin_share,  # noqa: E402
                                         smoothed_descent_path, track_smoothed_descent)

F = figure3_function()
SPAN = FIGURE3.init_half_width + figure3.SEARCH_MARGIN


class Quadratic:
    """f(x) = c x^2 / 2: its gradient is linear, so averaging it over any window changes nothing
    and g = f up to a constant; the mean of y_t then follows GD on g exactly."""

    def __init__(self, c: float):
        self.c = c

    def grad(self, x):
        return self.c * np.asarray(x, dtype=float)

    def convolved_grad(self, x, half_width):
        return self.grad(x)


# -- the y-trajectory against GD on g -------------------------------------------------------
def test_without_noise_every_y_path_is_gradient_descent_on_f():
    """With r = 0, x_{t+1} = y_t, so y_{t+1} = y_t - eta f'(y_t): GD on f itself from y_0."""
    eta, x0, steps = 0.7, 2.3, 40
    run = track_smoothed_descent(F, x0, eta, 0.0, steps, trials=3, rng=0)
    expected = [x0 - eta * F.grad(x0)]
    for _ in range(steps):
        expected.append(expected[-1] - eta * F.grad(expected[-1]))
    assert run.y.shape == (steps + 1, 3)
    np.testing.assert_allclose(run.mean, expected, rtol=0, atol=1e-12)
    np.testing.assert_allclose(run.descent, expected, rtol=0, atol=1e-12)
    assert np.all(run.y == run.y[:, :1])            # no noise: every trial the same
    assert np.all(run.gap() < 1e-12)


def test_descent_path_runs_gd_on_the_convolved_function():
    half, y0 = 0.35, np.array([2.9, -1.2])
    path = smoothed_descent_path(F, y0, 1.0, half, 5)
    assert path.shape == (6, 2)
    np.testing.assert_array_equal(path[0], y0)
    for t in range(5):
        np.testing.assert_allclose(path[t + 1], path[t] - F.convolved_grad(path[t], half))
    # the window matters: GD on f itself takes another path
    assert np.abs(smoothed_descent_path(F, y0, 1.0, 0.0, 5)[-1] - path[-1]).max() > 1e-3


def test_mean_y_follows_gd_on_g_where_the_gradient_is_linear():
    """For a quadratic, E[y_t] is exactly GD on g: only the sampling error of the mean remains."""
    run = track_smoothed_descent(Quadratic(1.0), 2.0, 0.1, 1.0, 200, trials=4000, rng=1)
    assert run.half_width == pytest.approx(0.1)
    assert run.scaled_gap().max() < 0.1
    assert run.inside_band().all() and run.parting_step() is None
    # ... while single trials spread over many windows
    lower, upper = run.band()
    assert (upper - lower)[-1] / run.half_width > 3


def test_on_the_spiky_function_the_gap_is_small_with_medium_and_large_with_small_noise():
    """Medium noise: g has no dent between the start and x*, the mean tracks GD on g. Small
    noise: GD on g stops in a dent of g, the trials leave it, the two part."""
    medium = track_smoothed_descent(F, 3.0, 1.0, FIGURE3.noise_levels["medium"], 300, trials=600, rng=2)
    small = track_smoothed_descent(F, 3.0, 1.0, FIGURE3.noise_levels["small"], 300, trials=600, rng=2)
    assert medium.scaled_gap().max() < 2.0
    assert medium.inside_band().all() and medium.parting_step() is None
    assert small.scaled_gap()[-1] > 10.0
    assert small.parting_step() is not None and 0 < small.parting_step() < 300
    dent = small.descent[-1]
    assert F.local_minima(2.5, 3.0, small.half_width) == pytest.approx([dent], abs=1e-3)
    assert same_basin_share(F, small.y[-1], dent, small.half_width, -SPAN, SPAN) < 0.1
    assert same_basin_share(F, medium.y[-1], medium.descent[-1], medium.half_width, -SPAN, SPAN) > 0.9


def _tracking(descent, lower=-1.0, upper=1.0, trials=21):
    """A run whose trials sit evenly between lower and upper at every step."""
    column = np.linspace(lower, upper, trials)
    y = np.tile(column, (len(descent), 1))
    return SmoothedTracking(y, np.asarray(descent, dtype=float), 0.5, 2.0)


def test_band_mean_and_parting_step():
    run = _tracking([0.0, 0.5, 3.0, 0.2, 3.0, 4.0])
    assert run.half_width == 1.0
    np.testing.assert_allclose(run.mean, 0.0, atol=1e-15)
    band = run.band(0.1, 0.9)
    assert band.shape == (2, 6)
    np.testing.assert_allclose(band, np.quantile(run.y, [0.1, 0.9], axis=1))
    assert list(run.inside_band(0.1, 0.9)) == [True, True, False, True, False, False]
    assert run.parting_step(0.1, 0.9) == 4          # outside from step 4 to the end
    assert _tracking([0.0, 3.0, 0.0]).parting_step() is None      # back inside at the end
    assert _tracking([5.0, 5.0]).parting_step() == 0
    np.testing.assert_allclose(run.scaled_gap(), run.gap() / 1.0)


def test_same_basin_share_counts_points_in_the_reference_basin():
    half = FIGURE3.step_size * FIGURE3.noise_levels["small"]
    minima = F.local_minima(0.05, 4.0, half)           # dents of g, each in its own basin
    share = same_basin_share(F, [minima[1], minima[1] + 0.01, minima[0], 0.0], minima[1], half, -SPAN, SPAN)
    assert share == pytest.approx(0.5)


def test_plot_tracking_draws_one_panel_per_run():
    runs = {"a": _tracking([0.0, 0.1]), "b": _tracking([0.0, 2.0])}
    fig = plot_tracking(runs)
    assert [ax.get_title() for ax in fig.axes] == ["a", "b"]
    assert len(fig.legends) == 1
    matplotlib.pyplot.close(fig)


# -- row 3 with shrinking step sizes ---------------------------------------------------------
def test_shrinking_step_stages_keep_the_windows_of_the_text():
    fixed, etas = figure3.shrinking_step_stages(FIGURE3)
    assert fixed.stage_noises == (FIGURE3.stage_noises[0],) * len(FIGURE3.stage_noises)
    assert replace(fixed, stage_noises=FIGURE3.stage_noises) == FIGURE3     # nothing else changed
    np.testing.assert_allclose(np.multiply(etas, fixed.stage_noises),
                               FIGURE3.step_size * np.array(FIGURE3.stage_noises))
    assert etas[0] == FIGURE3.step_size and all(np.diff(etas) < 0)


def test_stage_step_sizes_change_only_the_stages():
    fixed, etas = figure3.shrinking_step_stages(FIGURE3)
    default = figure3.simulate_figure3(F, fixed, seed=3)
    same = figure3.simulate_figure3(F, fixed, seed=3, stage_step_sizes=(FIGURE3.step_size,) * 3)
    shrunk = figure3.simulate_figure3(F, fixed, seed=3, stage_step_sizes=etas)
    assert list(shrunk) == list(figure3.panel_plan(fixed))
    assert all(shrunk[name].shape == (FIGURE3.trials,) for name in shrunk)
    for name in default:
        np.testing.assert_array_equal(same[name], default[name])
    for name in ("gd", "small", "medium", "large", "stage1"):      # stage 1 keeps eta
        np.testing.assert_array_equal(shrunk[name], default[name])
    for name in ("stage2", "stage3"):
        assert not np.array_equal(shrunk[name], default[name])
    sizes = figure3.stage_step_size_per_panel(fixed, etas)
    assert sizes["large"] == FIGURE3.step_size and sizes["stage3"] == pytest.approx(etas[2])


def test_shrinking_the_step_leaves_a_wider_last_stage_than_shrinking_the_noise():
    """Same windows, weaker drift: the caption's reading ends more spread out (Exercise 1.5)."""
    fixed, etas = figure3.shrinking_step_stages(FIGURE3)
    text = figure3.simulate_figure3(F, FIGURE3, seed=0)["stage3"]
    caption = figure3.simulate_figure3(F, fixed, seed=0, stage_step_sizes=etas)["stage3"]
    assert caption.std() > 1.5 * text.std()
    rows = figure3.criteria_over_seeds(F, [0], fixed, etas)
    assert rows[0]["last_stage_fraction_near_target"] == np.mean(np.abs(caption) <= 0.1)


# -- invalid arguments -----------------------------------------------------------------------
def _raises(argument, call):
    with pytest.raises(ValueError, match=rf"^{re.escape(argument)} must"):
        call()


@pytest.mark.parametrize("argument, call", [
    ("x0", lambda: track_smoothed_descent(F, float("nan"), 1.0, 0.1, 5)),
    ("step_size", lambda: track_smoothed_descent(F, 1.0, 0.0, 0.1, 5)),
    ("noise", lambda: track_smoothed_descent(F, 1.0, 1.0, -0.1, 5)),
    ("steps", lambda: track_smoothed_descent(F, 1.0, 1.0, 0.1, 0)),
    ("trials", lambda: track_smoothed_descent(F, 1.0, 1.0, 0.1, 5, trials=0)),
    ("half_width", lambda: smoothed_descent_path(F, [1.0], 1.0, -0.1, 5)),
    ("y0", lambda: smoothed_descent_path(F, [np.inf], 1.0, 0.1, 5)),
    ("step_size", lambda: smoothed_descent_path(F, [1.0], -1.0, 0.1, 5)),
    ("low", lambda: _tracking([0.0]).band(0.0, 0.9)),
    ("high", lambda: _tracking([0.0]).band(0.5, 0.4)),
    ("high", lambda: _tracking([0.0]).parting_step(0.1, 1.0)),
    ("noise", lambda: SmoothedTracking(np.zeros((2, 3)), np.zeros(2), 1.0, 0.0).scaled_gap()),
    ("points", lambda: same_basin_share(F, [], 0.0, 0.1, -1.0, 1.0)),
    ("points", lambda: same_basin_share(F, [np.nan], 0.0, 0.1, -1.0, 1.0)),
    ("reference", lambda: same_basin_share(F, [0.0], np.nan, 0.1, -1.0, 1.0)),
    ("half_width", lambda: same_basin_share(F, [0.0], 0.0, -0.1, -1.0, 1.0)),
    ("runs", lambda: plot_tracking({})),
    ("stage_step_sizes", lambda: figure3.simulate_figure3(F, FIGURE3, 0, (1.0, 0.5))),
    ("stage_step_sizes", lambda: figure3.simulate_figure3(F, FIGURE3, 0, (1.0, 0.5, 0.0))),
    ("stage_step_sizes", lambda: figure3.simulate_figure3(F, FIGURE3, 0, (1.0, np.nan, 0.5))),
    ("stage_step_sizes", lambda: figure3.criteria_over_seeds(F, [0], FIGURE3, (1.0, -0.5, 0.2))),
    ("setup.stage_noises", lambda: figure3.shrinking_step_stages(replace(FIGURE3, stage_noises=(0.0, 0.1, 0.1)))),
])
def test_invalid_arguments_raise_value_errors_naming_them(argument, call):
    _raises(argument, call)
