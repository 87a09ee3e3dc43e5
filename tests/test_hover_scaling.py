"""The hover level's scaling with eta and T2 (Chapter 2, section ch2-hover-scaling): the sweep keeps
c fixed, the level scales like eta, the window maxima grow like log T2, and bad input is named."""
from __future__ import annotations

import matplotlib
import numpy as np
import pytest

from sgd_escape.hover_scaling import family_member, hover_sweep, window_maxima
from sgd_escape.theorem_experiments import ONE_DIM, run_theorem1

matplotlib.use("Agg")
DECADE = np.geomspace(ONE_DIM.eta / 10, ONE_DIM.eta, 3)   # every condition of Theorem 1 holds


@pytest.fixture(scope="module")
def sweeps():
    """Small sweeps over a decade, the window kept by k and by r, with the same random numbers."""
    return {adjust: hover_sweep(DECADE, trials=200, burn_in=2.0, window=3.0, seed=1, adjust=adjust)
            for adjust in ("k", "r")}


@pytest.mark.parametrize("adjust", ["k", "r"])
def test_the_family_keeps_the_window_and_with_it_c_and_L(adjust):
    base = ONE_DIM.setting
    for eta in np.geomspace(ONE_DIM.eta / 10, ONE_DIM.eta, 7):
        member = family_member(float(eta), adjust=adjust)
        window = member.f.k * member.eta * member.noise.r
        assert window == pytest.approx(ONE_DIM.f.k * ONE_DIM.eta * ONE_DIM.noise.r, rel=1e-14)
        assert abs(member.setting.c - base.c) < 1e-12 and member.setting.L == base.L
        kept = member.noise.r if adjust == "k" else member.f.k
        assert kept == (ONE_DIM.noise.r if adjust == "k" else ONE_DIM.f.k)
    # without the adjustment c moves: eta / 10 at the base's k and r has another c
    assert abs(ONE_DIM.f.one_point_constant(ONE_DIM.noise, ONE_DIM.eta / 10) - base.c) > 0.1


def test_the_hover_level_scales_like_eta_when_r_stays(sweeps):
    fit = sweeps["k"].slope()
    assert 0.9 < fit.slope < 1.1
    assert abs(fit.slope - 1) < 4 * fit.slope_se + 0.02
    # the theorem's b / lambda bends upwards near eta = c / L^2: a larger slope
    floor_slope = np.polyfit(np.log(DECADE), np.log(sweeps["k"].floors), 1)[0]
    assert floor_slope > 1.15
    assert np.allclose(sweeps["k"].approx / DECADE, sweeps["k"].approx[0] / DECADE[0], rtol=1e-12)


def test_growing_r_instead_reverses_the_slope_and_is_the_same_run_rescaled(sweeps):
    assert -1.1 < sweeps["r"].slope().slope < -0.9
    # y -> (r' / r) y maps one family onto the other, draw by draw
    scale = np.array([e.noise.r for e in sweeps["r"].experiments]) / ONE_DIM.noise.r
    np.testing.assert_allclose(sweeps["r"].level, scale**2 * sweeps["k"].level, rtol=1e-9)


def test_the_level_lies_below_b_over_lambda_and_near_the_quadratic_alone(sweeps):
    sweep = sweeps["k"]
    assert np.all(sweep.level + 3 * sweep.stderr < sweep.floors)          # Step 1's stationary bound
    np.testing.assert_allclose(sweep.level, sweep.quadratic_level, rtol=0.12)


def test_the_vectorised_run_agrees_with_simulate_y():
    level = hover_sweep([ONE_DIM.eta], trials=300, seed=2).level[0]
    reference = run_theorem1(ONE_DIM, 3000, 300, seed=3).window_mean      # simulate_y, f.grad
    assert level == pytest.approx(reference, rel=0.1)


def test_window_maxima_grow_like_log_T2_at_about_twice_the_level():
    maxima = window_maxima(np.array([30, 100, 300, 1000, 3000]), trials=100, seed=4)
    assert np.all(np.diff(maxima.maxima, axis=0) >= 0)                    # running maxima
    assert np.all(maxima.maxima[-1] > 0)
    assert maxima.maxima[-1].mean() >= maxima.level                        # a max is at least its mean
    assert np.all(maxima.median < maxima.bounds)                           # Theorem 1, with room
    growth = maxima.growth(maxima.median).slope
    assert 0.5 < growth / (2 * maxima.level) < 1.2                         # Gaussian extremes: 2 sigma^2
    bound = maxima.growth(maxima.bounds)
    assert bound.slope == pytest.approx(42**2 * ONE_DIM.setting.floor, rel=1e-9)


def test_the_figure_draws_both_panels(sweeps):
    import matplotlib.pyplot as plt

    from sgd_escape import theory_plots

    maxima = window_maxima(np.array([10, 30, 100]), trials=20, seed=5)
    fig, axes = plt.subplots(1, 2)
    theory_plots.hover_scaling(axes, sweeps["k"], maxima)
    left_lines = [line.get_label() for line in axes[0].get_lines()]
    assert left_lines[:2] == [r"$b/\lambda$", r"$\eta r^2/(2c)$"]
    np.testing.assert_allclose(axes[0].get_lines()[0].get_ydata(), sweeps["k"].floors)
    assert len(fig.axes) == 3                                              # delta^2 on its own axis
    plt.close(fig)


@pytest.mark.parametrize("argument, call", [
    ("etas", lambda: hover_sweep([], 10)),
    ("etas", lambda: hover_sweep([0.001, -0.001], 10)),
    ("etas", lambda: hover_sweep([[0.001]], 10)),
    ("etas", lambda: hover_sweep([0.001, float("nan")], 10)),
    ("etas", lambda: hover_sweep([0.001, 0.02], 10)),           # 0.02 > c / L^2: a condition fails
    ("etas", lambda: hover_sweep([0.001, 0.002], 10, window=0.01).slope()),
    ("trials", lambda: hover_sweep([0.001], 1)),
    ("burn_in", lambda: hover_sweep([0.001], 10, burn_in=-1.0)),
    ("window", lambda: hover_sweep([0.001], 10, window=0.0)),
    ("seed", lambda: hover_sweep([0.001], 10, seed=-1)),
    ("adjust", lambda: hover_sweep([0.001], 10, adjust="beta")),
    ("eta", lambda: family_member(0.0)),
    ("T2s", lambda: window_maxima(np.array([], dtype=int), 10)),
    ("T2s", lambda: window_maxima(np.array([0, 10]), 10)),
    ("T2s", lambda: window_maxima(np.array([10, 10]), 10)),
    ("T2s", lambda: window_maxima(np.array([10.0, 20.0]), 10)),
    ("T2s", lambda: window_maxima(np.array([10, 20]), 10).growth([1.0, 2.0])),
    ("trials", lambda: window_maxima(np.array([10]), 0)),
    ("values", lambda: window_maxima(np.array([1, 2, 3]), 5).growth([1.0, 2.0])),
    ("values", lambda: window_maxima(np.array([1, 2, 3]), 5).growth([1.0, 2.0, float("inf")])),
])
def test_invalid_arguments_raise_a_value_error_naming_them(argument, call):
    with pytest.raises(ValueError, match=rf"^{argument} must"):
        call()
