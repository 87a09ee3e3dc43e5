"""Saddle points (Chapter 7): GD stalls on the stable manifold, perturbed GD and SGD escape."""
from __future__ import annotations

import numpy as np
import pytest

from sgd_escape.escape_saddles import (
    QuarticSaddle, RankOneFactorisation, SaddleMethod, escape_time_versus_dimension, gradient_descent,
    perturbed_gradient_descent, predicted_log_dimension_slope, simulate_saddle_escape,
    stochastic_gradient_descent, uniform_ball,
)

LANDSCAPES = [QuarticSaddle, RankOneFactorisation]
PGD = perturbed_gradient_descent(0.1, radius=0.01, gradient_threshold=0.01, interval=100)


@pytest.mark.parametrize("landscape_class", LANDSCAPES)
def test_gradient_matches_finite_differences(landscape_class):
    landscape = landscape_class(5)
    x = np.random.default_rng(0).normal(size=(3, 5))
    step = 1e-6 * np.eye(5)
    numeric = np.stack([(landscape.value(x + e) - landscape.value(x - e)) / 2e-6 for e in step], axis=-1)
    assert np.allclose(landscape.gradient(x), numeric, atol=1e-6)


@pytest.mark.parametrize("landscape_class", LANDSCAPES)
def test_saddle_value_and_depth(landscape_class):
    landscape = landscape_class(4)
    minimum = np.zeros((1, 4))
    minimum[0, 0] = np.sqrt(landscape.negative_curvature)
    assert landscape.value(np.zeros((1, 4)))[0] == pytest.approx(landscape.saddle_value)
    assert landscape.value(minimum)[0] == pytest.approx(landscape.saddle_value - landscape.depth)


@pytest.mark.parametrize("landscape_class", LANDSCAPES)
def test_perturbed_gd_escapes_where_gd_stalls(landscape_class):
    landscape = landscape_class(200)
    stuck = simulate_saddle_escape(landscape, gradient_descent(0.1), trials=20, horizon=1500)
    assert not np.isfinite(stuck.times).any()
    assert abs(stuck.median_values[-1] - landscape.saddle_value) < 1e-3  # it converged to the saddle
    for method in (PGD, stochastic_gradient_descent(0.1, 0.1)):
        escaped = simulate_saddle_escape(landscape, method, trials=20, horizon=1500)
        assert np.isfinite(escaped.times).all()
        assert escaped.median_values[-1] < landscape.saddle_value - landscape.depth / 2


def test_escape_time_grows_with_dimension_about_as_derived():
    sweep = escape_time_versus_dimension(QuarticSaddle, PGD, [10, 10000], trials=40, horizon=600)
    growth = (sweep.mean[1] - sweep.mean[0]) / np.log(1000)
    assert (sweep.fraction_escaped == 1).all()
    assert 0.6 < growth / predicted_log_dimension_slope(0.1) < 1.4
    stalled = escape_time_versus_dimension(QuarticSaddle, gradient_descent(0.1), [10], trials=5, horizon=300)
    assert np.isnan(stalled.mean[0]) and stalled.fraction_escaped[0] == 0


def test_a_ten_times_larger_perturbation_saves_the_same_steps_in_every_trial():
    wide = perturbed_gradient_descent(0.1, radius=0.1, gradient_threshold=0.01, interval=100)
    narrow_sweep = escape_time_versus_dimension(QuarticSaddle, PGD, [10, 1000], trials=30, horizon=600)
    wide_sweep = escape_time_versus_dimension(QuarticSaddle, wide, [10, 1000], trials=30, horizon=600)
    differences = narrow_sweep.times - wide_sweep.times      # the same seeds pair the trials
    assert differences.shape == (2, 30)
    saved = np.log(10) / np.log1p(0.1 * QuarticSaddle(2).negative_curvature)  # 24.16 steps
    assert np.all(np.abs(differences - saved) < 1.0)
    assert np.allclose(narrow_sweep.times.mean(axis=1), narrow_sweep.mean)


