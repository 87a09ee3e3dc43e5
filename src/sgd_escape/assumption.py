"""Estimating the constant c of Assumption 1 by Monte Carlo, with error bars (Chapter 2).

At a point y the assumption asks <-grad E_omega f(y - eta omega), x* - y> >= c ||x* - y||^2.
Exchanging gradient and expectation, the ratio

    c(y) = E_omega <-grad f(y - eta omega), x* - y> / ||x* - y||^2

is an average over omega, estimated from antithetic draws (each omega with -omega) together
with its standard error. The largest c for which (2) holds over a set of points is min_y c(y).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from sgd_escape import checks
from sgd_escape.bounded_noise import BoundedNoise


@dataclass(frozen=True)
class OnePointEstimate:
    """Per-point estimates ``c_hat`` of c(y) and their standard errors (Chapter 2)."""

    points: np.ndarray
    c_hat: np.ndarray
    stderr: np.ndarray

    @property
    def worst(self) -> int:
        """Index of the point with the smallest estimate."""
        return int(np.argmin(self.c_hat))

    @property
    def c(self) -> float:
        """The largest c for which (2) holds at every point: min_y c(y), estimated."""
        return float(self.c_hat[self.worst])

    @property
    def c_stderr(self) -> float:
        """Standard error of :attr:`c`: that of the estimate at the worst point."""
        return float(self.stderr[self.worst])

    def holds(self, z: float = 3.0) -> bool:
        """True when (2) holds with some c > 0 at every point: min(c_hat - z stderr) > 0."""
        return bool(np.min(self.c_hat - z * self.stderr) > 0)


def vector_grad(grad_1d):
    """Wrap a one-dimensional ``grad(x)`` (any array shape) as a gradient on arrays (..., 1) (Chapter 2).

    Returns a function that maps points of shape (..., 1) to gradients of the same shape, as
    :func:`estimate_one_point_constant` expects for d = 1.
    """
    return lambda z: np.asarray(grad_1d(z[..., 0]))[..., None]


def estimate_one_point_constant(grad, points, eta: float, noise: BoundedNoise, rng: np.random.Generator,
                                draws: int = 4000, x_star=0.0, batch: int = 64) -> OnePointEstimate:
    """Estimate c(y) at every row of ``points`` (shape (p, d)) from ``draws`` antithetic noise draws (Chapter 2).

    ``x_star`` is a scalar or a vector of length d; ``batch`` points are processed at a time.
    Returns an :class:`OnePointEstimate` holding ``points`` and, per point, ``c_hat`` and its
    standard error ``stderr`` (both shape (p,)).
    """
    eta = checks.require_positive("eta", eta)
    draws = checks.require_int_at_least("draws", draws, 2)
    batch = checks.require_int_at_least("batch", batch, 1)
    if draws % 2:
        raise ValueError(f"draws must be even (antithetic pairs), got {draws}")
    points = checks.require_finite_array("points", points)
    if points.ndim != 2 or points.shape[0] == 0 or points.shape[1] != noise.d:
        raise ValueError(f"points must have shape (p, {noise.d}) with p >= 1, got {points.shape}")
    x_star = checks.require_point("x_star", x_star, noise.d)
    to_target = x_star - points
    sq_norm = np.sum(to_target**2, axis=1)
    if np.any(sq_norm == 0):
        raise ValueError("points must differ from x_star (c(y) is a ratio with ||x* - y||^2 below)")
    c_hat, stderr = np.empty(len(points)), np.empty(len(points))
    for start in range(0, len(points), batch):
        rows = slice(start, start + batch)
        omega = noise.sample((draws, points[rows].shape[0]), rng, antithetic=True)
        inner = np.sum(-grad(points[rows] - eta * omega) * to_target[rows], axis=-1) / sq_norm[rows]
        pairs = (inner[: draws // 2] + inner[draws // 2:]) / 2
        c_hat[rows] = pairs.mean(axis=0)
        stderr[rows] = pairs.std(axis=0, ddof=1) / np.sqrt(draws // 2)
    return OnePointEstimate(points, c_hat, stderr)


def _hoeffding_margin_per_sample(low, high, confidence: float):
    """``(high - low) sqrt(ln(1 / (1 - confidence)) / 2)``, checked: Lemma 6's deviation times sqrt(n)."""
    confidence = checks.require_in_interval("confidence", confidence, 0.0, 1.0)
    low, high = checks.require_finite_array("low", low), checks.require_finite_array("high", high)
    if np.any(high < low):
        raise ValueError("high must be >= low everywhere (the range of the samples)")
    return (high - low) * np.sqrt(np.log(1.0 / (1.0 - confidence)) / 2.0)


def hoeffding_lower_bound(mean, low, high, samples: int, confidence: float = 0.95):
    """Lemma 6 turned around (Chapter 4; the lemma is in Chapter 3): a value that the expectation
    exceeds with probability at least ``confidence``, given the ``mean`` of ``samples`` i.i.d. draws
    that lie in ``[low, high]``, namely ``mean - (high - low) sqrt(ln(1 / (1 - confidence)) / (2 samples))``.
    Element-wise over arrays of the same shape."""
    samples = checks.require_int_at_least("samples", samples, 1)
    margin = _hoeffding_margin_per_sample(low, high, confidence)
    return checks.require_finite_array("mean", mean) - margin / np.sqrt(samples)


def hoeffding_samples_needed(mean, low, high, confidence: float = 0.95):
    """The fewest i.i.d. samples in ``[low, high]`` whose ``mean`` would make
    :func:`hoeffding_lower_bound` positive (Chapter 4): ``inf`` where the mean is not positive.
    Element-wise over arrays of the same shape."""
    margin = _hoeffding_margin_per_sample(low, high, confidence)
    mean = checks.require_finite_array("mean", mean)
    with np.errstate(divide="ignore"):
        needed = np.floor((margin / np.where(mean > 0, mean, np.nan)) ** 2) + 1   # strictly positive bound
    return np.where(mean > 0, needed, np.inf)
