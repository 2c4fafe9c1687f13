"""`reinitialize`: set every kernel from the activation that follows it."""

from __future__ import annotations

import keras
from keras import ops

from kerasplus import _validation as v
from kerasplus.initializers.by_activation import activation_name, for_activation
from kerasplus.initializers.kernel_layers import (
    consumers,
    custom_owner,
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
    layers = list(getattr(model, "layers", []))
    if not model.built and not (layers and all(layer.built for layer in layers)):
        # A subclassed model that is never called itself but whose layers are built (the Keras guide's GAN,
        # holding a built generator and discriminator) has its kernels: it counts as built.
        raise ValueError(f"{who} needs a built model: create it with keras.Input or call it on a batch first.")


def reinitialize(
    model: keras.Model,
    *,
    zero_init_residual: bool = False,
    seed: int | None = None,
    activations: dict[str, str] | None = None,
) -> list[dict]:
    """Re-draws each Dense/Conv kernel for the activation after it; zeroes biases.

    The activation is the layer's own, or that of the activation layer that
    follows it (through BatchNormalization, Dropout, reshapes, and merge
    layers: in ResNet's Conv -> BN -> Add -> ReLU the convolution gets He);
    see `for_activation` for the table. Kernel layers inside custom layers
    (a `Layer` subclass holding Dense/Conv sublayers) are re-drawn too: from
    their own activation, or from `activations`; one without an activation of
    its own raises, since what its owner's `call` applies after it cannot be
    seen (name it in `activations`). With ``zero_init_residual=True`` the
    BatchNormalization layers whose output goes straight into an `Add` get
    gamma = 0, so each residual branch starts as the identity (Goyal et al. 2017).

    Args:
        model: a built Sequential or functional model.
        zero_init_residual: zero the last BatchNormalization gamma of residual branches.
        seed: base seed; layer i uses ``seed + i``.
        activations: ``{layer name: activation name}`` for layers whose
            following activation cannot be seen or should be overridden
            (e.g. ``{"dense_1": "relu"}`` for a linear Dense inside a custom
            layer whose `call` applies ReLU after it).

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
    activations = _check_activations(activations)
    layers = kernel_layers(model, into_custom_layers=True)
    unused = sorted(set(activations) - {layer.name for layer in layers})
    if unused:
        raise ValueError(
            f"`activations` names {unused}, which are not kernel layers of the model; "
            f"received activations={activations!r}."
        )
    chosen = [_activation_for(model, layer, activations) for layer in layers]  # raises before any change
    report = []
    for index, (layer, activation) in enumerate(zip(layers, chosen)):
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


def _check_activations(activations):
    if activations is None:
        return {}
    if not isinstance(activations, dict) or not all(
        isinstance(k, str) and isinstance(a, str) for k, a in activations.items()
    ):
        raise TypeError(
            f"`activations` must be a dict {{layer name: activation name}}; received activations={activations!r}."
        )
    for name, activation in activations.items():
        try:
            for_activation(activation)
        except (TypeError, ValueError) as error:
            raise ValueError(f"`activations` gives {name!r} {activation!r}: {error}") from None
    return dict(activations)


def _activation_for(model, layer, activations):
    if layer.name in activations:
        return activations[layer.name]
    owner = custom_owner(model, layer)
    if owner is None:
        return following_activation(model, layer)
    own = getattr(layer, "activation", None)
    if own is not None and own is not keras.activations.linear:
        return own
    raise ValueError(
        f"reinitialize cannot see which activation follows {layer.name!r} ({type(layer).__name__}) inside "
        f"the custom layer {owner.name!r} ({type(owner).__name__}): its call() is not a graph of layers. Name it: "
        f"reinitialize(model, activations={{{layer.name!r}: 'relu'}}) (or 'linear' if nothing follows), or give "
        "the sublayer its activation (activation='relu')."
    )
