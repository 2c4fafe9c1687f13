"""Fake quantization shared by the quantization wrappers.

Everything here lowers, under the TensorFlow backend, to the ``FakeQuant*``
ops that the TFLite converter turns into int8 tensors:

* weights: symmetric int8 (``[-127, 127]``, zero point 0), the range taken from
  the weights themselves at every call, per output channel or per tensor;
* activations: asymmetric int8 over a range kept as a moving average of the
  batch minimum and maximum (always containing 0, taken over the whole global
  batch under a `tf.distribute` strategy), as TFLite expects.

Activation ranges are widened by `RANGE_MARGIN` (see there for why).
"""

from __future__ import annotations

import keras
from keras import ops

NUM_BITS = 8
# Activation ranges taken from a batch are widened by this relative margin.
# On the first batch the batch's own extremes define the range, so they sit
# exactly on its edge, and whether FakeQuant passes their straight-through
# gradient then depends on the last bit of the op's range nudging, which XLA
# and graph mode compute differently: measured, the batch maximum of a conv
# output got a gradient in one and not the other (gradients 4e-3 apart), and
# 8 steps of a small QAT conv net ended 4e-4 apart (6e-7 with the margin).
# The margin removes such exact ties; where nudging the zero point moves the
# edge by more (up to half an int8 step), both compute the same clipping. The
# range moves by 1e-5 relative. Weight ranges need none: they are symmetric
# with zero point 0, whose edge is not nudged (tested with and without XLA).
RANGE_MARGIN = 1e-5


# TFLite's int8 kernels of these activations have a fixed output scale and zero
# point (scale 1/256 and zero point -128 for LOGISTIC and SOFTMAX, 1/128 and 0 for
# TANH): as a FakeQuant range, [zero_point, 127] mapped back to float.
FIXED_RANGES = {"sigmoid": (0.0, 255.0 / 256.0), "softmax": (0.0, 255.0 / 256.0), "tanh": (-1.0, 127.0 / 128.0)}


def quantize_fixed(x, activation: str, training: bool = False):
    """Fake-quantizes `x`, the output of `activation`, to the fixed int8 range TFLite gives that op.

    Only at inference: the range ends just below 1 (255/256), where FakeQuant's
    gradient is zero, so a saturated softmax or sigmoid would stop training;
    the rounding is at most 1/512.
    """
    if training:
        return x
    low, high = FIXED_RANGES[activation]
    return keras.quantizers.fake_quant_with_min_max_vars(x, low, high, num_bits=NUM_BITS)


def quantized_activation(x, name: str, training: bool = False):
    """`name` applied to `x` as the int8 TFLite model computes it, up to the output's own range.

    TFLite runs ``silu`` as LOGISTIC then MUL, so the sigmoid is rounded to its
    fixed 1/256 grid before the product; ``sigmoid``, ``tanh`` and ``softmax``
    end on their fixed grids. Other activations (``relu``, ``relu6``,
    ``hard_silu`` as HARD_SWISH, ``gelu`` as GELU) are one int8 op whose output
    range is learned by the caller.
    """
    if name == "silu":
        return x * quantize_fixed(ops.sigmoid(x), "sigmoid", training)
    y = keras.activations.get(name)(x)
    return quantize_fixed(y, name, training) if name in FIXED_RANGES else y


def quantize_weights(kernel, per_channel: bool):
    """Symmetric int8 fake quantization of `kernel` (channels on the last axis)."""
    magnitude = ops.abs(ops.cast(kernel, "float32"))  # float32 also under mixed precision (the op's dtype)
    if per_channel:
        reduce_axes = tuple(range(len(kernel.shape) - 1))
        bound = ops.max(magnitude, axis=reduce_axes)
    else:
        bound = ops.max(magnitude)
    # An all-zero channel would give an empty range; any positive bound quantizes it to 0.
    bound = ops.stop_gradient(ops.maximum(bound, 1e-8))
    return keras.quantizers.fake_quant_with_min_max_vars(
        kernel, -bound, bound, num_bits=NUM_BITS, narrow_range=True, axis=-1 if per_channel else None
    )


def across_replicas(batch_min, batch_max):
    """`batch_min` and `batch_max` over every replica's slice of the global batch.

    Inside a `tf.distribute` strategy each replica sees only its slice; without
    this each replica would move the range by its own slice's extremes (as
    BatchNormalization without ``synchronized=True`` does) and training would
    differ from one device on the same global batch (measured: weights 0.03
    apart after 8 steps on two replicas). `tf.distribute` has no MIN/MAX
    all-reduce, so the two scalars are all-gathered. Other backends are left
    as they are: on JAX a batch sharded by `keras.distribution` is one global
    array, so its min/max are already global.
    """
    if keras.backend.backend() != "tensorflow":
        return batch_min, batch_max
    import tensorflow as tf

    context = tf.distribute.get_replica_context()
    if context is None or context.num_replicas_in_sync == 1:
        return batch_min, batch_max
    local = tf.reshape(tf.stack([-batch_min, batch_max]), (1, 2))
    top = tf.reduce_max(context.all_gather(local, axis=0), axis=0)
    return -top[0], top[1]


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
            # The range always contains 0; `initial` also makes an empty slice give 0 (eager too).
            batch_min = ops.min(values, initial=0.0)
            batch_max = ops.max(values, initial=0.0)
            batch_min, batch_max = across_replicas(batch_min, batch_max)
            batch_min, batch_max = batch_min * (1.0 + RANGE_MARGIN), batch_max * (1.0 + RANGE_MARGIN)
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
