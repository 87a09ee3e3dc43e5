"""The spiky function of Chapter 1: derivative, convolution, minima, validation."""
import numpy as np
import pytest

from sgd_escape.landscapes import FIGURE3, Figure3Setup, SpikyFunction, figure3_function

F = figure3_function()
X = np.linspace(-6, 6, 2001)


#: Chapter 1's function, and one with evenly spaced spikes (period_growth = 0 takes its own branch).
FUNCTIONS = pytest.mark.parametrize("f", [F, SpikyFunction(period_growth=0.0)], ids=["figure3", "even-spikes"])


@FUNCTIONS
def test_grad_matches_finite_differences(f):
    h = 1e-6
    numeric = (f.value(X + h) - f.value(X - h)) / (2 * h)
    assert np.max(np.abs(numeric - f.grad(X))) < 1e-6


@pytest.mark.parametrize("half_width", [0.15, 0.35, 1.0])
def test_convolution_matches_monte_carlo(half_width):
    rng = np.random.default_rng(0)
    points = np.array([-4.3, -1.2, 0.0, 0.7, 2.9])
    shifts = rng.uniform(-half_width, half_width, size=(200_000, 1))
    samples = F.value(points[None, :] + shifts)
    monte_carlo = samples.mean(axis=0)
    standard_error = samples.std(axis=0) / np.sqrt(len(shifts))
    exact = F.convolved_value(points, half_width)
    assert np.all(np.abs(exact - monte_carlo) < 5 * standard_error + 1e-12)


def test_convolved_grad_is_derivative_of_convolved_value():
    h = 1e-5
    numeric = (F.convolved_value(X + h, 0.35) - F.convolved_value(X - h, 0.35)) / (2 * h)
    assert np.max(np.abs(numeric - F.convolved_grad(X, 0.35))) < 1e-6


def test_zero_half_width_is_the_function_itself():
    assert np.array_equal(F.convolved_value(X, 0.0), F.value(X))


def test_minima_of_f_are_spike_bottoms_and_convolution_removes_them():
    minima_f = F.local_minima(-5, 5)
    assert len(minima_f) >= 20
    assert np.all(F.grad(minima_f - 1e-4) < 0) and np.all(F.grad(minima_f + 1e-4) > 0)
    # the medium noise window leaves a single minimum, at x* = 0
    medium = F.local_minima(-5, 5, half_width=FIGURE3.step_size * FIGURE3.noise_levels["medium"])
    assert len(medium) == 1 and abs(medium[0]) < 1e-3


@FUNCTIONS
def test_second_derivative_matches_finite_differences(f):
    x = X[np.abs(X) > 1e-3]  # |x| and sign(x) have a kink at 0
    numeric = (f.grad(x + 1e-6) - f.grad(x - 1e-6)) / 2e-6
    assert np.max(np.abs(numeric - f.second_derivative(x))) < 1e-5


def test_max_second_derivative_exceeds_the_spike_curvature_near_the_target():
    """The valley adds slope/valley_smoothing of curvature at x* = 0: the true maximum of f''."""
    fine = np.linspace(-6, 6, 1_200_001)
    largest = F.max_second_derivative(-6, 6)
    assert abs(largest - np.max(np.gradient(F.grad(fine), fine))) < 1e-3
    assert largest >= F.second_derivative(0.0) == pytest.approx(F.spike_curvature + F.slope / F.valley_smoothing)
    assert largest > F.spike_curvature + 0.25
    assert FIGURE3.step_size * largest < 2  # GD is stable at every local minimum of f


def test_gd_stability_threshold_at_the_target_is_two_over_max_second_derivative():
    """GD from next to x* = 0 converges just below 2 / max f'' and not just above it."""
    from sgd_escape.sgd import run_sgd

    threshold = 2 / F.max_second_derivative(-1, 1)
    below = run_sgd(F.grad, np.array([1e-3]), 0.97 * threshold, 0.0, 3000)
    above = run_sgd(F.grad, np.array([1e-3]), 1.04 * threshold, 0.0, 3000)
    assert abs(below[0]) < 1e-6 and abs(above[0]) > 1e-3
    assert 2 / F.spike_curvature > 1.04 * threshold  # the spikes' curvature alone would mislead


def test_max_second_derivative_rejects_an_empty_interval():
    with pytest.raises(ValueError, match="high must be > low"):
        F.max_second_derivative(1.0, 1.0)


