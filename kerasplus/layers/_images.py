"""What the augmentation layers share: image batches, labels, boxes and masks.

Everything is vectorised over the batch (no per-sample Python loop, no
`map_fn`), so the layers run inside `tf.data.Dataset.map`, inside a model and
under `jit_compile=True`. Random draws go through a `keras.random.SeedGenerator`.
"""

from __future__ import annotations

import keras

from kerasplus import _validation as v
from kerasplus.layers._backend import eager_torch, ops, random


def check_data_format(data_format):
    if data_format is None:
        data_format = keras.config.image_data_format()
    return v.check_choice("data_format", data_format, ("channels_last", "channels_first"))


def as_batch(images, who):
    """(float32 batch, was_single_image, original dtype) for a rank-4 or rank-3 input."""
    images = ops.convert_to_tensor(images)
    rank = len(images.shape)
    if rank not in (3, 4):
        raise ValueError(
            f"{who}: `images` must be a batch of rank 4 (or one image of rank 3); received shape {tuple(images.shape)}. "
            f"{who} augments images (height, width, channels): use it on an image model's input only, not on "
            "tabular, sequence or other non-image features."
        )
    single = rank == 3
    if single:
        images = ops.expand_dims(images, 0)
    dtype = keras.backend.standardize_dtype(images.dtype)
    return ops.cast(images, "float32"), single, dtype


def restore(images, single, dtype):
    """Back to the caller's dtype (integers rounded and clipped) and rank."""
    if "int" in dtype:
        info = {"uint8": (0, 255), "int8": (-128, 127), "uint16": (0, 65535), "int16": (-32768, 32767)}
        low, high = info.get(dtype, (None, None))
        images = ops.round(images)
        if low is not None:
            images = ops.clip(images, low, high)
    images = ops.cast(images, dtype)
    return ops.squeeze(images, 0) if single else images


def spatial_size(images, data_format):
    """Static (height, width) of a rank-4 batch."""
    shape = images.shape
    height, width = (shape[1], shape[2]) if data_format == "channels_last" else (shape[2], shape[3])
    return height, width


def box_mask(y0, y1, x0, x1, height, width, data_format):
    """Boolean mask (batch, H, W, 1) or (batch, 1, H, W): True inside [y0, y1) x [x0, x1)."""
    rows = ops.arange(height, dtype="float32")[None, :]
    cols = ops.arange(width, dtype="float32")[None, :]
    inside_y = ops.logical_and(rows >= y0[:, None], rows < y1[:, None])
    inside_x = ops.logical_and(cols >= x0[:, None], cols < x1[:, None])
    if eager_torch():
        # Eager PyTorch computes each op once, nothing to fuse: a broadcast AND
        # is one boolean pass (a batched matmul with k=1 plus a comparison were
        # a third of CutMix's time there, benchmarks/augmentation.py).
        mask = ops.logical_and(inside_y[:, :, None], inside_x[:, None, :])
        return mask[:, :, :, None] if data_format == "channels_last" else mask[:, None, :, :]
    # An outer product (a dot, which XLA does not fuse into its consumers) so
    # the box coordinates, which come from random draws, are computed once per
    # row and column rather than once per pixel.
    rows_f = ops.cast(inside_y, "float32")[:, :, None]
    cols_f = ops.cast(inside_x, "float32")[:, None, :]
    mask = ops.matmul(rows_f, cols_f) > 0.5
    return mask[:, :, :, None] if data_format == "channels_last" else mask[:, None, :, :]


def random_box(seed_generator, batch, height, width, box_h, box_w, tie=None):
    """Boxes of size (box_h, box_w) centred uniformly over the pixels, clipped at the borders.

    `box_h`/`box_w` are float tensors of shape (batch,) or scalars. Returns
    ``y0, y1, x0, x1`` (float, shape (batch,)). `tie` (a function of a
    (batch,) tensor) is applied to the drawn centres: the mixing layers' `mode`.

    Each random quantity has its own `keras.random` draw: deriving them from
    one shared draw let XLA fuse the random-number generation into the
    per-pixel pass, 2-5x slower (benchmarks/augmentation.py).
    """
    cy = ops.floor(random.uniform((batch,), 0.0, float(height), seed=seed_generator))
    cx = ops.floor(random.uniform((batch,), 0.0, float(width), seed=seed_generator))
    if tie is not None:
        cy, cx = tie(cy), tie(cx)
    y0 = cy - ops.floor(box_h / 2.0)
    x0 = cx - ops.floor(box_w / 2.0)
    y1, x1 = y0 + box_h, x0 + box_w
    return (
        ops.clip(y0, 0.0, float(height)),
        ops.clip(y1, 0.0, float(height)),
        ops.clip(x0, 0.0, float(width)),
        ops.clip(x1, 0.0, float(width)),
    )


