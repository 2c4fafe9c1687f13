import keras
import numpy as np
import pytest
import tensorflow as tf

from kerasplus.losses import BinaryFocalCrossentropy
from tests.losses import reference

RNG = np.random.default_rng(2)
LOGITS = (RNG.normal(size=(12, 4)) * 2).astype("float32")
LABELS = RNG.integers(0, 2, size=(12, 4)).astype("float32")


@pytest.mark.parametrize("alpha", [None, 0.25])
@pytest.mark.parametrize("from_logits", [True, False])
def test_agrees_with_keras_where_probabilities_do_not_saturate(alpha, from_logits):
    y_pred = LOGITS if from_logits else keras.ops.sigmoid(LOGITS)
    ours = BinaryFocalCrossentropy(gamma=2.0, alpha=alpha, from_logits=from_logits, label_smoothing=0.1)
    theirs = keras.losses.BinaryFocalCrossentropy(
        apply_class_balancing=alpha is not None,
        alpha=alpha or 0.25,
        gamma=2.0,
        from_logits=from_logits,
        label_smoothing=0.1,
    )
    assert float(ours(LABELS, y_pred)) == pytest.approx(float(theirs(LABELS, y_pred)), rel=1e-5)


def test_huge_logits_match_float64_reference_with_finite_gradients():
    logits = np.array([[-300.0, 300.0, 50.0, -50.0]], dtype="float32")
    labels = np.array([[1.0, 0.0, 1.0, 0.0]], dtype="float32")
    variable = tf.Variable(logits)
    with tf.GradientTape() as tape:
        value = BinaryFocalCrossentropy(gamma=2.0, alpha=0.25, from_logits=True)(labels, variable)
    grad = tape.gradient(value, variable).numpy()
    assert float(value) == pytest.approx(reference.binary_focal(labels, logits, 2.0, 0.25).mean(), rel=1e-6)
    assert np.isfinite(grad).all()
    # Confidently wrong entries: d/dz of alpha_t * |z| is -/+ alpha_t / 4 entries.
    np.testing.assert_allclose(grad[0, :2], [-0.25 / 4, 0.75 / 4], rtol=1e-5)
    np.testing.assert_allclose(grad[0, 2:], [0.0, 0.0], atol=1e-12)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(gamma=-0.5), "`gamma` must be >= 0"),
        (dict(alpha=1.5), r"`alpha` must be in \[0.0, 1.0\]; received alpha=1.5"),
        (dict(label_smoothing=2.0), "`label_smoothing` must be in"),
    ],
)
def test_rejects_bad_arguments(kwargs, message):
    with pytest.raises(ValueError, match=message):
        BinaryFocalCrossentropy(**kwargs)


def test_labels_of_shape_n_against_a_one_unit_output_match_keras():
    y, p = np.array([1.0, 0.0, 1.0, 0.0]), np.array([[0.9], [0.1], [0.8], [0.3]], "float32")
    ours = BinaryFocalCrossentropy(gamma=2.0)(y, p)
    theirs = keras.losses.BinaryFocalCrossentropy(gamma=2.0)(y, p)
    assert float(ours) == pytest.approx(float(theirs), rel=1e-5)


def test_gamma_overflowing_float32_is_rejected():
    with pytest.raises(ValueError, match=r"`gamma` must be at most 3.403e\+38 in magnitude"):
        BinaryFocalCrossentropy(gamma=1e39)
