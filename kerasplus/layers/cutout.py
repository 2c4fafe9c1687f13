"""`Cutout` (DeVries & Taylor 2017): erase random square holes, one set per image."""

from __future__ import annotations

from typing import Any

import keras

from kerasplus import _validation as v
from kerasplus.layers import _images as im
from kerasplus.layers._backend import DataPipelineLayer, ops


def _check_side(name, value):
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f"`{name}` must be an int (pixels) or a float in (0, 1] (fraction); received {value!r}.")
    if isinstance(value, int):
        return v.check_int(name, value, minimum=1, maximum=v.MAX_STEPS)
    return v.check_range(name, value, 0.0, 1.0, low_inclusive=False)


def check_size(size):
    """An int or float, or a pair of them (height, width)."""
    if isinstance(size, (list, tuple)):
        if len(size) != 2:
            raise ValueError(f"`size` must be one value or (height, width); received size={size!r}.")
        return (_check_side("size[0]", size[0]), _check_side("size[1]", size[1]))
    return _check_side("size", size)


def hole_pixels(size, height, width):
    """(h, w) of a hole in pixels; a pixel size larger than the image is an error."""
    sizes = size if isinstance(size, tuple) else (size, size)
    out = []
    for side, extent, axis in zip(sizes, (height, width), ("height", "width")):
        if isinstance(side, int):
            if side > extent:
                raise ValueError(
                    f"Cutout: `size` {side} px is larger than the image {axis} {extent} "
                    f"(images are {height}x{width}); use a smaller size or a fraction."
                )
            out.append(side)
        else:
            out.append(max(1, int(round(side * extent))))
    return tuple(out)


@keras.saving.register_keras_serializable(package="kerasplus")
class Cutout(DataPipelineLayer):
    """Erases `num_holes` random holes per image (only when ``training=True``).

    Each hole is centred on a pixel drawn uniformly over the image and clipped
    at the borders, so holes near an edge erase less. Everything is vectorised
    over the batch; images keep their dtype (float16/bfloat16/float32/uint8).

    Args:
        size: hole side in pixels (int), as a fraction of the image side
            (float in (0, 1]), or a ``(height, width)`` pair of either.
        num_holes: holes per image, >= 1 (they may overlap).
        fill_value: a number, or ``"mean"`` for the image's per-channel mean.
        seed: seed of the layer's `SeedGenerator`.
        data_format: ``"channels_last"`` or ``"channels_first"`` (default:
            `keras.config.image_data_format()`).

    Example:

    >>> import numpy as np, kerasplus
    >>> images = np.ones((2, 8, 8, 3), "float32")
    >>> out = kerasplus.layers.Cutout(size=4, seed=0)(images, training=True)
    >>> bool((out.numpy() == 0).any()), out.shape
    (True, TensorShape([2, 8, 8, 3]))
    """

    def __init__(
        self,
        size: int | tuple[int, int],
        num_holes: int = 1,
        fill_value: float = 0.0,
        seed: int | None = None,
        data_format: str | None = None,
        **kwargs,
    ) -> None:
        kwargs.setdefault("autocast", False)  # images keep their dtype (float16, uint8, ...)
        super().__init__(**kwargs)
        self.size = check_size(size)
        self.num_holes = v.check_int("num_holes", num_holes, minimum=1)
        if not (isinstance(fill_value, str) and fill_value == "mean"):
            fill_value = v.check_float32("fill_value", v.check_number("fill_value", fill_value))
        self.fill_value = fill_value
        self.seed = v.check_seed(seed)
        self.data_format = im.check_data_format(data_format)
        self.seed_generator = keras.random.SeedGenerator(seed)

    def call(self, images: Any, training: bool | None = None) -> Any:
        if not training:
            return images
        x, single, dtype = im.as_batch(images, "Cutout")
        height, width = im.spatial_size(x, self.data_format)
        box_h, box_w = hole_pixels(self.size, height, width)
        batch = ops.shape(x)[0]
        mask = None
        for _ in range(self.num_holes):
            box = im.random_box(self.seed_generator, batch, height, width, float(box_h), float(box_w))
            hole = im.box_mask(*box, height, width, self.data_format)
            mask = hole if mask is None else ops.logical_or(mask, hole)
        if isinstance(self.fill_value, str):  # "mean"
            axes = (1, 2) if self.data_format == "channels_last" else (2, 3)
            fill = ops.mean(x, axis=axes, keepdims=True)
        else:
            fill = self.fill_value
        out = ops.where(mask, fill, x)
        return im.restore(out, single, dtype)

    def compute_output_shape(self, input_shape: tuple) -> tuple:
        return input_shape

    def get_config(self) -> dict:
        config = super().get_config()
        config.update(
            size=self.size,
            num_holes=self.num_holes,
            fill_value=self.fill_value,
            seed=self.seed,
            data_format=self.data_format,
        )
        return config