def test_uniform_ball_fills_the_ball():
    points = uniform_ball(np.random.default_rng(1), 4000, 3, 2.0)
    norms = np.linalg.norm(points, axis=1)
    assert norms.max() <= 2.0
    assert np.mean(norms) == pytest.approx(2.0 * 3 / 4, rel=0.03)  # E|x| = r d / (d + 1)


@pytest.mark.parametrize("build, name", [
    (lambda: QuarticSaddle(1), "dim"),
    (lambda: QuarticSaddle(3, negative_curvature=0.0), "negative_curvature"),
    (lambda: RankOneFactorisation(1.5), "dim"),
    (lambda: gradient_descent(0.0), "step_size"),
    (lambda: perturbed_gradient_descent(0.1, -1.0, 0.1, 10), "radius"),
    (lambda: perturbed_gradient_descent(0.1, 0.1, 0.0, 10), "gradient_threshold"),
    (lambda: perturbed_gradient_descent(0.1, 0.1, 0.1, 0), "interval"),
    (lambda: stochastic_gradient_descent(0.1, 0.0), "noise_std"),
    (lambda: SaddleMethod("newton", 0.1), "name"),
    (lambda: simulate_saddle_escape(QuarticSaddle(3), PGD, trials=0, horizon=10), "trials"),
    (lambda: simulate_saddle_escape(QuarticSaddle(3), PGD, trials=2, horizon=0), "horizon"),
    (lambda: predicted_log_dimension_slope(-0.1), "step_size"),
])
def test_invalid_parameters_raise_naming_them(build, name):
    with pytest.raises(ValueError, match=name):
        build()


def _perturbation_steps(landscape, method, steps, seed=0):
    """Run ``method`` from the stable manifold with the package's own step, recording for each
    step the gradient norm before it and which trials were perturbed."""
    from sgd_escape.escape_saddles import _step, stable_manifold_start
    rng = np.random.default_rng(seed)
    x = stable_manifold_start(landscape.dim, 5, rng)
    last = np.full(5, -method.perturbation_interval - 1)
    norms, perturbed = [], []
    for step in range(steps):
        norms.append(np.linalg.norm(landscape.gradient(x), axis=1))
        before = last.copy()
        _step(x, step, last, landscape, method, rng)
        perturbed.append(last != before)
    return np.array(norms), np.array(perturbed)


def test_perturbed_gd_perturbs_only_below_the_gradient_threshold_and_once_per_interval():
    landscape, interval = QuarticSaddle(50), 20
    method = perturbed_gradient_descent(0.1, radius=0.01, gradient_threshold=0.01, interval=interval)
    norms, perturbed = _perturbation_steps(landscape, method, 200)
    assert not perturbed[norms > method.gradient_threshold].any()   # never while the gradient is large
    assert perturbed.any(axis=0).all()                              # but every trial perturbs once near the saddle
    for column in perturbed.T:
        assert (np.diff(np.flatnonzero(column)) > interval).all()   # at most one per interval


def test_perturbed_gd_follows_gd_exactly_while_the_gradient_is_large():
    # the start at distance 1 has gradient norm 1; GD shrinks it by 0.9 per step, to 0.01 after ~44 steps
    landscape = QuarticSaddle(30)
    plain = simulate_saddle_escape(landscape, gradient_descent(0.1), 10, 30, stop_when_all_escaped=False)
    perturbed = simulate_saddle_escape(landscape, PGD, 10, 30, stop_when_all_escaped=False)
    assert np.array_equal(plain.median_values, perturbed.median_values)


@pytest.mark.parametrize("dim", [10, 1000])
def test_sgd_noise_has_total_variance_sigma_squared_in_every_dimension(dim):
    from sgd_escape.escape_saddles import _step
    landscape, eta, sigma, trials = QuarticSaddle(dim), 0.1, 0.3, 4000
    x = np.zeros((trials, dim))                                     # the saddle: zero gradient
    _step(x, 0, np.zeros(trials), landscape, stochastic_gradient_descent(eta, sigma), np.random.default_rng(1))
    squared = np.sum((x / eta) ** 2, axis=1)                        # |xi|^2 for each trial
    assert squared.mean() == pytest.approx(sigma ** 2, rel=0.05)


