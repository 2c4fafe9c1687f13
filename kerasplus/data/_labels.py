"""Telling class labels from regression targets, for stratification."""

from __future__ import annotations

import numpy as np


def stratification_labels(y):
    """Class labels to stratify on, or ``(None, reason)`` when `y` is a regression target.

    Integer, bool or string arrays are class labels; 2-D one-hot/soft rows
    stratify on their argmax; a 1-D float array is a regression target (cast
    float class labels to int to stratify on them).
    """
    y = np.asarray(y)
    if y.ndim == 2 and y.shape[1] > 1:
        return np.argmax(y, axis=1), None
    flat = y.reshape(len(y)) if y.ndim > 1 and y.size == len(y) else y
    if flat.ndim == 1 and flat.dtype.kind in "iubUSO":
        return flat, None
    return None, (
        f"y has dtype {y.dtype} and shape {y.shape}, i.e. a regression target "
        "(cast class labels to int to stratify on them)"
    )


def _check_rows(name, value):
    if isinstance(value, dict):
        raise TypeError(
            f"`{name}` must be an array (numpy array or list) with one row per example; received {name} as a "
            f"dict of {len(value)} arrays ({', '.join(map(str, list(value)[:4]))}), as for a model with several "
            "named inputs or outputs. Pass one array, or build the tf.data pipeline from the dict yourself "
            "(tf.data.Dataset.from_tensor_slices((x, y)) keeps dicts)."
        )
    if isinstance(value, (str, bytes)) or not hasattr(value, "__len__") or getattr(value, "ndim", 1) == 0:
        raise TypeError(
            f"`{name}` must be an array (numpy array or list) with one row per example; "
            f"received {name} of type {type(value).__name__}."
        )


def check_same_length(x, y, *, y_required=False):
    _check_rows("x", x)
    if y is None and y_required:
        raise TypeError("`y` must be an array of labels or targets, one per example of `x`; received y=None.")
    if y is not None:
        _check_rows("y", y)
    if y is not None and len(x) != len(y):
        raise ValueError(f"`y` must have one entry per example of `x`; received len(x)={len(x)}, len(y)={len(y)}.")
