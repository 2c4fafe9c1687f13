"""`MixingLayer`: the base of Mixup, CutMix and MixupOrCutMix."""

from __future__ import annotations

import keras
from keras import ops

from kerasplus import _validation as v
from kerasplus.layers import _images as im


class MixingLayer(keras.layers.Layer):
    """Base of Mixup/CutMix: (images, labels) in, the same structure out."""

    who = "MixingLayer"

    def __init__(self, num_classes=None, seed=None, data_format=None, **kwargs):
        kwargs.setdefault("autocast", False)  # images keep their dtype (float16, uint8, ...)
        super().__init__(**kwargs)
        self.num_classes = v.check_optional_int("num_classes", num_classes, minimum=2, maximum=v.MAX_STEPS)
        self.seed = v.check_seed(seed)
        self.data_format = im.check_data_format(data_format)
        self.seed_generator = keras.random.SeedGenerator(seed)

    def call(self, data, training=None):
        images, labels, rebuild = im.split_inputs(data, self.who)
        if not training:
            return data
        x, single, dtype = im.as_batch(images, self.who)
        y = im.dense_labels(labels, self.num_classes, x.shape[0], self.who)
        batch = ops.shape(x)[0]
        shift = im.partner_shift(self.seed_generator, batch)
        out, own_weight = self.mix(x, shift, batch)
        return rebuild(im.restore(out, single, dtype), im.mix_labels(y, shift, own_weight))

    def mix(self, x, shift, batch):
        """Returns (mixed images, weight of each image's own label)."""
        raise NotImplementedError

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        config = super().get_config()
        config.update(num_classes=self.num_classes, seed=self.seed, data_format=self.data_format)
        return config
