"""Exponential escape: how long SGD with Gaussian noise stays in a basin (Chapter 7).

The basin is the metastable cubic well ``f(x) = h (3 z^2 - 2 z^3)``, ``z = x / w``: a minimum
at 0, a barrier of height ``h`` at ``x = w``, curvature ``6 h / w^2`` at both (the
*sharpness*), and beyond the barrier ``f`` falls without bound. A trial escapes when it
reaches ``x = 2 w``, where ``f = -4 h``. Trials start at the minimum, so escape is measured
from the start of training, not from a stationary distribution.
"""
from __future__ import annotations

import numpy as np

from .checks import require_int_at_least, require_positive

EXIT = 2.0  # escape point, in units of the width w


def cubic_well(x, depth: float, width: float) -> np.ndarray:
    """``f(x) = depth (3 z^2 - 2 z^3)`` with ``z = x / width`` (Chapter 7)."""
    require_positive("depth", depth)
    require_positive("width", width)
    z = np.asarray(x, dtype=float) / width
    return depth * (3 * z ** 2 - 2 * z ** 3)


def sharpness(depth: float, width: float) -> float:
    """Curvature ``f''(0) = 6 depth / width^2`` of the cubic well at its minimum (Chapter 7)."""
    return 6.0 * require_positive("depth", depth) / require_positive("width", width) ** 2


def _level_parameters(depth, widths, noise_stds):
    checked = []
    for name, values in (("widths", widths), ("noise_stds", noise_stds)):
        values = np.atleast_1d(np.asarray(values, dtype=float))
        if values.ndim != 1 or not (np.isfinite(values).all() and (values > 0).all()):
            raise ValueError(f"{name} must be finite and > 0 (a number or a 1-D array)")
        checked.append(values)
    if checked[0].size != checked[1].size and 1 not in (checked[0].size, checked[1].size):
        raise ValueError(f"widths and noise_stds must have the same length or length 1, "
                         f"got {checked[0].size} and {checked[1].size}")
    widths, stds = np.broadcast_arrays(*checked)
    return require_positive("depth", depth), widths, stds


def escape_times(depth: float, widths, noise_stds, step_size: float, trials: int, horizon: int,
                 seed: int = 0) -> np.ndarray:
    """Escape steps of SGD ``x <- x - step_size (f'(x) + noise_std z)`` from the cubic well (Chapter 7).

    ``widths`` and ``noise_stds`` broadcast to one value per level; the result has shape
    ``(levels, trials)``, ``inf`` where a trial had not escaped after ``horizon`` steps.
    All trials of all levels advance together; escaped trials leave the array.
    """
    depth, widths, stds = _level_parameters(depth, widths, noise_stds)
    step_size = require_positive("step_size", step_size)
    require_int_at_least("trials", trials, 1)
    require_int_at_least("horizon", horizon, 1)
    require_int_at_least("seed", seed, 0)
    rng = np.random.default_rng(seed)
    width = np.repeat(widths, trials)
    noise = np.repeat(stds, trials) * step_size
    times, active = np.full(width.size, np.inf), np.arange(width.size)
    x = np.zeros(width.size)
    for step in range(1, horizon + 1):
        z = x / width[active]
        slope = depth / width[active] * (6 * z - 6 * z ** 2)
        x -= step_size * slope + noise[active] * rng.standard_normal(x.size)
        out = x >= EXIT * width[active]
        if out.any():
            times[active[out]] = step
            active, x = active[~out], x[~out]
            if active.size == 0:
                break
    return times.reshape(widths.size, trials)


def _positive_array(name: str, values) -> np.ndarray:
    values = np.asarray(values, dtype=float)
    if values.size == 0 or not (np.isfinite(values).all() and (values > 0).all()):
        raise ValueError(f"{name} must be non-empty, finite and > 0, got {values!r}")
    return values


def kramers_escape_steps(depth: float, width, step_size: float, noise_std) -> np.ndarray:
    """Our derivation (Chapter 7): small-noise estimate of the mean escape step.

    SGD with Gaussian noise is the Euler-Maruyama scheme, time step ``step_size``, of
    ``dx = -f'(x) dt + sqrt(2 D) dW`` with ``D = step_size noise_std^2 / 2``. The classical
    Kramers (1940) rate for that equation gives a mean escape time, in steps, of
    ``2 pi / (step_size k) * exp(2 depth / (step_size noise_std^2))``, ``k = 6 depth / width^2``.
    ``width`` and ``noise_std`` may be arrays (they broadcast).
    """
    depth = require_positive("depth", depth)
    step_size = require_positive("step_size", step_size)
    width, noise_std = _positive_array("width", width), _positive_array("noise_std", noise_std)
    rate = 6.0 * depth / width ** 2
    return 2 * np.pi / (step_size * rate) * np.exp(2 * depth / (step_size * noise_std ** 2))
