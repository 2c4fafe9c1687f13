"""`QuantizeWrapper`: quantization-aware training of one Dense, Conv1D, Conv2D or DepthwiseConv2D."""

from __future__ import annotations

from typing import Any

import keras
from keras import ops

from kerasplus import _validation as v
from kerasplus.quantization._fake_quant import FIXED_RANGES, MovingRange, quantize_weights, quantized_activation

WEIGHTED_LAYERS = (keras.layers.Dense, keras.layers.Conv1D, keras.layers.Conv2D, keras.layers.DepthwiseConv2D)
# Activations TFLite fuses into the preceding Dense/Conv (one int8 output range).
FUSED_ACTIVATIONS = ("linear", "relu", "relu6")
# Activations whose int8 TFLite kernels use a fixed output range, so no range is learned after them.
FIXED_RANGE_ACTIVATIONS = tuple(FIXED_RANGES)
# Activations with an int8 TFLite kernel of their own (after the layer's int8 output):
# LOGISTIC+MUL for silu, HARD_SWISH, GELU, and the fixed-range ones.
INT8_ACTIVATIONS = ("silu", "hard_silu", "gelu", *FIXED_RANGE_ACTIVATIONS)


def activation_name(activation) -> str:
    """The canonical Keras name of `activation` ("swish" -> "silu", "hard_swish" -> "hard_silu")."""
    if isinstance(activation, str):
        try:
            activation = keras.activations.get(activation)
        except ValueError:
            return activation
    name = keras.activations.serialize(activation)
    if isinstance(name, dict):
        name = name.get("config", name.get("class_name"))
    return str(name)


