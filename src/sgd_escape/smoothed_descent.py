"""Does ``y_t`` follow gradient descent on the smoothed function? (Chapter 1)

SGD moves ``x_{t+1} = x_t - eta*(f'(x_t) + omega_t)`` with ``omega_t ~ Uniform[-r, r]``. The
paper's analysis sequence ``y_t = x_t - eta*f'(x_t)`` then satisfies, given ``y_t``,

    E[y_{t+1}] = y_t - eta*g'(y_t),   g(y) = E f(y - eta*omega)

(equation (1) averaged over ``omega_t``): ``g`` is ``f`` averaged over the window
``[y - eta*r, y + eta*r]``. That is one step, in expectation. :func:`track_smoothed_descent`
measures the whole trajectory: it runs many SGD trials from one start, computes ``y_t`` of
every trial, and the deterministic path of gradient descent on ``g`` from the same ``y_0``
(:func:`smoothed_descent_path`), so that the trials' mean and spread can be laid against it.
All trials advance together as one array.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .checks import (require_finite, require_finite_array, require_in_interval, require_int_at_least,
                     require_nonnegative, require_positive)
from .sgd import run_sgd


def smoothed_descent_path(f, y0, step_size: float, half_width: float, steps: int) -> np.ndarray:
    """Gradient descent ``y <- y - step_size * g'(y)`` on ``g``, ``f`` averaged over the window of
    half-width ``half_width`` (``eta*r``), from every entry of ``y0`` at once (Chapter 1).

    ``f`` has a vectorised ``convolved_grad(x, half_width)`` (as
    :class:`sgd_escape.landscapes.SpikyFunction`). Returns the path, shape
    ``(steps + 1,) + shape of y0``, the start included; with ``half_width = 0`` it is GD on ``f``.
    """
    step_size = require_positive("step_size", step_size)
    half_width = require_nonnegative("half_width", half_width)
    steps = require_int_at_least("steps", steps, 1)
    y = require_finite_array("y0", y0).copy()
    path = np.empty((steps + 1,) + y.shape)
    path[0] = y
    for t in range(steps):
        y = y - step_size * f.convolved_grad(y, half_width)
        path[t + 1] = y
    return path


def _band_limits(low, high) -> tuple[float, float]:
    low = require_in_interval("low", low, 0.0, 1.0)
    high = require_in_interval("high", high, low, 1.0)
    return low, high


@dataclass(frozen=True)
class SmoothedTracking:
    """``y_t`` of every SGD trial, shape ``(steps + 1, trials)``, and gradient descent on the
    smoothed ``g`` from the same ``y_0``, shape ``(steps + 1,)`` (Chapter 1).

    Made by :func:`track_smoothed_descent`; ``step_size`` and ``noise`` are ``eta`` and ``r``.
    """

    y: np.ndarray
    descent: np.ndarray
    step_size: float
    noise: float

    @property
    def half_width(self) -> float:
        """``eta*r``: the half-width of the window that ``g`` averages ``f`` over, and the longest
        noise kick ``eta*omega`` of one step."""
        return self.step_size * self.noise

    @property
    def mean(self) -> np.ndarray:
        """The trials' mean ``y_t`` at every step, shape ``(steps + 1,)``."""
        return self.y.mean(axis=1)

    def band(self, low: float = 0.05, high: float = 0.95) -> np.ndarray:
        """The ``low`` and ``high`` quantiles of the trials' ``y_t`` at every step, shape
        ``(2, steps + 1)`` (``0 < low < high < 1``)."""
        low, high = _band_limits(low, high)
        return np.quantile(self.y, [low, high], axis=1)

    def gap(self) -> np.ndarray:
        """``|mean y_t - descent_t|`` at every step, in the units of ``x``."""
        return np.abs(self.mean - self.descent)

    def scaled_gap(self) -> np.ndarray:
        """:meth:`gap` in units of the noise's step scale ``eta*r`` (refused when ``r = 0``)."""
        if self.half_width == 0:
            raise ValueError("noise must be > 0 to measure the gap in units of eta*r, got 0.0")
        return self.gap() / self.half_width

    def inside_band(self, low: float = 0.05, high: float = 0.95) -> np.ndarray:
        """At every step, whether gradient descent on ``g`` lies inside the trials' quantile
        :meth:`band`; a boolean array of shape ``(steps + 1,)``."""
        lower, upper = self.band(low, high)
        return (lower <= self.descent) & (self.descent <= upper)

    def parting_step(self, low: float = 0.05, high: float = 0.95):
        """The step from which on gradient descent on ``g`` stays outside the trials' quantile
        :meth:`band` to the end of the run (an int), or ``None`` if it ends inside it."""
        inside = self.inside_band(low, high)
        if inside[-1]:
            return None
        return int(np.flatnonzero(inside)[-1]) + 1 if inside.any() else 0


