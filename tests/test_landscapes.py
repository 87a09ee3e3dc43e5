"""The spiky function of Chapter 1: derivative, convolution, minima, validation."""
import numpy as np
import pytest

from sgd_escape.landscapes import FIGURE3, Figure3Setup, SpikyFunction, figure3_function

F = figure3_function()
X = np.linspace(-6, 6, 2001)


def test_grad_matches_finite_differences():
    h = 1e-6
    numeric = (F.value(X + h) - F.value(X - h)) / (2 * h)
    assert np.max(np.abs(numeric - F.grad(X))) < 1e-6


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


def test_spike_curvature_bounds_second_derivative():
    second = np.gradient(F.grad(X), X)
    assert np.max(second) <= F.spike_curvature + F.slope / F.valley_smoothing + 1e-2
    assert FIGURE3.step_size * F.spike_curvature < 2  # GD is stable inside the spikes


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
