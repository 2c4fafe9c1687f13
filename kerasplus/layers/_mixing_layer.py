"""`MixingLayer`: the base of Mixup, CutMix and MixupOrCutMix."""

from __future__ import annotations

from typing import Any

import keras

from kerasplus import _validation as v
from kerasplus.layers import _images as im
from kerasplus.layers._backend import DataPipelineLayer, ops


class MixingLayer(DataPipelineLayer):
    """Base of Mixup/CutMix: (images, labels) in, the same structure out.

    The input is ``(images, labels)`` or a dict with ``"images"`` and
    ``"labels"`` keys; labels are one-hot (or sparse integers with
    `num_classes`) and come out mixed as the images are. Outside training the
    input is returned unchanged. Each image is paired with a random partner,
    ``partner = keras.ops.roll(x, shift, axis=0)``; a subclass implements
    ``mix(x, shift, batch)``, which returns the mixed images and the weight
    (shape ``(batch,)``) of each image's own label.

    Args:
        num_classes: number of classes, >= 2; needed for sparse integer labels.
        seed: seed of the layer's `SeedGenerator`.
        data_format: ``"channels_last"`` or ``"channels_first"``; None means
            `keras.config.image_data_format()`.
        **kwargs: passed to `keras.layers.Layer`.

    Example:

    >>> import numpy as np, keras, kerasplus
    >>> class Average(kerasplus.layers.MixingLayer):
    ...     def mix(self, x, shift, batch):
    ...         own = keras.ops.full((batch,), 0.5)
    ...         return 0.5 * x + 0.5 * keras.ops.roll(x, shift, axis=0), own
    >>> images = np.stack([np.zeros((2, 2, 1), "float32"), np.ones((2, 2, 1), "float32")])
    >>> labels = np.array([[1.0, 0.0], [0.0, 1.0]], "float32")
    >>> mixed, soft = Average(seed=0)((images, labels), training=True)
    >>> np.asarray(mixed).ravel().tolist(), np.asarray(soft).tolist()
    ([0.5, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5], [[0.5, 0.5], [0.5, 0.5]])
    """

    who = "MixingLayer"

    def __init__(
        self, num_classes: int | None = None, seed: int | None = None, data_format: str | None = None, **kwargs
    ) -> None:
        kwargs.setdefault("autocast", False)  # images keep their dtype (float16, uint8, ...)
        super().__init__(**kwargs)
        self.num_classes = v.check_optional_int("num_classes", num_classes, minimum=2, maximum=v.MAX_STEPS)
        self.seed = v.check_seed(seed)
        self.data_format = im.check_data_format(data_format)
        self.seed_generator = keras.random.SeedGenerator(seed)

    def call(self, data: Any, training: bool | None = None) -> Any:
        images, labels, rebuild = im.split_inputs(data, self.who)
        if not training:
            return data
        x, single, dtype = im.as_batch(images, self.who)
        y = im.dense_labels(labels, self.num_classes, x.shape[0], self.who)
        batch = ops.shape(x)[0]
        shift = im.partner_shift(self.seed_generator, batch)
        out, own_weight = self.mix(x, shift, batch)
        return rebuild(im.restore(out, single, dtype), im.mix_labels(y, shift, own_weight))

    def mix(self, x: Any, shift: int, batch: int) -> tuple:
        """Returns (mixed images, weight of each image's own label)."""
        raise NotImplementedError

    def compute_output_shape(self, input_shape: tuple) -> tuple:
        return input_shape

    def get_config(self) -> dict:
        config = super().get_config()
        config.update(num_classes=self.num_classes, seed=self.seed, data_format=self.data_format)
        return config
