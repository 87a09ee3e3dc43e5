"""A separable spiky quadratic in d dimensions whose noise convolution is known exactly (Chapter 2).

Each coordinate contributes h(u) = a u^2 / 2 + (beta / k^2) (1 - cos(k u)), so that

    grad f(x) = a x + (beta / k) sin(k x),    L = a + beta,    x* = 0 (the global minimum).

When beta > a, h is not convex (h'' = a + beta cos(k u) < 0 somewhere), but that is not enough
for spurious minima: the critical points solve sin(v)/v = -a/beta with v = k u, which has roots
v != 0 only if a/beta <= |min sinc|. So each coordinate has spurious local minima exactly when
beta > a / |min sinc|, about 4.6 a (``SPURIOUS_MINIMA_RATIO``), and then f has exponentially
many in d; only for beta >> a are they about 2 pi / k apart. Convolving with symmetric noise
eta * omega multiplies the cosine by phi = E cos(k eta omega_1), the coordinate characteristic
function, so

    grad g(y) = a y + (beta phi / k) sin(k y),

and Assumption 1 holds over all of R^d with c = a + beta phi m, where m = 1 if phi < 0 and
m = min_v sin(v)/v (about -0.217) otherwise.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import optimize

from sgd_escape import checks
from sgd_escape.bounded_noise import BoundedNoise

#: min_v sin(v)/v, reached at the first positive root of tan(v) = v.
SINC_MIN = float(np.sin(v := optimize.brentq(lambda v: np.tan(v) - v, 4.0, 4.6)) / v)
#: beta / a above which each coordinate has spurious local minima: a / beta must reach |min sinc|.
SPURIOUS_MINIMA_RATIO = -1.0 / SINC_MIN


@dataclass(frozen=True)
class SpikyQuadratic:
    """f(x) = sum_i a x_i^2 / 2 + (beta / k^2)(1 - cos(k x_i)), minimiser x* = 0 (Chapter 2)."""

    a: float
    beta: float
    k: float

    def __post_init__(self):
        object.__setattr__(self, "a", checks.require_positive("a", self.a))
        object.__setattr__(self, "beta", checks.require_nonnegative("beta", self.beta))
        object.__setattr__(self, "k", checks.require_positive("k", self.k))

    @property
    def L(self) -> float:
        """Smoothness of f: the largest |h''(u)| = a + beta."""
        return self.a + self.beta

    def value(self, x) -> np.ndarray:
        """f at points ``x`` of shape (..., d); returns shape (...)."""
        x = np.asarray(x, dtype=float)
        return np.sum(self.a * x**2 / 2 + self.beta / self.k**2 * (1 - np.cos(self.k * x)), axis=-1)

    def grad(self, x) -> np.ndarray:
        """grad f(x) = a x + (beta / k) sin(k x), coordinatewise: the shape of ``x``."""
        x = np.asarray(x, dtype=float)
        return self.a * x + self.beta / self.k * np.sin(self.k * x)

    def smoothing_factor(self, noise: BoundedNoise, eta: float) -> float:
        """phi = E cos(k eta omega_1): how much of the spikes survives the convolution."""
        eta = checks.require_positive("eta", eta)
        return float(noise.coordinate_characteristic(self.k * eta * noise.r))

    def convolved_value(self, y, noise: BoundedNoise, eta: float) -> np.ndarray:
        """g(y) = E f(y - eta omega), exactly: the cosines shrink by phi, and the quadratic gains
        the constant a eta^2 E||omega||^2 / 2. ``y`` of shape (..., d); returns shape (...)."""
        phi = self.smoothing_factor(noise, eta)
        y = np.asarray(y, dtype=float)
        spikes = self.beta / self.k**2 * (1 - phi * np.cos(self.k * y))
        return np.sum(self.a * y**2 / 2 + spikes, axis=-1) + self.a * eta**2 * noise.mean_sq_norm / 2

    def convolved_grad(self, y, noise: BoundedNoise, eta: float) -> np.ndarray:
        """grad g(y) for g(y) = E f(y - eta omega), exactly."""
        phi = self.smoothing_factor(noise, eta)
        y = np.asarray(y, dtype=float)
        return self.a * y + self.beta * phi / self.k * np.sin(self.k * y)

    def one_point_constant(self, noise: BoundedNoise, eta: float) -> float:
        """The largest c for which Assumption 1 holds over all of R^d (may be <= 0: it fails)."""
        return float(self._constant(self.smoothing_factor(noise, eta)))

    def _constant(self, phi):
        return self.a + self.beta * phi * np.where(phi < 0, 1.0, SINC_MIN)

    def smallest_step_size(self, noise: BoundedNoise, c: float, eta_max: float, points: int = 100_001) -> float:
        """The smallest step size in (0, eta_max] at which Assumption 1 holds with a constant of at
        least ``c``, on a grid of ``points`` step sizes spaced eta_max / points (Chapter 2: at a fixed
        noise the step size cannot be arbitrarily small). NaN if no step size of the grid reaches ``c``."""
        checks.require_positive("c", c)
        checks.require_positive("eta_max", eta_max)
        checks.require_int_at_least("points", points, 2)
        etas = np.linspace(eta_max / points, eta_max, points)
        reached = self._constant(noise.coordinate_characteristic(self.k * etas * noise.r)) >= c
        return float(etas[reached.argmax()]) if reached.any() else float("nan")

    def local_minima_per_coordinate(self, half_width: float | None = None) -> int:
        """Number of local minima of h, counted on a fine grid of [-w, w] (Chapter 2).

        All of them lie in |u| <= beta/(a k); the default ``half_width`` covers that interval.
        """
        if half_width is None:
            w = 1.5 * max(self.beta / (self.a * self.k), 1.0 / self.k)
        else:
            w = checks.require_positive("half_width", half_width)
        u = np.linspace(-w, w, 400_001)
        slope = self.a * u + self.beta / self.k * np.sin(self.k * u)
        return int(np.count_nonzero((slope[:-1] < 0) & (slope[1:] >= 0)))

    @classmethod
    def with_constants(cls, c: float, L: float, k: float, noise: BoundedNoise, eta: float) -> "SpikyQuadratic":
        """The member of the family with one-point constant ``c`` and smoothness ``L`` (Chapter 2 explorer).

        Solves a + beta = L, a + beta phi m = c; needs 0 < c <= L (this noise does not depend on x)
        and a resulting a > 0.
        """
        c, L = checks.require_positive("c", c), checks.require_positive("L", L)
        eta = checks.require_positive("eta", eta)     # NaN would give phi = 1: the family without noise
        if c > L:
            raise ValueError(f"c must be <= L (noise that does not depend on x cannot give an L-smooth f "
                             f"a larger c), got c = {c:.6g} > L = {L:.6g}")
        phi = float(noise.coordinate_characteristic(k * eta * noise.r))
        m = 1.0 if phi < 0 else SINC_MIN
        beta = (L - c) / (1 - phi * m)
        if L - beta <= 0:
            raise ValueError(f"no member of the family has c = {c:.6g}, L = {L:.6g} at this noise "
                             f"(spike survival phi = {phi:.3g}); raise c or the noise")
        return cls(a=L - beta, beta=beta, k=k)
