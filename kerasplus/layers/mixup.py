"""`Mixup` (Zhang et al. 2018): convex combinations of image pairs and their labels."""

from __future__ import annotations

from typing import Any

import keras

from kerasplus.layers import _images as im
from kerasplus.layers._beta import check_alpha
from kerasplus.layers._mixing_layer import MixingLayer


def mixup_images(x, shift, lam):
    """``lam * x + (1 - lam) * partner(x)`` with one `lam` per image."""
    return im.blend(x, shift, lam)


@keras.saving.register_keras_serializable(package="kerasplus")
class Mixup(MixingLayer):
    """Mixup: ``lam * a + (1 - lam) * b`` for images and labels, ``lam ~ Beta(alpha, alpha)`` per image.

    Call it on ``(images, labels)`` or ``{"images": ..., "labels": ...}``; it
    returns the same structure. Integer labels are class indices (then
    `num_classes` is required and the labels come back one-hot and mixed);
    float labels (one-hot, soft, binary targets) are mixed as they are. Only
    active when ``training=True``.

    Args:
        alpha: Beta concentration, in [1e-30, 1e30].
        num_classes: needed for sparse integer labels.
        seed: seed of the layer's `SeedGenerator`.
        data_format: accepted for symmetry with the other layers.
        prob: probability of mixing, in [0, 1] (see `MixingLayer`).
        mode: ``"elem"``, ``"pair"`` or ``"batch"`` (see `MixingLayer`).
        label_smoothing: smoothing of the mixed labels, in [0, 1).

    Example:

    >>> import numpy as np, kerasplus
    >>> images, labels = np.ones((4, 8, 8, 3), "float32"), np.array([0, 1, 2, 3])
    >>> mixed, soft = kerasplus.layers.Mixup(0.4, num_classes=4, seed=0)((images, labels), training=True)
    >>> soft.shape, bool(np.allclose(np.sum(soft, axis=1), 1.0))
    (TensorShape([4, 4]), True)
    """

    who = "Mixup"

    def __init__(
        self,
        alpha: float = 0.2,
        num_classes: int | None = None,
        seed: int | None = None,
        data_format: str | None = None,
        prob: float = 1.0,
        mode: str = "elem",
        label_smoothing: float = 0.0,
        **kwargs,
    ) -> None:
        super().__init__(
            num_classes=num_classes,
            seed=seed,
            data_format=data_format,
            prob=prob,
            mode=mode,
            label_smoothing=label_smoothing,
            **kwargs,
        )
        self.alpha = check_alpha("alpha", alpha)

    def mix(self, x: Any, shift: int, batch: int) -> tuple:
        lam = self.draw(self.alpha, batch)
        return mixup_images(x, shift, lam), lam

    def get_config(self) -> dict:
        return {**super().get_config(), "alpha": self.alpha}
