"""Theorem 3 and Figure 4: too large a step moves GD away from x*, even on a one-point convex f (Chapter 2).

The test function is a "flower" in the plane, f(x) = ||x||^2 (1 + a sin(4 theta)) with
theta the angle of x and x* = 0. It is not convex for a > 1/7, yet
<grad f(x), x> = 2 ||x||^2 (1 + a sin(4 theta)), so it is one-point strongly convex with
respect to 0 with constant 2(1 - a), and satisfies Theorem 3's upper bound with c' = 2(1 + a).

The paper adds that SGD is similar, assuming that in high dimension most of the noise is
orthogonal to x_t - x*: :func:`~sgd_escape.theory.noisy_large_step_threshold`, :func:`fraction_moving_away` and
:func:`radial_noise_share` compute that remark.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from sgd_escape import checks
from sgd_escape.bounded_noise import BoundedNoise


@dataclass(frozen=True)
class Flower:
    """f(x) = ||x||^2 (1 + a sin(4 theta)) on R^2, minimiser x* = 0 (Chapter 2, Theorem 3)."""

    a: float = 0.3

    def __post_init__(self):
        object.__setattr__(self, "a", checks.require_in_interval("a", self.a, 0.0, 1.0))

    @property
    def c_lower(self) -> float:
        """One-point strong convexity: <grad f(x), x> >= 2(1 - a) ||x||^2."""
        return 2 * (1 - self.a)

    @property
    def c_upper(self) -> float:
        """Theorem 3's c': <grad f(x), x> <= 2(1 + a) ||x||^2."""
        return 2 * (1 + self.a)

    def value(self, x) -> np.ndarray:
        """f(x) at points ``x`` of shape (..., 2); returns shape (...)."""
        x = np.asarray(x, dtype=float)
        theta = np.arctan2(x[..., 1], x[..., 0])
        return np.sum(x**2, axis=-1) * (1 + self.a * np.sin(4 * theta))

    def grad(self, x) -> np.ndarray:
        """grad f = 2 rho (1 + a sin 4theta) e_rho + 4 a rho cos(4 theta) e_theta."""
        x = np.asarray(x, dtype=float)
        theta = np.arctan2(x[..., 1], x[..., 0])
        radial = 2 * (1 + self.a * np.sin(4 * theta))
        angular = 4 * self.a * np.cos(4 * theta)
        e_perp = np.stack([-x[..., 1], x[..., 0]], axis=-1)  # rho * e_theta
        return radial[..., None] * x + angular[..., None] * e_perp

    def smallest_hessian_eigenvalue(self, angles: int = 3600) -> float:
        """min over directions of the Hessian's smaller eigenvalue (< 0: f is not convex).

        The Hessian is constant along rays (f is 2-homogeneous); computed by central differences.
        """
        angles = checks.require_int_at_least("angles", angles, 1)
        theta = np.linspace(0, 2 * np.pi, angles, endpoint=False)
        x = np.stack([np.cos(theta), np.sin(theta)], axis=-1)
        h = 1e-5
        columns = [(self.grad(x + h * e) - self.grad(x - h * e)) / (2 * h) for e in np.eye(2)]
        hessian = np.stack(columns, axis=-1)
        hessian = (hessian + np.swapaxes(hessian, -1, -2)) / 2
        return float(np.linalg.eigvalsh(hessian)[:, 0].min())


def gd_path(grad, x0, eta: float, steps: int) -> np.ndarray:
    """Full gradient descent x_{t+1} = x_t - eta grad f(x_t) (Chapter 2, Theorem 3).

    Returns the iterates x_0, ..., x_steps stacked: shape (steps + 1, *x0.shape).
    """
    eta = checks.require_positive("eta", eta)
    steps = checks.require_int_at_least("steps", steps, 1)
    path = [checks.require_finite_array("x0", x0)]
    for _ in range(steps):
        path.append(path[-1] - eta * grad(path[-1]))
    return np.stack(path)


def _one_step_inputs(grad, x, x_star, etas, noise: BoundedNoise):
    grad, x = np.asarray(grad, dtype=float), np.asarray(x, dtype=float)
    for name, value in (("grad", grad), ("x", x)):
        if value.shape != (noise.d,):
            raise ValueError(f"{name} must have shape ({noise.d},), the noise's dimension, got {value.shape}")
        checks.require_finite_array(name, value)     # NaN compares False: no draw would count as away
    diff = x - checks.require_point("x_star", x_star, noise.d)
    etas = np.asarray(etas, dtype=float)
    if etas.ndim != 1 or etas.size == 0 or not np.all(np.isfinite(etas) & (etas > 0)):
        raise ValueError(f"etas must be a non-empty 1-d array of finite step sizes > 0, got {etas!r}")
    return grad, diff, etas


def fraction_moving_away(grad, x, x_star, etas, noise: BoundedNoise, draws: int,
                         rng: np.random.Generator) -> np.ndarray:
    """For each step size in ``etas``, the fraction of ``draws`` noise draws omega for which one SGD
    step x - eta (grad f(x) + omega) lands farther from x* than x (Chapter 2, Theorem 3 with noise).

    ``grad`` = grad f(x) and ``x`` have shape (d,) with d = ``noise.d``. The step moves away exactly
    when eta ||grad + omega||^2 > 2 <grad + omega, x - x*>, so all step sizes share the draws;
    returns shape (len(etas),).
    """
    grad, diff, etas = _one_step_inputs(grad, x, x_star, etas, noise)
    draws = checks.require_int_at_least("draws", draws, 1)
    kicked = grad + noise.sample((draws,), rng)                     # grad f(x) + omega, per draw
    along, size = kicked @ diff, np.sum(kicked**2, axis=-1)
    return np.mean(etas[:, None] * size[None, :] > 2 * along[None, :], axis=1)


def radial_noise_share(noise: BoundedNoise, direction, draws: int, rng: np.random.Generator) -> float:
    """Mean of <omega, u>^2 / ||omega||^2 with u the unit vector along ``direction`` (Chapter 2): the
    share of the noise's squared norm that points along x_t - x*. It is 1/d for noise whose direction
    is uniform, such as both kinds of :class:`~sgd_escape.bounded_noise.BoundedNoise`."""
    u = np.asarray(direction, dtype=float)
    if u.shape != (noise.d,) or not np.linalg.norm(u) > 0:
        raise ValueError(f"direction must be a non-zero vector of shape ({noise.d},), got {u!r}")
    draws = checks.require_int_at_least("draws", draws, 1)
    omega = noise.sample((draws,), rng)
    return float(np.mean((omega @ u) ** 2 / np.sum(omega**2, axis=-1)) / np.dot(u, u))
