"""Vectorised SGD, Figure 3's criteria, Figures 1-2 and the explorer (Chapter 1)."""
import matplotlib

matplotlib.use("Agg")
import numpy as np
import pytest

from dataclasses import replace

from sgd_escape.figure3 import (CRITERIA, criteria_hold, criteria_table_html, figure3_criteria, panel_plan,
                                simulate_figure3)
from sgd_escape.illustration import (SharpWellFunction, escape_probability, in_bad_basin, noisy_step, points_into_well,
                                     smoothed_minima, spurious_smoothed_minima)
from sgd_escape.landscapes import FIGURE3, figure3_function
from sgd_escape.sgd import run_sgd
from sgd_escape.widgets import draw_sgd_panel, figure3_explorer

F = figure3_function()


def quadratic_grad(x):
    return x


def test_gd_on_quadratic_matches_closed_form():
    x0 = np.array([1.0, -2.0, 3.0])
    last = run_sgd(quadratic_grad, x0, step_size=0.1, noise=0.0, steps=10)
    assert np.allclose(last, x0 * 0.9 ** 10)


def test_noise_is_uniform_with_the_given_radius():
    # one step from 0 on a flat function: x1 = -eta * omega, omega ~ U[-r, r]
    last = run_sgd(lambda x: 0 * x, np.zeros(200_000), step_size=0.5, noise=2.0, steps=1, rng=0)
    assert np.max(np.abs(last)) <= 1.0 and np.max(np.abs(last)) > 0.999
    assert abs(np.var(last) - 1.0 / 3.0) < 0.01  # Var of U[-1, 1]


def test_per_trial_parameters_and_recording():
    last, path = run_sgd(quadratic_grad, np.ones(4), step_size=[0.1, 0.2, 0.3, 0.4], noise=0.0,
                         steps=6, record_every=3)
    assert path.shape == (3, 4)
    assert np.allclose(last, (1 - np.array([0.1, 0.2, 0.3, 0.4])) ** 6)


def test_per_trial_parameters_broadcast_over_coordinates():
    """x0 of shape (trials, d) with one step size and one noise radius per trial."""
    x0 = np.ones((3, 2))
    last = run_sgd(quadratic_grad, x0, step_size=[0.1, 0.2, 0.5], noise=[0.0, 0.0, 0.0], steps=2)
    assert np.allclose(last, (1 - np.array([[0.1], [0.2], [0.5]])) ** 2 * x0)
    noisy = run_sgd(lambda x: 0 * x, np.zeros((3, 2)), step_size=1.0, noise=[0.0, 1.0, 0.0], steps=1, rng=0)
    assert np.all(noisy[[0, 2]] == 0) and np.all(noisy[1] != 0)


def test_seed_reproducibility():
    a = run_sgd(F.grad, np.linspace(-3, 3, 10), 1.0, 0.3, 50, rng=7)
    b = run_sgd(F.grad, np.linspace(-3, 3, 10), 1.0, 0.3, 50, rng=7)
    assert np.array_equal(a, b)


@pytest.mark.parametrize("kwargs, message", [
    ({"step_size": 0.0}, "step_size must be > 0"),
    ({"step_size": -1.0}, "step_size must be > 0"),
    ({"noise": -0.1}, "noise must be >= 0"),
    ({"steps": 0}, "steps must be an integer >= 1"),
    ({"x0": np.array([])}, "x0 must contain at least one trial"),
    ({"noise": np.array([0.1, 0.2])}, r"noise must be a scalar, one value per trial \(shape \(3,\)\)"),
    ({"step_size": np.ones((3, 2))}, "step_size must be a scalar, one value per trial"),
    ({"record_every": 0}, "record_every must be an integer >= 1"),
])
def test_run_sgd_rejects_invalid_arguments(kwargs, message):
    arguments = {"grad": quadratic_grad, "x0": np.ones(3), "step_size": 0.1, "noise": 0.0, "steps": 5}
    arguments.update(kwargs)
    with pytest.raises(ValueError, match=message):
        run_sgd(**arguments)


