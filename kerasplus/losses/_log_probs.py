"""Shared pieces of the classification losses: labels, log-probabilities, masks.

Everything is computed in float32 (or float64 if given) from log-probabilities:
with logits through `log_softmax`/`log_sigmoid`, so huge logits stay finite and
keep their gradient; with probabilities by clipping as Keras does.
"""

from __future__ import annotations

import numpy as np
from keras import backend, ops

from kerasplus import _validation as v
from kerasplus._internals import keras as internal_keras

EPSILON = 1e-7


def compute_dtype(x):
    """float32 for half-precision inputs (and ints), else the input's float dtype."""
    dtype = backend.standardize_dtype(x.dtype)
    return dtype if dtype in ("float32", "float64") else "float32"


def class_last(y_pred, axis):
    y_pred = ops.convert_to_tensor(y_pred)
    y_pred = ops.cast(y_pred, compute_dtype(y_pred))
    if axis not in (-1, len(y_pred.shape) - 1):
        y_pred = ops.moveaxis(y_pred, axis, -1)
    return y_pred


def log_probabilities(y_pred, from_logits):
    """Log-softmax of logits, or the log of (renormalised, clipped) probabilities."""
    if from_logits:
        return ops.log_softmax(y_pred, axis=-1)
    y_pred = y_pred / ops.sum(y_pred, axis=-1, keepdims=True)
    return ops.log(ops.clip(y_pred, EPSILON, 1.0 - EPSILON))


def sparse_targets(y_true, y_pred, ignore_class):
    """Integer labels -> (one-hot targets, valid mask or None), class axis last.

    Labels outside [0, num_classes) raise `ValueError` when they are concrete
    (eager); inside a compiled function their loss is NaN, never a silent value.
    """
    num_classes = y_pred.shape[-1]
    y_true = ops.convert_to_tensor(y_true)
    if len(y_true.shape) == len(y_pred.shape) and y_true.shape[-1] == 1:
        y_true = ops.squeeze(y_true, axis=-1)
    labels = ops.cast(y_true, "int32")
    valid = None
    if ignore_class is not None:
        valid = ops.not_equal(labels, ignore_class)
        labels = ops.where(valid, labels, 0)
    _check_label_range(labels, num_classes)
    one_hot = ops.one_hot(labels, num_classes, dtype=y_pred.dtype)
    in_range = ops.logical_and(labels >= 0, labels < num_classes)
    nan = ops.convert_to_tensor(np.nan, y_pred.dtype)
    one_hot = ops.where(ops.expand_dims(in_range, -1), one_hot, nan)
    return one_hot, valid


def _check_label_range(labels, num_classes):
    try:
        values = ops.convert_to_numpy(labels)
    except Exception:  # symbolic inside a traced function: checked by the NaN path
        return
    if values.size and (values.min() < 0 or values.max() >= num_classes):
        bad = values[(values < 0) | (values >= num_classes)]
        raise ValueError(
            f"`y_true` holds class indices outside [0, {num_classes}) for "
            f"y_pred with {num_classes} classes; received e.g. {int(bad.flat[0])}."
        )


def elementwise_pair(y_true, y_pred, axis, *, meaning="the axis to average over"):
    """`(y_true, y_pred, axis)` for an element-wise loss, shapes matched as Keras's losses match them.

    Labels of shape ``(N,)`` for predictions ``(N, 1)`` (what `fit` passes for a
    one-unit output) gain the trailing 1 instead of broadcasting to ``(N, N)``;
    a trailing 1 on the labels alone is dropped. Shapes that still cannot
    broadcast raise a `ValueError` with both. `axis` is checked against y_pred's rank.
    """
    y_pred = ops.convert_to_tensor(y_pred)
    y_pred = ops.cast(y_pred, compute_dtype(y_pred))
    y_true = ops.cast(ops.convert_to_tensor(y_true), y_pred.dtype)
    pred_shape, true_shape = tuple(y_pred.shape), tuple(y_true.shape)
    axis = v.check_axis("axis", axis, len(pred_shape), shape=pred_shape, meaning=meaning)
    if len(true_shape) == len(pred_shape) - 1 and pred_shape[-1] == 1:
        y_true = ops.expand_dims(y_true, -1)
    elif len(true_shape) == len(pred_shape) + 1 and true_shape[-1] == 1:
        y_true = ops.squeeze(y_true, -1)
    matched = tuple(y_true.shape)
    if len(matched) != len(pred_shape) or any(
        a is not None and b is not None and a != b and 1 not in (a, b) for a, b in zip(matched, pred_shape)
    ):
        raise ValueError(
            f"`y_true` must have y_pred's shape {_shape(pred_shape)}; received y_true of shape {_shape(true_shape)}."
        )
    return y_true, y_pred, axis


