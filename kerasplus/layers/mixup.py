"""`Mixup` (Zhang et al. 2018): convex combinations of image pairs and their labels."""

from __future__ import annotations

import keras
from keras import ops

from kerasplus import _validation as v
from kerasplus.layers import _images as im
from kerasplus.layers._beta import beta_sample


def mixup_images(x, shift, lam):
    """``lam * x + (1 - lam) * partner(x)`` with one `lam` per image."""
    weight = ops.reshape(lam, (-1, 1, 1, 1))
    return weight * x + (1.0 - weight) * im.partner(x, shift)


class MixingLayer(keras.layers.Layer):
    """Base of Mixup/CutMix: (images, labels) in, the same structure out."""

    who = "MixingLayer"

    def __init__(self, num_classes=None, seed=None, data_format=None, **kwargs):
        kwargs.setdefault("autocast", False)  # images keep their dtype (float16, uint8, ...)
        super().__init__(**kwargs)
        self.num_classes = v.check_optional_int("num_classes", num_classes, minimum=2)
        self.seed = v.check_optional_int("seed", seed)
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


@keras.saving.register_keras_serializable(package="kerasplus")
class Mixup(MixingLayer):
    """Mixup: ``lam * a + (1 - lam) * b`` for images and labels, ``lam ~ Beta(alpha, alpha)`` per image.

    Call it on ``(images, labels)`` or ``{"images": ..., "labels": ...}``; it
    returns the same structure. Integer labels are class indices (then
    `num_classes` is required and the labels come back one-hot and mixed);
    float labels (one-hot, soft, binary targets) are mixed as they are. Only
    active when ``training=True``.

    Args:
        alpha: Beta concentration, > 0.
        num_classes: needed for sparse integer labels.
        seed: seed of the layer's `SeedGenerator`.
        data_format: accepted for symmetry with the other layers.

    Example:

    >>> import numpy as np, kerasplus
    >>> images, labels = np.ones((4, 8, 8, 3), "float32"), np.array([0, 1, 2, 3])
    >>> mixed, soft = kerasplus.layers.Mixup(0.4, num_classes=4, seed=0)((images, labels), training=True)
    >>> soft.shape, bool(np.allclose(np.sum(soft, axis=1), 1.0))
    (TensorShape([4, 4]), True)
    """

    who = "Mixup"

    def __init__(self, alpha: float = 0.2, num_classes=None, seed=None, data_format=None, **kwargs):
        super().__init__(num_classes=num_classes, seed=seed, data_format=data_format, **kwargs)
        self.alpha = v.check_positive("alpha", alpha)

    def mix(self, x, shift, batch):
        lam = beta_sample(self.seed_generator, batch, self.alpha, self.alpha)
        return mixup_images(x, shift, lam), lam

    def get_config(self):
        return {**super().get_config(), "alpha": self.alpha}
