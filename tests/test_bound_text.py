"""Bounds printed in the prose stay true: book.bound_text rounds outward (Chapters 1-7)."""
from decimal import Decimal

import numpy as np
import pytest

from sgd_escape.book import bound_text


def _as_number(text: str) -> Decimal:
    return Decimal(text.rstrip("%")) / (100 if text.endswith("%") else 1)


@pytest.mark.parametrize("value, side, digits, percent, expected", [
    (0.1027, "upper", 2, False, "0.11"),       # rounding to the nearest would print 0.1: false
    (1.458, "lower", 3, False, "1.45"),
    (1.458, "lower", 2, False, "1.4"),
    (0.01846, "upper", 2, True, "1.9%"),
    (0.018, "lower", 2, True, "1.8%"),         # exact values stay as they are
    (1.8, "upper", 2, False, "1.8"),
    (0.996, "upper", 2, False, "1.0"),         # one digit fewer when rounding crosses a power of ten
    (-0.348, "upper", 2, False, "-0.34"),
    (-0.348, "lower", 2, False, "-0.35"),
    (2.088e-4, "lower", 3, False, "2.08e-04"),
    (0.0, "upper", 2, True, "0%"),
    (0.001, "upper", 2, False, "0.0010"),      # 0.001 is not below 0.001: fixed point
    (1e5, "lower", 2, False, "1.0e+05"),       # from 100,000 on: exponent
])
def test_bounds_are_rounded_outward(value, side, digits, percent, expected):
    assert bound_text(value, side, digits, percent) == expected


def test_printed_bounds_hold_for_random_values():
    rng = np.random.default_rng(0)
    for value in rng.lognormal(0, 4, 500) * rng.choice([-1, 1], 500):
        for digits in (1, 2, 3):
            assert _as_number(bound_text(value, "upper", digits)) >= Decimal(repr(float(value)))
            assert _as_number(bound_text(value, "lower", digits)) <= Decimal(repr(float(value)))
            assert _as_number(bound_text(value, "upper", digits, percent=True)) >= Decimal(repr(float(value)))


@pytest.mark.parametrize("args, name", [((np.nan, "upper"), "value"), ((1.0, "above"), "side"),
                                        ((1.0, "upper", 0), "digits")])
def test_invalid_arguments_are_named(args, name):
    with pytest.raises(ValueError, match=name):
        bound_text(*args)
