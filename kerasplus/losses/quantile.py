"""`Quantile` (pinball) loss — also the template for writing your own loss.

A kerasplus loss, and one you write yourself, follows five rules:

1. Subclass `keras.losses.Loss`; register it with
   ``@keras.saving.register_keras_serializable(package=...)`` so a `.keras`
   file loads it with ``safe_mode=True``.
2. Validate every constructor argument in `__init__` (see
   `kerasplus._validation`), naming the argument and the value received.
3. Write the per-example math as a plain function of ``(y_true, y_pred)`` with
   `keras.ops`, so it runs on every backend and under `jit_compile=True`;
   `call` only forwards to it. Return one value per example: Keras applies
   sample weights, masks and the reduction.
4. Compute in float32 when the inputs are float16/bfloat16 (mixed precision).
5. `get_config` returns exactly the constructor arguments.
"""

from __future__ import annotations

from typing import Any

import keras
from keras import ops

from kerasplus import _validation as v
from kerasplus.losses import _log_probs as lp


def quantile_loss(y_true, y_pred, quantile=0.5, axis=-1):
    """Per-example mean of ``max(q * (y - f), (q - 1) * (y - f))``."""
    y_true, y_pred, axis = lp.elementwise_pair(y_true, y_pred, axis)
    error = y_true - y_pred
    return ops.mean(ops.maximum(quantile * error, (quantile - 1.0) * error), axis=axis)


@keras.saving.register_keras_serializable(package="kerasplus")
class Quantile(keras.losses.Loss):
    """Pinball loss for quantile regression; ``quantile=0.5`` is half the MAE.

    Args:
        quantile: the quantile to fit, in (0, 1).
        axis: the axis averaged over.
        reduction: as `keras.losses.Loss`.
        name: as `keras.losses.Loss`.
        dtype: as `keras.losses.Loss`.

    Example:

    >>> import kerasplus
    >>> loss = kerasplus.losses.Quantile(quantile=0.9)
    >>> round(float(loss([[1.0]], [[0.0]])), 2), round(float(loss([[0.0]], [[1.0]])), 2)
    (0.9, 0.1)
    """

    def __init__(
        self,
        quantile: float = 0.5,
        axis: int = -1,
        reduction: str | None = "sum_over_batch_size",
        name: str = "quantile",
        dtype: str | None = None,
    ) -> None:
        super().__init__(name=name, reduction=reduction, dtype=dtype)
        self.quantile = v.check_range("quantile", quantile, 0.0, 1.0, low_inclusive=False, high_inclusive=False)
        self.axis = v.check_int("axis", axis)

    def call(self, y_true: Any, y_pred: Any) -> Any:
        return quantile_loss(y_true, y_pred, self.quantile, self.axis)

    def get_config(self) -> dict:
        config = super().get_config()
        config.update(quantile=self.quantile, axis=self.axis)
        return config
