"""Sharp versus flat basins (Chapter 7): the closed-form convolution, Assumption 1, SGD's choice."""
from __future__ import annotations

import numpy as np
import pytest

from sgd_escape.escape_basins import (
    BasinFractions, SharpFlatLandscape, basin_fractions, critical_radius, half_escape_radius,
    one_point_convexity_constant, stationary_sharp_fraction,
)

LANDSCAPE = SharpFlatLandscape()


def test_closed_form_convolution_matches_quadrature():
    nodes, weights = np.polynomial.hermite_e.hermegauss(120)  # E h(Z), Z ~ N(0, 1)
    y, radius = np.linspace(-2, 2, 9), 0.3
    numeric = LANDSCAPE.value(y[:, None] - radius * nodes) @ weights / weights.sum()
    assert np.allclose(LANDSCAPE.value(y, radius), numeric, atol=1e-9)


def test_gradient_matches_finite_differences():
    y = np.linspace(-2, 2, 11)
    for radius in (0.0, 0.2):
        numeric = (LANDSCAPE.value(y + 1e-6, radius) - LANDSCAPE.value(y - 1e-6, radius)) / 2e-6
        assert np.allclose(LANDSCAPE.gradient(y, radius), numeric, atol=1e-5)


def test_two_basins_of_equal_depth_and_a_barrier_between():
    minima = LANDSCAPE.local_minima()
    assert len(minima) == 2
    assert abs(np.diff(LANDSCAPE.value(minima))[0]) < 0.01
    assert minima[0] < LANDSCAPE.barrier() < minima[1]


def test_convolution_removes_the_sharp_minimum_first_and_assumption_1_then_holds():
    critical = critical_radius(LANDSCAPE)
    assert len(LANDSCAPE.local_minima(0.95 * critical)) == 2
    assert len(LANDSCAPE.local_minima(1.05 * critical)) == 1
    assert LANDSCAPE.local_minima(1.05 * critical)[0] > 0  # the flat basin survives
    assert one_point_convexity_constant(LANDSCAPE, 0.5 * critical) < 0
    assert one_point_convexity_constant(LANDSCAPE, 1.5 * critical) > 0


def test_sgd_leaves_the_sharp_basin_before_the_flat_one():
    kwargs = dict(step_size=0.01, noise_stds=[0.0, 7.0], trials=300, steps=1500, settle_steps=1000)
    from_sharp = basin_fractions(LANDSCAPE, start=-1.0, **kwargs)
    from_flat = basin_fractions(LANDSCAPE, start=1.0, **kwargs)
    assert from_sharp.sharp[0] == 1.0 and from_flat.sharp[0] == 0.0  # no noise: everyone stays
    assert from_sharp.sharp[1] < 0.6 and from_flat.sharp[1] < 0.2


def test_half_escape_radius_interpolates_in_log_radius():
    fractions = BasinFractions(np.array([0.01, 0.1, 1.0]), np.array([1.0, 0.75, 0.25]), None)
    assert half_escape_radius(fractions) == pytest.approx(np.sqrt(0.1))
    never = BasinFractions(np.array([0.1, 1.0]), np.array([1.0, 0.9]), None)
    assert np.isnan(half_escape_radius(never))


def test_convexity_constant_of_a_near_pure_bowl_is_its_curvature():
    bowl = SharpFlatLandscape(depth=1e-9, bowl=0.3)
    for radius in (0.0, 0.5):
        assert one_point_convexity_constant(bowl, radius) == pytest.approx(0.3, rel=1e-3)


def test_stationary_fraction_of_the_bowl_alone_is_a_gaussian_tail():
    assert stationary_sharp_fraction(LANDSCAPE, 0.7, wells=False, border=0.0) == pytest.approx(0.5)
    # N(0, D / q) with D / q = 4: the border -2 is one standard deviation left of the centre
    assert stationary_sharp_fraction(LANDSCAPE, 0.4, wells=False, border=-2.0) == pytest.approx(0.158655, abs=1e-5)


@pytest.mark.parametrize("temperature", [0.05, 0.5, 5.0])
def test_stationary_fraction_matches_brute_force_quadrature(temperature):
    x = np.linspace(-80, 80, 1_600_001)
    weight = np.exp(-(LANDSCAPE.value(x) - LANDSCAPE.value(x).min()) / temperature)
    expected = weight[x < LANDSCAPE.barrier()].sum() / weight.sum()
    assert stationary_sharp_fraction(LANDSCAPE, temperature) == pytest.approx(expected, abs=1e-3)


