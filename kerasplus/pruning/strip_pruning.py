"""`strip_pruning`: the plain Keras model inside a pruned one, its kernels zeroed where pruned."""

from __future__ import annotations

import keras

from kerasplus.pruning.prune_model import check_cloneable, clone
from kerasplus.pruning.prune_wrapper import PruneWrapper, kernel_of


def strip_pruning(model: keras.Model) -> keras.Model:
    """Returns a copy of `model` with every `PruneWrapper` replaced by the layer it wraps.

    Each unwrapped layer gets ``kernel * mask`` as its kernel, so the pruned
    weights are exact zeros in the plain layer (and in anything it is saved
    or converted to); masks and step counters are dropped. Other layers are
    cloned with their weights. The result is an ordinary Keras model: train it
    further and the zeros regrow; `kerasplus.quantization.quantize_model`
    with ``QuantizationConfig(preserve_sparsity=True)`` keeps them through QAT.

    Args:
        model: a Keras 3 Sequential or functional model, usually from
            `kerasplus.pruning.prune_model`.

    Returns:
        The plain model (the input model is not modified).

    Example:

    >>> import numpy as np, keras, kerasplus
    >>> model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(2)])
    >>> schedule = kerasplus.pruning.ConstantSparsity(0.5, begin_step=0, frequency=1)
    >>> pruned = kerasplus.pruning.prune_model(model, schedule)
    >>> _ = pruned(np.ones((1, 4), "float32"), training=True)  # one training call sets the mask
    >>> plain = kerasplus.pruning.strip_pruning(pruned)
    >>> [type(layer).__name__ for layer in plain.layers], int(np.sum(plain.layers[0].kernel.numpy() == 0))
    (['Dense'], 4)
    """
    check_cloneable(model, "strip_pruning")
    pairs = []

    def unwrap(layer):
        inner = layer.layer if isinstance(layer, PruneWrapper) else layer
        new = type(inner).from_config(inner.get_config())
        pairs.append((layer, new))
        return new

    stripped = clone(model, unwrap)
    for layer, new in pairs:
        if isinstance(layer, PruneWrapper):
            kernel = kernel_of(layer.layer)
            pruned = keras.ops.convert_to_numpy(layer.pruned_kernel())
            weights = [pruned if w is kernel else keras.ops.convert_to_numpy(w) for w in layer.layer.weights]
            new.set_weights(weights)
        else:
            new.set_weights(layer.get_weights())
    return stripped