def test_quartic_saddle_with_another_negative_curvature():
    landscape = QuarticSaddle(4, negative_curvature=2.0)
    x = np.random.default_rng(0).normal(size=(3, 4))
    step = 1e-6 * np.eye(4)
    numeric = np.stack([(landscape.value(x + e) - landscape.value(x - e)) / 2e-6 for e in step], axis=-1)
    assert np.allclose(landscape.gradient(x), numeric, atol=1e-6)
    minimum = np.zeros((1, 4))
    minimum[0, 0] = np.sqrt(2.0)                                  # x_0^2 = gamma
    assert landscape.value(minimum)[0] == pytest.approx(landscape.saddle_value - landscape.depth)
    assert landscape.depth == pytest.approx(1.0)                  # gamma^2 / 4


@pytest.mark.parametrize("landscape", [QuarticSaddle(5), RankOneFactorisation(5)], ids=["quartic", "rank-one"])
def test_escape_step_is_the_first_step_half_the_depth_below_the_saddle(landscape):
    run = simulate_saddle_escape(landscape, stochastic_gradient_descent(0.1, 0.1), trials=1, horizon=400,
                                 stop_when_all_escaped=False)        # one trial: the median is its value
    below = np.flatnonzero(run.median_values <= landscape.saddle_value - landscape.depth / 2)
    assert 5 < below[0] < 400 and run.times[0] == below[0]


def test_start_lies_on_the_stable_manifold_at_the_given_radius():
    from sgd_escape.escape_saddles import stable_manifold_start

    start = stable_manifold_start(6, 50, np.random.default_rng(0), radius=0.3)
    assert np.all(start[:, 0] == 0)
    np.testing.assert_allclose(np.linalg.norm(start, axis=1), 0.3)


def test_dimension_sweep_reports_mean_and_standard_error_of_the_runs():
    sweep = escape_time_versus_dimension(QuarticSaddle, PGD, [5, 20], trials=6, horizon=600, seed=3)
    for index, dim in enumerate([5, 20]):
        times = simulate_saddle_escape(QuarticSaddle(dim), PGD, 6, 600, seed=3 + index).times
        assert sweep.mean[index] == pytest.approx(times.mean())
        assert sweep.standard_error[index] == pytest.approx(times.std(ddof=1) / np.sqrt(6))
    assert np.all(sweep.fraction_escaped == 1.0)


def test_predicted_slope_uses_the_negative_curvature():
    assert predicted_log_dimension_slope(0.1, 2.0) == pytest.approx(1 / (2 * np.log(1.2)))


def test_perturbed_gd_steps_with_the_gradient_at_the_perturbed_point():
    from sgd_escape.escape_saddles import _step

    landscape, method = QuarticSaddle(3), perturbed_gradient_descent(0.1, radius=0.5, gradient_threshold=0.01,
                                                                       interval=10)
    x = np.zeros((4, 3))                                            # the saddle: a perturbation is due at once
    _step(x, 0, np.full(4, -100), landscape, method, np.random.default_rng(2))
    kick = uniform_ball(np.random.default_rng(2), 4, 3, 0.5)         # the same draw
    np.testing.assert_allclose(x, kick - 0.1 * landscape.gradient(kick))


def test_a_run_records_the_start_and_every_step_up_to_the_horizon():
    # GD from the stable manifold at distance 1 shrinks x_rest by 1 - eta per step: f_t = 0.81^t / 2.
    run = simulate_saddle_escape(QuarticSaddle(3), gradient_descent(0.1), trials=2, horizon=3,
                                 stop_when_all_escaped=False)
    np.testing.assert_allclose(run.median_values, 0.5 * 0.81 ** np.arange(4))
