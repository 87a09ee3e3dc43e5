"""Assumption 1 measured (Chapters 2-4): the estimator of the one-point convexity constant
against exact values and closed forms, its errors, and Lemma 6's Hoeffding bound."""
import numpy as np
import pytest

from sgd_escape.assumption import estimate_one_point_constant, hoeffding_lower_bound, hoeffding_samples_needed
from sgd_escape.bounded_noise import BoundedNoise
from sgd_escape.spiky_quadratic import SpikyQuadratic


def _points(d: int, rng) -> np.ndarray:
    """120 points at distances 0.05 to 3 from x* = 0, in random directions."""
    directions = rng.standard_normal((120, d))
    return np.linspace(0.05, 3, 120)[:, None] * directions / np.linalg.norm(directions, axis=1, keepdims=True)


@pytest.mark.parametrize("kind, d, r", [("ball", 1, 11.2), ("ball", 1, 22.5), ("sphere", 100, 60.0)],
                         ids=["phi>0", "phi<0", "sphere-d100"])
def test_estimator_agrees_with_the_exact_constant(kind, d, r):
    f, eta, noise, rng = SpikyQuadratic(1.0, 3.0, 10.0), 0.02, BoundedNoise(kind, r, d), np.random.default_rng(0)
    y = _points(d, rng)
    est = estimate_one_point_constant(f.grad, y, eta, noise, rng, draws=2000)
    exact = np.sum(f.convolved_grad(y, noise, eta) * y, axis=1) / np.sum(y**2, axis=1)
    assert np.max(np.abs(est.c_hat - exact) / est.stderr) < 5
    c = f.one_point_constant(noise, eta)                # an infimum over all y: below every point
    assert exact.min() >= c - 1e-12 and est.c >= c - 5 * est.c_stderr
    if f.smoothing_factor(noise, eta) < 0:               # phi < 0: the infimum is approached as y -> 0
        assert exact[np.argmin(np.linalg.norm(y, axis=1))] - c < 0.05


def test_estimator_rejects_bad_input():
    f, noise, rng = SpikyQuadratic(1.0, 3.0, 10.0), BoundedNoise("ball", 1.0, 1), np.random.default_rng(0)
    with pytest.raises(ValueError, match="draws must be even"):
        estimate_one_point_constant(f.grad, np.ones((3, 1)), 0.1, noise, rng, draws=7)
    with pytest.raises(ValueError, match="points must differ from x_star"):
        estimate_one_point_constant(f.grad, np.zeros((3, 1)), 0.1, noise, rng)
    with pytest.raises(ValueError, match=r"points must have shape \(p, 1\)"):
        estimate_one_point_constant(f.grad, np.ones((3, 2)), 0.1, noise, rng)


@pytest.mark.parametrize("kwargs, parameter", [
    (dict(batch=0), "batch"), (dict(batch=-1), "batch"), (dict(batch=2.5), "batch"),
    (dict(x_star=np.zeros(2)), "x_star"), (dict(x_star=np.zeros((1, 1))), "x_star"),
])
def test_estimator_names_a_bad_batch_or_x_star(kwargs, parameter):
    f, noise, rng = SpikyQuadratic(1.0, 3.0, 10.0), BoundedNoise("ball", 1.0, 1), np.random.default_rng(0)
    with pytest.raises(ValueError, match=parameter):
        estimate_one_point_constant(f.grad, np.ones((3, 1)), 0.1, noise, rng, draws=4, **kwargs)


def test_estimator_uses_a_vector_x_star_and_fills_every_batch():
    # For grad f(z) = z - x*, antithetic pairs cancel the noise exactly, so c(y) = 1 at every
    # point: an ignored x_star, or rows a batch skipped, would show.
    x_star, noise = np.array([0.5, -1.0]), BoundedNoise("ball", 1.0, 2)
    y = np.random.default_rng(1).normal(size=(5, 2))
    for batch in (1, 2, 64):
        estimate = estimate_one_point_constant(lambda z: z - x_star, y, 0.1, noise, np.random.default_rng(0),
                                               draws=4, x_star=x_star, batch=batch)
        np.testing.assert_allclose(estimate.c_hat, 1.0, rtol=1e-12)