def test_figure3_panels_have_one_array_of_trials_each():
    """Where the trials start: tests/test_figure3_criteria.py."""
    results = simulate_figure3(F, FIGURE3, seed=0)
    assert set(results) == set(panel_plan(FIGURE3))
    assert all(values.shape == (FIGURE3.trials,) for values in results.values())


@pytest.mark.parametrize("seed", range(5))
def test_figure3_criteria_hold_for_each_seed(seed):
    measured = figure3_criteria(F, simulate_figure3(F, FIGURE3, seed))
    assert criteria_hold(measured) == {name: True for name in criteria_hold(measured)}


def test_criteria_detect_a_failure():
    """With no noise in the 'medium' panel, criterion 3 must fail: the check can fail."""
    setup = replace(FIGURE3, noise_levels={"small": 0.15, "medium": 0.0, "large": 1.0})
    measured = figure3_criteria(F, simulate_figure3(F, setup, 0), setup)
    assert not criteria_hold(measured)["3 medium concentrates"]


def test_criteria_read_regions_and_thresholds_from_setup():
    results = simulate_figure3(F, FIGURE3, seed=0)
    wide_centre = replace(FIGURE3, stage_half_widths=(FIGURE3.init_half_width,) + FIGURE3.stage_half_widths[1:])
    assert figure3_criteria(F, results, wide_centre)["small_outside_count"] == 0
    assert figure3_criteria(F, results, wide_centre)["medium_fraction_inside"] == 1.0
    strict = replace(CRITERIA, min_spread_ratio=1e6, target_half_width=0.0)
    measured = figure3_criteria(F, results, FIGURE3, strict)
    assert measured["last_stage_fraction_near_target"] == 0.0
    verdict = criteria_hold(measured, strict)
    assert not verdict["4 large spreads"] and not verdict["5 stages converge"]


@pytest.mark.parametrize("field, value", [("gd_max_fraction_near", 1.5), ("target_half_width", -0.1),
                                          ("gd_min_distinct_minima", 2.5)])
def test_invalid_criteria_thresholds(field, value):
    with pytest.raises(ValueError, match=field):
        replace(CRITERIA, **{field: value})


def test_criteria_table_titles_follow_the_setup():
    rows = [{"seed": 0, **figure3_criteria(F, simulate_figure3(F, FIGURE3, 0))}]
    narrow = replace(FIGURE3, stage_half_widths=(2.5,) + FIGURE3.stage_half_widths[1:])
    assert f"outside ±{FIGURE3.centre_half_width:g}" in criteria_table_html(rows)
    assert "outside ±2.5" in criteria_table_html(rows, narrow)


WELL = SharpWellFunction()
WELL_2D = SharpWellFunction(well=(1.2, 0.9))


def test_sharp_well_gradient_matches_finite_differences():
    x = np.linspace(0, 2, 101)[:, None]
    numeric = (WELL.value(x + 1e-6) - WELL.value(x - 1e-6)) / 2e-6
    assert np.allclose(numeric, WELL.grad(x)[:, 0], atol=1e-6)


@pytest.mark.parametrize("well", [WELL, WELL_2D])
def test_sharp_well_hessian_matches_finite_differences_of_the_gradient(well):
    x = np.random.default_rng(0).uniform(0, 2, size=(50, well.dim))
    numeric = np.stack([(well.grad(x + h) - well.grad(x - h)) / 2e-6
                        for h in 1e-6 * np.eye(well.dim)], axis=-1)
    assert well.hessian(x).shape == (50, well.dim, well.dim)
    assert np.allclose(numeric, well.hessian(x), atol=1e-4)


