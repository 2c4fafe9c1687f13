"""Freezing and unfreezing a pretrained model, BatchNormalization kept in inference mode."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import keras

from kerasplus import _validation as v


def _is_batch_norm(layer):
    import keras

    return isinstance(layer, keras.layers.BatchNormalization)


def freeze(model: keras.Model) -> keras.Model:
    """Makes every weight of `model` non-trainable (feature extraction).

    A frozen `BatchNormalization` layer in Keras 3 also runs in inference
    mode: it normalizes with its moving statistics and does not update them.

    Args:
        model: a `keras.Model` or layer.

    Returns:
        `model`, frozen.

    Example:

    >>> import keras
    >>> base = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3), keras.layers.BatchNormalization()])
    >>> len(freeze(base).trainable_weights)
    0
    """
    _check_model(model)
    model.trainable = False
    return model


def unfreeze(model: keras.Model, last_n: int | None = None, from_layer: str | int | None = None) -> list[str]:
    """Makes the top of `model` trainable again for fine-tuning.

    Layers whose weights are trained are those of `model.layers` from
    `from_layer` (a name or an index, inclusive) on, or the last `last_n`
    layers that hold trainable weights (BatchNormalization layers not counted),
    or all layers when both are None. Every `BatchNormalization` layer stays
    frozen, hence in inference mode: updating its statistics on a small
    fine-tuning set would undo what the base learned (the Keras transfer
    learning guide's advice). Call the base with ``training=False`` in your
    model too, as `fine_tune` does.

    Args:
        model: a `keras.Model` whose `layers` are the units to unfreeze.
        last_n: number of weight-holding layers to unfreeze from the top, >= 1.
        from_layer: name or index of the first layer to unfreeze.

    Returns:
        The names of the layers that are now trainable, bottom to top.

    Example:

    >>> import keras
    >>> base = keras.Sequential([keras.Input((4,)), keras.layers.Dense(8, name="a"),
    ...                          keras.layers.BatchNormalization(name="bn"), keras.layers.Dense(8, name="b")])
    >>> unfreeze(freeze(base), last_n=1)
    ['b']
    >>> base.get_layer("bn").trainable
    False
    """
    _check_model(model)
    layers = list(getattr(model, "layers", []))
    if last_n is not None and from_layer is not None:
        raise ValueError("Pass `last_n` or `from_layer`, not both.")
    start = 0
    if last_n is not None:
        last_n = v.check_int("last_n", last_n, minimum=1)
        holders = [i for i, layer in enumerate(layers) if layer.weights and not _is_batch_norm(layer)]
        if last_n > len(holders):
            raise ValueError(
                f"`last_n` must be <= {len(holders)}, the number of layers of {model.name!r} with weights "
                f"(BatchNormalization not counted); received last_n={last_n}."
            )
        start = holders[-last_n]
    elif from_layer is not None:
        start = _layer_index(model, layers, from_layer)
    model.trainable = True
    unfrozen = []
    for index, layer in enumerate(layers):
        layer.trainable = index >= start and not _is_batch_norm(layer)
        if layer.trainable:
            _freeze_nested_batch_norm(layer)
            if layer.weights:
                unfrozen.append(layer.name)
    return unfrozen


def _freeze_nested_batch_norm(layer):
    from kerasplus._internals import keras as internal_keras

    for sub in internal_keras.all_layers(layer):
        if _is_batch_norm(sub):
            sub.trainable = False


def _layer_index(model, layers, from_layer):
    if isinstance(from_layer, bool) or not isinstance(from_layer, (int, str)):
        raise TypeError(f"`from_layer` must be a layer name or index; received {from_layer!r}.")
    if isinstance(from_layer, int):
        if not -len(layers) <= from_layer < len(layers):
            raise ValueError(
                f"`from_layer` must be an index in [{-len(layers)}, {len(layers) - 1}]; received {from_layer}."
            )
        return from_layer % len(layers)
    names = [layer.name for layer in layers]
    if from_layer not in names:
        raise ValueError(f"`from_layer`={from_layer!r} is not a layer of {model.name!r}; its layers are {names}.")
    return names.index(from_layer)


def _check_model(model):
    import keras

    if not isinstance(model, keras.layers.Layer):
        raise TypeError(f"`model` must be a keras Model or layer; received {type(model).__name__}.")