def test_estimate_reports_its_smallest_point_and_holds_only_beyond_z_standard_errors():
    from sgd_escape.assumption import OnePointEstimate

    est = OnePointEstimate(np.zeros((3, 1)), c_hat=np.array([1.0, 0.2, 0.5]), stderr=np.array([0.01, 0.1, 0.3]))
    assert (est.worst, est.c, est.c_stderr) == (1, 0.2, 0.1)
    assert est.holds(z=1.0) and not est.holds(z=3.0)      # 0.2 - 3 * 0.1 < 0: not significant at z = 3


def test_estimator_matches_a_closed_form_and_its_standard_error_is_calibrated():
    # For grad f(z) = z^3 an antithetic pair averages (y - eta w)^3 and (y + eta w)^3 to y^3 + 3 y eta^2 w^2,
    # so c(y) = E (y - eta w)^3 / y = y^2 + eta^2 r^2 for w uniform on [-r, r].
    noise, eta, y = BoundedNoise("ball", 2.0, 1), 0.5, 0.7
    points = np.full((400, 1), y)                       # 400 independent estimates at the same point
    est = estimate_one_point_constant(lambda z: z**3, points, eta, noise, np.random.default_rng(0), draws=400)
    exact = y**2 + eta**2 * noise.r**2
    assert abs(est.c_hat.mean() - exact) < 4 * est.stderr.mean() / np.sqrt(len(points))
    assert np.std(est.c_hat, ddof=1) == pytest.approx(est.stderr.mean(), rel=0.15)


def test_assumption_fails_at_small_noise_and_holds_at_medium_on_chapter1_function():
    from sgd_escape.assumption import vector_grad
    from sgd_escape.landscapes import FIGURE3, figure3_function

    f, eta = figure3_function(), FIGURE3.step_size
    y = np.concatenate([np.linspace(-5, -0.05, 60), np.linspace(0.05, 5, 60)])[:, None]
    rng = np.random.default_rng(0)
    verdicts = {name: estimate_one_point_constant(vector_grad(f.grad), y, eta, BoundedNoise("ball", level, 1),
                                                  rng, draws=8000).holds()
                for name, level in FIGURE3.noise_levels.items() if name in ("small", "medium")}
    assert verdicts == {"small": False, "medium": True}


def test_hoeffding_lower_bound_covers_the_mean_at_least_as_often_as_promised():
    # Lemma 6 on uniform [0, 1] samples of mean 0.5: the bound may fail at most 5% of the time
    samples = np.random.default_rng(3).uniform(0.0, 1.0, size=(20_000, 10))
    bound = hoeffding_lower_bound(samples.mean(axis=1), np.zeros(20_000), np.ones(20_000), 10, 0.95)
    assert np.mean(bound > 0.5) <= 0.05
    assert bound[0] == pytest.approx(samples[0].mean() - np.sqrt(np.log(20) / 20))  # margin sqrt(ln(1/alpha) / 2n)
    assert hoeffding_lower_bound(0.3, 0.3, 0.3, 1) == 0.3  # no spread, no margin


def test_hoeffding_samples_needed_is_the_first_count_with_a_positive_bound():
    mean, low, high = np.array([0.01, 0.2, -0.1, 0.5]), np.array([0.0, 0.1, -0.2, 0.5]), np.array([0.1, 0.3, 0.0, 0.5])
    needed = hoeffding_samples_needed(mean, low, high, 0.95)
    assert np.isinf(needed[2]) and needed[3] == 1       # a mean <= 0 never, a point mass at once
    for i in (0, 1):
        n = int(needed[i])
        assert hoeffding_lower_bound(mean[i], low[i], high[i], n, 0.95) > 0
        assert n == 1 or hoeffding_lower_bound(mean[i], low[i], high[i], n - 1, 0.95) <= 0
