"""Argument validation shared by every public function of ``sgd_escape``.

Each check raises ``ValueError`` with a message that names the argument, the value
received and the allowed range, so that a reader who passes a bad parameter from a
chapter's explorer learns what to change.
"""
from __future__ import annotations

import math
import numbers

import numpy as np


def _is_real(value) -> bool:
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


def require_finite(name: str, value) -> float:
    """Return ``value`` as a float if it is a finite real number (shared by the code of Chapters 1-7)."""
    if not _is_real(value) or not math.isfinite(value):
        raise ValueError(f"{name} must be a finite real number, got {value!r}")
    return float(value)


def require_positive(name: str, value) -> float:
    """Return ``value`` as a float if it is finite and > 0 (shared by the code of Chapters 1-7)."""
    value = require_finite(name, value)
    if value <= 0:
        raise ValueError(f"{name} must be > 0 (allowed range: (0, inf)), got {value!r}")
    return value


def require_nonnegative(name: str, value) -> float:
    """Return ``value`` as a float if it is finite and >= 0 (shared by the code of Chapters 1-7)."""
    value = require_finite(name, value)
    if value < 0:
        raise ValueError(f"{name} must be >= 0 (allowed range: [0, inf)), got {value!r}")
    return value


def require_in_interval(name: str, value, low: float, high: float, *, closed: bool = False) -> float:
    """Return ``value`` as a float if ``low < value < high`` (or ``<=`` on both sides when
    ``closed``) (shared by the code of Chapters 1-7)."""
    value = require_finite(name, value)
    inside = low <= value <= high if closed else low < value < high
    if not inside:
        brackets = f"[{low}, {high}]" if closed else f"({low}, {high})"
        raise ValueError(f"{name} must lie in {brackets}, got {value!r}")
    return value


def require_int_at_least(name: str, value, minimum: int) -> int:
    """Return ``value`` as an int if it is an integer >= ``minimum`` (shared by the code of Chapters 1-7)."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value!r}")
    if value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value!r}")
    return int(value)


def require_same_shape(name_a: str, a, name_b: str, b) -> None:
    """Raise unless arrays ``a`` and ``b`` have the same shape; returns None (shared by Chapters 1-7)."""
    shape_a, shape_b = np.shape(a), np.shape(b)
    if shape_a != shape_b:
        raise ValueError(f"{name_a} and {name_b} must have the same shape, got {shape_a} and {shape_b}")


def require_choice(name: str, value, choices) -> str:
    """Return ``value`` if it is one of ``choices``; the error lists them (shared by the code of Chapters 1-7)."""
    if value not in choices:
        raise ValueError(f"{name} must be one of {sorted(choices)}, got {value!r}")
    return value


def require_finite_array(name: str, value) -> np.ndarray:
    """Return ``value`` as a float array if every entry is finite (shared by the code of Chapters 1-7)."""
    array = np.asarray(value, dtype=float)
    bad = array.size - int(np.count_nonzero(np.isfinite(array)))
    if bad:
        raise ValueError(f"{name} must hold finite numbers only, got {bad} NaN or infinite "
                         f"entries of {array.size}")
    return array


def require_point(name: str, value, d: int) -> np.ndarray:
    """Return ``value`` as a float array if it is finite and a scalar or of shape ``(d,)``: a point
    such as x* that broadcasts along the last axis of an array of points (shared by Chapters 2-3)."""
    array = require_finite_array(name, value)
    if array.shape not in ((), (d,)):
        raise ValueError(f"{name} must be a scalar or have shape ({d},), got shape {array.shape}")
    return array