@pytest.mark.parametrize("field, value", [("slope", 0), ("slope", -1), ("period_at_zero", 0),
                                          ("curvature_scale", -0.1), ("valley_smoothing", float("nan"))])
def test_invalid_function_parameters(field, value):
    with pytest.raises(ValueError, match=field):
        SpikyFunction(**{field: value})


def test_invalid_half_width_and_interval():
    with pytest.raises(ValueError, match="half_width must be >= 0"):
        F.convolved_value(X, -0.1)
    with pytest.raises(ValueError, match="high must be > low"):
        F.local_minima(1.0, -1.0)


@pytest.mark.parametrize("kwargs, name", [({"step_size": 0}, "step_size"), ({"steps": 0}, "steps"),
                                          ({"trials": 0}, "trials"),
                                          ({"noise_levels": {"small": -1}}, "noise_levels"),
                                          ({"stage_noises": (0.1,)}, "stage_noises and stage_half_widths"),
                                          ({"stage_noises": (), "stage_half_widths": ()}, "stage_half_widths")])
def test_invalid_figure3_setup(kwargs, name):
    with pytest.raises(ValueError, match=name):
        Figure3Setup(**kwargs)


def test_centre_region_is_where_the_first_stage_restarts():
    setup = Figure3Setup(stage_noises=(0.2, 0.1), stage_half_widths=(2.0, 1.0))
    assert setup.centre_half_width == 2.0


@pytest.mark.parametrize("half_width", [0.0, 0.15])
def test_maxima_are_where_the_slope_turns_down(half_width):
    maxima = F.local_maxima(-5, 5, half_width)
    assert len(maxima) >= 5
    assert np.all(F.convolved_grad(maxima - 1e-5, half_width) > 0)
    assert np.all(F.convolved_grad(maxima + 1e-5, half_width) < 0)


def test_stage_half_widths_must_be_positive():
    with pytest.raises(ValueError, match="stage_half_widths must be > 0"):
        Figure3Setup(stage_half_widths=(1.5, 0.75, 0.0))


@pytest.mark.parametrize("x, half_width", [(1.3, 0.15), (-2.7, 0.35), (3.9, 1.0), (0.0, 0.35), (0.25, 0.35)])
def test_convolution_matches_adaptive_quadrature_to_1e_9(x, half_width):
    from scipy import integrate

    kink = [0.0] if x - half_width < 0 < x + half_width else None     # the spikes' period has a kink at x* = 0
    exact = integrate.quad(F.value, x - half_width, x + half_width, points=kink, epsabs=1e-14, epsrel=1e-13,
                           limit=500)[0]
    assert F.convolved_value(x, half_width) == pytest.approx(exact / (2 * half_width), abs=1e-9)


def test_sign_changes_finds_a_root_on_a_grid_point_and_one_in_the_last_cell():
    from sgd_escape.landscapes import sign_changes

    # grid -1, -0.5, 0, 0.5, 1: the derivative x is exactly 0 at a grid point; x - 0.9 changes sign
    # between the last two grid points, and 0.9 lies inside [low, high] = [-1, 1].
    np.testing.assert_allclose(sign_changes(lambda x: x, -1.0, 1.0, 0.5, rising=True), [0.0], atol=1e-3)
    np.testing.assert_allclose(sign_changes(lambda x: -x, -1.0, 1.0, 0.5, rising=False), [0.0], atol=1e-3)
    np.testing.assert_allclose(sign_changes(lambda x: x - 0.9, -1.0, 1.0, 0.5, rising=True), [0.9], atol=1e-3)


def test_max_second_derivative_includes_x_star_on_a_coarse_grid():
    # f'' peaks at x* = 0 (valley k/eps plus the spikes); the grid -0.25, -0.05, 0.15, ... misses 0.
    assert F.max_second_derivative(-0.25, 0.5, resolution=0.2) >= float(F.second_derivative(0.0))


def test_sign_changes_and_max_second_derivative_stay_inside_low_high():
    from sgd_escape.landscapes import sign_changes

    # resolution 0.3 does not divide [-1, 1]: the scan must stop at high = 1, not look on to 1.1
    assert sign_changes(lambda x: x - 1.05, -1.0, 1.0, 0.3, rising=True).size == 0
    # f'' on [2.0, 2.1] with a grid coarser than the interval: its end points, not f''(2.3) beyond it
    assert F.max_second_derivative(2.0, 2.1, resolution=0.3) == pytest.approx(np.max(F.second_derivative([2.0, 2.1])))
