"""Pruning masks computed with `keras.ops` (inside the train step, on every backend).

Each function takes the magnitudes ``|kernel * current_mask|``, so a weight
pruned once ranks lowest and is never revived, and returns a float32 0/1 mask
of the same shape. Ranks come from a double `argsort`, which keeps exactly the
requested number of weights (tfmot keeps every weight tied with its
threshold; with float weights ties do not occur except among zeros).
"""

from __future__ import annotations

import math

import numpy as np
from keras import ops


def _keep_top(values, keep):
    """1 for the `keep` largest entries along the last axis of `values`, else 0 (`keep` may be a tensor)."""
    ranks = ops.argsort(ops.argsort(values, axis=-1), axis=-1)  # 0 = smallest
    size = values.shape[-1]
    return ops.cast(ops.greater_equal(ops.cast(ranks, "float32"), size - keep), "float32")


def keep_count(size: int, sparsity):
    """Weights kept at `sparsity`: ``max(round(size * (1 - sparsity)), 1)`` in float32, as tfmot computes it."""
    kept = ops.round(ops.cast(size, "float32") * (1.0 - ops.cast(sparsity, "float32")))
    return ops.maximum(kept, 1.0)


def magnitude_mask(magnitude, sparsity):
    """Zeros the ``round(size * sparsity)`` smallest entries of the whole tensor (tfmot's rule)."""
    flat = ops.reshape(magnitude, (1, -1))
    mask = _keep_top(flat, keep_count(flat.shape[-1], sparsity))
    return ops.reshape(mask, magnitude.shape)


def m_by_n_mask(magnitude, zeros: int, block: int):
    """`zeros` zeros in every `block` consecutive weights along the input-channel axis (tfmot's `m_by_n`).

    The kernel's axes are ``(*spatial, in, out)``; as tfmot's `weights_rearrange`
    does, the output axis is moved first, so each group of `block` weights
    shares one output channel and one spatial position and runs along the
    input channels. The input-channel count must be a multiple of `block`.
    """
    rank = len(magnitude.shape)
    perm = (rank - 1, *range(rank - 1))
    moved = ops.transpose(magnitude, perm)
    groups = ops.reshape(moved, (-1, block))
    mask = _keep_top(groups, block - zeros)
    mask = ops.reshape(mask, moved.shape)
    inverse = tuple(int(i) for i in np.argsort(perm))
    return ops.transpose(mask, inverse)


def block_mask(magnitude, block_size: tuple[int, int], sparsity):
    """Zeros whole ``block_size`` blocks of a 2-D tensor, ranked by mean magnitude (tfmot's AVG pooling).

    Edge blocks that overhang the tensor are averaged over the weights they
    hold (as TensorFlow's SAME average pooling does).
    """
    rows, cols = magnitude.shape
    r, c = block_size
    block_rows, block_cols = math.ceil(rows / r), math.ceil(cols / c)
    padded = ops.pad(magnitude, ((0, block_rows * r - rows), (0, block_cols * c - cols)))
    sums = ops.sum(ops.reshape(padded, (block_rows, r, block_cols, c)), axis=(1, 3))
    counts = np.ones((rows, cols), "float32")
    counts = np.pad(counts, ((0, block_rows * r - rows), (0, block_cols * c - cols)))
    counts = counts.reshape(block_rows, r, block_cols, c).sum(axis=(1, 3))
    means = sums / ops.convert_to_tensor(counts)
    blocks = magnitude_mask(means, sparsity)
    mask = ops.repeat(ops.repeat(blocks, r, axis=0), c, axis=1)
    return mask[:rows, :cols]
