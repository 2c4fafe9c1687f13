"""Sparse categorical cross-entropy with label smoothing (what Keras's lacks)."""

from __future__ import annotations

from typing import Any

import keras
from keras import ops

from kerasplus import _validation as v
from kerasplus.losses import _log_probs as lp


def sparse_categorical_crossentropy(y_true, y_pred, from_logits=False, label_smoothing=0.0, ignore_class=None, axis=-1):
    """Per-example loss ``(1 - eps) * nll + eps * mean_k(-log p_k)``.

    This is ``torch.nn.functional.cross_entropy(..., label_smoothing=eps)``:
    cross-entropy against targets ``one_hot * (1 - eps) + eps / K``.
    """
    targets, log_probs, valid = lp.targets_and_log_probs(
        y_true,
        y_pred,
        from_logits=from_logits,
        sparse=True,
        ignore_class=ignore_class,
        label_smoothing=label_smoothing,
        axis=axis,
        dense_fix="use keras.losses.CategoricalCrossentropy for one-hot labels",
    )
    return lp.mask_ignored(-ops.sum(targets * log_probs, axis=-1), valid)


def check_label_smoothing(label_smoothing):
    return v.check_range("label_smoothing", label_smoothing, 0.0, 1.0, high_inclusive=False)


@keras.saving.register_keras_serializable(package="kerasplus")
class SparseCategoricalCrossentropy(keras.losses.Loss):
    """Keras's `SparseCategoricalCrossentropy` plus `label_smoothing`.

    With ``from_logits=True`` it equals ``torch.nn.CrossEntropyLoss(
    label_smoothing=...)`` on class indices. Computed in float32 for
    float16/bfloat16 inputs. Entries labelled `ignore_class` contribute nothing
    and are left out of the mean, as in Keras.

    Args:
        from_logits: whether `y_pred` holds logits (else probabilities).
        label_smoothing: in [0, 1); mass spread uniformly over the classes.
        ignore_class: a label to ignore (e.g. padding), or None.
        axis: the class axis of `y_pred`.
        reduction: as `keras.losses.Loss`.
        name: as `keras.losses.Loss`.
        dtype: as `keras.losses.Loss`.

    Example:

    >>> import kerasplus
    >>> loss = kerasplus.losses.SparseCategoricalCrossentropy(from_logits=True, label_smoothing=0.1)
    >>> round(float(loss([0, 1], [[2.0, 0.0, -1.0], [0.0, 1.0, 0.0]])), 4)
    0.4773
    """

    def __init__(
        self,
        from_logits: bool = False,
        label_smoothing: float = 0.0,
        ignore_class: int | None = None,
        axis: int = -1,
        reduction: str | None = "sum_over_batch_size",
        name: str = "sparse_categorical_crossentropy",
        dtype: str | None = None,
    ) -> None:
        super().__init__(name=name, reduction=reduction, dtype=dtype)
        self.from_logits = v.check_bool("from_logits", from_logits)
        self.label_smoothing = check_label_smoothing(label_smoothing)
        self.ignore_class = v.check_optional_int("ignore_class", ignore_class)
        self.axis = v.check_int("axis", axis)

    def call(self, y_true: Any, y_pred: Any) -> Any:
        return sparse_categorical_crossentropy(
            y_true, y_pred, self.from_logits, self.label_smoothing, self.ignore_class, self.axis
        )

    def get_config(self) -> dict:
        config = super().get_config()
        config.update(
            from_logits=self.from_logits,
            label_smoothing=self.label_smoothing,
            ignore_class=self.ignore_class,
            axis=self.axis,
        )
        return config
