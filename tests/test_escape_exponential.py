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
    assert np.isfinite(times[1]).all() and (times[1] >= 1).all()


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