@keras.saving.register_keras_serializable(package="kerasplus")
class QuantizeWrapper(keras.layers.Wrapper):
    """Trains a `Dense`, `Conv1D`, `Conv2D` or `DepthwiseConv2D` layer with int8 fake quantization.

    At every call the kernel is fake-quantized to symmetric int8 (zero point 0,
    values in ``[-127, 127]``): per output channel for `Conv1D`, `Conv2D` and
    `DepthwiseConv2D`, per tensor for `Dense` (the TFLite converter rejects
    per-channel fake quantization on a fully connected kernel). The bias is
    kept in float (TFLite stores it as int32). The output, after the fused
    activation, is fake-quantized to int8 over a range kept as a moving average
    of the batch minimum and maximum, updated only when ``training=True``.
    The converted int8 TFLite op computes the same values, so the trained model
    is what gets deployed. Under a `tf.distribute` strategy the ranges move by
    the whole global batch's minimum and maximum (the replicas gather them), so
    every replica keeps the same ranges and training matches one device.

    Usually built by `kerasplus.quantization.quantize_model`, which also folds
    a following `BatchNormalization` into the kernel and bias and fuses a
    following ReLU into `activation`.

    Args:
        layer: a built or unbuilt `keras.layers.Dense`, `Conv1D` or `Conv2D`
            (``groups=1``, ``channels_last``) or `DepthwiseConv2D`
            (``channels_last``) whose own activation is ``"linear"``.
        activation: activation applied after the bias: ``"linear"``,
            ``"relu"``, ``"relu6"`` (fused, as TFLite does), or any other Keras
            activation name; the layer's output then gets an int8 range of its
            own before the activation, as TFLite runs the activation as a
            separate int8 op. ``"softmax"``, ``"sigmoid"`` and ``"tanh"`` end
            on TFLite's fixed output grids (1/256, 1/256, 1/128), and
            ``"silu"`` rounds its sigmoid to the 1/256 grid of TFLite's
            LOGISTIC before the product.
        quantize_inputs: also fake-quantize the input (over a moving range);
            needed where the input does not come from a quantized layer, e.g.
            the model input.
        ema_decay: decay of the moving-average ranges, in ``[0, 1)``.
        quantize_outputs: give the output its int8 range (default). False
            where the next layer owns it: `quantize_model` sets it for a
            convolution followed by an `AveragePooling2D`, whose int8 TFLite
            op must keep its input's scale (its `QuantizeOutput` with
            ``same_scale=True`` rounds both onto one range). Only with an
            activation TFLite fuses (linear, relu, relu6).
        preserve_sparsity: multiply the kernel by a fixed, non-trainable 0/1
            `sparsity_mask` (all ones until set, e.g. by `quantize_model` with
            ``QuantizationConfig(preserve_sparsity=True)`` to the kernel's
            nonzero entries) before fake quantization, so pruned weights stay
            zero through QAT.

    Example:

    >>> import numpy as np, keras, kerasplus
    >>> layer = kerasplus.quantization.QuantizeWrapper(
    ...     keras.layers.Dense(3), activation="relu", quantize_inputs=True)
    >>> y = layer(np.ones((2, 4), "float32"), training=True)
    >>> float(layer.output_range.minimum.numpy()), tuple(y.shape)
    (0.0, (2, 3))
    """

    def __init__(
        self,
        layer: keras.layers.Layer,
        activation: str = "linear",
        quantize_inputs: bool = False,
        ema_decay: float = 0.99,
        preserve_sparsity: bool = False,
        quantize_outputs: bool = True,
        **kwargs,
    ) -> None:
        if type(layer) not in WEIGHTED_LAYERS:
            raise TypeError(
                "`layer` must be a keras.layers.Dense, Conv2D or DepthwiseConv2D; "
                f"received layer={layer!r} of type {type(layer).__name__}."
            )
        if activation_name(layer.activation) != "linear":
            raise ValueError(
                f"`layer` must have activation='linear' (pass its activation as `activation`); "
                f"received a {type(layer).__name__} with activation={activation_name(layer.activation)!r}."
            )
        if not isinstance(layer, keras.layers.Dense):
            if layer.data_format != "channels_last":
                raise ValueError(
                    f"`layer` must use data_format='channels_last' (TFLite's layout); "
                    f"received data_format={layer.data_format!r}."
                )
            if layer.padding == "causal":
                raise ValueError(
                    "`layer` must use padding='valid' or 'same' (pad causally with a ZeroPadding1D first); "
                    "received padding='causal'."
                )
            if getattr(layer, "groups", 1) != 1:
                raise ValueError(f"`layer` must have groups=1; received groups={layer.groups!r}.")
        super().__init__(layer, **kwargs)
        if not isinstance(activation, str):
            raise TypeError(f"`activation` must be a Keras activation name; received activation={activation!r}.")
        keras.activations.get(activation)  # an unknown name fails here
        self.activation = activation_name(activation)
        self.quantize_inputs = v.check_bool("quantize_inputs", quantize_inputs)
        self.ema_decay = v.check_range("ema_decay", ema_decay, 0.0, 1.0, high_inclusive=False)
        self.preserve_sparsity = v.check_bool("preserve_sparsity", preserve_sparsity)
        self.quantize_outputs = v.check_bool("quantize_outputs", quantize_outputs)
        if not self.quantize_outputs and self.activation not in FUSED_ACTIVATIONS:
            raise ValueError(
                f"`quantize_outputs=False` needs an activation TFLite fuses {FUSED_ACTIVATIONS}; "
                f"received activation={self.activation!r}."
            )

    @property
    def fused(self) -> bool:
        return self.activation in FUSED_ACTIVATIONS

    def build(self, input_shape: tuple) -> None:
        super().build(input_shape)
        self.input_range = MovingRange(self, "input") if self.quantize_inputs else None
        self.pre_activation_range = None if self.fused else MovingRange(self, "pre_activation")
        fixed = self.activation in FIXED_RANGE_ACTIVATIONS
        self.output_range = None if fixed or not self.quantize_outputs else MovingRange(self, "output")
        self.sparsity_mask = None
        if self.preserve_sparsity:
            self.sparsity_mask = self.add_weight(
                name="sparsity_mask",
                shape=self.layer.kernel.shape,
                initializer="ones",
                trainable=False,
                dtype="float32",
                autocast=False,
            )

    def quantized_kernel(self) -> Any:
        """The kernel as the int8 model sees it (fake-quantized)."""
        kernel = self.layer.kernel
        if self.sparsity_mask is not None:
            kernel = ops.multiply(kernel, ops.cast(self.sparsity_mask, kernel.dtype))
        if isinstance(self.layer, keras.layers.DepthwiseConv2D):
            # Channels of a depthwise kernel (h, w, in, multiplier) are in * multiplier.
            h, w, cin, mult = kernel.shape
            flat = quantize_weights(ops.reshape(kernel, (h, w, cin * mult)), per_channel=True)
            return ops.reshape(flat, (h, w, cin, mult))
        # Conv1D/Conv2D kernels end with the output channels, Dense kernels are quantized per tensor.
        return quantize_weights(kernel, per_channel=not isinstance(self.layer, keras.layers.Dense))

    def call(self, inputs: Any, training: bool | None = None) -> Any:
        layer = self.layer
        x = inputs
        if self.input_range is not None:
            x = self.input_range(x, training, self.ema_decay)
        if isinstance(layer, keras.layers.Conv1D):
            # As TensorFlow lowers conv1d (a height-1 conv2d), but with the kernel quantized
            # after the expansion: the converter needs the per-channel axis of the 4-D kernel.
            kernel = quantize_weights(ops.expand_dims(layer.kernel, 0), per_channel=True)
            y = ops.conv(
                ops.expand_dims(x, 1),
                kernel,
                strides=(1, layer.strides[0]),
                padding=layer.padding,
                data_format="channels_last",
                dilation_rate=(1, layer.dilation_rate[0]),
            )
            y = ops.squeeze(y, axis=1)
        elif isinstance(layer, keras.layers.Dense):
            y = ops.matmul(x, self.quantized_kernel())
        elif isinstance(layer, keras.layers.DepthwiseConv2D):
            y = ops.depthwise_conv(
                x,
                self.quantized_kernel(),
                strides=layer.strides,
                padding=layer.padding,
                data_format=layer.data_format,
                dilation_rate=layer.dilation_rate,
            )
        else:
            y = ops.conv(
                x,
                self.quantized_kernel(),
                strides=layer.strides,
                padding=layer.padding,
                data_format=layer.data_format,
                dilation_rate=layer.dilation_rate,
            )
        if layer.use_bias:
            y = ops.add(y, layer.bias)
        if self.pre_activation_range is not None:
            y = self.pre_activation_range(y, training, self.ema_decay)
        y = quantized_activation(y, self.activation, training)
        if self.output_range is not None:
            y = self.output_range(y, training, self.ema_decay)
        return y

    def compute_output_shape(self, input_shape: tuple) -> tuple:
        return self.layer.compute_output_shape(input_shape)

    def get_config(self) -> dict:
        config = super().get_config()
        config.update(
            activation=self.activation,
            quantize_inputs=self.quantize_inputs,
            ema_decay=self.ema_decay,
            preserve_sparsity=self.preserve_sparsity,
            quantize_outputs=self.quantize_outputs,
        )
        return config
