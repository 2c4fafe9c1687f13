"""Poly-1 loss (Leng et al. 2022): cross-entropy plus ``epsilon * (1 - p_t)``."""

from __future__ import annotations

import keras
from keras import ops

from kerasplus import _validation as v
from kerasplus.losses import _log_probs as lp
from kerasplus.losses.sparse_categorical_crossentropy import check_label_smoothing


def poly1_crossentropy(
    y_true, y_pred, epsilon=1.0, label_smoothing=0.0, from_logits=False, sparse=False, ignore_class=None, axis=-1
):
    """Per-example ``CE + epsilon * (1 - sum_k y_k p_k)`` with (smoothed) targets y."""
    y_pred = lp.class_last(y_pred, axis)
    if sparse:
        targets, valid = lp.sparse_targets(y_true, y_pred, ignore_class)
    else:
        targets, valid = lp.dense_targets(y_true, y_pred, axis), None
    targets = lp.smooth(targets, label_smoothing)
    log_probs = lp.log_probabilities(y_pred, from_logits)
    ce = -ops.sum(targets * log_probs, axis=-1)
    p_t = ops.sum(targets * ops.exp(log_probs), axis=-1)
    return lp.mask_ignored(ce + epsilon * (1.0 - p_t), valid)


@keras.saving.register_keras_serializable(package="kerasplus")
class PolyLoss(keras.losses.Loss):
    """Poly-1 cross-entropy: ``CE + epsilon * (1 - p_t)``.

    ``epsilon=0`` is cross-entropy; the paper's best ImageNet value is 2.0,
    and negative values down to -1 are allowed (the loss stays >= 0 there).

    Args:
        epsilon: weight of the first polynomial term, >= -1.
        label_smoothing, from_logits, sparse, ignore_class, axis: as
            `FocalCrossentropy`.
        reduction, name, dtype: as `keras.losses.Loss`.

    Example:

    >>> import kerasplus
    >>> loss = kerasplus.losses.PolyLoss(epsilon=1.0, from_logits=True, sparse=True)
    >>> round(float(loss([0], [[0.0, 0.0]])), 4)
    1.1931
    """

    def __init__(
        self,
        epsilon: float = 1.0,
        label_smoothing: float = 0.0,
        from_logits: bool = False,
        sparse: bool = False,
        ignore_class: int | None = None,
        axis: int = -1,
        reduction="sum_over_batch_size",
        name: str = "poly_loss",
        dtype=None,
    ):
        super().__init__(name=name, reduction=reduction, dtype=dtype)
        self.epsilon = v.check_range("epsilon", epsilon, -1.0, float("inf"))
        self.label_smoothing = check_label_smoothing(label_smoothing)
        self.from_logits = v.check_bool("from_logits", from_logits)
        self.sparse = v.check_bool("sparse", sparse)
        self.ignore_class = v.check_optional_int("ignore_class", ignore_class)
        if self.ignore_class is not None and not self.sparse:
            raise ValueError("`ignore_class` needs sparse=True (class-index labels).")
        self.axis = v.check_int("axis", axis)

    def call(self, y_true, y_pred):
        return poly1_crossentropy(
            y_true,
            y_pred,
            self.epsilon,
            self.label_smoothing,
            self.from_logits,
            self.sparse,
            self.ignore_class,
            self.axis,
        )

    def get_config(self):
        config = super().get_config()
        config.update(
            epsilon=self.epsilon,
            label_smoothing=self.label_smoothing,
            from_logits=self.from_logits,
            sparse=self.sparse,
            ignore_class=self.ignore_class,
            axis=self.axis,
        )
        return config
