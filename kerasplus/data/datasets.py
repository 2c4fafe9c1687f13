"""scikit-learn's bundled datasets as Keras-ready arrays (nothing is downloaded)."""

from __future__ import annotations

import numpy as np

from kerasplus import _validation as v

NAMES = ("digits", "breast_cancer", "diabetes", "iris", "wine")


def load(name: str) -> tuple[np.ndarray, np.ndarray]:
    """``(x, y)`` float32 features and int32 labels (float32 targets for diabetes).

    * ``digits``: 1797 images, shape (n, 8, 8, 1), values in [0, 1]; 10 classes.
    * ``breast_cancer``: (569, 30) raw features; 2 classes.
    * ``diabetes``: (442, 10) features as scikit-learn scales them; a float target.
    * ``iris``: (150, 4); 3 classes.  ``wine``: (178, 13); 3 classes.

    Tabular features are returned unscaled: adapt a `keras.layers.Normalization`
    on the training split so no statistic of the test split leaks into training.

    Args:
        name: one of ``"digits"``, ``"breast_cancer"``, ``"diabetes"``, ``"iris"``, ``"wine"``.

    Returns:
        ``(x, y)``: float32 features and int32 labels (a float32 target for ``diabetes``).

    Raises:
        ValueError: `name` is not one of the bundled datasets.

    Example:

    >>> import kerasplus
    >>> x, y = kerasplus.data.load("digits")
    >>> x.shape, x.dtype.name, float(x.max()), y.dtype.name
    ((1797, 8, 8, 1), 'float32', 1.0, 'int32')
    """
    v.check_choice("name", name, NAMES)
    from sklearn import datasets

    bunch = getattr(datasets, f"load_{name}")()
    if name == "digits":
        x = (bunch.images / 16.0)[..., None]
    else:
        x = bunch.data
    y = bunch.target.astype("float32" if name == "diabetes" else "int32")
    return np.ascontiguousarray(x, dtype="float32"), y
