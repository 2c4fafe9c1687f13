import numpy as np
import pytest

from kerasplus.data import kfold, load


def test_every_example_validates_exactly_once_with_class_balance():
    x, y = load("iris")
    ids = np.arange(len(y), dtype="float32")[:, None]
    seen = []
    for (x_train, _y_train), (x_val, y_val) in kfold(ids, y, k=5, seed=1):
        assert len(x_train) + len(x_val) == len(y)
        assert not set(x_train[:, 0]) & set(x_val[:, 0])
        np.testing.assert_array_equal(np.bincount(y_val), [10, 10, 10])
        seen.extend(x_val[:, 0])
    assert sorted(seen) == list(range(len(y)))


def test_regression_falls_back_to_plain_kfold_with_a_warning():
    x, y = load("diabetes")
    with pytest.warns(UserWarning, match="kfold: stratify skipped"):
        sizes = [len(y_val) for _, (_, y_val) in kfold(x, y, k=4)]
    assert sum(sizes) == len(y)


def test_rejects_bad_k():
    x, y = np.zeros((12, 1)), np.array([0] * 9 + [1] * 3)
    with pytest.raises(ValueError, match="`k` must be an integer >= 2; received k=1"):
        list(kfold(x, y, k=1))
    with pytest.raises(ValueError, match="`k` must be <= the size of the smallest class.*k=4, smallest class has 3"):
        list(kfold(x, y, k=4))
    assert len(list(kfold(x, y, k=4, stratify=False))) == 4


def test_arguments_are_checked_when_kfold_is_called_not_at_first_next():
    x, y = np.zeros((12, 1)), np.array([0] * 9 + [1] * 3)
    with pytest.raises(ValueError, match="`k` must be an integer >= 2; received k=1"):
        kfold(x, y, k=1)  # no list(): the call itself raises
    with pytest.raises(ValueError, match="smallest class has 3"):
        kfold(x, y, k=4)
    with pytest.raises(TypeError, match="`seed` must be an integer; received seed='x'"):
        kfold(x, y, k=2, seed="x")
    with pytest.raises(ValueError, match=r"`seed` must be an integer in \[0, 2\*\*32 - 1\]"):
        kfold(x, y, k=2, seed=2**40)
    with pytest.raises(TypeError, match="`x` must be an array .* received x of type int"):
        kfold(5, y, k=2)
    folds = kfold(x, y, k=3)
    assert len([fold for fold in folds]) == 3