def test_stationary_fraction_favours_the_wide_well_and_tends_to_the_bowl_when_hot():
    cold, hot = 0.05, 500.0
    assert stationary_sharp_fraction(LANDSCAPE, cold) < 0.3          # equal depth: the wider well holds more
    assert stationary_sharp_fraction(LANDSCAPE, hot) == pytest.approx(
        stationary_sharp_fraction(LANDSCAPE, hot, wells=False), abs=1e-3)


def test_sgd_settles_near_the_gibbs_fraction_once_hot_and_long():
    eta, radius = 0.01, 0.4
    run = basin_fractions(LANDSCAPE, eta, [radius / eta], -1.0, 2000, 3000, 0, seed=3)
    gibbs = stationary_sharp_fraction(LANDSCAPE, radius ** 2 / (2 * eta))
    assert run.sharp[0] == pytest.approx(gibbs, abs=0.05)


@pytest.mark.parametrize("build, name", [
    (lambda: SharpFlatLandscape(depth=0), "depth"),
    (lambda: SharpFlatLandscape(sharp_width=0.6), "sharp_width"),
    (lambda: SharpFlatLandscape(sharp_center=2.0), "sharp_center"),
    (lambda: SharpFlatLandscape(bowl=-1), "bowl"),
    (lambda: LANDSCAPE.value(0.0, radius=-0.1), "radius"),
    (lambda: critical_radius(LANDSCAPE, upper=0.1), "upper"),
    (lambda: one_point_convexity_constant(LANDSCAPE, 0.1, domain=(1.0, -1.0)), "domain"),
    (lambda: basin_fractions(LANDSCAPE, 0.0, [1.0], -1.0, 10, 10, 0), "step_size"),
    (lambda: basin_fractions(LANDSCAPE, 0.01, [-1.0], -1.0, 10, 10, 0), "noise_stds"),
    (lambda: basin_fractions(LANDSCAPE, 0.01, [1.0], -1.0, 0, 10, 0), "trials"),
    (lambda: basin_fractions(LANDSCAPE, 0.01, [1.0], -1.0, 10, 10, -1), "settle_steps"),
    (lambda: basin_fractions(LANDSCAPE, 0.01, [1.0], -1.0, 10, 0, 0), "steps"),
    (lambda: stationary_sharp_fraction(LANDSCAPE, 0.0), "temperature"),
    (lambda: stationary_sharp_fraction(SharpFlatLandscape(bowl=0.0), 1.0), "bowl"),
])
def test_invalid_parameters_raise_naming_them(build, name):
    with pytest.raises(ValueError, match=rf"\b{name}\b"):  # "steps" must not match "settle_steps"
        build()


def test_settling_carries_a_trial_off_the_barrier_into_its_basin():
    """barrier() lies on a grid of 0.001; a trial between it and the true maximum is on the flat
    side. Without the GD phase the grid would count it as sharp; with it, it moves into the flat basin."""
    from scipy.optimize import brentq

    true_barrier = brentq(LANDSCAPE.gradient, LANDSCAPE.sharp_center + 0.2, LANDSCAPE.flat_center - 0.2)
    start = (true_barrier + LANDSCAPE.barrier()) / 2
    assert true_barrier < start < LANDSCAPE.barrier()
    run = dict(step_size=0.01, noise_stds=[0.0], start=start, trials=3, steps=1)
    assert basin_fractions(LANDSCAPE, settle_steps=0, **run).sharp[0] == 1.0
    assert basin_fractions(LANDSCAPE, settle_steps=2000, **run).sharp[0] == 0.0


def _fractions(sharp):
    sharp = np.asarray(sharp, dtype=float)
    return BasinFractions(np.arange(sharp.size) + 1.0, sharp, 1 - sharp)


