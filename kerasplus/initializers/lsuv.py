"""Layer-sequential unit-variance initialization (Mishkin & Matas 2016)."""

from __future__ import annotations

import math
from typing import Any

import keras
import numpy as np
from keras import ops

from kerasplus import _validation as v
from kerasplus.initializers.kernel_layers import custom_owner, input_structure, kernel_layers, kernel_of
from kerasplus.initializers.reinitialize import check_built


def _check_batch(model, batch):
    """Checks `batch` against the model's input structure (one array, a dict or a list); returns its size."""
    structure = input_structure(model) if model.inputs else None
    if structure is None:
        shape = tuple(np.shape(batch))
        size = shape[0] if shape else 0
    else:
        if isinstance(structure, dict) and not (isinstance(batch, dict) and set(batch) == set(structure)):
            got = sorted(batch) if isinstance(batch, dict) else f"a {type(batch).__name__}"
            raise ValueError(f"`batch` must be a dict with the model's inputs {sorted(structure)}; received {got}.")
        if isinstance(structure, (list, tuple)) and not (
            isinstance(batch, (list, tuple)) and len(batch) == len(structure)
        ):
            raise ValueError(
                f"`batch` must be a list of {len(structure)} arrays, one per model input; received "
                f"a {type(batch).__name__}{f' of {len(batch)}' if isinstance(batch, (list, tuple)) else ''}."
            )
        pairs = (
            [(key, structure[key], batch[key]) for key in structure]
            if isinstance(structure, dict)
            else [(i, s, b) for i, (s, b) in enumerate(zip(structure, batch))]
            if isinstance(structure, (list, tuple))
            else [(None, structure, batch)]
        )
        sizes = set()
        for key, tensor, value in pairs:
            expected = tuple(tensor.shape[1:])
            shape = tuple(np.shape(value))
            if len(shape) != len(expected) + 1 or any(e is not None and e != s for e, s in zip(expected, shape[1:])):
                where = "" if key is None else f"[{key!r}]"
                raise ValueError(
                    f"`batch`{where} must have shape (n, {', '.join(str(e) for e in expected)}) to fit "
                    f"the model's input; received batch{where} of shape {shape}."
                )
            sizes.add(shape[0])
        if len(sizes) != 1:
            raise ValueError(f"`batch`'s inputs must have the same number of examples; received {sorted(sizes)}.")
        (size,) = sizes
    if size < 2:
        raise ValueError(f"`batch` needs at least 2 examples to measure a variance; received {size}.")
    return size


def layer_input_model(model, layer):
    """A model from the model's inputs (as it takes them: one, a dict or a list) to `layer`'s input."""
    return keras.Model(input_structure(model), layer.input)


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
        model: a built functional or Sequential model (one input, a dict of
            inputs or several).
        batch: a representative input batch (at least 2 examples), as the
            model takes it: an array, a dict keyed by input name, or a list.
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
    if not isinstance(model, keras.Model):
        raise TypeError(f"`model` must be a keras Model; received {type(model).__name__}.")
    if not isinstance(model, keras.Sequential) and not getattr(model, "inputs", None):
        raise TypeError(
            f"lsuv needs a Sequential or functional model, whose layers' inputs it can feed; {model.name!r} is a "
            f"subclassed {type(model).__name__} without model.inputs. Call lsuv on its functional sub-models "
            "(e.g. a GAN's generator and discriminator), or build the model functionally with keras.Input."
        )
    check_built(model, "lsuv")
    tol = v.check_range("tol", tol, 0.0, 1.0, low_inclusive=False, high_inclusive=False)
    max_iters = v.check_int("max_iters", max_iters, minimum=1)
    v.check_optional_int("seed", seed)
    _check_batch(model, batch)
    batch = keras.tree.map_structure(ops.convert_to_tensor, batch)
    hidden = [layer for layer in kernel_layers(model, into_custom_layers=True) if custom_owner(model, layer)]
    if hidden:
        owner = custom_owner(model, hidden[0])
        raise ValueError(
            f"lsuv cannot feed {hidden[0].name!r} inside the layer {owner.name!r} "
            f"({type(owner).__name__}): it measures each kernel layer's output on the batch, and the sublayers "
            "a layer calls itself (a custom layer's, a recurrent layer's cell) are not in the model's graph. "
            "Build the block from layers in a functional model, or use kerasplus.initializers.reinitialize."
        )
    nested = [
        (owner, layer) for owner in model.layers if isinstance(owner, keras.Model) for layer in kernel_layers(owner)
    ]
    if nested:
        owner, layer = nested[0]
        raise ValueError(
            f"lsuv cannot feed {layer.name!r} inside the nested model {owner.name!r} ({type(owner).__name__}): "
            "it feeds each kernel layer from the model's inputs, and a nested model's layers read that model's "
            "own inputs. Build the model from the nested model's layers in one functional graph, or use "
            "kerasplus.initializers.reinitialize (it needs no batch)."
        )
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
