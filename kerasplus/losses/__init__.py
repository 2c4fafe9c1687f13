"""Losses: label smoothing for sparse labels, stable focal losses, Poly-1, and
Keras's own regression losses re-exported so this is one place to look.

`quantile.py` is both a loss and the documented template for writing your own.
"""

from keras.losses import Huber, MeanAbsoluteError, MeanSquaredError

from kerasplus.losses.binary_focal_crossentropy import BinaryFocalCrossentropy
from kerasplus.losses.focal_crossentropy import FocalCrossentropy
from kerasplus.losses.poly_loss import PolyLoss
from kerasplus.losses.quantile import Quantile
from kerasplus.losses.sparse_categorical_crossentropy import (
    SparseCategoricalCrossentropy,
)

__all__ = [
    "BinaryFocalCrossentropy",
    "FocalCrossentropy",
    "Huber",
    "MeanAbsoluteError",
    "MeanSquaredError",
    "PolyLoss",
    "Quantile",
    "SparseCategoricalCrossentropy",
]
