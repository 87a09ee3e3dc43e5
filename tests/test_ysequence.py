"""Equation (1) against SGD itself, and what Theorem1Result reads from a run (Chapter 2)."""
import numpy as np
import pytest

from sgd_escape.bounded_noise import BoundedNoise
from sgd_escape.spiky_quadratic import SpikyQuadratic
from sgd_escape.theorem_experiments import ONE_DIM, Theorem1Result, run_corollary2, run_theorem1
from sgd_escape.ysequence import YRun, simulate_y, starting_points, y_of_x


@pytest.mark.parametrize("kind, d", [("ball", 1), ("sphere", 5)])
def test_equation_1_is_sgd_seen_through_y(kind, d):
    f, eta, noise, steps = SpikyQuadratic(1.0, 3.0, 10.0), 0.02, BoundedNoise(kind, 20.0, d), 30
    y0 = starting_points(8, d, 4.0, np.random.default_rng(0))
    run = simulate_y(f.grad, y0, eta, noise, steps, np.random.default_rng(5))
    rng = np.random.default_rng(5)                     # the same noise, drawn in the same order
    x = y0 - eta * noise.sample((8,), rng)             # x_1
    for t in range(1, steps):
        assert np.allclose(np.sum(y_of_x(f.grad, x, eta) ** 2, axis=1), run.sq_dist[t])
        x = x - eta * (f.grad(x) + noise.sample((8,), rng))
    assert np.allclose(x, run.final_x)
    assert np.allclose(np.sum(y_of_x(f.grad, x, eta) ** 2, axis=1), run.sq_dist[steps])


def test_theorem1_result_reads_time_T1_and_the_window_up_to_T1_plus_T2():
    T1, T2, radius = ONE_DIM.T1, 3, ONE_DIM.setting.markov_radius_sq
    sq_dist = np.full((T1 + T2 + 2, 4), 1e9)           # huge outside [T1, T1 + T2]
    sq_dist[T1:T1 + T2 + 1] = 0.5 * radius
    sq_dist[T1, 1] = 2 * radius                         # one trial of four outside at T1
    sq_dist[T1 + T2, 2] = 0.9 * radius                  # the window's largest value, at its last step
    result = Theorem1Result(ONE_DIM, T2, YRun(sq_dist))
    assert result.within_markov_radius == 0.75
    assert np.allclose(result.window_max, [0.5 * radius, 2 * radius, 0.9 * radius, 0.5 * radius])
    assert result.markov_looseness == pytest.approx(2.0)
    assert result.window_mean == pytest.approx((14 * 0.5 + 2 + 0.9) * radius / 16)   # 4 steps x 4 trials


def test_chapter2_one_dimensional_promises_hold_with_room():
    result = run_theorem1(ONE_DIM, 1000, 500, seed=1)
    assert result.within_markov_radius >= 0.9           # promised 1/2; Markov's step gives 90%
    assert result.tail_looseness > 10 and result.markov_looseness > 10
    coro, sq, (T1, T2) = run_corollary2(500, seed=4)
    assert sq.shape == (T1 + T2 + 1, 500)
    assert np.mean(sq[-1] <= coro.final_radius_sq) >= 0.25 and coro.final_radius_sq < coro.first.markov_radius_sq