def test_gd_at_the_chapters_step_bounces_inside_the_well_without_settling():
    """At eta = 0.04 the well is too sharp for GD to settle at x_o (eta f''(x_o) > 2), yet
    GD from x_t never leaves x_o's basin; a step below 2/f''(x_o) settles (Chapter 1)."""
    x_o = WELL.well_minimum()
    assert 0.04 * WELL.hessian(x_o)[0, 0] > 2 > 0.02 * WELL.hessian(x_o)[0, 0]
    _, path = run_sgd(WELL.grad, [[1.35]], 0.04, 0.0, 4000, record_every=1)
    tail = path[-1000:, 0]
    assert tail.shape == (1000, 1) and np.ptp(tail) > 0.1 and in_bad_basin(WELL, tail).all()
    assert np.abs(run_sgd(WELL.grad, [[1.35]], 0.02, 0.0, 4000)[0] - x_o).max() < 1e-8


def test_one_noisy_step_leaves_the_well():
    x_t = np.array([1.35])
    assert points_into_well(WELL, x_t) and in_bad_basin(WELL, x_t)
    _, x_next = noisy_step(WELL, x_t, 0.04, np.array([8.0]))
    assert not points_into_well(WELL, x_next) and not in_bad_basin(WELL, x_next)


def _plain_gd_ends_at_bad_minimum(f, x, steps=6000):
    for _ in range(steps):
        x = x - f.descent_step * f.grad(x)
    return np.linalg.norm(x - f.well_minimum(), axis=-1) < f.width / 10


@pytest.mark.parametrize("well", [WELL, WELL_2D])
def test_in_bad_basin_agrees_with_a_long_plain_descent(well):
    """The early stop (below f(x_o), or next to x_o) decides as GD run to the end does."""
    points = well.well_minimum() + np.random.default_rng(0).uniform(-0.6, 0.6, size=(400, well.dim))
    basin = in_bad_basin(well, points)
    assert 0 < basin.sum() < len(points)                       # both outcomes occur
    np.testing.assert_array_equal(basin, _plain_gd_ends_at_bad_minimum(well, points))


def test_the_papers_gradient_test_is_not_the_basin_in_2d():
    """Beside the crater -grad f still leans towards x_o, yet GD from there passes the crater by."""
    beside = np.array([0.93, 1.26])
    assert points_into_well(WELL_2D, beside) and not in_bad_basin(WELL_2D, beside)
    x_t = 0.9 * np.array(WELL_2D.well)
    basin, gradient = (escape_probability(WELL_2D, x_t, 0.04, 12.0, samples=20_000, rng=2, test=t)
                       for t in ("basin", "gradient"))
    assert gradient < basin - 0.05


def test_in_1d_between_x_star_and_the_well_both_tests_agree():
    basin, gradient = (escape_probability(WELL, [1.35], 0.04, 12.0, samples=20_000, rng=1, test=t)
                       for t in ("basin", "gradient"))
    assert basin == gradient > 0
    with pytest.raises(ValueError, match="test must be one of"):
        escape_probability(WELL, [1.35], 0.04, 12.0, test="rim")


def test_escape_probability_grows_with_noise():
    probabilities = [escape_probability(WELL, [1.35], 0.04, r, samples=20_000, rng=0) for r in (0, 8, 12)]
    assert probabilities[0] == 0.0 and 0 < probabilities[1] < probabilities[2] < 1


def test_illustration_rejects_invalid_arguments():
    with pytest.raises(ValueError, match="width must be > 0"):
        SharpWellFunction(width=0)
    with pytest.raises(ValueError, match="noise must be >= 0"):
        escape_probability(WELL, [1.35], 0.04, -1)


@pytest.mark.parametrize("well", [(), 1.5, ((1.0, 2.0),), (float("nan"),)])
def test_sharp_well_rejects_an_invalid_position(well):
    with pytest.raises(ValueError, match="well"):
        SharpWellFunction(well=well)


@pytest.mark.parametrize("width", [0.6, 1.0])
def test_a_well_that_swallows_the_bowl_minimum_has_no_bad_minimum(width):
    """Past width ~0.52 the well and the bowl share one minimum; escaping it means nothing."""
    wide = SharpWellFunction(width=width)
    with pytest.raises(ValueError, match="width"):
        wide.well_minimum()
    with pytest.raises(ValueError, match="single local minimum"):
        escape_probability(wide, [0.5], 0.04, 12.0, samples=10)


