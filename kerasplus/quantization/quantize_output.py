"""`QuantizeOutput`: an int8 range on the output of a layer without weights (Add, pooling, ...)."""

from __future__ import annotations

import inspect
from typing import Any

import keras

from kerasplus import _validation as v
from kerasplus.quantization._fake_quant import FIXED_RANGES, MovingRange, quantized_activation

# Activations TFLite fuses into an int8 ADD, SUB or MUL.
FUSABLE = ("linear", "relu", "relu6")


def _activation(layer):
    """The canonical activation name of an `Activation` or `Softmax` layer, else None."""
    from kerasplus.quantization.quantize_wrapper import activation_name

    if type(layer) is keras.layers.Softmax:
        return "softmax" if layer.axis in (-1, [-1], (-1,)) else None
    if type(layer) is keras.layers.Activation:
        return activation_name(layer.activation)
    return None


@keras.saving.register_keras_serializable(package="kerasplus")
class QuantizeOutput(keras.layers.Wrapper):
    """Runs `layer`, then fake-quantizes its output to int8 over a moving-average range.

    For layers whose int8 TFLite kernel rescales its output (`Add`,
    `Multiply`, `Concatenate`, average pooling, standalone activations, ...):
    the range learned here becomes the output scale and zero point of the int8
    op. Ranges are updated only when ``training=True``. An `Activation` or
    `Softmax` layer is computed as TFLite computes it (see
    `QuantizeWrapper`'s ``activation``): ``"sigmoid"``, ``"tanh"`` and
    softmax end on TFLite's fixed output grid and learn no range.

    Args:
        layer: the layer to run (any Keras layer without trainable weights is
            typical).
        ema_decay: decay of the moving-average range, in ``[0, 1)``.
        activation: ``"linear"`` (default), ``"relu"`` or ``"relu6"``,
            applied to the layer's output before the range: the activation
            TFLite fuses into an int8 ADD, SUB or MUL (as after ResNet's
            residual ``Add``), so there is one int8 output, not two.
        same_scale: the output keeps the input's int8 grid, as TFLite's
            int8 ``AVERAGE_POOL_2D`` must: the range is learned on the
            input, which is fake-quantized over it (TFLite requantizes to it),
            and the output is rounded onto the same grid (halves upwards;
            TFLite rounds a tie away from zero, so such an average can
            differ by one step).

    Example:

    >>> import numpy as np, keras, kerasplus
    >>> add = kerasplus.quantization.QuantizeOutput(keras.layers.Add())
    >>> y = add([np.ones((1, 2), "float32"), np.ones((1, 2), "float32")], training=True)
    >>> y.numpy().round(3).tolist(), round(float(add.output_range.maximum.numpy()), 4)
    ([[2.0, 2.0]], 2.0)
    """

    def __init__(
        self,
        layer: keras.layers.Layer,
        ema_decay: float = 0.99,
        activation: str = "linear",
        same_scale: bool = False,
        **kwargs,
    ) -> None:
        super().__init__(layer, **kwargs)
        self.ema_decay = v.check_range("ema_decay", ema_decay, 0.0, 1.0, high_inclusive=False)
        self.fused_activation = v.check_choice("activation", activation, FUSABLE)
        self.same_scale = v.check_bool("same_scale", same_scale)

    def build(self, input_shape: tuple) -> None:
        super().build(input_shape)
        self.activation = _activation(self.layer)
        self.takes_mask = "mask" in inspect.signature(self.layer.call).parameters
        self.output_range = None if self.activation in FIXED_RANGES else MovingRange(self, "output")

    def call(self, inputs: Any, training: bool | None = None, mask: Any = None) -> Any:
        # `mask`: what the model's graph passes the wrapped layer (a functional BatchNormalization
        # call records ``mask=None``); it reaches the layer when the layer's call takes one.
        if self.activation is not None:
            y = quantized_activation(inputs, self.activation, training)
            if self.activation in FIXED_RANGES:
                return y
        else:
            extra = {"mask": mask} if mask is not None and self.takes_mask else {}
            if self.same_scale:
                x = self.output_range(inputs, training, self.ema_decay)
                return self.output_range(self.layer(x, training=training, **extra), False, self.ema_decay)
            y = self.layer(inputs, training=training, **extra)
            if self.fused_activation != "linear":
                y = keras.activations.get(self.fused_activation)(y)
        return self.output_range(y, training, self.ema_decay)

    def compute_output_shape(self, input_shape: tuple) -> tuple:
        return self.layer.compute_output_shape(input_shape)

    def get_config(self) -> dict:
        config = super().get_config()
        config.update(ema_decay=self.ema_decay, activation=self.fused_activation, same_scale=self.same_scale)
        return config
