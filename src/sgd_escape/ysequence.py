"""The sequence y_t = x_t - eta grad f(x_t) of SGD, equation (1), for many trials at once (Chapter 2).

SGD with noisy gradients grad f(x_t) + omega_t moves x_{t+1} = y_t - eta omega_t, so

    y_{t+1} = y_t - eta omega_t - eta grad f(y_t - eta omega_t).       (1)

All trials advance together as one array of shape (trials, d).
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from sgd_escape import checks
from sgd_escape.bounded_noise import BoundedNoise


@dataclass
class YRun:
    """Squared distances ||y_t - x*||^2, shape (steps + 1, trials), requested snapshots of y_t,
    and the last SGD iterate x_T (with y_T = x_T - eta grad f(x_T)), shape (trials, d) (Chapter 2)."""

    sq_dist: np.ndarray
    snapshots: dict = field(default_factory=dict)
    final_x: np.ndarray | None = None

    def window_max(self, start: int, stop: int) -> np.ndarray:
        """max_{start <= t <= stop} ||y_t - x*||^2 for each trial (0 <= start <= stop <= steps)."""
        start = checks.require_int_at_least("start", start, 0)
        stop = checks.require_int_at_least("stop", stop, start)
        if stop >= len(self.sq_dist):          # slicing would clip the window silently
            raise ValueError(f"stop must be <= steps = {len(self.sq_dist) - 1}, got {stop}")
        return self.sq_dist[start:stop + 1].max(axis=0)


def y_of_x(grad, x, eta: float) -> np.ndarray:
    """The point y = x - eta grad f(x) that belongs to the SGD iterate x (Chapter 2)."""
    return x - eta * grad(x)


def _snapshot_set(snapshot_times, steps: int) -> set:
    times = np.asarray(list(snapshot_times))
    if times.size and (times.ndim != 1 or not np.all(times == np.round(times))
                       or times.min() < 0 or times.max() > steps):
        raise ValueError(f"snapshot_times must be integers in [0, steps] = [0, {steps}], "
                         f"got {list(snapshot_times)}")
    return set(int(t) for t in times)


def simulate_y(grad, y0, eta: float, noise: BoundedNoise, steps: int, rng: np.random.Generator,
               x_star=0.0, snapshot_times=()) -> YRun:
    """Run equation (1) from ``y0`` (shape (trials, d)) for ``steps`` steps (Chapter 2).

    ``snapshot_times`` (each in 0..steps) are the times t at which y_t itself is kept.
    """
    eta = checks.require_positive("eta", eta)
    steps = checks.require_int_at_least("steps", steps, 1)
    y = np.array(y0, dtype=float)
    if y.ndim != 2 or y.shape[1] != noise.d:
        raise ValueError(f"y0 must have shape (trials, {noise.d}), got {y.shape}")
    checks.require_finite_array("y0", y)
    checks.require_point("x_star", x_star, noise.d)
    wanted = _snapshot_set(snapshot_times, steps)
    sq_dist = np.empty((steps + 1, y.shape[0]))
    run = YRun(sq_dist)
    for t in range(steps + 1):
        sq_dist[t] = np.sum((y - x_star) ** 2, axis=1)
        if t in wanted:
            run.snapshots[t] = y.copy()
        if t < steps:
            run.final_x = y - eta * noise.sample((y.shape[0],), rng)     # x_{t+1}
            y = y_of_x(grad, run.final_x, eta)
    return run


def starting_points(trials: int, d: int, sq_distance: float, rng: np.random.Generator) -> np.ndarray:
    """``trials`` points in R^d at squared distance ``sq_distance`` from 0 (Chapter 2).

    Their directions are uniformly random.
    """
    trials = checks.require_int_at_least("trials", trials, 1)
    d = checks.require_int_at_least("d", d, 1)
    sq_distance = checks.require_positive("sq_distance", sq_distance)
    direction = rng.standard_normal((trials, d))
    return np.sqrt(sq_distance) * direction / np.linalg.norm(direction, axis=1, keepdims=True)
