import numpy as np
import pytest

from kerasplus.data import load, split


def test_fractions_and_stratification():
    x, y = load("digits")
    (xt, yt), (xv, yv), (xs, ys) = split(x, y, train=0.7, val=0.15, test=0.15, seed=3)
    assert len(yt) + len(yv) + len(ys) == len(y)
    assert abs(len(ys) - 0.15 * len(y)) <= 1 and abs(len(yv) - 0.15 * len(y)) <= 1
    overall = np.bincount(y) / len(y)
    for part in (yt, yv, ys):
        assert np.abs(np.bincount(part, minlength=10) / len(part) - overall).max() < 0.02
    # Disjoint and complete: every image lands in exactly one split.
    keys = lambda a: {row.tobytes() for row in a.reshape(len(a), -1)}  # noqa: E731
    assert len(keys(xt) | keys(xv) | keys(xs)) == len(keys(x))


def test_stratifies_one_hot_labels_by_argmax():
    x, y = load("iris")
    one_hot = np.eye(3, dtype="float32")[y]
    (_, yt), (_, yv), (_, ys) = split(x, one_hot, train=0.6, val=0.2, test=0.2)
    for part in (yt, yv, ys):
        counts = part.sum(axis=0)
        assert counts.max() - counts.min() <= 1


def test_regression_targets_skip_stratification_and_say_why():
    x, y = load("diabetes")
    with pytest.warns(
        UserWarning, match=r"stratify skipped: y has dtype float32 and shape \(442,\), i.e. a regression target"
    ):
        (_, yt), _, _ = split(x, y)
    assert yt.dtype == np.float32


def test_same_seed_same_split():
    x, y = load("wine")
    a = split(x, y, seed=5)
    b = split(x, y, seed=5)
    for (xa, ya), (xb, yb) in zip(a, b):
        np.testing.assert_array_equal(xa, xb)
        np.testing.assert_array_equal(ya, yb)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(train=0.7, val=0.2, test=0.2), r"must sum to 1; received train=0.7, val=0.2, test=0.2"),
        (dict(train=1.0, val=0.0, test=0.0), r"`train` must be in \(0.0, 1.0\)"),
        (dict(train=0.98, val=0.01, test=0.01), "leave the test, val split empty"),
    ],
)
def test_rejects_bad_fractions(kwargs, message):
    x, y = np.zeros((20, 2)), np.arange(20) % 2
    with pytest.raises(ValueError, match=message):
        split(x, y, **kwargs)


def test_rejects_mismatched_lengths_and_unstratifiable_labels():
    with pytest.raises(ValueError, match=r"one entry per example of `x`; received len\(x\)=10, len\(y\)=9"):
        split(np.zeros((10, 2)), np.zeros(9, "int32"))
    y = np.array([0] * 19 + [1])
    with pytest.raises(ValueError, match="cannot stratify these labels.*stratify=False"):
        split(np.zeros((20, 2)), y)


def test_a_bad_seed_is_named_not_blamed_on_stratification():
    x, y = load("iris")
    with pytest.raises(TypeError, match="`seed` must be an integer; received seed='x'") as info:
        split(x, y, seed="x")
    assert "stratif" not in str(info.value)
    with pytest.raises(ValueError, match="`seed` must be an integer >= 0; received seed=-1"):
        split(x, y, seed=-1)
