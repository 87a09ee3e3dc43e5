"""Vectorised (S)GD with uniform gradient noise, all trials at once (introduced in Chapter 1).

One step is ``x <- x - eta * (grad(x) + omega)`` with ``omega ~ Uniform[-r, r]``
independently per trial and coordinate. Trials are the leading axis of an array; each trial
may have its own step size ``eta`` and noise radius ``r``, so that every panel of a figure
runs in one pass. In ``d > 1`` dimensions the noise is uniform in a cube, so its norm can reach
``r * sqrt(d)``: it is not the bounded-norm noise of Theorem 1, for which Chapters 2-3 use
:mod:`sgd_escape.bounded_noise`.
"""
from __future__ import annotations

from typing import Callable

import numpy as np

from .checks import require_finite_array, require_int_at_least


def _per_trial(name: str, value, shape: tuple, minimum_exclusive: bool) -> np.ndarray:
    """Broadcast a scalar, one value per trial (shape ``(trials,)``) or one per entry of ``x0``
    to ``shape``; reject other shapes and invalid entries by name."""
    array = np.asarray(value, dtype=float)
    if array.ndim == 1 and array.shape == shape[:1]:
        array = array.reshape(shape[:1] + (1,) * (len(shape) - 1))  # one value per trial
    elif array.ndim > 0 and array.shape != shape:
        raise ValueError(f"{name} must be a scalar, one value per trial (shape {shape[:1]}) or one "
                         f"per entry of x0 (shape {shape}), got shape {array.shape}")
    array = np.broadcast_to(array, shape)
    if not np.all(np.isfinite(array)):
        raise ValueError(f"{name} must be finite, got {value!r}")
    if minimum_exclusive and np.any(array <= 0):
        raise ValueError(f"{name} must be > 0 (allowed range: (0, inf)), got {value!r}")
    if not minimum_exclusive and np.any(array < 0):
        raise ValueError(f"{name} must be >= 0 (allowed range: [0, inf)), got {value!r}")
    return array


def run_sgd(grad: Callable, x0, step_size, noise, steps: int, rng=None, record_every: int | None = None):
    """Run SGD from every entry of ``x0`` for ``steps`` steps (Chapter 1).

    Parameters
    ----------
    grad : vectorised gradient, ``grad(x)`` has the shape of ``x``.
    x0 : initial points, one per trial: shape ``(trials,)`` for 1-D problems, ``(trials, d)``
        in ``d`` dimensions.
    step_size : ``eta`` > 0: a scalar, one per trial (shape ``(trials,)``) or one per entry
        of ``x0`` (its shape).
    noise : radius ``r`` >= 0 of the uniform noise (0 is plain GD), shaped like ``step_size``.
    steps : number of steps >= 1.
    rng : ``numpy.random.Generator`` or seed.
    record_every : if given, also return the iterates every that many steps, stacked
        along a new leading axis (the initial point included).

    Returns the last iterates (shape of ``x0``), and the recorded path if asked for.
    """
    x = np.array(x0, dtype=float)
    if x.size == 0:
        raise ValueError("x0 must contain at least one trial, got an empty array")
    require_finite_array("x0", x)
    eta = _per_trial("step_size", step_size, x.shape, minimum_exclusive=True)
    radius = _per_trial("noise", noise, x.shape, minimum_exclusive=False)
    steps = require_int_at_least("steps", steps, 1)
    if record_every is not None:
        record_every = require_int_at_least("record_every", record_every, 1)
    rng = np.random.default_rng(rng)
    path = [x.copy()] if record_every else None
    for step in range(1, steps + 1):
        omega = radius * rng.uniform(-1.0, 1.0, size=x.shape)
        x -= eta * (grad(x) + omega)
        if record_every and step % record_every == 0:
            path.append(x.copy())
    return (x, np.stack(path)) if record_every else x

