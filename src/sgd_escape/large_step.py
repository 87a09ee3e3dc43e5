"""Theorem 3 and Figure 4: too large a step moves GD away from x*, even on a one-point convex f (Chapter 2).

The test function is a "flower" in the plane, f(x) = ||x||^2 (1 + a sin(4 theta)) with
theta the angle of x and x* = 0. It is not convex for a > 1/7, yet
<grad f(x), x> = 2 ||x||^2 (1 + a sin(4 theta)), so it is one-point strongly convex with
respect to 0 with constant 2(1 - a), and satisfies Theorem 3's upper bound with c' = 2(1 + a).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from sgd_escape import checks


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
    path = [np.asarray(x0, dtype=float)]
    for _ in range(steps):
        path.append(path[-1] - eta * grad(path[-1]))
    return np.stack(path)