def partner_shift(seed_generator, batch):
    """Random cyclic shift in [1, batch): image i mixes with image ``(i - shift) % batch``.

    Every image gets a partner drawn uniformly from the others (itself for a
    batch of one). A roll is a pair of contiguous copies, which XLA fuses into
    the mixing pass; a random permutation would need a gather, several times
    slower on CPU (measured in benchmarks/augmentation.py). The pairing is
    random across batches as long as the data are shuffled, as in timm, which
    pairs each image with the batch reversed.
    """
    upper = ops.maximum(ops.cast(batch, "int32"), 2)
    return random.randint((), 1, upper, seed=seed_generator)


def partner(x, shift):
    """The partner of every row: ``x[(i - shift) % batch]``."""
    return ops.roll(x, shift, axis=0)


def paste_partner(mask, x, shift):
    """``where(mask, partner(x), x)``: each image takes its partner's pixels where `mask` is True.

    Under XLA the roll fuses into the selection. Eager PyTorch would first copy
    the whole rolled batch; there the two contiguous halves of the roll are
    selected straight into the output instead (one pass over the images, not two).
    """
    if not eager_torch() or x.requires_grad:  # `out=` writes are not differentiable
        return ops.where(mask, partner(x, shift), x)
    import torch

    batch = x.shape[0]
    shift = int(shift) % batch
    if shift == 0:  # a batch of one is its own partner
        return x.clone()
    out = torch.empty_like(x)
    # A mask as large as the images: torch.where broadcasting a one-channel mask over the
    # channels took 1.56 ms on a 256x32x32x3 batch, 0.99 ms with the expanded mask (copy included),
    # one thread; the whole CutMix call 1.79 -> 1.68 ms with torch's two threads.
    mask = mask.expand(x.shape).contiguous()
    # partner(x)[i] is x[i - shift] for i >= shift and x[batch - shift + i] below.
    torch.where(mask[shift:], x[: batch - shift], x[shift:], out=out[shift:])
    torch.where(mask[:shift], x[batch - shift :], x[:shift], out=out[:shift])
    return out


def split_inputs(data, who):
    """(images, labels, rebuild) for ``(images, labels)`` or ``{"images":, "labels":}``."""
    if isinstance(data, dict):
        if "images" not in data or "labels" not in data:
            raise ValueError(f"{who}: a dict input needs 'images' and 'labels' keys; received {sorted(data)}.")
        return data["images"], data["labels"], lambda i, l: {**data, "images": i, "labels": l}
    if isinstance(data, (tuple, list)) and len(data) == 2:
        return data[0], data[1], lambda i, l: (i, l)
    raise ValueError(f'{who} mixes labels too: call it on (images, labels) or {{"images": ..., "labels": ...}}.')


def dense_labels(labels, num_classes, batch, who):
    """Float32 labels to mix: integer labels become one-hot (needs `num_classes`),
    float labels (one-hot, soft, or binary targets of any shape) are mixed as given."""
    labels = ops.convert_to_tensor(labels)
    if labels.shape[0] is not None and batch is not None and labels.shape[0] != batch:
        raise ValueError(
            f"{who}: `labels` must have one row per image; received {labels.shape[0]} labels for {batch} images."
        )
    if "int" in keras.backend.standardize_dtype(labels.dtype):
        if num_classes is None:
            raise ValueError(f"{who}: sparse integer labels need `num_classes`; received num_classes=None.")
        labels = ops.reshape(labels, (-1,))
        return ops.one_hot(ops.cast(labels, "int32"), num_classes, dtype="float32")
    return ops.cast(labels, "float32")


def blend(x, shift, weight_own):
    """``w * x + (1 - w) * partner(x)`` with `w` of shape (batch,); exactly `x` where ``w == 1``.

    Under XLA (TensorFlow, JAX) this fuses into one pass; eager PyTorch runs
    op by op, so there the partner copy is blended in place with
    ``torch.lerp`` (one kernel, no temporaries; for ``w >= 0.5`` it computes
    ``x - (x - p) * (1 - w)``, exact at 1) instead of four full-size kernels
    and allocations (benchmarks/augmentation.py).
    """
    w = ops.reshape(weight_own, (-1,) + (1,) * (len(x.shape) - 1))
    other = partner(x, shift)
    if eager_torch():
        return other.lerp_(x, ops.cast(w, other.dtype))
    return w * x + (1.0 - w) * other


def mix_labels(labels, shift, weight_own):
    """``w * y + (1 - w) * partner(y)`` with `w` of shape (batch,)."""
    return blend(labels, shift, weight_own)
