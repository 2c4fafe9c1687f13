"""Which layers carry kernels, and which activation follows each one (used by the initializers and the linter)."""

from __future__ import annotations

import keras

from kerasplus._internals import keras as internal_keras

# Layers a signal passes through on its way from a kernel to its activation.
TRANSPARENT = (
    keras.layers.BatchNormalization,
    keras.layers.LayerNormalization,
    keras.layers.GroupNormalization,
    keras.layers.Dropout,
    keras.layers.SpatialDropout1D,
    keras.layers.SpatialDropout2D,
    keras.layers.SpatialDropout3D,
    keras.layers.GaussianNoise,
    keras.layers.Flatten,
    keras.layers.Reshape,
    keras.layers.ZeroPadding2D,
)
ACTIVATION_LAYERS = (
    keras.layers.Activation,
    keras.layers.ReLU,
    keras.layers.LeakyReLU,
    keras.layers.ELU,
    keras.layers.PReLU,
    keras.layers.Softmax,
)
# Merge layers pass the signal on to what follows them (a residual Add, a Concatenate, a gating Multiply).
MERGING = (
    keras.layers.Add,
    keras.layers.Subtract,
    keras.layers.Average,
    keras.layers.Maximum,
    keras.layers.Minimum,
    keras.layers.Multiply,
    keras.layers.Concatenate,
)
KERNEL_ATTRIBUTES = ("kernel", "depthwise_kernel")


def kernel_of(layer):
    """The kernel variable of a Dense/Conv/Depthwise layer, or None."""
    if isinstance(layer, keras.layers.SeparableConv2D) or isinstance(layer, keras.layers.SeparableConv1D):
        return None  # two kernels with different roles: left as they are
    for attribute in KERNEL_ATTRIBUTES:
        variable = getattr(layer, attribute, None)
        if isinstance(variable, keras.Variable):
            return variable
    return None


def kernel_layers(model, into_custom_layers: bool = False):
    """Layers with a kernel, in the order the model runs them (nested models included).

    With `into_custom_layers`, also the kernel layers inside custom layers
    (a `Layer` subclass holding Dense/Conv sublayers), in the order they were
    assigned; `custom_owner` tells which custom layer holds each.
    """
    found = []
    for layer in model.layers:
        if isinstance(layer, keras.Model):
            found.extend(kernel_layers(layer, into_custom_layers))
        elif kernel_of(layer) is not None:
            found.append(layer)
        elif into_custom_layers:
            found.extend(inner for inner in internal_keras.all_layers(layer) if kernel_of(inner) is not None)
    return found


def input_structure(model):
    """The model's inputs as it takes them: one tensor, or its dict or list of them."""
    inputs = model.inputs
    if len(inputs) == 1:
        return inputs[0]
    try:
        return model.input
    except (AttributeError, ValueError):
        return inputs


def custom_owner(model, layer):
    """The custom layer of `model` whose sublayer `layer` is, or None when `layer` is in the model's graph."""
    for container in [model] + [inner for inner in internal_keras.all_layers(model) if isinstance(inner, keras.Model)]:
        if layer in container.layers:
            return None
    for candidate in internal_keras.all_layers(model):
        if not isinstance(candidate, keras.Model) and layer in internal_keras.all_layers(candidate):
            return candidate
    return None


def consumers(model, layer):
    """Layers that take `layer`'s output as input."""
    if isinstance(model, keras.Sequential):
        layers = model.layers
        index = layers.index(layer) if layer in layers else -1
        return layers[index + 1 : index + 2] if index >= 0 else []
    return internal_keras.outbound_layers(layer)


def following_activation(model, layer):
    """The activation applied to `layer`'s output: its own, or the next activation layer's.

    Walks through normalisation, dropout and reshaping layers and through
    merge layers (a residual ``Add``, ``Concatenate``, ``Multiply``: ResNet's
    Conv -> BN -> Add -> ReLU is followed by the ReLU); anything else
    (another Dense, the model output) means the output stays linear.
    """
    own = getattr(layer, "activation", None)
    if own is not None and own is not keras.activations.linear:
        return own
    current = layer
    while True:
        nexts = consumers(model, current)
        if len(nexts) != 1:
            return None
        (current,) = nexts
        if isinstance(current, ACTIVATION_LAYERS):
            return current
        if not isinstance(current, TRANSPARENT + MERGING):
            return None
