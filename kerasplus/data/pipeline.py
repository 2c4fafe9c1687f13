"""A tf.data input pipeline from numpy arrays with augmentation layers applied per batch."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from kerasplus import _validation as v
from kerasplus.data._labels import check_same_length


def augmented_dataset(
    x: Any,
    y: Any = None,
    layers: Sequence[Callable[..., Any]] = (),
    *,
    batch_size: int = 32,
    shuffle: bool = True,
    seed: int = 0,
    drop_remainder: bool = False,
) -> Any:
    """Shuffled, batched, prefetched `tf.data.Dataset` with `layers` applied to each batch.

    For users who call ``model.fit(x, y)`` today: pass the result to `fit`
    instead. Image-only layers (e.g. `Cutout`, `keras.layers.RandomFlip`) get the
    images; mixing layers (`Mixup`, `CutMix`, `MixupOrCutMix`) get
    ``(images, labels)``. Layers run with ``training=True``.

    Args:
        x: images (or features), one row per example.
        y: labels, one per row of `x`; needed when `layers` include a mixing layer.
        layers: Keras layers applied in order to each batch with ``training=True``.
        batch_size: examples per batch, >= 1.
        shuffle: reshuffle the examples at every epoch.
        seed: seed of the shuffle.
        drop_remainder: drop a last batch smaller than `batch_size`.

    Returns:
        A `tf.data.Dataset` of ``(images, labels)`` batches (of images when `y` is None), prefetched.

    Raises:
        ValueError: a mixing layer without `y`, or an argument out of range.
        TypeError: an argument of the wrong type.

    Example:

    >>> import numpy as np, kerasplus
    >>> x, y = np.zeros((10, 8, 8, 1), "float32"), np.arange(10) % 2
    >>> ds = kerasplus.data.augmented_dataset(
    ...     x, y, [kerasplus.layers.Cutout(2, seed=0), kerasplus.layers.Mixup(num_classes=2, seed=0)], batch_size=4)
    >>> [tuple(b.shape) for b in next(iter(ds))]
    [(4, 8, 8, 1), (4, 2)]
    """
    import tensorflow as tf

    from kerasplus.layers import MixingLayer

    v.check_int("batch_size", batch_size, minimum=1)
    v.check_bool("shuffle", shuffle)
    v.check_numpy_seed("seed", seed)
    v.check_bool("drop_remainder", drop_remainder)
    check_same_length(x, y)
    if callable(layers) or isinstance(layers, (str, bytes)) or not hasattr(layers, "__iter__"):
        raise TypeError(f"`layers` must be a list of layers; received layers={layers!r}. Wrap one layer as [layer].")
    layers = list(layers)
    for i, layer in enumerate(layers):
        v.check_callable(f"layers[{i}]", layer)
    if any(isinstance(layer, MixingLayer) for layer in layers) and y is None:
        raise ValueError(
            "`y` is needed when `layers` include Mixup/CutMix, which mix the labels too. For a model trained "
            "on images alone (no labels: a GAN, an autoencoder) use Cutout or Keras's image layers, which need no y."
        )
    dataset = tf.data.Dataset.from_tensor_slices(x if y is None else (x, y))
    if shuffle:
        dataset = dataset.shuffle(len(x), seed=seed, reshuffle_each_iteration=True)
    dataset = dataset.batch(batch_size, drop_remainder=drop_remainder)

    def augment(*batch):
        images = batch[0]
        labels = batch[1] if len(batch) > 1 else None
        for layer in layers:
            if isinstance(layer, MixingLayer):
                images, labels = layer((images, labels), training=True)
            else:
                images = layer(images, training=True)
        return images if labels is None else (images, labels)

    if layers:
        dataset = dataset.map(augment, num_parallel_calls=tf.data.AUTOTUNE)
    return dataset.prefetch(tf.data.AUTOTUNE)
