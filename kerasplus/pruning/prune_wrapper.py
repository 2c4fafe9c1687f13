"""`PruneWrapper`: magnitude pruning of one Dense, Conv1D, Conv2D, DepthwiseConv2D or Embedding kernel."""

from __future__ import annotations

from typing import Any

import keras
from keras import ops

from kerasplus import _validation as v
from kerasplus.pruning._masks import block_mask, m_by_n_mask, magnitude_mask
from kerasplus.pruning._schedule import PruningSchedule

L = keras.layers
PRUNABLE_LAYERS = (L.Dense, L.Conv1D, L.Conv2D, L.DepthwiseConv2D, L.Embedding)
# N:M sparsity runs along the input channels of a kernel that sums over them.
M_BY_N_LAYERS = (L.Dense, L.Conv1D, L.Conv2D)


def kernel_of(layer: keras.layers.Layer):
    """The variable that pruning masks: ``embeddings`` for an Embedding, else ``kernel``."""
    return layer.embeddings if isinstance(layer, L.Embedding) else layer.kernel


def check_pruning_arguments(schedule: Any, sparsity_m_by_n: Any, block_size: Any) -> tuple:
    """The checked `(schedule, sparsity_m_by_n, block_size)` of `PruneWrapper` and `prune_model`."""
    if sparsity_m_by_n is not None:
        if isinstance(sparsity_m_by_n, (str, bytes)) or not hasattr(sparsity_m_by_n, "__len__"):
            raise TypeError(
                "`sparsity_m_by_n` must be None or a pair (m, n) of integers, m zeros in every n "
                f"weights, e.g. (2, 4); received sparsity_m_by_n={sparsity_m_by_n!r}."
            )
        if len(sparsity_m_by_n) != 2:
            raise ValueError(
                "`sparsity_m_by_n` must be a pair (m, n), m zeros in every n weights, e.g. (2, 4); "
                f"received sparsity_m_by_n={sparsity_m_by_n!r}."
            )
        n = v.check_int("sparsity_m_by_n[1]", sparsity_m_by_n[1], minimum=2)
        m = v.check_int("sparsity_m_by_n[0]", sparsity_m_by_n[0], minimum=1, maximum=n - 1)
        sparsity_m_by_n = (m, n)
    if isinstance(block_size, (str, bytes)) or not hasattr(block_size, "__len__") or len(block_size) != 2:
        raise TypeError(f"`block_size` must be a pair (rows, columns) of integers; received block_size={block_size!r}.")
    block_size = (
        v.check_int("block_size[0]", block_size[0], minimum=1),
        v.check_int("block_size[1]", block_size[1], minimum=1),
    )
    if sparsity_m_by_n is not None and block_size != (1, 1):
        raise ValueError(
            "`sparsity_m_by_n` and `block_size` are two kinds of structure: pass one; "
            f"received sparsity_m_by_n={sparsity_m_by_n!r}, block_size={block_size!r}."
        )
    if schedule is None and sparsity_m_by_n is None:
        raise ValueError(
            "`schedule` is required for magnitude and block pruning (a kerasplus.pruning.PolynomialDecay or "
            "ConstantSparsity); received schedule=None. Only sparsity_m_by_n=(m, n) works without one."
        )
    if schedule is not None and not isinstance(schedule, PruningSchedule):
        raise TypeError(
            "`schedule` must be a kerasplus.pruning.PolynomialDecay or ConstantSparsity; "
            f"received schedule={schedule!r} of type {type(schedule).__name__}."
        )
    return schedule, sparsity_m_by_n, block_size


