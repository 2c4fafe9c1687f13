"""`update_bn`: recompute BatchNormalization statistics for new weights (torch's ``swa_utils.update_bn``)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import keras
import numpy as np

from kerasplus import _validation as v
from kerasplus._internals import keras as internal_keras


def batch_norm_layers(model: keras.Model) -> list:
    """The trainable `BatchNormalization` layers of `model`, nested ones included (those `update_bn` updates)."""
    return [
        layer
        for layer in internal_keras.all_layers(model)
        if isinstance(layer, keras.layers.BatchNormalization) and layer.trainable
    ]


def _inputs(element):
    """The model input of one batch: the first item of an ``(x, y[, w])`` tuple, else the batch itself."""
    if isinstance(element, (tuple, list)):
        return element[0]
    return element


def _batches(data, batch_size):
    if isinstance(data, np.ndarray) or (isinstance(data, (tuple, list)) and data and isinstance(data[0], np.ndarray)):
        x = _inputs(data) if isinstance(data, (tuple, list)) else data
        for start in range(0, len(x), batch_size):
            yield x[start : start + batch_size]
        return
    if isinstance(data, (dict, str, bytes)):
        raise TypeError(
            "`data` must be an array, a tf.data.Dataset or an iterable of batches (x or (x, y) each); "
            f"received data={data!r} of type {type(data).__name__} (for dict inputs pass a dataset of dict batches)."
        )
    if not isinstance(data, Iterable):
        raise TypeError(
            "`data` must be an array, a tf.data.Dataset or an iterable of batches (x or (x, y) each); "
            f"received data={data!r} of type {type(data).__name__}."
        )
    for element in data:
        yield _inputs(element)


def update_bn(model: keras.Model, data: Any, batch_size: int = 32) -> int:
    """Recomputes the moving mean and variance of every `BatchNormalization` layer from `data`.

    torch's ``torch.optim.swa_utils.update_bn``: averaged weights (SWA) come
    with no statistics of their own, so the statistics are recomputed by one
    forward pass over the training data in training mode. Each layer's moving
    mean (variance) becomes the plain average of the batch means (variances)
    over all batches: the forward pass runs with the layer's `momentum` set to
    ``(k - 1) / k`` at batch ``k`` (torch sets ``momentum=None``, a cumulative
    average); the momenta are put back afterwards. The variance averaged is
    Keras's (the biased batch variance, which `BatchNormalization` also uses in
    training); torch averages the unbiased one, larger by ``n / (n - 1)`` for
    batches of ``n`` rows. Other layers run in training mode too (dropout
    active), as in torch. Frozen (non-trainable) BatchNormalization layers are
    left as they are. Runs eagerly, once, on any backend.

    Args:
        data: the inputs: an array (split in batches of `batch_size`), an
            ``(x, y)`` tuple of arrays, a `tf.data.Dataset` or any iterable of
            batches (each ``x`` or ``(x, y[, sample_weight])``).
        model: the model whose statistics are recomputed.
        batch_size: batch size for array `data`, >= 1.

    Returns:
        The number of batches seen (0 when the model has no trainable
        BatchNormalization layer: nothing is run).

    Raises:
        ValueError: a BatchNormalization layer uses ``renorm=True``, or `data`
            holds no batch.
        TypeError: `model` or `data` is of the wrong type.

    Example:

    >>> import numpy as np, keras, kerasplus
    >>> model = keras.Sequential([keras.Input((3,)), keras.layers.BatchNormalization()])
    >>> x = np.arange(24, dtype="float32").reshape(8, 3)
    >>> kerasplus.callbacks.update_bn(model, x, batch_size=4)
    2
    >>> keras.ops.convert_to_numpy(model.layers[0].moving_mean).tolist()
    [10.5, 11.5, 12.5]
    """
    if not isinstance(model, keras.Model):
        raise TypeError(f"`model` must be a keras.Model; received model={model!r} of type {type(model).__name__}.")
    batch_size = v.check_int("batch_size", batch_size, minimum=1)
    layers = batch_norm_layers(model)
    if not layers:
        return 0
    renorm = [layer.name for layer in layers if getattr(layer, "renorm", False)]
    if renorm:
        raise ValueError(
            f"update_bn cannot recompute batch renormalization statistics (renorm=True in {renorm}); "
            "received model with those layers."
        )
    momenta = [layer.momentum for layer in layers]
    seen = 0
    try:
        for batch in _batches(data, batch_size):
            seen += 1
            for layer in layers:
                layer.momentum = (seen - 1) / seen
            model(batch, training=True)
    finally:
        for layer, momentum in zip(layers, momenta):
            layer.momentum = momentum
    if seen == 0:
        raise ValueError(f"`data` must hold at least one batch; received data={data!r}, which holds none.")
    return seen
