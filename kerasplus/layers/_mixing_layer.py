"""`MixingLayer`: the base of Mixup, CutMix and MixupOrCutMix."""

from __future__ import annotations

from typing import Any

import keras

from kerasplus import _validation as v
from kerasplus.layers import _images as im
from kerasplus.layers._backend import DataPipelineLayer, ops, random
from kerasplus.layers._beta import beta_sample

MODES = ("elem", "pair", "batch")


class MixingLayer(DataPipelineLayer):
    """Base of Mixup/CutMix: (images, labels) in, the same structure out.

    The input is ``(images, labels)`` or a dict with ``"images"`` and
    ``"labels"`` keys; labels are one-hot (or sparse integers with
    `num_classes`) and come out mixed as the images are. Outside training the
    input is returned unchanged. Each image is paired with a random partner,
    ``partner = keras.ops.roll(x, shift, axis=0)``; a subclass implements
    ``mix(x, shift, batch)``, which returns the mixed images and the weight
    (shape ``(batch,)``) of each image's own label. A subclass draws its
    mixing weights with `draw` (and any other per-image random quantity
    through `tie`), which applies the options below.

    timm's ``Mixup`` options:

    * `prob`: each image (``mode="elem"``), pair (``"pair"``) or the whole
      batch (``"batch"``) is mixed with this probability, else left as it is
      (weight 1 for its own label).
    * `mode`: ``"elem"`` draws a weight (and a CutMix box) per image, paired
      with a random partner; ``"pair"`` pairs image ``i`` with image
      ``i + batch/2`` and mixes both of a pair with the same weight and box
      (the batch must be even, as timm asserts); ``"batch"`` draws one weight
      and one box for the whole batch.
    * `label_smoothing`: the mixed labels become ``(1 - s) * y + s / C``
      (``C`` classes: the labels' last axis), timm's ``mixup_target``
      (``off = s / C``, ``on = 1 - s + s / C``, then mixed: the same, since
      the weights sum to 1). Smooth here or in the loss, not both
      (`kerasplus.diagnostics.lint` says so).

    Every image still mixes with a random partner in ``"elem"`` and
    ``"batch"`` mode (timm pairs it with the batch reversed, ``x.flip(0)``).
    With the defaults (1.0, ``"elem"``, 0.0) nothing extra is drawn.

    Args:
        num_classes: number of classes, >= 2; needed for sparse integer labels.
        seed: seed of the layer's `SeedGenerator`.
        data_format: ``"channels_last"`` or ``"channels_first"``; None means
            `keras.config.image_data_format()`.
        prob: probability of mixing an image, a pair or the batch, in [0, 1].
        mode: ``"elem"``, ``"pair"`` or ``"batch"``.
        label_smoothing: smoothing applied to the mixed labels, in [0, 1).
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
        self,
        num_classes: int | None = None,
        seed: int | None = None,
        data_format: str | None = None,
        prob: float = 1.0,
        mode: str = "elem",
        label_smoothing: float = 0.0,
        **kwargs,
    ) -> None:
        kwargs.setdefault("autocast", False)  # images keep their dtype (float16, uint8, ...)
        super().__init__(**kwargs)
        self.num_classes = v.check_optional_int("num_classes", num_classes, minimum=2, maximum=v.MAX_STEPS)
        self.seed = v.check_seed(seed)
        self.data_format = im.check_data_format(data_format)
        self.seed_generator = keras.random.SeedGenerator(seed)
        self.prob = v.check_range("prob", prob, 0.0, 1.0)
        self.mode = v.check_choice("mode", mode, MODES)
        self.label_smoothing = v.check_range("label_smoothing", label_smoothing, 0.0, 1.0, high_inclusive=False)

    def call(self, data: Any, training: bool | None = None) -> Any:
        images, labels, rebuild = im.split_inputs(data, self.who)
        if not training:
            return data
        x, single, dtype = im.as_batch(images, self.who)
        y = im.dense_labels(labels, self.num_classes, x.shape[0], self.who)
        batch = ops.shape(x)[0]
        if self.mode == "pair":
            if isinstance(batch, int) and batch % 2:
                raise ValueError(f'{self.who}: mode="pair" needs an even batch; received a batch of {batch} images.')
            shift = batch // 2
        else:
            shift = im.partner_shift(self.seed_generator, batch)
        out, own_weight = self.mix(x, shift, batch)
        mixed = im.mix_labels(y, shift, own_weight)
        if self.label_smoothing:
            classes = float(mixed.shape[-1])
            mixed = (1.0 - self.label_smoothing) * mixed + self.label_smoothing / classes
        return rebuild(im.restore(out, single, dtype), mixed)

    def tie(self, values: Any) -> Any:
        """Per-image random `values` (shape ``(batch,)``) made to follow `mode`.

        ``"elem"``: unchanged; ``"pair"``: image ``i + batch/2`` takes image
        ``i``'s value; ``"batch"``: every image takes the first one's.
        """
        if self.mode == "elem":
            return values
        if self.mode == "batch":
            return ops.broadcast_to(values[:1], ops.shape(values))
        half = ops.shape(values)[0] // 2
        first_half = ops.arange(ops.shape(values)[0]) < half
        return ops.where(first_half, values, ops.roll(values, half, axis=0))

    def draw(self, alpha: float, batch: int) -> Any:
        """Mixing weights ``lam ~ Beta(alpha, alpha)``, tied by `mode`, and 1 where `prob` says not to mix."""
        if self.mode == "batch":  # one draw for the batch, broadcast: no per-image draws to tie
            lam = beta_sample(self.seed_generator, 1, alpha, alpha)
            if self.prob < 1.0:
                lam = ops.where(random.uniform((1,), seed=self.seed_generator) < self.prob, lam, 1.0)
            return ops.broadcast_to(lam, (batch,))
        lam = self.tie(beta_sample(self.seed_generator, batch, alpha, alpha))
        if self.prob < 1.0:
            mixed = self.tie(random.uniform((batch,), seed=self.seed_generator)) < self.prob
            lam = ops.where(mixed, lam, ops.ones_like(lam))
        return lam

    def mix(self, x: Any, shift: int, batch: int) -> tuple:
        """Returns (mixed images, weight of each image's own label)."""
        raise NotImplementedError

    def compute_output_shape(self, input_shape: tuple) -> tuple:
        return input_shape

    def get_config(self) -> dict:
        config = super().get_config()
        config.update(
            num_classes=self.num_classes,
            seed=self.seed,
            data_format=self.data_format,
            prob=self.prob,
            mode=self.mode,
            label_smoothing=self.label_smoothing,
        )
        return config
