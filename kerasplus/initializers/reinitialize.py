"""`reinitialize`: set every kernel from the activation that follows it."""

from __future__ import annotations

import keras
from keras import ops

from kerasplus import _validation as v
from kerasplus.initializers.by_activation import activation_name, for_activation
from kerasplus.initializers.kernel_layers import (
    consumers,
    following_activation,
    kernel_layers,
    kernel_of,
)


def seeded(initializer, seed):
    """A copy of a Keras initializer with `seed` set (None keeps it unseeded)."""
    config = initializer.get_config()
    config["seed"] = seed
    return type(initializer).from_config(config)


def check_built(model, who):
    if not isinstance(model, keras.Model):
        raise TypeError(f"`model` must be a keras Model; received {type(model).__name__}.")
    if not model.built:
        raise ValueError(f"{who} needs a built model: create it with keras.Input or call it on a batch first.")


def reinitialize(model: keras.Model, *, zero_init_residual: bool = False, seed: int | None = None) -> list[dict]:
    """Re-draws each Dense/Conv kernel for the activation after it; zeroes biases.

    The activation is the layer's own, or that of the activation layer that
    follows it (through BatchNormalization, Dropout, reshapes); see
    `for_activation` for the table. With ``zero_init_residual=True`` the
    BatchNormalization layers whose output goes straight into an `Add` get
    gamma = 0, so each residual branch starts as the identity (Goyal et al. 2017).

    Args:
        model: a built Sequential or functional model.
        zero_init_residual: zero the last BatchNormalization gamma of residual branches.
        seed: base seed; layer i uses ``seed + i``.

    Returns:
        One dict per changed layer: ``layer``, ``activation``, ``initializer``
        (or ``gamma`` for a zeroed BatchNormalization).

    Example:

    >>> import keras, kerasplus
    >>> model = keras.Sequential([
    ...     keras.Input((8,)),
    ...     keras.layers.Dense(16, activation="relu", name="hidden"),
    ...     keras.layers.Dense(1, name="out"),
    ... ])
    >>> for row in kerasplus.initializers.reinitialize(model, seed=0):
    ...     print(row)
    {'layer': 'hidden', 'activation': 'relu', 'initializer': 'HeNormal'}
    {'layer': 'out', 'activation': 'linear', 'initializer': 'GlorotNormal'}
    """
    check_built(model, "reinitialize")
    v.check_bool("zero_init_residual", zero_init_residual)
    v.check_seed(seed)
    report = []
    for index, layer in enumerate(kernel_layers(model)):
        activation = following_activation(model, layer)
        initializer = seeded(for_activation(activation), None if seed is None else seed + index)
        kernel = kernel_of(layer)
        kernel.assign(initializer(kernel.shape, kernel.dtype))
        bias = getattr(layer, "bias", None)
        if bias is not None:
            bias.assign(ops.zeros(bias.shape, bias.dtype))
        report.append(
            {"layer": layer.name, "activation": activation_name(activation), "initializer": type(initializer).__name__}
        )
    if zero_init_residual:
        for layer in model.layers:
            if isinstance(layer, keras.layers.BatchNormalization) and layer.gamma is not None:
                if any(isinstance(c, keras.layers.Add) for c in consumers(model, layer)):
                    layer.gamma.assign(ops.zeros(layer.gamma.shape, layer.gamma.dtype))
                    report.append({"layer": layer.name, "gamma": 0.0})
    return report
