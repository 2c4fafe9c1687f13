"""Shared pieces of the classification losses: labels, log-probabilities, masks.

Everything is computed in float32 (or float64 if given) from log-probabilities:
with logits through `log_softmax`/`log_sigmoid`, so huge logits stay finite and
keep their gradient; with probabilities by clipping as Keras does.
"""

from __future__ import annotations

import numpy as np
from keras import backend, ops

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


def targets_and_log_probs(y_true, y_pred, *, from_logits, sparse, ignore_class, label_smoothing, axis):
    """What every softmax loss starts from: ``(targets, log_probs, valid_mask)``.

    Class axis last; targets one-hot (from indices when `sparse`) or as given,
    then smoothed; `valid_mask` is None unless `ignore_class` is set.
    """
    y_pred = class_last(y_pred, axis)
    if sparse:
        targets, valid = sparse_targets(y_true, y_pred, ignore_class)
    else:
        targets, valid = dense_targets(y_true, y_pred, axis), None
    return smooth(targets, label_smoothing), log_probabilities(y_pred, from_logits), valid
