"""Choosing a weight initializer from the activation that follows the layer.

The flowchart (He et al. 2015, Glorot & Bengio 2010, Klambauer et al. 2017):

| activation after the layer                           | initializer                 | variance of weights        |
|------------------------------------------------------|-----------------------------|----------------------------|
| relu, relu6, elu, celu, gelu, silu/swish, mish, ...   | He (`HeNormal`/`HeUniform`) | 2 / fan_in                 |
| leaky_relu with slope a                               | He with leaky gain          | 2 / ((1 + a**2) * fan_in)  |
| tanh, sigmoid, softmax, softsign, linear / none       | Glorot (Xavier)             | 2 / (fan_in + fan_out)     |
| selu                                                  | LeCun normal                | 1 / fan_in                 |
"""

from __future__ import annotations

from collections.abc import Callable

import keras

from kerasplus import _validation as v

HE = (
    "relu",
    "relu6",
    "elu",
    "celu",
    "gelu",
    "silu",
    "swish",
    "mish",
    "hard_silu",
    "hard_swish",
    "softplus",
    "squareplus",
    "sparse_plus",
    "threshold",
    "exponential",
)
LEAKY = ("leaky_relu",)
GLOROT = (
    "tanh",
    "sigmoid",
    "hard_sigmoid",
    "sparse_sigmoid",
    "softmax",
    "log_softmax",
    "softsign",
    "hard_tanh",
    "linear",
    "tanh_shrink",
    "soft_shrink",
    "hard_shrink",
    "sparsemax",
    "log_sigmoid",
)
LECUN = ("selu",)
SUPPORTED = HE + LEAKY + GLOROT + LECUN
DISTRIBUTIONS = ("normal", "uniform")
LEAKY_RELU_DEFAULT_SLOPE = 0.2  # keras.activations.leaky_relu's default


def activation_name(activation) -> str:
    """'relu' for "relu", keras.activations.relu, a ReLU layer, None -> 'linear'."""
    if activation is None:
        return "linear"
    if isinstance(activation, str):
        return activation.lower()
    if isinstance(activation, keras.layers.Layer):
        return _layer_activation(activation)
    if callable(activation):
        name = keras.activations.serialize(activation)
        return name if isinstance(name, str) else getattr(activation, "__name__", repr(activation))
    raise TypeError(
        "`activation` must be a name, a keras activation function, an activation "
        f"layer or None; received activation={activation!r}."
    )


def _layer_activation(layer) -> str:
    if isinstance(layer, keras.layers.Activation):
        return activation_name(layer.activation)
    names = {
        keras.layers.ReLU: "relu",
        keras.layers.LeakyReLU: "leaky_relu",
        keras.layers.ELU: "elu",
        keras.layers.Softmax: "softmax",
        keras.layers.PReLU: "leaky_relu",
    }
    for cls, name in names.items():
        if isinstance(layer, cls):
            return name
    raise TypeError(f"{type(layer).__name__} is not an activation layer.")


def for_activation(
    activation: str | Callable | keras.layers.Layer | None,
    *,
    negative_slope: float | None = None,
    distribution: str = "normal",
) -> keras.initializers.Initializer:
    """The Keras initializer for weights feeding `activation` (see the table above).

    Args:
        activation: a name (``"relu"``), a Keras activation function, an
            activation layer (`ReLU`, `LeakyReLU`, `Activation`, ...) or None
            (linear).
        negative_slope: slope of leaky ReLU; defaults to 0.2 (Keras's
            `leaky_relu`), or the slope of a given `LeakyReLU` layer.
        distribution: ``"normal"`` (truncated normal, as Keras's `HeNormal`)
            or ``"uniform"``.

    Returns:
        A `keras.initializers.Initializer` (serializable like any Keras one).

    Example:

    >>> import kerasplus
    >>> type(kerasplus.initializers.for_activation("relu")).__name__
    'HeNormal'
    >>> kerasplus.initializers.for_activation("leaky_relu", negative_slope=0.1).scale
    1.9801980198019802
    """
    v.check_choice("distribution", distribution, DISTRIBUTIONS)
    if isinstance(activation, keras.layers.LeakyReLU) and negative_slope is None:
        negative_slope = float(activation.negative_slope)
    name = activation_name(activation)
    normal = distribution == "normal"
    if name in HE:
        return keras.initializers.HeNormal() if normal else keras.initializers.HeUniform()
    if name in LEAKY:
        slope = (
            LEAKY_RELU_DEFAULT_SLOPE
            if negative_slope is None
            else v.check_non_negative("negative_slope", negative_slope)
        )
        return keras.initializers.VarianceScaling(
            scale=2.0 / (1.0 + slope**2),
            mode="fan_in",
            distribution="truncated_normal" if normal else "uniform",
        )
    if name in GLOROT:
        return keras.initializers.GlorotNormal() if normal else keras.initializers.GlorotUniform()
    if name in LECUN:
        return keras.initializers.LecunNormal() if normal else keras.initializers.LecunUniform()
    raise ValueError(f"`activation` {name!r} is not supported; supported: {', '.join(sorted(SUPPORTED))}.")
