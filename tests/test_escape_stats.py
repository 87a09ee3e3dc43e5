"""Escape-time estimators and line fits of Chapter 7, checked on cases with a known answer."""
from __future__ import annotations

import numpy as np
import pytest

from sgd_escape.escape_stats import censored_mean_escape_time, fit_line, sample_mean_escape_time


def test_censored_mean_recovers_a_known_geometric_mean():
    # Escape with probability 0.02 per step: mean escape step 1 / 0.02 = 50; cut at 60 steps.
    times = np.random.default_rng(3).geometric(0.02, 20000).astype(float)
    horizon = 60
    times[times > horizon] = np.inf
    estimate = censored_mean_escape_time(times, horizon)
    assert estimate.censored > 5000  # a large share is censored, so a naive mean would be far off
    assert abs(estimate.mean - 50) < 4 * estimate.standard_error + 0.5  # +0.5: geometric vs exponential
    assert np.mean(times[np.isfinite(times)]) < 35


def test_censored_mean_without_censoring_is_the_sample_mean():
    times = np.array([3.0, 5.0, 10.0])
    assert censored_mean_escape_time(times, 20).mean == pytest.approx(6.0)
    assert sample_mean_escape_time(times).mean == pytest.approx(6.0)


@pytest.mark.parametrize("times, horizon, message", [
    ([np.inf, np.inf], 10, "times must contain at least one escape"),
    ([1.0, -2.0], 10, "times must hold escape steps >= 0"), ([1.0, 20.0], 10, "times must be <= horizon"),
    ([1.0], 0, "horizon must be > 0"), ([], 10, "times must be a non-empty 1-D"),
    ([[1.0]], 10, "times must be a non-empty 1-D"),
])
def test_censored_mean_rejects_invalid_input(times, horizon, message):
    with pytest.raises(ValueError, match=f"^{message}"):
        censored_mean_escape_time(times, horizon)


@pytest.mark.parametrize("times, message", [([1.0, np.inf], "times must all be finite"),
                                            ([], "times must be a non-empty 1-D")])
def test_sample_mean_refuses_censored_or_empty_trials(times, message):
    with pytest.raises(ValueError, match=f"^{message}"):
        sample_mean_escape_time(times)


def test_sample_mean_of_one_trial_has_no_standard_error():
    estimate = sample_mean_escape_time([7.0])
    assert estimate.mean == 7.0 and np.isnan(estimate.standard_error)
    assert sample_mean_escape_time([3.0, 5.0]).standard_error == pytest.approx(1.0)  # sd sqrt(2) over sqrt(2)


def test_fit_line_recovers_slope_with_honest_uncertainty():
    x = np.linspace(0, 5, 40)
    y = 3.0 * x - 1.0 + np.random.default_rng(0).normal(0, 0.2, x.size)
    fit = fit_line(x, y, np.full(x.size, 0.2))
    assert abs(fit.slope - 3.0) < 4 * fit.slope_se
    assert 0.005 < fit.slope_se < 0.1
    exact = fit_line(x, 2 * x + 1)
    assert exact.slope == pytest.approx(2.0) and exact.slope_se < 1e-10


def test_fit_line_keeps_the_error_bars_when_the_fit_is_better_than_them():
    # Error bars 0.5 on 5 points: the unscaled slope error is 0.5 / sqrt(sum (x - mean x)^2).
    x, y_err = np.arange(5.0), np.full(5, 0.5)
    unscaled = 0.5 / np.sqrt(10.0)
    on_the_line = fit_line(x, 2 * x + 1, y_err)                          # chi2_red = 0
    close = fit_line(x, 2 * x + 1 + np.array([0.1, -0.1, 0, 0.1, -0.1]), y_err)  # chi2_red < 1
    assert on_the_line.slope_se == pytest.approx(unscaled)
    assert close.slope_se == pytest.approx(unscaled)


def test_fit_line_widens_the_error_bars_when_points_scatter_beyond_them():
    x, y_err = np.arange(5.0), np.full(5, 0.5)
    y = 2 * x + 1 + np.array([1.0, -1.0, 0.0, 1.0, -1.0])
    fit = fit_line(x, y, y_err)
    chi2_red = np.sum(((y - fit.slope * x - fit.intercept) / y_err) ** 2) / (x.size - 2)
    assert chi2_red > 1
    assert fit.slope_se == pytest.approx(0.5 / np.sqrt(10.0) * np.sqrt(chi2_red))


@pytest.mark.parametrize("x, y, y_err, message", [
    ([1, 2], [1, 2], None, "^x must hold at least 3 points"), ([1, 2, 3], [1, 2], None, "^x and y must be 1-D"),
    ([1, 2, 3], [1, 2, np.nan], None, "^x and y must be finite"), ([1, 2, 3], [1, 2, 3], [1, 0, 1], "^y_err must be"),
])
def test_fit_line_rejects_invalid_input(x, y, y_err, message):
    with pytest.raises(ValueError, match=message):
        fit_line(x, y, y_err)


def test_censored_means_estimate_each_row_and_count_every_censored_trial():
    from sgd_escape.escape_stats import censored_means

    rows = [np.array([10.0, 20.0, np.inf]), np.array([4.0, 6.0, 8.0])]
    means, errors, censored = censored_means(rows, horizon=30)
    assert means.tolist() == [(10 + 20 + 30) / 2, 6.0] and censored == 1
    assert errors == pytest.approx([30 / np.sqrt(2), 6 / np.sqrt(3)])
    with pytest.raises(ValueError, match="times_per_level"):
        censored_means([], horizon=30)


def test_censored_mean_matches_its_closed_form():
    # Total time observed 2 + 4 + 6 + 10 = 22 over 3 escapes; one trial censored at the horizon 10.
    estimate = censored_mean_escape_time([2.0, 4.0, 6.0, np.inf], 10)
    assert estimate.mean == pytest.approx(22 / 3)
    assert estimate.standard_error == pytest.approx(22 / 3 / np.sqrt(3))
    assert (estimate.escaped, estimate.censored) == (3, 1)


def test_sample_mean_standard_error_matches_its_closed_form():
    estimate = sample_mean_escape_time([3.0, 5.0, 10.0])           # deviations -3, -1, 4: s^2 = 26 / 2
    assert estimate.standard_error == pytest.approx(np.sqrt(13 / 3))
    assert (estimate.escaped, estimate.censored) == (3, 0)


def test_fit_line_intercept_error_matches_its_closed_form():
    # Weighted by error bars 0.5 at x = 0..4: Var(intercept) = 0.5^2 sum x^2 / (n sum (x - mean x)^2).
    fit = fit_line(np.arange(5.0), 2 * np.arange(5.0) + 1, np.full(5, 0.5))
    assert fit.intercept_se == pytest.approx(0.5 * np.sqrt(30 / (5 * 10)))


def test_first_escape_steps_keeps_the_first_step():
    from sgd_escape.escape_stats import first_escape_steps

    times = np.array([np.inf, 3.0, np.inf])
    first_escape_steps(np.array([True, True, False]), times, 5)
    np.testing.assert_array_equal(times, [5.0, 3.0, np.inf])


def test_censored_mean_accepts_an_escape_at_the_horizon_and_refuses_one_step_past_it():
    assert censored_mean_escape_time([10.0, np.inf], 10).mean == pytest.approx(20.0)   # (10 + 10) / 1
    with pytest.raises(ValueError, match="^times must be <= horizon"):
        censored_mean_escape_time([11.0, np.inf], 10)