def dense_targets(y_true, y_pred, axis):
    return class_last(ops.cast(ops.convert_to_tensor(y_true), y_pred.dtype), axis)


def smooth(targets, label_smoothing):
    if not label_smoothing:
        return targets
    num_classes = targets.shape[-1]
    return targets * (1.0 - label_smoothing) + label_smoothing / num_classes


def mask_ignored(loss, valid):
    """Zero the loss of ignored entries and mark them so Keras leaves them out of the mean."""
    if valid is None:
        return loss
    loss = ops.where(valid, loss, ops.zeros_like(loss))
    internal_keras.set_loss_mask(loss, valid)  # how Keras's own losses do it
    return loss


def _compatible(a, b):
    """Two static shapes that agree wherever both dimensions are known."""
    return len(a) == len(b) and all(x is None or y is None or x == y for x, y in zip(a, b))


def _shape(shape):
    return "(" + ", ".join("None" if d is None else str(d) for d in shape) + (",)" if len(shape) == 1 else ")")


def check_label_shape(y_true, y_pred, *, sparse, axis, dense_fix=None):
    """Static label/prediction shapes that fit `sparse`, with a `ValueError` naming the fix.

    One-hot labels given to a sparse loss (or class indices to a dense one) would
    otherwise fail deep in the graph with "Incompatible shapes: [8,10,10] vs. [8,10]"
    or, worse, broadcast into a wrong loss. Unknown (None) dimensions match anything.
    Returns `axis` as a non-negative index. `dense_fix` is the advice for one-hot
    labels when the loss has no `sparse` argument.
    """
    prefix = "With sparse=True, " if dense_fix is None else ""
    dense_fix = dense_fix or "pass sparse=False"
    pred_shape = tuple(y_pred.shape)
    true_shape = tuple(y_true.shape)
    axis = v.check_axis("axis", axis, len(pred_shape), shape=pred_shape)
    indices_shape = pred_shape[:axis] + pred_shape[axis + 1 :]
    looks_like_indices = _compatible(true_shape, indices_shape) or _compatible(true_shape, indices_shape + (1,))
    looks_dense = _compatible(true_shape, pred_shape)
    num_classes = pred_shape[axis]
    if sparse and not looks_like_indices:
        if looks_dense:
            raise ValueError(
                f"{prefix}`y_true` must hold class indices of shape {_shape(indices_shape)}; received "
                f"y_true of shape {_shape(true_shape)}, the shape of y_pred ({num_classes} classes on axis "
                f"{axis}): the labels look one-hot. To fix: {dense_fix}, or pass integer labels "
                "(e.g. `labels.argmax(-1)`)."
            )
        raise ValueError(
            f"{prefix}`y_true` must hold class indices of shape {_shape(indices_shape)} for y_pred of "
            f"shape {_shape(pred_shape)}; received y_true of shape {_shape(true_shape)}."
        )
    if not sparse and not looks_dense:
        if looks_like_indices:
            raise ValueError(
                f"With sparse=False, `y_true` must be one-hot (or soft) targets of y_pred's shape "
                f"{_shape(pred_shape)}; received y_true of shape {_shape(true_shape)}: the labels look like class "
                "indices. To fix: pass sparse=True, or one-hot encode them (`keras.utils.to_categorical`)."
            )
        raise ValueError(
            f"With sparse=False, `y_true` must have y_pred's shape {_shape(pred_shape)}; received y_true of shape "
            f"{_shape(true_shape)}."
        )
    return axis


def targets_and_log_probs(y_true, y_pred, *, from_logits, sparse, ignore_class, label_smoothing, axis, dense_fix=None):
    """What every softmax loss starts from: ``(targets, log_probs, valid_mask)``.

    Class axis last; targets one-hot (from indices when `sparse`) or as given,
    then smoothed; `valid_mask` is None unless `ignore_class` is set. Label
    shapes that do not fit `sparse` raise a `ValueError` that names the fix.
    """
    y_pred = ops.convert_to_tensor(y_pred)
    y_true = ops.convert_to_tensor(y_true)
    axis = check_label_shape(y_true, y_pred, sparse=sparse, axis=axis, dense_fix=dense_fix)
    y_pred = class_last(y_pred, axis)
    if sparse:
        targets, valid = sparse_targets(y_true, y_pred, ignore_class)
    else:
        targets, valid = dense_targets(y_true, y_pred, axis), None
    return smooth(targets, label_smoothing), log_probabilities(y_pred, from_logits), valid
