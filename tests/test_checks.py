"""Argument validation: each invalid value raises a ValueError naming the argument and range."""
import numpy as np
import pytest

from sgd_escape import checks


@pytest.mark.parametrize("value", [0, -1.0, float("nan"), float("inf"), "1", True, None])
def test_require_positive_rejects(value):
    with pytest.raises(ValueError, match="step_size"):
        checks.require_positive("step_size", value)


def test_require_positive_accepts_and_converts():
    assert checks.require_positive("step_size", 3) == 3.0


def test_require_nonnegative_names_range():
    with pytest.raises(ValueError, match=r"noise must be >= 0 \(allowed range: \[0, inf\)\)"):
        checks.require_nonnegative("noise", -0.1)
    assert checks.require_nonnegative("noise", 0) == 0.0


@pytest.mark.parametrize("value", [0, -3, 2.5, "4", True])
def test_require_int_at_least_rejects(value):
    with pytest.raises(ValueError, match="trials must be an integer >= 1"):
        checks.require_int_at_least("trials", value, 1)


def test_require_int_at_least_accepts_numpy_integers():
    assert checks.require_int_at_least("steps", np.int64(5), 1) == 5


def test_require_in_interval_open_and_closed():
    with pytest.raises(ValueError, match=r"fraction must lie in \(0, 1\)"):
        checks.require_in_interval("fraction", 1.0, 0, 1)
    assert checks.require_in_interval("fraction", 1.0, 0, 1, closed=True) == 1.0


def test_require_same_shape():
    with pytest.raises(ValueError, match=r"x0 and noise must have the same shape, got \(3,\) and \(4,\)"):
        checks.require_same_shape("x0", np.zeros(3), "noise", np.zeros(4))


def test_require_choice_lists_choices():
    with pytest.raises(ValueError, match=r"preset must be one of \['mini', 'smoke'\]"):
        checks.require_choice("preset", "huge", {"smoke", "mini"})


def test_require_in_interval_treats_the_lower_end_like_the_upper_one():
    with pytest.raises(ValueError, match=r"fraction must lie in \(0, 1\)"):
        checks.require_in_interval("fraction", 0.0, 0, 1)
    assert checks.require_in_interval("fraction", 0.0, 0, 1, closed=True) == 0.0


@pytest.mark.parametrize("value", [[1.0], [1.0, 2.0], np.zeros((2, 3)), [0.0, np.nan, 0.0]])
def test_require_point_accepts_only_a_scalar_or_one_point_of_dimension_d(value):
    # shape (1,) would broadcast like a scalar and (2, 3) like several points: neither is one point of R^3
    with pytest.raises(ValueError, match=r"^x_star must"):
        checks.require_point("x_star", value, 3)
    assert checks.require_point("x_star", 2, 3).shape == ()
    assert checks.require_point("x_star", [1, 2, 3], 3).tolist() == [1.0, 2.0, 3.0]
