"""`CutMix` (Yun et al. 2019): paste a box from a partner image; labels by pixel share."""

from __future__ import annotations

from typing import Any

import keras

from kerasplus import _validation as v
from kerasplus.layers import _images as im
from kerasplus.layers._backend import ops
from kerasplus.layers._beta import check_alpha
from kerasplus.layers._mixing_layer import MixingLayer


def cutmix_images(x, shift, lam, seed_generator, data_format, tie=None, correct_lam=True):
    """Pastes from each image's partner a box of area about ``1 - lam``; returns (images, own share).

    The box is centred on a uniform pixel and clipped at the borders; the own
    share is computed from the clipped box, so it equals the exact fraction of
    pixels that still come from the image itself; with ``correct_lam=False``
    it is `lam` as drawn (timm's ``correct_lam=False``). `tie` applies the
    layer's `mode` to the box centres.
    """
    height, width = im.spatial_size(x, data_format)
    ratio = ops.sqrt(1.0 - lam)
    box_h = ops.floor(height * ratio)
    box_w = ops.floor(width * ratio)
    y0, y1, x0, x1 = im.random_box(seed_generator, ops.shape(x)[0], height, width, box_h, box_w, tie)
    mask = im.box_mask(y0, y1, x0, x1, height, width, data_format)
    out = im.paste_partner(mask, x, shift)
    if not correct_lam:
        return out, lam
    pasted = (y1 - y0) * (x1 - x0) / float(height * width)
    return out, 1.0 - pasted


@keras.saving.register_keras_serializable(package="kerasplus")
class CutMix(MixingLayer):
    """CutMix with exact label weights, ``lam ~ Beta(alpha, alpha)`` per image.

    Same inputs and outputs as `Mixup`. The label weight of each image equals
    the exact fraction of its pixels that were not replaced (timm's
    ``correct_lam=True``: the box clipped at the borders is smaller than
    ``1 - lam``); with ``correct_lam=False`` it is the drawn ``lam``.

    Args:
        alpha: Beta concentration, in [1e-30, 1e30].
        num_classes: needed for sparse integer labels.
        seed: seed of the layer's `SeedGenerator`.
        data_format: ``"channels_last"`` or ``"channels_first"``.
        prob: probability of mixing, in [0, 1] (see `MixingLayer`).
        mode: ``"elem"``, ``"pair"`` or ``"batch"`` (see `MixingLayer`).
        label_smoothing: smoothing of the mixed labels, in [0, 1).
        correct_lam: label weights from the clipped box (True) or the drawn
            ``lam`` (False).

    Example:

    >>> import numpy as np, kerasplus
    >>> images, labels = np.zeros((2, 8, 8, 1), "float32"), np.eye(2, dtype="float32")
    >>> images[1] = 1.0
    >>> mixed, soft = kerasplus.layers.CutMix(seed=1)((images, labels), training=True)
    >>> bool(np.allclose(soft[:, 1], np.mean(mixed, axis=(1, 2, 3))))
    True
    """

    who = "CutMix"

    def __init__(
        self,
        alpha: float = 1.0,
        num_classes: int | None = None,
        seed: int | None = None,
        data_format: str | None = None,
        prob: float = 1.0,
        mode: str = "elem",
        label_smoothing: float = 0.0,
        correct_lam: bool = True,
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
        self.correct_lam = v.check_bool("correct_lam", correct_lam)

    def mix(self, x: Any, shift: int, batch: int) -> tuple:
        lam = self.draw(self.alpha, batch)
        tie = None if self.mode == "elem" else self.tie
        return cutmix_images(x, shift, lam, self.seed_generator, self.data_format, tie, self.correct_lam)

    def get_config(self) -> dict:
        return {**super().get_config(), "alpha": self.alpha, "correct_lam": self.correct_lam}
