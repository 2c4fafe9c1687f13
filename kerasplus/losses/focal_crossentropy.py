"""Multi-class softmax focal loss (Lin et al. 2017), computed in log-space."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import keras
import numpy as np
from keras import ops

from kerasplus import _validation as v
from kerasplus.losses import _log_probs as lp
from kerasplus.losses._softmax_loss import SoftmaxLoss


def modulating_factor(one_minus_p, gamma):
    """``(1 - p) ** gamma`` with a zero (not NaN) gradient where ``1 - p == 0``."""
    if gamma == 0:
        return ops.ones_like(one_minus_p)
    positive = one_minus_p > 0
    safe = ops.where(positive, one_minus_p, ops.ones_like(one_minus_p))
    return ops.where(positive, ops.power(safe, gamma), ops.zeros_like(one_minus_p))


def check_alpha(alpha):
    """None, a scalar >= 0, or a sequence of per-class weights >= 0."""
    if alpha is None:
        return None
    if isinstance(alpha, (int, float)) and not isinstance(alpha, bool):
        return v.check_float32_non_negative("alpha", alpha)
    if isinstance(alpha, (list, tuple, np.ndarray)):
        weights = [v.check_float32_non_negative(f"alpha[{i}]", a) for i, a in enumerate(alpha)]
        if not weights:
            raise ValueError("`alpha` must not be empty; received alpha=[].")
        return weights
    raise TypeError(
        "`alpha` must be None, a number or a list of per-class weights; "
        f"received alpha={alpha!r} of type {type(alpha).__name__}."
    )


def class_weights(alpha, num_classes, dtype):
    if alpha is None:
        return None
    if isinstance(alpha, float):
        return alpha
    if num_classes is not None and len(alpha) != num_classes:
        raise ValueError(
            f"`alpha` has {len(alpha)} per-class weights but y_pred has "
            f"{num_classes} classes; give one weight per class."
        )
    return ops.convert_to_tensor(np.asarray(alpha), dtype)


def focal_crossentropy(
    y_true,
    y_pred,
    gamma=2.0,
    alpha=None,
    label_smoothing=0.0,
    from_logits=False,
    sparse=False,
    ignore_class=None,
    axis=-1,
):
    """Per-example ``-sum_k alpha_k * y_k * (1 - p_k) ** gamma * log p_k``.

    `y_k` are the (smoothed) targets. With logits, ``log p`` is `log_softmax`
    and ``1 - p`` is ``-expm1(log p)``, so neither saturates.
    """
    targets, log_probs, valid = lp.targets_and_log_probs(
        y_true,
        y_pred,
        from_logits=from_logits,
        sparse=sparse,
        ignore_class=ignore_class,
        label_smoothing=label_smoothing,
        axis=axis,
    )
    one_minus_p = -ops.expm1(log_probs)
    terms = -targets * modulating_factor(one_minus_p, gamma) * log_probs
    weights = class_weights(alpha, log_probs.shape[-1], log_probs.dtype)
    if weights is not None:
        terms = terms * weights
    return lp.mask_ignored(ops.sum(terms, axis=-1), valid)


@keras.saving.register_keras_serializable(package="kerasplus")
class FocalCrossentropy(SoftmaxLoss):
    """Softmax focal loss for dense or sparse labels, stable with logits.

    ``FL = -sum_k alpha_k * y_k * (1 - p_k) ** gamma * log(p_k)``. Unlike
    Keras's `CategoricalFocalCrossentropy`, which clips probabilities (so a
    confidently wrong logit of 1e4 gets a capped loss and a zero gradient), this
    works from `log_softmax` when ``from_logits=True``. With ``gamma=0`` and
    ``alpha=None`` it is cross-entropy.

    Args:
        gamma: focusing parameter, >= 0.
        alpha: None, a scalar weight, or one weight per class.
        label_smoothing: in [0, 1).
        from_logits: whether `y_pred` holds logits.
        sparse: labels are class indices rather than one-hot/soft vectors.
        ignore_class: with ``sparse=True``, a label to ignore.
        axis: the class axis.
        reduction: as `keras.losses.Loss`.
        name: as `keras.losses.Loss`.
        dtype: as `keras.losses.Loss`.

    Example:

    >>> import kerasplus
    >>> loss = kerasplus.losses.FocalCrossentropy(gamma=2.0, from_logits=True, sparse=True)
    >>> round(float(loss([1], [[1e4, 0.0, 0.0]])), 1)
    10000.0
    """

    def __init__(
        self,
        gamma: float = 2.0,
        alpha: float | Sequence[float] | None = None,
        label_smoothing: float = 0.0,
        from_logits: bool = False,
        sparse: bool = False,
        ignore_class: int | None = None,
        axis: int = -1,
        reduction: str | None = "sum_over_batch_size",
        name: str = "focal_crossentropy",
        dtype: str | None = None,
    ) -> None:
        super().__init__(label_smoothing, from_logits, sparse, ignore_class, axis, reduction, name, dtype)
        self.gamma = v.check_float32_non_negative("gamma", gamma)
        self.alpha = check_alpha(alpha)

    def call(self, y_true: Any, y_pred: Any) -> Any:
        return focal_crossentropy(y_true, y_pred, self.gamma, self.alpha, **self.target_arguments())

    def get_config(self) -> dict:
        return {**super().get_config(), "gamma": self.gamma, "alpha": self.alpha}