def test_flat_basin_preference_finds_the_window_the_agreement_and_the_null_beyond():
    from sgd_escape.escape_basins import binomial_standard_error, flat_basin_preference

    radii, trials = np.array([0.1, 0.2, 0.4, 0.8]), 400
    null = {1: np.full(4, 0.5)}
    from_sharp = {1: _fractions([0.9, 0.2, 0.3, 0.52])}     # radii 0.2 and 0.4 clearly below the null
    from_flat = {1: _fractions([0.1, 0.25, 0.3, 0.49])}    # the starts disagree only at 0.1
    gibbs = {1: np.array([0.5, 0.2, 0.25, 0.5])}
    found = flat_basin_preference(from_sharp, from_flat, null, gibbs, radii, trials)
    assert (found["flat_window_low"], found["flat_window_high"]) == (0.2, 0.4)
    assert (found["forgot_points"], found["all_points"]) == (3, 4)
    assert found["gibbs_gap"] == pytest.approx(0.05)          # at 0.4: mean 0.3 against 0.25
    assert found["gibbs_gap_se"] == pytest.approx(0.05 / binomial_standard_error(0.25, 2 * trials))
    assert found["beyond_null_se"] == pytest.approx(0.02 / binomial_standard_error(0.5, trials))
    assert found["beyond_null_low"] == found["beyond_null_high"] == 0.5
    assert found["beyond_radius_low"] == found["beyond_radius_high"] == 0.8    # the radius above the window
    assert binomial_standard_error(0.5, 100) == pytest.approx(0.05)
    with pytest.raises(ValueError, match="radii"):
        flat_basin_preference(from_sharp, from_flat, null, gibbs, radii[:3], trials)


def test_flat_basin_preference_without_a_clear_radius_says_nan():
    from sgd_escape.escape_basins import flat_basin_preference

    same = {1: _fractions([0.5, 0.5])}
    found = flat_basin_preference(same, same, {1: np.full(2, 0.5)}, {1: np.full(2, 0.5)}, [0.1, 0.2], 100)
    assert np.isnan(found["flat_window_low"]) and np.isnan(found["beyond_null_se"])
    assert found["forgot_points"] == 2 and found["gibbs_gap"] == 0.0


def test_critical_radius_is_the_first_radius_without_the_sharp_minimum():
    critical = critical_radius(LANDSCAPE, tolerance=1e-4)
    assert len(LANDSCAPE.local_minima(critical)) == 1
    assert len(LANDSCAPE.local_minima(critical - 2e-4)) == 2


def test_basin_fraction_radii_are_step_size_times_noise_std():
    fractions = basin_fractions(LANDSCAPE, 0.02, [0.0, 5.0], -1.0, trials=10, steps=10, settle_steps=0)
    np.testing.assert_allclose(fractions.radii, [0.0, 0.1])
    np.testing.assert_allclose(fractions.sharp + fractions.flat, 1.0)


def test_half_escape_radius_is_the_first_radius_when_it_already_escapes():
    fractions = BasinFractions(np.array([0.05, 0.5]), np.array([0.4, 0.1]), None)
    assert half_escape_radius(fractions) == pytest.approx(0.05)


def test_half_escape_radius_after_a_level_without_noise_interpolates_in_the_radius():
    # A first level with noise 0 (plain GD) has radius 0, where log-interpolation is undefined.
    assert half_escape_radius(BasinFractions(np.array([0.0, 0.1, 1.0]), np.array([1.0, 0.5, 0.1]), None)) == 0.1
    crossing = half_escape_radius(BasinFractions(np.array([0.0, 0.1, 1.0]), np.array([1.0, 0.4, 0.1]), None))
    assert crossing == pytest.approx(0.1 * 0.5 / 0.6)


def test_two_standard_errors_below_the_null_is_not_yet_a_clear_preference():
    from sgd_escape.escape_basins import binomial_standard_error, flat_basin_preference

    trials = 400
    below = 0.5 - 2 * binomial_standard_error(0.5, trials)        # 0.45: two standard errors, not three
    near = {1: _fractions([below, below])}
    found = flat_basin_preference(near, near, {1: np.full(2, 0.5)}, {1: np.full(2, 0.5)}, [0.1, 0.2], trials)
    assert np.isnan(found["flat_window_low"])


def test_starts_within_three_standard_errors_of_their_difference_have_forgotten_where_they_began():
    from sgd_escape.escape_basins import binomial_standard_error, flat_basin_preference

    trials = 400                                     # se of one fraction at 0.5: 0.025; of a difference: 0.0354
    assert 3 * binomial_standard_error(0.5, trials) < 0.09 < 3 * np.sqrt(2) * binomial_standard_error(0.5, trials)
    found = flat_basin_preference({1: _fractions([0.5])}, {1: _fractions([0.41])}, {1: np.full(1, 0.5)},
                                  {1: np.full(1, 0.5)}, [0.1], trials)
    assert found["forgot_points"] == 1               # 0.09 apart: 2.5 standard errors of the difference
