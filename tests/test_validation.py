import math

import numpy as np
import pytest

from kerasplus import _validation as v


def test_check_positive_names_argument_and_value():
    with pytest.raises(ValueError, match=r"`max_lr` must be > 0; received max_lr=-1.0"):
        v.check_positive("max_lr", -1)
    assert v.check_positive("max_lr", np.float32(0.5)) == 0.5


@pytest.mark.parametrize("bad", [math.nan, math.inf])
def test_check_number_rejects_nan_and_inf(bad):
    with pytest.raises(ValueError, match="must be finite"):
        v.check_number("x", bad)


@pytest.mark.parametrize("bad", ["1", None, True])
def test_check_number_rejects_non_numbers(bad):
    with pytest.raises(TypeError, match="`x` must be a real number"):
        v.check_number("x", bad)


def test_check_range_shows_the_interval():
    with pytest.raises(ValueError, match=r"`pct_start` must be in \(0.0, 1.0\); received pct_start=1.0"):
        v.check_range("pct_start", 1.0, 0.0, 1.0, low_inclusive=False, high_inclusive=False)
    assert v.check_range("beta", 0.0, 0.0, 1.0) == 0.0


def test_check_int_rejects_floats_and_small_values():
    with pytest.raises(TypeError, match="`total_steps` must be an integer"):
        v.check_int("total_steps", 10.0)
    with pytest.raises(ValueError, match=r"`total_steps` must be an integer >= 1; received total_steps=0"):
        v.check_int("total_steps", 0, minimum=1)
    assert v.check_int("n", np.int64(3), minimum=1) == 3


def test_check_choice_lists_allowed_values():
    with pytest.raises(ValueError, match=r"`mode` must be one of 'a', 'b'; received mode='c'"):
        v.check_choice("mode", "c", ("a", "b"))


def test_check_less():
    with pytest.raises(ValueError, match=r"`start_lr` must be < `end_lr`; received start_lr=1.0, end_lr=1.0"):
        v.check_less("start_lr", 1.0, "end_lr", 1.0)


def test_check_callable():
    with pytest.raises(TypeError, match=r"`build_model` must be callable; received 'model'"):
        v.check_callable("build_model", "model")
    assert v.check_callable("f", len) is len


def test_check_axis_names_the_shape_and_the_allowed_range():
    assert v.check_axis("axis", -1, 3) == 2
    with pytest.raises(ValueError, match=r"`axis` is out of range for y_pred of shape \(8, 10\): allowed -2 to 1"):
        v.check_axis("axis", 2, 2, shape=(8, 10))


def test_check_choice_names_the_argument_for_an_array():
    with pytest.raises(TypeError, match=r"`mode` must be one of 'a', 'b'; received mode=array"):
        v.check_choice("mode", np.array(["a", "b"]), ("a", "b"))


def test_float32_checks_name_the_argument():
    with pytest.raises(ValueError, match=r"`max_lr` must be at most 3.403e\+38"):
        v.check_float32_positive("max_lr", 1e308)
    with pytest.raises(ValueError, match="`div_factor` gives the initial rate"):
        v.check_float32("div_factor", 1e-300, computed=1e300, what="the initial rate")
    with pytest.raises(ValueError, match="`total_steps` must be finite"):
        v.check_number("total_steps", 10**400)
