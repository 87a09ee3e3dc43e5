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


def test_the_numbers_chapter2_quotes_agree_with_the_setting_and_the_run():
    from sgd_escape.theorem_experiments import setting_numbers, theorem1_numbers

    n = setting_numbers(ONE_DIM)
    s = ONE_DIM.setting
    assert (n["c"], n["L"], n["lam"], n["floor"], n["T1"]) == (s.c, s.L, s.lam, s.floor, ONE_DIM.T1)
    assert n["window"] == pytest.approx(7.72) and n["spurious"] == n["minima"] - 1 >= 1
    result = run_theorem1(ONE_DIM, 50, 40, seed=3)
    r = theorem1_numbers(result, early=20)
    assert r["within"] == 100 * result.within_markov_radius
    assert r["window_in_floor"] * s.floor == pytest.approx(r["window_max"]) and r["window_max"] >= r["window_mean"]
    assert r["delta_sq"] == pytest.approx(r["mu_sq"] * s.floor)       # delta^2 = mu^2 b / lambda
    envelope = s.envelope(ONE_DIM.initial_sq_distance, np.arange(1, 21))
    assert r["envelope_ratio"] == pytest.approx(np.median(envelope / result.run.sq_dist[1:21].mean(axis=1)))
    with pytest.raises(ValueError, match="early"):
        theorem1_numbers(result, early=0)


def test_glue_numbers_stores_every_entry_under_its_prefixed_name(monkeypatch):
    import sgd_escape.book as book

    stored = {}
    monkeypatch.setattr(book, "glue", lambda name, value: stored.__setitem__(name, value))
    book.glue_numbers("one", {"c": 0.5, "T1": 644})
    assert stored == {"one_c": 0.5, "one_T1": 644}


def test_glue_prints_name_and_value_where_myst_nb_is_missing(monkeypatch, capsys):
    import sys

    import numpy as np

    import sgd_escape.book as book

    monkeypatch.setitem(sys.modules, "myst_nb", None)          # as in Colab: importing it fails
    book.glue("ch9_ratio", np.float64(0.123456789))
    book.glue("ch9_count", 42)
    assert capsys.readouterr().out == "ch9_ratio = 0.123457\nch9_count = 42\n"


def test_simulate_y_steps_by_equation_1():
    # y_t = x_t - eta grad f(x_t) and x_{t+1} = x_t - eta (grad f(x_t) + omega_t): simulate_y, started at
    # y_0 = y(x_0), must reach x_1 and y_1 = y(x_1) with the same omega_0 drawn from the same generator.
    f, eta, noise = SpikyQuadratic(1.0, 3.0, 10.0), 0.02, BoundedNoise("ball", 20.0, 3)
    x = np.random.default_rng(2).normal(size=(6, 3))
    run = simulate_y(f.grad, y_of_x(f.grad, x, eta), eta, noise, 1, np.random.default_rng(5), snapshot_times=[1])
    x_next = x - eta * (f.grad(x) + noise.sample((6,), np.random.default_rng(5)))
    np.testing.assert_allclose(run.final_x, x_next, atol=1e-12)
    np.testing.assert_allclose(run.snapshots[1], y_of_x(f.grad, x_next, eta), atol=1e-12)


def test_simulate_y_measures_distances_from_x_star():
    # Shifting the function and the start by v and passing x_star = v gives the same distances.
    f, eta, noise, v = SpikyQuadratic(1.0, 3.0, 10.0), 0.02, BoundedNoise("sphere", 20.0, 2), np.array([3.0, -1.0])
    y0 = starting_points(5, 2, 4.0, np.random.default_rng(0))
    at_zero = simulate_y(f.grad, y0, eta, noise, 20, np.random.default_rng(1))
    shifted = simulate_y(lambda z: f.grad(z - v), y0 + v, eta, noise, 20, np.random.default_rng(1), x_star=v)
    np.testing.assert_allclose(shifted.sq_dist, at_zero.sq_dist, rtol=1e-9, atol=1e-12)


def test_starting_points_lie_at_the_requested_squared_distance():
    y0 = starting_points(50, 7, 4.0, np.random.default_rng(0))
    assert y0.shape == (50, 7)
    np.testing.assert_allclose(np.sum(y0**2, axis=1), 4.0)


def test_T1_is_at_least_theorem1s_lower_bound():
    s = ONE_DIM.setting
    assert ONE_DIM.T1 >= s.t1_lower_bound(ONE_DIM.initial_sq_distance)
    assert s.envelope(ONE_DIM.initial_sq_distance, ONE_DIM.T1) <= 2 * s.floor   # Step 2: E||y_T1 - x*||^2 <= 2b/lambda


def test_theorem1_result_tail_looseness_is_delta_squared_over_the_window_max():
    T1, T2 = ONE_DIM.T1, 3
    sq_dist = np.full((T1 + T2 + 2, 2), 1.0)
    sq_dist[T1 + 1, 0] = 5.0
    result = Theorem1Result(ONE_DIM, T2, YRun(sq_dist))
    assert result.tail_looseness == pytest.approx(ONE_DIM.setting.tail(T2).radius_sq / 5.0)


def test_corollary2_run_is_sgd_that_changes_its_step_size():
    # Stage two continues SGD from x_T1 with the step eta2: y'_t = x_t - eta2 grad f(x_t).
    from sgd_escape.theorem_experiments import SECOND_STAGE_ETA

    coro, sq, (T1, T2) = run_corollary2(4, seed=7)
    exp, eta2 = ONE_DIM, SECOND_STAGE_ETA
    rng = np.random.default_rng(7)
    y0 = starting_points(4, 1, exp.initial_sq_distance, rng)
    assert sq.shape == (T1 + T2 + 1, 4) and np.allclose(sq[0], exp.initial_sq_distance)
    x = y0 - exp.eta * exp.noise.sample((4,), rng)                        # x_1
    for t in range(1, T1 + T2 + 1):
        eta = exp.eta if t <= T1 else eta2                               # y_T1 still belongs to stage one
        np.testing.assert_allclose(np.sum(y_of_x(exp.f.grad, x, eta) ** 2, axis=1), sq[t], rtol=1e-9)
        step = exp.eta if t < T1 else eta2
        x = x - step * (exp.f.grad(x) + exp.noise.sample((4,), rng))


def test_glue_hands_myst_nb_plain_python_numbers(monkeypatch):
    # numpy 2 writes np.float64(0.5) for repr(np.float64(0.5)): the prose must get 0.5.
    import sys
    import types

    import numpy as np

    import sgd_escape.book as book

    stored = {}
    fake = types.SimpleNamespace(glue=lambda name, value, display=False: stored.__setitem__(name, value))
    monkeypatch.setitem(sys.modules, "myst_nb", fake)
    book.glue("ch9_ratio", np.float64(0.5))
    book.glue("ch9_count", np.int64(7))
    assert repr(stored["ch9_ratio"]) == "0.5" and repr(stored["ch9_count"]) == "7"