def test_a_well_just_narrow_enough_keeps_both_minima():
    x_o = SharpWellFunction(width=0.5).well_minimum()[0]
    assert 1.1 < x_o < 1.15  # the bowl's own minimum sits near 0.126, apart from it


def test_points_must_match_the_well_dimension():
    """A 1-D x_t for a 2-D well must not broadcast silently."""
    with pytest.raises(ValueError, match="x_t must have 2 coordinate"):
        escape_probability(WELL_2D, [1.35], 0.04, 12.0, samples=10)
    with pytest.raises(ValueError, match="x_t must have 2 coordinate"):
        noisy_step(WELL_2D, [1.35], 0.04, [1.0, 0.0])
    with pytest.raises(ValueError, match="omega must have 1 coordinate"):
        noisy_step(WELL, [1.35], 0.04, [1.0, 0.0])
    with pytest.raises(ValueError, match="x must have 2 coordinate"):
        points_into_well(WELL_2D, 1.35)


def test_smoothed_minima_at_zero_width_are_those_of_f():
    minima = smoothed_minima(WELL, 0.0)
    assert np.allclose(minima, [0.0, WELL.well_minimum()[0]], atol=1e-5)


def test_smoothed_minima_match_a_brute_force_average():
    half_width = 0.3
    y = np.linspace(-2, 3, 5001)
    shifts = np.linspace(-half_width, half_width, 4001)
    averaged = WELL.value((y[:, None] + shifts)[..., None]).mean(axis=1)
    brute = y[1:-1][(averaged[1:-1] < averaged[:-2]) & (averaged[1:-1] < averaged[2:])]
    assert np.allclose(smoothed_minima(WELL, half_width), brute, atol=2e-3)


def test_a_window_wider_than_the_well_can_leave_a_spurious_minimum():
    """Averaging does not erase a dip just because the window is wider: the dip must also lose
    against the bowl's slope."""
    survivor = spurious_smoothed_minima(WELL, 4 * WELL.width)  # half-width 4 sigma
    assert len(survivor) == 1 and 0.5 < survivor[0] < WELL.well[0]
    assert len(spurious_smoothed_minima(WELL, 0.64)) == 0
    assert len(spurious_smoothed_minima(WELL, 0.0)) == 1
    mirrored = SharpWellFunction(well=(-WELL.well[0],))     # the spurious minimum now sorts first
    np.testing.assert_allclose(spurious_smoothed_minima(mirrored, 4 * WELL.width), -survivor, atol=2e-3)


def test_smoothed_minima_reject_invalid_arguments():
    with pytest.raises(ValueError, match="f must be one-dimensional"):
        smoothed_minima(WELL_2D, 0.1)
    with pytest.raises(ValueError, match="half_width must be >= 0"):
        smoothed_minima(WELL, -0.1)


def test_explorer_redraws_with_the_slider_values(monkeypatch):
    from sgd_escape import widgets

    calls = []
    monkeypatch.setattr(widgets, "draw_sgd_panel", lambda f, **kwargs: calls.append(kwargs))
    explorer = figure3_explorer(F)
    assert calls[-1]["noise"] == FIGURE3.noise_levels["medium"]       # drawn once at the start
    noise, step_size = explorer.children[0].children
    noise.value, step_size.value = 0.5, 0.3
    assert len(calls) == 3 and calls[-1]["noise"] == 0.5 and calls[-1]["step_size"] == 0.3
    trials = explorer.children[1].children[1]
    trials.value = 7
    assert calls[-1]["trials"] == 7 and calls[-1]["noise"] == 0.5


def test_static_panel_reports_the_setup_centre_region():
    narrow = replace(FIGURE3, stage_half_widths=(0.25,) + FIGURE3.stage_half_widths[1:])
    ax = draw_sgd_panel(F, steps=10, trials=5, setup=narrow)
    assert ax.get_title().endswith("trials end in [-0.25, 0.25]")


