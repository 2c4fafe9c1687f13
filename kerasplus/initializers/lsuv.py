"""Layer-sequential unit-variance initialization (Mishkin & Matas 2016)."""

from __future__ import annotations

import math
from typing import Any

import keras
import numpy as np
from keras import ops

from kerasplus import _validation as v
from kerasplus.initializers.kernel_layers import kernel_layers, kernel_of
from kerasplus.initializers.reinitialize import check_built


def _check_batch(model, batch):
    expected = tuple(model.inputs[0].shape[1:]) if model.inputs else None
    shape = tuple(np.shape(batch))
    if expected is not None and (
        len(shape) != len(expected) + 1 or any(e is not None and e != s for e, s in zip(expected, shape[1:]))
    ):
        raise ValueError(
            f"`batch` must have shape (n, {', '.join(str(e) for e in expected)}) to fit "
            f"the model's input; received batch of shape {shape}."
        )
    if shape[0] < 2:
        raise ValueError(f"`batch` needs at least 2 examples to measure a variance; received {shape[0]}.")


def layer_input_model(model, layer):
    """A model from the (single) model input to `layer`'s input."""
    return keras.Model(model.inputs[0], layer.input)


def pre_activation(feed, layer, batch):
    """`layer`'s output on `batch` before its own activation; `feed` maps batch to its input."""
    return linear_output(layer, feed(batch, training=False))


def linear_output(layer, inputs):
    """`layer`'s output on `inputs` before its own activation."""
    activation = getattr(layer, "activation", None)
    if activation is not None:
        layer.activation = keras.activations.linear
    try:
        return layer(inputs, training=False)
    finally:
        if activation is not None:
            layer.activation = activation


def lsuv(
    model: keras.Model, batch: Any, *, tol: float = 0.1, max_iters: int = 10, seed: int | None = None
) -> list[dict]:
    """Orthogonal kernels, then each layer rescaled until its output variance is 1 ± tol.

    Layers are processed in order (a later rescale cannot move an earlier
    layer's output). The variance is that of the layer's pre-activation output
    on `batch`; biases are set to zero.

    Args:
        model: a built functional or Sequential model with a single input.
        batch: a representative input batch (at least 2 examples).
        tol: tolerance on the variance, in (0, 1).
        max_iters: rescaling rounds per layer, >= 1.
        seed: seed of the orthogonal start.

    Returns:
        One dict per layer: ``layer``, ``variance`` (final), ``iterations``, ``converged``.

    Raises:
        ValueError: the model is not built, `batch` does not fit its input or
            has fewer than 2 examples, or `tol` or `max_iters` is out of range.
        TypeError: `model` is not a keras Model.

    Example:

    >>> import keras, numpy as np, kerasplus
    >>> model = keras.Sequential([
    ...     keras.Input((8,)),
    ...     keras.layers.Dense(16, activation="relu", name="hidden"),
    ...     keras.layers.Dense(1, name="out"),
    ... ])
    >>> batch = np.random.default_rng(0).normal(size=(64, 8)).astype("float32")
    >>> report = kerasplus.initializers.lsuv(model, batch, seed=0)
    >>> [(row["layer"], row["converged"], round(row["variance"], 1)) for row in report]
    [('hidden', True, 1.0), ('out', True, 1.0)]
    """
    check_built(model, "lsuv")
    if not getattr(model, "inputs", None):
        raise TypeError(
            f"lsuv needs a Sequential or functional model, whose layers' inputs it can feed; {model.name!r} is a "
            f"subclassed {type(model).__name__} without model.inputs. Call lsuv on its functional sub-models "
            "(e.g. a GAN's generator and discriminator), or build the model functionally with keras.Input."
        )
    tol = v.check_range("tol", tol, 0.0, 1.0, low_inclusive=False, high_inclusive=False)
    max_iters = v.check_int("max_iters", max_iters, minimum=1)
    v.check_optional_int("seed", seed)
    _check_batch(model, batch)
    batch = ops.convert_to_tensor(batch)
    report = []
    for index, layer in enumerate(kernel_layers(model)):
        kernel = kernel_of(layer)
        orthogonal = keras.initializers.Orthogonal(seed=None if seed is None else seed + index)
        kernel.assign(orthogonal(kernel.shape, kernel.dtype))
        bias = getattr(layer, "bias", None)
        if bias is not None:
            bias.assign(ops.zeros(bias.shape, bias.dtype))
        inputs = layer_input_model(model, layer)(batch, training=False)
        for iteration in range(max_iters + 1):  # the layer's input does not move while its own kernel is rescaled
            variance = float(ops.var(linear_output(layer, inputs)))
            if abs(variance - 1.0) < tol or iteration == max_iters or variance == 0.0:
                break
            kernel.assign(kernel / math.sqrt(variance))
        report.append(
            {
                "layer": layer.name,
                "variance": variance,
                "iterations": iteration,
                "converged": abs(variance - 1.0) < tol,
            }
        )
    return report
