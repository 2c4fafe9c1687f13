"""Base of the softmax losses that take dense or sparse labels (focal, Poly-1)."""

from __future__ import annotations

import keras

from kerasplus import _validation as v
from kerasplus.losses.sparse_categorical_crossentropy import check_label_smoothing


class SoftmaxLoss(keras.losses.Loss):
    """Validates and stores `label_smoothing, from_logits, sparse, ignore_class, axis`."""

    def __init__(self, label_smoothing, from_logits, sparse, ignore_class, axis, reduction, name, dtype):
        super().__init__(name=name, reduction=reduction, dtype=dtype)
        self.label_smoothing = check_label_smoothing(label_smoothing)
        self.from_logits = v.check_bool("from_logits", from_logits)
        self.sparse = v.check_bool("sparse", sparse)
        self.ignore_class = v.check_optional_int("ignore_class", ignore_class)
        if self.ignore_class is not None and not self.sparse:
            raise ValueError("`ignore_class` needs sparse=True (class-index labels).")
        self.axis = v.check_int("axis", axis)

    def target_arguments(self):
        return {
            "label_smoothing": self.label_smoothing,
            "from_logits": self.from_logits,
            "sparse": self.sparse,
            "ignore_class": self.ignore_class,
            "axis": self.axis,
        }

    def get_config(self):
        return {**super().get_config(), **self.target_arguments()}