@keras.saving.register_keras_serializable(package="kerasplus")
class PruneWrapper(keras.layers.Wrapper):
    """Prunes the kernel of a `Dense`, `Conv1D`, `Conv2D`, `DepthwiseConv2D` or `Embedding` while it trains.

    The wrapper holds a 0/1 `mask` of the kernel's shape and a training step
    counter, `pruning_step` (tfmot's name). At each training call the counter
    goes up by one (the first batch is step 1, as in tfmot), and at the steps
    the `schedule` names the mask is recomputed, inside the compiled train
    step (no callback): the smallest-magnitude weights of the masked kernel are
    zeroed until the schedule's sparsity is reached. The layer always computes
    with ``kernel * mask``, so the pruned weights take part in nothing and get
    zero gradient; a weight once pruned stays pruned (masks only grow), even if
    an optimizer with momentum or weight decay moves its stored value.
    `kerasplus.pruning.strip_pruning` writes ``kernel * mask`` back into plain
    layers. Inference (``training=False``) uses the mask as it is.

    With ``sparsity_m_by_n=(m, n)`` the mask has `m` zeros in every `n`
    consecutive weights along the input channels (2:4 is what NVIDIA sparse
    tensor cores and TFLite's sparse kernels use), chosen by magnitude at the
    schedule's update steps (at step 1 when `schedule` is None, as tfmot); the
    schedule's sparsity value is not used. With ``block_size=(r, c)`` whole
    ``r x c`` blocks of a 2-D kernel are pruned, ranked by mean magnitude (tfmot's
    ``block_pooling_type="AVG"``).

    Usually built by `kerasplus.pruning.prune_model`.

    Args:
        layer: a `keras.layers.Dense`, `Conv1D`, `Conv2D`, `DepthwiseConv2D`
            or `Embedding`.
        schedule: a `kerasplus.pruning.PolynomialDecay` or `ConstantSparsity`;
            may be None only with `sparsity_m_by_n`.
        sparsity_m_by_n: None, or ``(m, n)``: m zeros in every n weights along
            the input dimension (Dense, Conv1D, Conv2D; the input dimension must
            be a multiple of n).
        block_size: ``(rows, columns)`` of the blocks pruned together; other
            than ``(1, 1)`` only for kernels that are 2-D (Dense, Embedding,
            1x1 convolutions).

    Example:

    >>> import numpy as np, keras, kerasplus
    >>> schedule = kerasplus.pruning.ConstantSparsity(0.75, begin_step=0, frequency=1)
    >>> layer = kerasplus.pruning.PruneWrapper(keras.layers.Dense(4), schedule)
    >>> y = layer(np.ones((2, 8), "float32"), training=True)
    >>> int(layer.pruning_step.numpy()), float(np.mean(layer.mask.numpy() == 0))
    (1, 0.75)
    """

    def __init__(
        self,
        layer: keras.layers.Layer,
        schedule: PruningSchedule | None = None,
        sparsity_m_by_n: tuple[int, int] | None = None,
        block_size: tuple[int, int] = (1, 1),
        **kwargs,
    ) -> None:
        if type(layer) not in PRUNABLE_LAYERS:
            raise TypeError(
                "`layer` must be a keras.layers.Dense, Conv1D, Conv2D, DepthwiseConv2D or Embedding; "
                f"received layer={layer!r} of type {type(layer).__name__}."
            )
        if getattr(layer, "lora_enabled", False) or getattr(layer, "quantization_mode", None):
            raise ValueError(
                f"`layer` {layer.name!r} has LoRA or Keras quantization enabled, which replaces its kernel; "
                "prune the float layer, then quantize (kerasplus.quantization.quantize_model)."
            )
        self.schedule, self.sparsity_m_by_n, self.block_size = check_pruning_arguments(
            schedule, sparsity_m_by_n, block_size
        )
        super().__init__(layer, **kwargs)
        self.supports_masking = getattr(layer, "supports_masking", False)

    def build(self, input_shape: Any = None) -> None:
        super().build(input_shape)
        shape = tuple(kernel_of(self.layer).shape)
        name = self.layer.name
        if self.sparsity_m_by_n is not None:
            m, n = self.sparsity_m_by_n
            if type(self.layer) not in M_BY_N_LAYERS:
                raise ValueError(
                    f"`sparsity_m_by_n`={self.sparsity_m_by_n!r} applies along the input channels of a Dense, "
                    f"Conv1D or Conv2D kernel; layer {name!r} is a {type(self.layer).__name__} "
                    f"(kernel shape {shape}). Leave it out of `layer_names`, or use magnitude pruning."
                )
            if shape[-2] % n:
                raise ValueError(
                    f"`sparsity_m_by_n`={self.sparsity_m_by_n!r} needs the input dimension of layer {name!r} "
                    f"to be a multiple of {n}; its kernel has shape {shape}, input dimension {shape[-2]}."
                )
        if self.block_size != (1, 1) and len([d for d in shape if d != 1]) != 2:
            raise ValueError(
                f"`block_size`={self.block_size!r} prunes blocks of a 2-D kernel; layer {name!r} has kernel "
                f"shape {shape}. Use block_size=(1, 1) for it (leave it out of `layer_names`)."
            )
        self.mask = self.add_weight(
            name="mask", shape=shape, initializer="ones", trainable=False, dtype="float32", autocast=False
        )
        self.pruning_step = self.add_weight(
            name="pruning_step", shape=(), initializer="zeros", trainable=False, dtype="int32", autocast=False
        )

    def _should_update(self, step):
        if self.schedule is None:
            return ops.equal(step, 1), None
        return self.schedule(step)

    def _new_mask(self, sparsity):
        magnitude = ops.abs(ops.cast(kernel_of(self.layer), "float32") * self.mask)
        if self.sparsity_m_by_n is not None:
            return m_by_n_mask(magnitude, *self.sparsity_m_by_n)
        if self.block_size != (1, 1):
            shape = magnitude.shape
            flat = ops.reshape(magnitude, [d for d in shape if d != 1])
            return ops.reshape(block_mask(flat, self.block_size, sparsity), shape) * self.mask
        # Pruned weights have magnitude 0 and rank lowest; the product keeps them pruned if the target falls.
        return magnitude_mask(magnitude, sparsity) * self.mask

    def pruned_kernel(self) -> Any:
        """The kernel as the layer uses it: ``kernel * mask``."""
        kernel = kernel_of(self.layer)
        return ops.multiply(kernel, ops.cast(self.mask, kernel.dtype))

    def call(self, inputs: Any, training: bool | None = None) -> Any:
        if training:
            step = self.pruning_step + 1
            self.pruning_step.assign(step)
            update, sparsity = self._should_update(step)
            mask = ops.cond(update, lambda: self._new_mask(sparsity), lambda: ops.convert_to_tensor(self.mask))
            self.mask.assign(mask)
        kernel = self.pruned_kernel()
        return self._forward(inputs, kernel)

    def _forward(self, inputs, kernel):
        """The wrapped layer's own computation (as in its `call`), with `kernel` in place of its kernel."""
        layer = self.layer
        if isinstance(layer, L.Embedding):
            if inputs.dtype not in ("int32", "int64"):
                inputs = ops.cast(inputs, "int32")
            return ops.cast(ops.take(kernel, inputs, axis=0), layer.compute_dtype)
        if isinstance(layer, L.Dense):
            y = ops.matmul(inputs, kernel)
        elif isinstance(layer, L.DepthwiseConv2D):
            y = ops.depthwise_conv(
                inputs,
                kernel,
                strides=layer.strides,
                padding=layer.padding,
                dilation_rate=layer.dilation_rate,
                data_format=layer.data_format,
            )
        else:
            padding = layer.padding
            if padding == "causal":  # Conv1D: pad the past, as Conv1D.call does
                left = layer.dilation_rate[0] * (layer.kernel_size[0] - 1)
                time_axis = 1 if layer.data_format == "channels_last" else 2
                pads = [(0, 0)] * 3
                pads[time_axis] = (left, 0)
                inputs = ops.pad(inputs, pads)
                padding = "valid"
            y = ops.conv(
                inputs,
                kernel,
                strides=list(layer.strides),
                padding=padding,
                dilation_rate=layer.dilation_rate,
                data_format=layer.data_format,
            )
        if layer.use_bias:
            rank = len(y.shape)
            bias_shape = [1] * rank
            bias_shape[-1 if isinstance(layer, L.Dense) or layer.data_format == "channels_last" else 1] = -1
            y = ops.add(y, ops.reshape(layer.bias, bias_shape))
        if layer.activation is not None:
            y = layer.activation(y)
        return y

    def compute_mask(self, inputs: Any, mask: Any = None) -> Any:
        return self.layer.compute_mask(inputs, mask)

    def compute_output_shape(self, input_shape: tuple) -> tuple:
        return self.layer.compute_output_shape(input_shape)

    def get_config(self) -> dict:
        config = super().get_config()
        config.update(
            schedule=None if self.schedule is None else keras.saving.serialize_keras_object(self.schedule),
            sparsity_m_by_n=None if self.sparsity_m_by_n is None else list(self.sparsity_m_by_n),
            block_size=list(self.block_size),
        )
        return config

    @classmethod
    def from_config(cls, config: dict, custom_objects: dict | None = None) -> PruneWrapper:
        config = dict(config)
        schedule = config.pop("schedule", None)
        if schedule is not None:
            schedule = keras.saving.deserialize_keras_object(schedule, custom_objects=custom_objects)
        layer = keras.saving.deserialize_keras_object(config.pop("layer"), custom_objects=custom_objects)
        return cls(layer, schedule=schedule, **config)
