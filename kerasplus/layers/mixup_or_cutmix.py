"""`MixupOrCutMix`: timm's per-image choice between Mixup and CutMix."""

from __future__ import annotations

from typing import Any

import keras

from kerasplus import _validation as v
from kerasplus.layers._backend import ops, random
from kerasplus.layers._beta import check_alpha
from kerasplus.layers._mixing_layer import MixingLayer
from kerasplus.layers.cutmix import cutmix_images
from kerasplus.layers.mixup import mixup_images


@keras.saving.register_keras_serializable(package="kerasplus")
class MixupOrCutMix(MixingLayer):
    """Each image gets CutMix with probability `switch_prob`, else Mixup.

    Args:
        mixup_alpha: Beta concentrations, in [1e-30, 1e30].
        cutmix_alpha: Beta concentrations, in [1e-30, 1e30].
        switch_prob: probability of CutMix, in [0, 1].
        num_classes: as `Mixup`.
        seed: as `Mixup`.
        data_format: as `Mixup`.
        prob: probability of mixing, in [0, 1] (see `MixingLayer`); timm's
            ``prob``.
        mode: ``"elem"``, ``"pair"`` or ``"batch"`` (see `MixingLayer`); in
            ``"batch"`` mode the whole batch gets CutMix or Mixup.
        label_smoothing: smoothing of the mixed labels, in [0, 1).
        correct_lam: as `CutMix`.

    Example:

    >>> import numpy as np
    >>> images = np.random.default_rng(0).random((8, 32, 32, 3)).astype("float32")
    >>> labels = np.arange(8) % 4
    >>> layer = MixupOrCutMix(switch_prob=0.5, num_classes=4, seed=0)
    >>> mixed, soft = layer((images, labels), training=True)
    >>> tuple(mixed.shape), tuple(soft.shape)
    ((8, 32, 32, 3), (8, 4))
    >>> bool(np.allclose(keras.ops.convert_to_numpy(soft).sum(axis=1), 1.0))
    True
    """

    who = "MixupOrCutMix"

    def __init__(
        self,
        mixup_alpha: float = 0.2,
        cutmix_alpha: float = 1.0,
        switch_prob: float = 0.5,
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
        self.correct_lam = v.check_bool("correct_lam", correct_lam)
        self.mixup_alpha = check_alpha("mixup_alpha", mixup_alpha)
        self.cutmix_alpha = check_alpha("cutmix_alpha", cutmix_alpha)
        self.switch_prob = v.check_range("switch_prob", switch_prob, 0.0, 1.0)

    def mix(self, x: Any, shift: int, batch: int) -> tuple:
        gen = self.seed_generator
        lam_mix = self.draw(self.mixup_alpha, batch)
        lam_cut = self.draw(self.cutmix_alpha, batch)
        use_cutmix = self.tie(random.uniform((batch,), seed=gen)) < self.switch_prob
        mixed = mixup_images(x, shift, lam_mix)
        tie = None if self.mode == "elem" else self.tie
        cut, own_cut = cutmix_images(x, shift, lam_cut, gen, self.data_format, tie, self.correct_lam)
        out = ops.where(ops.reshape(use_cutmix, (-1, 1, 1, 1)), cut, mixed)
        return out, ops.where(use_cutmix, own_cut, lam_mix)

    def get_config(self) -> dict:
        return {
            **super().get_config(),
            "mixup_alpha": self.mixup_alpha,
            "cutmix_alpha": self.cutmix_alpha,
            "switch_prob": self.switch_prob,
            "correct_lam": self.correct_lam,
        }
