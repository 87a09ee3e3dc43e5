"""Exponential escape (Chapter 7): SGD with Gaussian noise leaving the cubic well."""
from __future__ import annotations

import numpy as np
import pytest

from sgd_escape.escape_exponential import cubic_well, escape_times, kramers_escape_steps, sharpness
from sgd_escape.escape_stats import censored_mean_escape_time


def test_cubic_well_shape():
    assert cubic_well(0.0, 2.0, 0.5) == 0.0
    assert cubic_well(0.5, 2.0, 0.5) == pytest.approx(2.0)  # barrier of height `depth` at x = width
    assert sharpness(2.0, 0.5) == pytest.approx(48.0)


def test_escape_times_shape_and_censoring():
    times = escape_times(1.0, [1.0, 0.5], [1.0, 20.0], 0.02, trials=50, horizon=200)
    assert times.shape == (2, 50)
    assert not np.isfinite(times[0]).any()  # weak noise: nobody escapes in 200 steps
    assert np.isfinite(times[1]).all()
    assert np.unique(times[1]).size > 1     # each trial draws its own noise, so they leave at different steps


def test_mean_escape_time_is_close_to_the_small_noise_estimate():
    # Exponent 2 h / (eta sigma^2) = 4: Kramers predicts ~2.9e3 steps; all trials leave well before 4e4.
    noise = np.sqrt(2 / (0.02 * 4))
    times = escape_times(1.0, 1.0, noise, 0.02, trials=400, horizon=40000, seed=5)[0]
    estimate = censored_mean_escape_time(times, 40000)
    assert 0.7 < estimate.mean / kramers_escape_steps(1.0, 1.0, 0.02, noise) < 1.4
    weaker = escape_times(1.0, 1.0, 0.9 * noise, 0.02, trials=400, horizon=40000, seed=6)[0]
    assert censored_mean_escape_time(weaker, 40000).mean > 1.5 * estimate.mean


@pytest.mark.parametrize("build, name", [
    (lambda: cubic_well(0.0, 0.0, 1.0), "depth"),
    (lambda: sharpness(1.0, -1.0), "width"),
    (lambda: escape_times(1.0, [1.0, -1.0], 1.0, 0.1, 5, 5), "widths"),
    (lambda: escape_times(1.0, 1.0, [[1.0]], 0.1, 5, 5), "noise_stds"),
    (lambda: escape_times(1.0, [1.0, 2.0], [1.0, 2.0, 3.0], 0.1, 5, 5), "widths and noise_stds"),
    (lambda: escape_times(1.0, 1.0, 1.0, 0.0, 5, 5), "step_size"),
    (lambda: escape_times(1.0, 1.0, 1.0, 0.1, 0, 5), "trials"),
    (lambda: escape_times(1.0, 1.0, 1.0, 0.1, 5, 0), "horizon"),
    (lambda: kramers_escape_steps(1.0, 1.0, 0.1, 0.0), "noise_std"),
    (lambda: kramers_escape_steps(1.0, [1.0, -1.0], 0.1, 1.0), "width"),
])
def test_invalid_parameters_raise_naming_them(build, name):
    with pytest.raises(ValueError, match=name):
        build()


def test_escape_times_follow_sgd_on_the_cubic_well():
    # One trial, replayed step by step: x <- x - eta (f'(x) + sigma z) with f'(x) = (h / w)(6 z - 6 z^2), z = x / w,
    # until x >= 2 w. A width other than 1 tells the drift's 1/w and the exit 2 w apart from 1/w^2 and 2.
    depth, width, noise_std, eta, seed = 1.0, 0.5, 12.0, 0.01, 4
    times = escape_times(depth, width, noise_std, eta, trials=1, horizon=5000, seed=seed)
    rng, x = np.random.default_rng(seed), 0.0
    for step in range(1, 5001):
        z = x / width
        x -= eta * (depth / width * (6 * z - 6 * z ** 2) + noise_std * rng.standard_normal(1)[0])
        if x >= 2 * width:
            break
    assert 20 < step < 5000 and times[0, 0] == step


def test_each_level_keeps_its_own_width():
    # A width of 100 cannot be crossed in 1000 steps of size 0.6; a width of 1 is crossed within a few hundred.
    times = escape_times(1.0, [1.0, 100.0], [60.0, 60.0], 0.01, trials=40, horizon=1000, seed=1)
    assert np.isfinite(times[0]).all() and not np.isfinite(times[1]).any()


def test_kramers_estimate_matches_its_closed_form_at_another_width():
    k = 6 * 2.0 / 0.5 ** 2                                   # curvature 6 h / w^2
    expected = 2 * np.pi / (0.01 * k) * np.exp(2 * 2.0 / (0.01 * 9.0))
    assert kramers_escape_steps(2.0, 0.5, 0.01, 3.0) == pytest.approx(expected)


def test_a_kick_past_minus_2w_is_not_an_escape():
    # The exit is x >= 2 w, beyond the barrier; at x <= -2 w the well is uphill (f(-2w) = 28 h), not escaped.
    # One step from x = 0 moves x to -eta sigma z (f'(0) = 0), so with z < 0 about half the trials escape.
    eta, sigma, width = 0.1, 100.0, 1.0
    times = escape_times(1.0, width, sigma, eta, trials=200, horizon=1, seed=3)[0]
    x1 = -eta * sigma * np.random.default_rng(3).standard_normal(200)
    assert np.sum(x1 <= -2 * width) > 50                      # many trials land far on the wrong side
    np.testing.assert_array_equal(np.isfinite(times), x1 >= 2 * width)
