"""Valid finite inputs never give a NaN loss or gradient, however extreme."""

import numpy as np
import pytest
import tensorflow as tf

from kerasplus import losses

RNG = np.random.default_rng(5)
EXTREME = RNG.choice([-1e4, -80.0, 0.0, 80.0, 1e4], size=(32, 4)).astype("float32")
SPARSE = RNG.integers(0, 4, size=32)
DENSE = np.eye(4, dtype="float32")[SPARSE]
MULTI = (RNG.random((32, 4)) > 0.5).astype("float32")

CASES = [
    (losses.SparseCategoricalCrossentropy(from_logits=True, label_smoothing=0.1), SPARSE),
    (losses.FocalCrossentropy(gamma=0.5, from_logits=True), DENSE),
    (
        losses.FocalCrossentropy(gamma=2.0, alpha=[1, 2, 3, 4], from_logits=True, sparse=True, label_smoothing=0.2),
        SPARSE,
    ),
    (losses.BinaryFocalCrossentropy(gamma=0.5, alpha=0.25, from_logits=True, label_smoothing=0.1), MULTI),
    (losses.BinaryFocalCrossentropy(gamma=2.0), MULTI),  # probabilities at exactly 0 and 1 below
    (losses.PolyLoss(epsilon=2.0, from_logits=True, sparse=True), SPARSE),
]


@pytest.mark.parametrize("index", range(len(CASES)))
def test_extreme_logits_give_finite_loss_and_gradient(index):
    loss, labels = CASES[index]
    inputs = EXTREME if loss.get_config().get("from_logits") else (EXTREME > 0).astype("float32")
    variable = tf.Variable(inputs)
    with tf.GradientTape() as tape:
        value = loss(labels, variable)
    grad = tape.gradient(value, variable)
    assert np.isfinite(float(value))
    assert np.isfinite(grad.numpy()).all()


def test_sparse_focal_ignore_class_averages_over_kept_entries_only():
    labels = SPARSE.copy()
    labels[:8] = -1
    logits = RNG.normal(size=(32, 4)).astype("float32")
    with_ignored = losses.FocalCrossentropy(from_logits=True, sparse=True, ignore_class=-1)(labels, logits)
    kept = losses.FocalCrossentropy(from_logits=True, sparse=True)(labels[8:], logits[8:])
    assert float(with_ignored) == pytest.approx(float(kept), rel=1e-6)
