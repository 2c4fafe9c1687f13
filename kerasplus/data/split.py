"""Train / validation / test split on top of scikit-learn's `train_test_split`."""

from __future__ import annotations

import math
import warnings
from typing import Any

from kerasplus import _validation as v
from kerasplus.data._labels import check_same_length, stratification_labels


def split(
    x: Any, y: Any, *, train: float = 0.7, val: float = 0.15, test: float = 0.15, stratify: bool = True, seed: int = 0
) -> tuple[tuple, tuple, tuple]:
    """Splits arrays into ``((x_train, y_train), (x_val, y_val), (x_test, y_test))``.

    Fractions are each in (0, 1) and sum to 1. With ``stratify=True`` every
    split keeps the class proportions of `y` (one-hot rows count by argmax);
    for a regression target stratification is skipped with a `UserWarning`
    saying why.

    Args:
        x: features, an array with one row per example.
        y: labels or targets, one per row of `x`.
        train: fraction of the examples for training, in (0, 1).
        val: fraction for validation, in (0, 1).
        test: fraction for testing, in (0, 1); the three sum to 1.
        stratify: keep the class proportions of `y` in every split.
        seed: seed of the shuffle (an int, as scikit-learn takes).

    Returns:
        ``((x_train, y_train), (x_val, y_val), (x_test, y_test))``.

    Raises:
        ValueError: a fraction is out of range, they do not sum to 1, or a split would be empty.
        TypeError: `seed`, `stratify`, `x` or `y` has the wrong type.

    Example:

    >>> import kerasplus
    >>> x, y = kerasplus.data.load("iris")
    >>> (xt, yt), (xv, yv), (xs, ys) = kerasplus.data.split(x, y)
    >>> len(yt), len(yv), len(ys)
    (106, 22, 22)
    """
    for name, fraction in (("train", train), ("val", val), ("test", test)):
        v.check_range(name, fraction, 0.0, 1.0, low_inclusive=False, high_inclusive=False)
    if not math.isclose(train + val + test, 1.0, abs_tol=1e-9):
        raise ValueError(
            f"`train`, `val` and `test` must sum to 1; received train={train}, "
            f"val={val}, test={test} (sum {train + val + test})."
        )
    v.check_bool("stratify", stratify)
    seed = v.check_numpy_seed("seed", seed)
    check_same_length(x, y, y_required=True)
    n = len(x)
    sizes = {"test": round(test * n), "val": round(val * n)}
    sizes["train"] = n - sizes["test"] - sizes["val"]
    empty = [name for name, size in sizes.items() if size < 1]
    if empty:
        raise ValueError(
            f"With {n} examples the fractions train={train}, val={val}, test={test} "
            f"leave the {', '.join(empty)} split empty; use larger fractions or more data."
        )
    from sklearn.model_selection import train_test_split

    labels = None
    if stratify:
        labels, reason = stratification_labels(y)
        if labels is None:
            warnings.warn(f"split: stratify skipped: {reason}.", UserWarning, stacklevel=2)
    x_rest, x_test, y_rest, y_test, labels_rest, _ = _split(train_test_split, x, y, labels, sizes["test"], seed)
    x_train, x_val, y_train, y_val, _, _ = _split(train_test_split, x_rest, y_rest, labels_rest, sizes["val"], seed)
    return (x_train, y_train), (x_val, y_val), (x_test, y_test)


def _split(train_test_split, x, y, labels, second_size, seed):
    if labels is None:
        x_a, x_b, y_a, y_b = train_test_split(x, y, test_size=second_size, random_state=seed)
        return x_a, x_b, y_a, y_b, None, None
    try:
        return train_test_split(x, y, labels, test_size=second_size, random_state=seed, stratify=labels)
    except ValueError as error:
        raise ValueError(
            f"split: cannot stratify these labels ({error}); pass stratify=False or use more data."
        ) from error
