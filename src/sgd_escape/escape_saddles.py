"""Escaping strict saddle points: GD, perturbed GD and SGD in growing dimension (Chapter 7).

Two strict-saddle functions on R^d, both with the saddle at the origin, one direction of
negative curvature (the first coordinate, ``e_0``) and minima at ``+-e_0`` (scaled):

- :class:`QuarticSaddle`, ``f(x) = x_0^4/4 - gamma x_0^2/2 + |x_rest|^2/2``;
- :class:`RankOneFactorisation`, ``f(u) = ||u u^T - v v^T||_F^2 / 4`` with ``v = e_0``
  (any unit ``v`` is equivalent up to a rotation, which leaves every method below unchanged).

Gradient descent started on the saddle's stable manifold ``{x_0 = 0}`` stays on it and
converges to the saddle. Perturbed gradient descent (the algorithm of Jin et al., 2017)
and SGD leave it. All trials of a run advance together as one ``(trials, d)`` array.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

import numpy as np

from .bounded_noise import BoundedNoise
from .checks import require_choice, require_int_at_least, require_nonnegative, require_positive
from .escape_stats import first_escape_steps, sample_mean_escape_time

METHODS = ("gd", "perturbed_gd", "sgd")
#: Distance from the saddle at which every trial starts, on its stable manifold.
START_RADIUS = 1.0


@dataclass(frozen=True)
class QuarticSaddle:
    """``f(x) = x_0^4/4 - gamma x_0^2/2 + |x_rest|^2/2``: Hessian eigenvalues ``-gamma`` and 1 at 0
    (Chapter 7); ``gamma`` is ``negative_curvature``."""

    dim: int
    negative_curvature: float = 1.0

    def __post_init__(self):
        require_int_at_least("dim", self.dim, 2)
        require_positive("negative_curvature", self.negative_curvature)

    saddle_value = 0.0

    @property
    def depth(self) -> float:
        """Saddle value minus the minimum value ``-gamma^2/4``."""
        return self.negative_curvature ** 2 / 4

    def value(self, x: np.ndarray) -> np.ndarray:
        """f at points ``x`` of shape (..., dim); returns shape (...)."""
        head, gamma = x[..., 0], self.negative_curvature
        rest = np.einsum("...i,...i->...", x[..., 1:], x[..., 1:])
        return head ** 4 / 4 - gamma * head ** 2 / 2 + rest / 2

    def gradient(self, x: np.ndarray) -> np.ndarray:
        """grad f at points ``x`` of shape (..., dim); returns a new array of the same shape."""
        grad = x.copy()
        grad[..., 0] = x[..., 0] ** 3 - self.negative_curvature * x[..., 0]
        return grad


@dataclass(frozen=True)
class RankOneFactorisation:
    """``f(u) = ||u u^T - e_0 e_0^T||_F^2 / 4``: saddle at 0 (value 1/4), minima ``+-e_0`` (value 0)
    (Chapter 7)."""

    dim: int

    def __post_init__(self):
        require_int_at_least("dim", self.dim, 2)

    saddle_value = 0.25
    depth = 0.25
    negative_curvature = 1.0

    def value(self, u: np.ndarray) -> np.ndarray:
        """f at points ``u`` of shape (..., dim); returns shape (...)."""
        norm2 = np.einsum("...i,...i->...", u, u)
        return (norm2 ** 2 - 2 * u[..., 0] ** 2 + 1) / 4

    def gradient(self, u: np.ndarray) -> np.ndarray:
        """grad f(u) = |u|^2 u - u_0 e_0 at points ``u`` of shape (..., dim); returns a new array
        of the same shape."""
        grad = np.einsum("...i,...i->...", u, u)[..., None] * u
        grad[..., 0] -= u[..., 0]
        return grad


@dataclass(frozen=True)
class SaddleMethod:
    """A first-order method; build it with :func:`gradient_descent`, :func:`perturbed_gradient_descent`
    or :func:`stochastic_gradient_descent` (Chapter 7)."""

    name: str
    step_size: float
    noise_std: float = 0.0            # SGD: total standard deviation of the gradient noise
    perturbation_radius: float = 0.0  # perturbed GD: radius of the uniform ball
    gradient_threshold: float = 0.0   # perturbed GD: perturb only when |grad f| <= this
    perturbation_interval: int = 0    # perturbed GD: at most one perturbation per this many steps

    def __post_init__(self):
        require_choice("name", self.name, METHODS)
        require_positive("step_size", self.step_size)
        require_nonnegative("noise_std", self.noise_std)
        require_nonnegative("perturbation_radius", self.perturbation_radius)
        require_nonnegative("gradient_threshold", self.gradient_threshold)
        require_int_at_least("perturbation_interval", self.perturbation_interval, 0)
        for field in ("noise_std", "perturbation_radius", "gradient_threshold", "perturbation_interval"):
            _require_own_parameter(self.name, field, getattr(self, field), field in _OWN_PARAMETERS[self.name])


#: The parameters each method uses; the others must stay 0, since :func:`_step` ignores them.
_OWN_PARAMETERS = {"gd": (), "sgd": ("noise_std",),
                   "perturbed_gd": ("perturbation_radius", "gradient_threshold", "perturbation_interval")}


def _require_own_parameter(method: str, field: str, value, own: bool) -> None:
    if own and value <= 0:
        raise ValueError(f"{field} must be > 0 for method {method!r}, got {value!r}")
    if not own and value != 0:
        raise ValueError(f"{field} must be 0 for method {method!r}, which does not use it, got {value!r}")


def gradient_descent(step_size: float) -> SaddleMethod:
    """Plain gradient descent ``x <- x - step_size * grad f(x)`` (Chapter 7)."""
    return SaddleMethod("gd", step_size)


def perturbed_gradient_descent(step_size: float, radius: float, gradient_threshold: float,
                               interval: int) -> SaddleMethod:
    """Perturbed GD of Jin et al. (2017) (Chapter 7): when ``|grad f(x)| <= gradient_threshold``
    and no perturbation happened in the last ``interval`` steps, add a point drawn uniformly
    from the ball of radius ``radius``; then take a gradient step. (Their stopping test is
    left out: we want the escape time, not a returned point.)"""
    require_positive("radius", radius)
    require_positive("gradient_threshold", gradient_threshold)
    require_int_at_least("interval", interval, 1)
    return SaddleMethod("perturbed_gd", step_size, perturbation_radius=radius,
                        gradient_threshold=gradient_threshold, perturbation_interval=interval)


def stochastic_gradient_descent(step_size: float, noise_std: float) -> SaddleMethod:
    """SGD ``x <- x - step_size (grad f(x) + xi)``, ``xi ~ N(0, noise_std^2 / d I)`` (Chapter 7).

    The noise's total variance ``E|xi|^2 = noise_std^2`` does not depend on the dimension,
    like the perturbation ball of perturbed GD."""
    require_positive("noise_std", noise_std)
    return SaddleMethod("sgd", step_size, noise_std=noise_std)


def uniform_ball(rng: np.random.Generator, count: int, dim: int, radius: float) -> np.ndarray:
    """``count`` points drawn uniformly from the ball of radius ``radius`` in R^dim (Chapter 7)."""
    require_int_at_least("count", count, 1)
    require_int_at_least("dim", dim, 1)
    require_positive("radius", radius)
    return BoundedNoise("ball", radius, dim).sample((count,), rng)


def stable_manifold_start(dim: int, trials: int, rng: np.random.Generator, radius: float = START_RADIUS) -> np.ndarray:
    """Random points at distance ``radius`` from the saddle with ``x_0 = 0``, that is on its
    stable manifold (Chapter 7)."""
    require_int_at_least("dim", dim, 2)         # the manifold x_0 = 0 needs a second coordinate
    require_int_at_least("trials", trials, 1)
    require_positive("radius", radius)
    start = np.zeros((trials, dim))
    start[:, 1:] = uniform_ball(rng, trials, dim - 1, 1.0)
    start[:, 1:] *= radius / np.linalg.norm(start[:, 1:], axis=1, keepdims=True)
    return start


class SaddleRun(NamedTuple):
    """Escape step of each trial (``inf``: still at the saddle), shape (trials,), and the median of
    f over the trials at each step run, shape (steps run + 1,) (Chapter 7)."""

    times: np.ndarray
    median_values: np.ndarray


def _perturb(x, grad, last, step, method, landscape, rng):
    norms = np.linalg.norm(grad, axis=1)
    due = (norms <= method.gradient_threshold) & (step - last > method.perturbation_interval)
    if due.any():
        x[due] += uniform_ball(rng, int(due.sum()), x.shape[1], method.perturbation_radius)
        grad[due] = landscape.gradient(x[due])
        last[due] = step


def _step(x, step, last, landscape, method, rng):
    grad = landscape.gradient(x)
    if method.name == "perturbed_gd":
        _perturb(x, grad, last, step, method, landscape, rng)
    if method.name == "sgd":
        grad += rng.standard_normal(x.shape) * (method.noise_std / np.sqrt(x.shape[1]))
    x -= method.step_size * grad


def simulate_saddle_escape(landscape, method: SaddleMethod, trials: int, horizon: int, seed: int = 0,
                           start_radius: float = START_RADIUS, stop_when_all_escaped: bool = True) -> SaddleRun:
    """Run ``trials`` copies of ``method`` from the stable manifold of the saddle (Chapter 7).

    A trial escapes at the first step where ``f`` is half the depth below the saddle value,
    ``f(x_t) <= saddle_value - depth / 2``.
    """
    require_int_at_least("trials", trials, 1)
    require_int_at_least("horizon", horizon, 1)
    require_positive("start_radius", start_radius)
    require_int_at_least("seed", seed, 0)
    rng = np.random.default_rng(seed)
    x = stable_manifold_start(landscape.dim, trials, rng, start_radius)
    times, medians = np.full(trials, np.inf), []
    last = np.full(trials, -method.perturbation_interval - 1)
    threshold = landscape.saddle_value - landscape.depth / 2
    for step in range(horizon + 1):
        values = landscape.value(x)
        medians.append(np.median(values))
        first_escape_steps(values <= threshold, times, step)
        if step == horizon or (stop_when_all_escaped and np.isfinite(times).all()):
            break
        _step(x, step, last, landscape, method, rng)
    return SaddleRun(times, np.array(medians))


class DimensionSweep(NamedTuple):
    """Per dimension: mean escape step, its standard error, fraction of trials escaped (Chapter 7),
    and every trial's escape step (``times``, shape (len(dims), trials), inf where it did not escape).

    The other fields have shape (len(dims),); mean and standard error are NaN where a trial did not
    escape. Sweeps with the same seed start trial ``i`` from the same point, so their ``times`` can be
    compared trial by trial.
    """

    dims: np.ndarray
    mean: np.ndarray
    standard_error: np.ndarray
    fraction_escaped: np.ndarray
    times: np.ndarray | None = None


def escape_time_versus_dimension(landscape_class, method: SaddleMethod, dims, trials: int,
                                 horizon: int, seed: int = 0) -> DimensionSweep:
    """Escape times of ``method`` on ``landscape_class(d)`` for each ``d`` in ``dims`` (Chapter 7).

    The mean is NaN where some trial did not escape within ``horizon`` steps.
    """
    dims = np.asarray(dims)
    if dims.ndim != 1 or dims.size == 0:
        raise ValueError(f"dims must be a non-empty 1-D list of dimensions, got {dims!r}")
    for dim in dims:                 # int(dim) below would otherwise run another dimension than reported
        require_int_at_least("dims", dim.item(), 2)
    require_int_at_least("seed", seed, 0)
    rows, times = [], []
    for index, dim in enumerate(dims):
        run = simulate_saddle_escape(landscape_class(int(dim)), method, trials, horizon, seed + index)
        times.append(run.times)
        escaped = np.isfinite(run.times)
        estimate = sample_mean_escape_time(run.times) if escaped.all() else None
        rows.append((estimate.mean if estimate else np.nan, estimate.standard_error if estimate else np.nan,
                     escaped.mean()))
    mean, spread, fraction = map(np.array, zip(*rows))
    return DimensionSweep(dims, mean, spread, fraction, np.array(times))


def predicted_log_dimension_slope(step_size: float, negative_curvature: float = 1.0) -> float:
    """Our derivation (Chapter 7): extra escape steps per unit of ``ln d``, ``1 / (2 ln(1 + eta gamma))``.

    A perturbation of fixed size puts about ``1/sqrt(d)`` of itself on the escape direction,
    which then grows by the factor ``1 + eta gamma`` per step."""
    require_positive("step_size", step_size)
    require_positive("negative_curvature", negative_curvature)
    return 1.0 / (2.0 * np.log1p(step_size * negative_curvature))
