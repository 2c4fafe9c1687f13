"""Sigmoid focal loss (RetinaNet), stable with logits."""

from __future__ import annotations

from typing import Any

import keras
from keras import ops

from kerasplus import _validation as v
from kerasplus.losses import _log_probs as lp
from kerasplus.losses.focal_crossentropy import modulating_factor
from kerasplus.losses.sparse_categorical_crossentropy import check_label_smoothing


def binary_focal_crossentropy(y_true, y_pred, gamma=2.0, alpha=None, label_smoothing=0.0, from_logits=False, axis=-1):
    """Per-example mean over `axis` of ``-alpha_t * (1 - p_t) ** gamma * log(p_t)``.

    With logits, ``log p`` and ``log(1 - p)`` are ``log_sigmoid(z)`` and
    ``log_sigmoid(-z)``; ``1 - p_t`` mixes ``sigmoid(-z)`` and ``sigmoid(z)``.
    """
    y_true, y_pred, axis = lp.elementwise_pair(y_true, y_pred, axis)
    if label_smoothing:
        y_true = y_true * (1.0 - label_smoothing) + 0.5 * label_smoothing
    if from_logits:
        log_p, log_not_p = ops.log_sigmoid(y_pred), ops.log_sigmoid(-y_pred)
        p, not_p = ops.sigmoid(y_pred), ops.sigmoid(-y_pred)
    else:
        p = ops.clip(y_pred, lp.EPSILON, 1.0 - lp.EPSILON)
        not_p = 1.0 - p
        log_p, log_not_p = ops.log(p), ops.log(not_p)
    bce = -(y_true * log_p + (1.0 - y_true) * log_not_p)
    one_minus_p_t = y_true * not_p + (1.0 - y_true) * p
    loss = modulating_factor(one_minus_p_t, gamma) * bce
    if alpha is not None:
        loss = loss * (y_true * alpha + (1.0 - y_true) * (1.0 - alpha))
    return ops.mean(loss, axis=axis)


@keras.saving.register_keras_serializable(package="kerasplus")
class BinaryFocalCrossentropy(keras.losses.Loss):
    """Sigmoid focal loss for binary and multi-label outputs (Lin et al. 2017).

    ``FL = -alpha_t * (1 - p_t) ** gamma * log(p_t)``. Equal to Keras's
    `BinaryFocalCrossentropy` (``apply_class_balancing=alpha is not None``)
    where Keras's probabilities do not saturate; with logits it stays exact for
    any magnitude.

    Args:
        gamma: focusing parameter, >= 0.
        alpha: weight of the positive class in [0, 1] (RetinaNet uses 0.25), or
            None for no class balancing.
        label_smoothing: in [0, 1); targets move towards 0.5.
        from_logits: whether `y_pred` holds logits.
        axis: the axis averaged over.
        reduction: as `keras.losses.Loss`.
        name: as `keras.losses.Loss`.
        dtype: as `keras.losses.Loss`.

    Example:

    >>> import kerasplus
    >>> loss = kerasplus.losses.BinaryFocalCrossentropy(gamma=2.0, alpha=0.25, from_logits=True)
    >>> round(float(loss([[1.0]], [[-200.0]])), 1)
    50.0
    """

    def __init__(
        self,
        gamma: float = 2.0,
        alpha: float | None = None,
        label_smoothing: float = 0.0,
        from_logits: bool = False,
        axis: int = -1,
        reduction: str | None = "sum_over_batch_size",
        name: str = "binary_focal_crossentropy",
        dtype: str | None = None,
    ) -> None:
        super().__init__(name=name, reduction=reduction, dtype=dtype)
        self.gamma = v.check_float32_non_negative("gamma", gamma)
        self.alpha = None if alpha is None else v.check_range("alpha", alpha, 0.0, 1.0)
        self.label_smoothing = check_label_smoothing(label_smoothing)
        self.from_logits = v.check_bool("from_logits", from_logits)
        self.axis = v.check_int("axis", axis)

    def call(self, y_true: Any, y_pred: Any) -> Any:
        return binary_focal_crossentropy(
            y_true, y_pred, self.gamma, self.alpha, self.label_smoothing, self.from_logits, self.axis
        )

    def get_config(self) -> dict:
        config = super().get_config()
        config.update(
            gamma=self.gamma,
            alpha=self.alpha,
            label_smoothing=self.label_smoothing,
            from_logits=self.from_logits,
            axis=self.axis,
        )
        return config