def test_static_panel_rejects_bad_parameters():
    with pytest.raises(ValueError, match="trials must be an integer >= 1"):
        draw_sgd_panel(F, trials=0)


@pytest.mark.parametrize("well, start", [(WELL, [0.5]), (WELL, [-2.0]), (WELL_2D, [0.0, 1.5])])
def test_escape_probability_rejects_a_start_outside_the_basin(well, start):
    """From outside the basin of x_o there is nothing to escape; at [-2] and [0, 1.5] the
    paper's gradient test alone would let the start pass."""
    with pytest.raises(ValueError, match="x_t must lie in the basin"):
        escape_probability(well, start, 0.04, 8.0, samples=10)


def test_a_narrow_well_holds_a_start_only_on_its_own_wall():
    narrow = SharpWellFunction(width=0.03)
    with pytest.raises(ValueError, match="x_t"):
        escape_probability(narrow, [1.35], 0.04, 8.0, samples=10)
    assert in_bad_basin(narrow, narrow.well_minimum() - 1.1 * narrow.width)


def test_escape_probability_matches_a_replay_with_uniform_kicks_in_1d():
    omega = 12.0 * (2 * np.random.default_rng(0).uniform(size=(20_000, 1)) - 1)
    _, x_next = noisy_step(WELL, [1.35], 0.04, omega)
    replay = np.mean(~in_bad_basin(WELL, x_next))
    assert replay > 0.1
    assert escape_probability(WELL, [1.35], 0.04, 12.0, samples=20_000, rng=0) == pytest.approx(replay, abs=0.015)


def test_dent_survives_while_the_averaged_pull_beats_the_bowl_slope():
    """Chapter 1's rule: a dent survives roughly while depth / (2h) > bowl * (x_o - h)."""
    x_o = WELL.well_minimum()[0]
    predicted = (x_o - np.sqrt(x_o ** 2 - 2 * WELL.depth / WELL.bowl)) / 2  # root of the equality
    halves = np.arange(0.40, 0.65, 0.01)
    survives = np.array([len(spurious_smoothed_minima(WELL, h)) > 0 for h in halves])
    boundary = halves[~survives][0]
    assert survives[: np.argmin(survives)].all() and not survives[np.argmin(survives):].any()
    assert abs(boundary - predicted) < 0.04


def test_recorded_path_holds_the_iterates_every_record_every_steps():
    x0 = np.array([1.0, -2.0])
    last, path = run_sgd(quadratic_grad, x0, step_size=0.1, noise=0.0, steps=7, record_every=3)
    np.testing.assert_allclose(path, 0.9 ** np.array([0, 3, 6])[:, None] * x0)   # x_0, x_3, x_6
    np.testing.assert_allclose(last, 0.9 ** 7 * x0)


@pytest.mark.parametrize("kwargs, message", [({"step_size": np.nan}, "step_size must be finite"),
                                             ({"noise": [0.1, np.inf, 0.1]}, "noise must be finite")])
def test_run_sgd_rejects_non_finite_parameters(kwargs, message):
    arguments = {"grad": quadratic_grad, "x0": np.ones(3), "step_size": 0.1, "noise": 0.0, "steps": 5, **kwargs}
    with pytest.raises(ValueError, match=message):
        run_sgd(**arguments)


def test_escape_probability_draws_noise_uniformly_in_the_disc():
    """In 2-D the kicks fill the disc of radius r uniformly (radius r * sqrt(u)), as rejection sampling does."""
    x_t, r = WELL_2D.well_minimum() + np.array([0.08, 0.0]), 8.0
    probability = escape_probability(WELL_2D, x_t, 0.04, r, samples=20_000, rng=0)
    square = np.random.default_rng(1).uniform(-r, r, size=(40_000, 2))
    disc = square[np.sum(square ** 2, axis=1) <= r * r][:20_000]
    _, x_next = noisy_step(WELL_2D, x_t, 0.04, disc)
    assert probability == pytest.approx(np.mean(~in_bad_basin(WELL_2D, x_next)), abs=0.02)
