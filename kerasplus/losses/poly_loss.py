"""Poly-1 loss (Leng et al. 2022): cross-entropy plus ``epsilon * (1 - p_t)``."""

from __future__ import annotations

from typing import Any

import keras
from keras import ops

from kerasplus import _validation as v
from kerasplus.losses import _log_probs as lp
from kerasplus.losses._softmax_loss import SoftmaxLoss


def poly1_crossentropy(
    y_true, y_pred, epsilon=1.0, label_smoothing=0.0, from_logits=False, sparse=False, ignore_class=None, axis=-1
):
    """Per-example ``CE + epsilon * (1 - sum_k y_k p_k)`` with (smoothed) targets y."""
    targets, log_probs, valid = lp.targets_and_log_probs(
        y_true,
        y_pred,
        from_logits=from_logits,
        sparse=sparse,
        ignore_class=ignore_class,
        label_smoothing=label_smoothing,
        axis=axis,
    )
    ce = -ops.sum(targets * log_probs, axis=-1)
    p_t = ops.sum(targets * ops.exp(log_probs), axis=-1)
    return lp.mask_ignored(ce + epsilon * (1.0 - p_t), valid)


@keras.saving.register_keras_serializable(package="kerasplus")
class PolyLoss(SoftmaxLoss):
    """Poly-1 cross-entropy: ``CE + epsilon * (1 - p_t)``.

    ``epsilon=0`` is cross-entropy; the paper's best ImageNet value is 2.0,
    and negative values down to -1 are allowed (the loss stays >= 0 there).

    Args:
        epsilon: weight of the first polynomial term, >= -1.
        label_smoothing: as
            `FocalCrossentropy`.
        from_logits: as
            `FocalCrossentropy`.
        sparse: as
            `FocalCrossentropy`.
        ignore_class: as
            `FocalCrossentropy`.
        axis: as
            `FocalCrossentropy`.
        reduction: as `keras.losses.Loss`.
        name: as `keras.losses.Loss`.
        dtype: as `keras.losses.Loss`.

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
        reduction: str | None = "sum_over_batch_size",
        name: str = "poly_loss",
        dtype: str | None = None,
    ) -> None:
        super().__init__(label_smoothing, from_logits, sparse, ignore_class, axis, reduction, name, dtype)
        self.epsilon = v.check_float32("epsilon", v.check_range("epsilon", epsilon, -1.0, float("inf")))

    def call(self, y_true: Any, y_pred: Any) -> Any:
        return poly1_crossentropy(y_true, y_pred, self.epsilon, **self.target_arguments())

    def get_config(self) -> dict:
        return {**super().get_config(), "epsilon": self.epsilon}
