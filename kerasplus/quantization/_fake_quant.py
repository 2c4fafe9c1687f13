"""Fake quantization shared by the quantization wrappers.

Everything here lowers, under the TensorFlow backend, to the ``FakeQuant*``
ops that the TFLite converter turns into int8 tensors:

* weights: symmetric int8 (``[-127, 127]``, zero point 0), the range taken from
  the weights themselves at every call, per output channel or per tensor;
* activations: asymmetric int8 over a range kept as a moving average of the
  batch minimum and maximum (always containing 0), as TFLite expects.
"""

from __future__ import annotations

import keras
from keras import ops

NUM_BITS = 8


def quantize_weights(kernel, per_channel: bool):
    """Symmetric int8 fake quantization of `kernel` (channels on the last axis)."""
    if per_channel:
        reduce_axes = tuple(range(len(kernel.shape) - 1))
        bound = ops.max(ops.abs(kernel), axis=reduce_axes)
    else:
        bound = ops.max(ops.abs(kernel))
    # An all-zero channel would give an empty range; any positive bound quantizes it to 0.
    bound = ops.stop_gradient(ops.maximum(bound, 1e-8))
    return keras.quantizers.fake_quant_with_min_max_vars(
        kernel, -bound, bound, num_bits=NUM_BITS, narrow_range=True, axis=-1 if per_channel else None
    )


class MovingRange:
    """Three non-trainable scalars of a layer: range minimum, maximum, and "seen a batch"."""

    def __init__(self, layer: keras.layers.Layer, name: str):
        def scalar(suffix, value):
            return layer.add_weight(
                name=f"{name}_{suffix}",
                shape=(),
                initializer=keras.initializers.Constant(value),
                trainable=False,
                autocast=False,
            )

        # Before any training batch the range is [-6, 6], as in tfmot.
        self.minimum = scalar("min", -6.0)
        self.maximum = scalar("max", 6.0)
        self.seen = scalar("seen", 0.0)

    def __call__(self, x, training: bool, decay: float):
        """Updates the range from `x` when training, then fake-quantizes `x` over it."""
        if training:
            values = ops.stop_gradient(ops.cast(x, "float32"))
            batch_min = ops.minimum(ops.min(values), 0.0)
            batch_max = ops.maximum(ops.max(values), 0.0)
            # The first batch sets the range; later batches move it by an EMA.
            first = ops.equal(self.seen, 0.0)
            new_min = ops.where(first, batch_min, decay * self.minimum + (1.0 - decay) * batch_min)
            new_max = ops.where(first, batch_max, decay * self.maximum + (1.0 - decay) * batch_max)
            self.minimum.assign(new_min)
            self.maximum.assign(new_max)
            self.seen.assign(1.0)
            low, high = new_min, new_max
        else:
            low, high = self.minimum, self.maximum
        return keras.quantizers.fake_quant_with_min_max_vars(x, low, high, num_bits=NUM_BITS)
