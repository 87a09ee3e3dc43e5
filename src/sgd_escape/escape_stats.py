"""Escape times and the straight-line fits that Chapter 7 reads them with.

An escape experiment runs many trials for at most ``horizon`` steps and records, per trial,
the first step at which it escaped, or ``inf`` when it had not escaped by the horizon
(a right-censored observation). This module turns such arrays into estimates with standard
errors, and fits lines with an uncertainty on the slope.
"""
from __future__ import annotations

from typing import NamedTuple

import numpy as np

from .checks import require_positive


class MeanEscapeTime(NamedTuple):
    """An estimated mean escape time (in steps), its standard error and the counts behind it:
    trials escaped and trials censored at the horizon (Chapter 7)."""

    mean: float
    standard_error: float
    escaped: int
    censored: int


class LineFit(NamedTuple):
    """Least-squares line ``y = slope * x + intercept`` with standard errors (Chapter 7)."""

    slope: float
    intercept: float
    slope_se: float
    intercept_se: float


def _escape_times_array(times) -> np.ndarray:
    times = np.asarray(times, dtype=float)
    if times.ndim != 1 or times.size == 0:
        raise ValueError(f"times must be a non-empty 1-D array, got shape {times.shape}")
    if np.isnan(times).any() or (times < 0).any():
        raise ValueError("times must hold escape steps >= 0 or inf (not escaped), got NaN or < 0")
    return times


def censored_mean_escape_time(times, horizon) -> MeanEscapeTime:
    """Maximum-likelihood mean of escape times that are exponentially distributed (Chapter 7).

    ``times`` holds each trial's escape step, ``inf`` for a trial still trapped at step
    ``horizon``. For memoryless escape (a constant escape probability per unit time) the
    maximum-likelihood mean is the total time observed, escaped or not, divided by the
    number of escapes; its standard error is ``mean / sqrt(escapes)``. With no censored
    trial the estimate is the ordinary sample mean.
    """
    times = _escape_times_array(times)
    horizon = require_positive("horizon", horizon)
    if (times[np.isfinite(times)] > horizon).any():
        raise ValueError(f"times must be <= horizon ({horizon}) or inf")
    escaped = int(np.isfinite(times).sum())
    if escaped == 0:
        raise ValueError("times must contain at least one escape (all trials are censored)")
    total = float(np.minimum(times, horizon).sum())
    mean = total / escaped
    return MeanEscapeTime(mean, float(mean / np.sqrt(escaped)), escaped, times.size - escaped)


def censored_means(times_per_level, horizon) -> tuple[np.ndarray, np.ndarray, int]:
    """:func:`censored_mean_escape_time` of each row of ``times_per_level`` (one row per noise
    level or basin, Chapter 7): the means and standard errors, each of shape (rows,), and the
    number of censored trials over all rows."""
    estimates = [censored_mean_escape_time(row, horizon) for row in times_per_level]
    if not estimates:
        raise ValueError("times_per_level must hold at least one row of escape times")
    return (np.array([e.mean for e in estimates]), np.array([e.standard_error for e in estimates]),
            sum(e.censored for e in estimates))


def sample_mean_escape_time(times) -> MeanEscapeTime:
    """Sample mean and standard error of escape times, all trials escaped (Chapter 7).

    Unlike :func:`censored_mean_escape_time` this assumes nothing about the distribution
    (escape from a saddle takes an almost fixed time, far from exponential), so it refuses
    censored trials. With a single trial the standard error is unknown: NaN, not 0.
    """
    times = _escape_times_array(times)
    if not np.isfinite(times).all():
        raise ValueError("times must all be finite: some trials did not escape (censored)")
    spread = times.std(ddof=1) / np.sqrt(times.size) if times.size > 1 else float("nan")
    return MeanEscapeTime(float(times.mean()), float(spread), times.size, 0)


def fit_line(x, y, y_err=None) -> LineFit:
    """Weighted least-squares line through ``(x, y)`` (Chapter 7).

    ``y_err`` (optional) are the standard errors of ``y``; they weight the points, and the
    coefficients' standard errors follow from them. When the line misses its points by more
    than their error bars (reduced chi-square above 1), those standard errors are widened by
    ``sqrt(chi2_red)``; a fit better than its error bars keeps them as they are, never
    narrower. Without ``y_err`` the points' errors are estimated from the residual scatter
    (ordinary least squares).
    """
    x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    if x.ndim != 1 or x.shape != y.shape:
        raise ValueError(f"x and y must be 1-D arrays of the same shape, got {x.shape} and {y.shape}")
    if x.size < 3:
        raise ValueError(f"x must hold at least 3 points for a slope with an error, got {x.size}")
    if not (np.isfinite(x).all() and np.isfinite(y).all()):
        raise ValueError("x and y must be finite")
    if np.all(x == x[0]):        # a vertical line: no slope, and a singular normal matrix
        raise ValueError(f"x must hold at least 2 distinct values, got all {x[0]!r}")
    weights = np.ones_like(y)
    if y_err is not None:
        y_err = np.asarray(y_err, dtype=float)
        if y_err.shape != y.shape or not (np.isfinite(y_err).all() and (y_err > 0).all()):
            raise ValueError("y_err must be finite, > 0 and shaped like y")
        weights = 1.0 / y_err
    design = np.column_stack([x, np.ones_like(x)]) * weights[:, None]
    coefficients, *_ = np.linalg.lstsq(design, y * weights, rcond=None)
    residuals = y * weights - design @ coefficients
    scatter = float(residuals @ residuals) / (x.size - 2)    # reduced chi-square when weighted
    if y_err is not None:
        scatter = max(1.0, scatter)
    covariance = np.linalg.inv(design.T @ design) * scatter
    slope_se, intercept_se = np.sqrt(np.diag(covariance))
    return LineFit(float(coefficients[0]), float(coefficients[1]), float(slope_se), float(intercept_se))


def first_escape_steps(escaped_now: np.ndarray, times: np.ndarray, step: int) -> None:
    """Record ``step`` in ``times`` for trials that escape at this step for the first time (Chapter 7).

    Helper for the simulators: ``times`` holds ``inf`` for trials not yet escaped.
    """
    newly = escaped_now & ~np.isfinite(times)
    times[newly] = step
