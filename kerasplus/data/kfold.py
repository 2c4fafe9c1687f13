"""k-fold cross-validation folds from scikit-learn's `StratifiedKFold` / `KFold`."""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from typing import Any

import numpy as np

from kerasplus import _validation as v
from kerasplus.data._labels import check_same_length, stratification_labels


def kfold(x: Any, y: Any, k: int = 5, *, stratify: bool = True, seed: int = 0) -> Iterator[tuple[tuple, tuple]]:
    """Returns an iterator of ``((x_train, y_train), (x_val, y_val))`` for each of `k` shuffled folds.

    Arguments are checked when `kfold` is called, not at the first `next()`.

    Every example is in exactly one validation fold. With ``stratify=True``
    folds keep the class proportions (`StratifiedKFold`); `k` may then not
    exceed the size of the smallest class. Regression targets fall back to
    `KFold` with a `UserWarning`.

    Args:
        x: features, an array with one row per example.
        y: labels or targets, one per row of `x`.
        k: number of folds, >= 2.
        stratify: keep the class proportions of `y` in every fold.
        seed: seed of the shuffle (an int, as scikit-learn takes).

    Returns:
        An iterator over the `k` folds, each ``((x_train, y_train), (x_val, y_val))``.

    Raises:
        ValueError: `k` is out of range (for stratified folds: larger than the smallest class).
        TypeError: `seed`, `stratify`, `x` or `y` has the wrong type.

    Example:

    >>> import kerasplus
    >>> x, y = kerasplus.data.load("wine")
    >>> [len(y_val) for _, (x_val, y_val) in kerasplus.data.kfold(x, y, k=3)]
    [60, 59, 59]
    """
    k = v.check_int("k", k, minimum=2)
    v.check_bool("stratify", stratify)
    seed = v.check_numpy_seed("seed", seed)
    check_same_length(x, y, y_required=True)
    if k > len(x):
        raise ValueError(f"`k` must be <= the number of examples; received k={k} for {len(x)} examples.")
    from sklearn.model_selection import KFold, StratifiedKFold

    labels = None
    if stratify:
        labels, reason = stratification_labels(y)
        if labels is None:
            warnings.warn(f"kfold: stratify skipped: {reason}.", UserWarning, stacklevel=2)
    if labels is None:
        folds = KFold(n_splits=k, shuffle=True, random_state=seed).split(x)
    else:
        smallest = int(np.min(np.unique(labels, return_counts=True)[1]))
        if k > smallest:
            raise ValueError(
                f"`k` must be <= the size of the smallest class to stratify; received "
                f"k={k}, smallest class has {smallest} examples. Use a smaller k or stratify=False."
            )
        folds = StratifiedKFold(n_splits=k, shuffle=True, random_state=seed).split(x, labels)
    return _folds(np.asarray(x), np.asarray(y), list(folds))  # indices drawn now: every error is raised here


def _folds(x, y, folds):
    for train_index, val_index in folds:
        yield (x[train_index], y[train_index]), (x[val_index], y[val_index])