def track_smoothed_descent(f, x0: float, step_size: float, noise: float, steps: int,
                           trials: int = 1000, rng=None) -> SmoothedTracking:
    """Run ``trials`` SGD trials from the point ``x0`` with uniform noise of radius ``noise``,
    and gradient descent on the smoothed ``g`` from their common ``y_0`` (Chapter 1).

    ``f`` is one-dimensional with vectorised ``grad`` and ``convolved_grad`` (as
    :class:`sgd_escape.landscapes.SpikyFunction`). Every trial's ``y_t = x_t - eta*f'(x_t)`` is
    kept for ``t = 0, ..., steps``. Returns a :class:`SmoothedTracking`.
    """
    x0 = require_finite("x0", x0)
    step_size = require_positive("step_size", step_size)
    noise = require_nonnegative("noise", noise)
    steps = require_int_at_least("steps", steps, 1)
    trials = require_int_at_least("trials", trials, 1)
    _, x = run_sgd(f.grad, np.full(trials, x0), step_size, noise, steps, rng, record_every=1)
    y = x - step_size * f.grad(x)
    descent = smoothed_descent_path(f, y[0, 0], step_size, step_size * noise, steps)
    return SmoothedTracking(y, descent, step_size, noise)


def same_basin_share(f, points, reference: float, half_width: float, low: float, high: float) -> float:
    """The share of ``points`` in the basin of ``g`` that holds ``reference`` (Chapter 1).

    ``g`` is ``f`` averaged over the window of half-width ``half_width``; its basins are the
    intervals between neighbouring local maxima of ``g`` on ``[low, high]``
    (``f.local_maxima``, as for :class:`sgd_escape.landscapes.SpikyFunction`).
    """
    points = require_finite_array("points", points)
    if points.size == 0:
        raise ValueError("points must hold at least one point, got an empty array")
    reference = require_finite("reference", reference)
    half_width = require_nonnegative("half_width", half_width)
    maxima = f.local_maxima(low, high, half_width)
    return float(np.mean(np.searchsorted(maxima, points) == np.searchsorted(maxima, reference)))


def plot_tracking(runs: dict, low: float = 0.05, high: float = 0.95):
    """One panel per :class:`SmoothedTracking` of ``runs`` (``{title: run}``), side by side
    (Chapter 1): the trials' quantile band of ``y_t`` from ``low`` to ``high``, their mean, and
    gradient descent on ``g`` from the same ``y_0``, against the step ``t``. Returns the figure."""
    import matplotlib.pyplot as plt

    from .plotting import COLORS

    if not runs:
        raise ValueError("runs must hold at least one SmoothedTracking, got none")
    low, high = _band_limits(low, high)
    fig, axes = plt.subplots(1, len(runs), figsize=(7.0, 3.3), sharey=True, squeeze=False,
                             layout="constrained")
    for ax, (title, run) in zip(axes[0], runs.items()):
        steps = np.arange(len(run.descent))
        lower, upper = run.band(low, high)
        ax.fill_between(steps, lower, upper, color=COLORS["iterate"], alpha=0.2, lw=0,
                        label=f"trials' $y_t$, {low:.0%} to {high:.0%} quantiles")
        ax.plot(steps, run.mean, color=COLORS["iterate"], lw=1.8, label="trials' mean of $y_t$")
        ax.plot(steps, run.descent, color=COLORS["convolved"], lw=1.8, ls="--",
                label="GD on $g$ from the same $y_0$")
        ax.set(title=title, xlabel="step $t$")
    axes[0, 0].set_ylabel("$y$")
    handles, labels = axes[0, 0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="outside upper center", ncol=2, fontsize=9)
    return fig
