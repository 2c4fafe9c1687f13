import numpy as np
import pytest

from kerasplus.data import load


@pytest.mark.parametrize(
    "name, x_shape, y_dtype, classes",
    [
        ("digits", (1797, 8, 8, 1), "int32", 10),
        ("breast_cancer", (569, 30), "int32", 2),
        ("iris", (150, 4), "int32", 3),
        ("wine", (178, 13), "int32", 3),
        ("diabetes", (442, 10), "float32", None),
    ],
)
def test_bundled_datasets_are_keras_ready(name, x_shape, y_dtype, classes):
    x, y = load(name)
    assert x.shape == x_shape and x.dtype == np.float32 and x.flags["C_CONTIGUOUS"]
    assert y.shape == (x_shape[0],) and y.dtype == y_dtype
    assert np.isfinite(x).all()
    if classes is not None:
        assert sorted(np.unique(y)) == list(range(classes))


def test_digits_are_images_in_unit_range():
    x, _ = load("digits")
    assert x.min() == 0.0 and x.max() == 1.0


def test_unknown_name_lists_the_choices():
    with pytest.raises(
        ValueError,
        match="`name` must be one of 'digits', 'breast_cancer', 'diabetes', 'iris', 'wine'; received name='mnist'",
    ):
        load("mnist")
