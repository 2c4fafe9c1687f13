import keras
import numpy as np
import pytest
import tensorflow as tf

from kerasplus.losses import FocalCrossentropy, SparseCategoricalCrossentropy
from tests.losses import reference

RNG = np.random.default_rng(1)
LOGITS = (RNG.normal(size=(16, 5)) * 3).astype("float32")
LABELS = RNG.integers(0, 5, size=16)
ONE_HOT = np.eye(5, dtype="float32")[LABELS]


def loss_and_gradient(loss, y_true, logits):
    logits = tf.Variable(logits)
    with tf.GradientTape() as tape:
        value = loss(y_true, logits)
    return float(value), tape.gradient(value, logits).numpy()


@pytest.mark.parametrize("gamma", [0.0, 0.5, 2.0, 5.0])
def test_matches_float64_reference_for_dense_and_sparse_labels(gamma):
    expected = reference.focal(ONE_HOT, LOGITS, gamma).mean()
    dense = FocalCrossentropy(gamma=gamma, from_logits=True)(ONE_HOT, LOGITS)
    sparse = FocalCrossentropy(gamma=gamma, from_logits=True, sparse=True)(LABELS, LOGITS)
    assert float(dense) == pytest.approx(expected, rel=1e-5)
    assert float(sparse) == pytest.approx(expected, rel=1e-5)


def test_huge_logits_keep_the_right_loss_and_gradient_where_keras_loses_it():
    # The true class sits 1e4 below the others: p_true = exp(-1e4) underflows.
    logits = np.array([[1e4, 0.0, 0.0], [0.0, 1e4, -1e4]], dtype="float32")
    targets = np.array([[0.0, 1.0, 0.0], [0.0, 0.0, 1.0]], dtype="float32")
    value, grad = loss_and_gradient(FocalCrossentropy(gamma=2.0, from_logits=True), targets, logits)
    expected = reference.focal(targets, logits, 2.0).mean()
    expected_grad = reference.focal_gradient(targets, logits, 2.0)
    assert value == pytest.approx(expected, rel=1e-6)
    np.testing.assert_allclose(grad, expected_grad, rtol=1e-4, atol=1e-6)
    assert np.abs(expected_grad).max() > 0.1
    keras_value, keras_grad = loss_and_gradient(
        keras.losses.CategoricalFocalCrossentropy(alpha=1.0, gamma=2.0, from_logits=True), targets, logits
    )
    assert keras_value < expected / 100  # clipped probabilities cap the loss
    assert np.abs(keras_grad - expected_grad).max() > 0.1  # and the gradient is wrong


def test_gamma_zero_without_alpha_is_cross_entropy():
    focal = FocalCrossentropy(gamma=0.0, from_logits=True, sparse=True, label_smoothing=0.1)(LABELS, LOGITS)
    ce = SparseCategoricalCrossentropy(from_logits=True, label_smoothing=0.1)(LABELS, LOGITS)
    assert float(focal) == pytest.approx(float(ce), rel=1e-6)


def test_alpha_weighs_each_class():
    alpha = [0.1, 0.2, 0.3, 0.2, 0.2]
    ours = FocalCrossentropy(gamma=2.0, alpha=alpha, from_logits=True)(ONE_HOT, LOGITS)
    assert float(ours) == pytest.approx(reference.focal(ONE_HOT, LOGITS, 2.0, alpha).mean(), rel=1e-5)
    scalar = FocalCrossentropy(gamma=2.0, alpha=0.25, from_logits=True)(ONE_HOT, LOGITS)
    assert float(scalar) == pytest.approx(0.25 * reference.focal(ONE_HOT, LOGITS, 2.0).mean(), rel=1e-5)


def test_probabilities_input_agrees_with_keras_focal_loss():
    probabilities = keras.ops.softmax(LOGITS)
    ours = FocalCrossentropy(gamma=2.0, alpha=0.25)(ONE_HOT, probabilities)
    theirs = keras.losses.CategoricalFocalCrossentropy(alpha=0.25, gamma=2.0)(ONE_HOT, probabilities)
    assert float(ours) == pytest.approx(float(theirs), rel=1e-5)


def test_alpha_length_mismatch_is_reported_with_both_numbers():
    with pytest.raises(ValueError, match="`alpha` has 3 per-class weights but y_pred has 5 classes"):
        FocalCrossentropy(alpha=[0.2, 0.3, 0.5], from_logits=True)(ONE_HOT, LOGITS)


@pytest.mark.parametrize(
    "kwargs, error, message",
    [
        (dict(gamma=-1.0), ValueError, "`gamma` must be >= 0; received gamma=-1.0"),
        (dict(label_smoothing=1.0), ValueError, r"`label_smoothing` must be in \[0.0, 1.0\)"),
        (dict(alpha=-0.5), ValueError, "`alpha` must be >= 0"),
        (dict(alpha=[0.5, -1.0]), ValueError, r"`alpha\[1\]` must be >= 0"),
        (dict(alpha="balanced"), TypeError, "`alpha` must be None, a number or a list"),
        (dict(ignore_class=0), ValueError, "`ignore_class` needs sparse=True"),
    ],
)
def test_rejects_bad_arguments(kwargs, error, message):
    with pytest.raises(error, match=message):
        FocalCrossentropy(**kwargs)


def test_one_hot_labels_with_sparse_true_name_the_fix_in_fit():
    x = RNG.normal(size=(16, 4)).astype("float32")
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(5)])
    model.compile("sgd", FocalCrossentropy(from_logits=True, sparse=True))
    with pytest.raises(ValueError, match=r"look one-hot\. To fix: pass sparse=False") as info:
        model.fit(x, ONE_HOT, batch_size=8, epochs=1, verbose=0)
    assert "y_true of shape (8, 5)" in str(info.value)
    assert "Incompatible shapes" not in str(info.value)


def test_class_indices_with_sparse_false_name_the_fix():
    with pytest.raises(ValueError, match=r"look like class indices\. To fix: pass sparse=True"):
        FocalCrossentropy(from_logits=True)(LABELS, LOGITS)
    with pytest.raises(ValueError, match=r"look like class indices"):
        FocalCrossentropy(from_logits=True)(LABELS[:, None], LOGITS)  # would broadcast silently


def test_axis_out_of_range_is_named_at_call_time():
    with pytest.raises(
        ValueError,
        match=r"`axis` is out of range for y_pred of shape \(16, 5\): allowed -2 to 1; "
        r"received axis=2",
    ):
        FocalCrossentropy(axis=2)(ONE_HOT, LOGITS)
    with pytest.raises(TypeError, match="`axis` must be an integer; received axis=1.0"):
        FocalCrossentropy(axis=1.0)


def test_class_axis_other_than_last_still_matches():
    moved = np.moveaxis(LOGITS[:, :, None], 1, 1)  # (16, 5, 1): classes on axis 1
    dense = FocalCrossentropy(from_logits=True, axis=1)(ONE_HOT[:, :, None], moved)
    sparse = FocalCrossentropy(from_logits=True, sparse=True, axis=1)(LABELS[:, None], moved)
    expected = reference.focal(ONE_HOT, LOGITS, 2.0).mean()
    assert float(dense) == pytest.approx(expected, rel=1e-5)
    assert float(sparse) == pytest.approx(expected, rel=1e-5)


@pytest.mark.parametrize(
    "kwargs, name",
    [(dict(alpha=1e308), "alpha"), (dict(alpha=[1.0, 1e39]), r"alpha\[1\]"), (dict(gamma=1e300), "gamma")],
)
def test_values_that_overflow_float32_are_rejected(kwargs, name):
    with pytest.raises(ValueError, match=rf"`{name}` must be at most 3.403e\+38 in magnitude \(float32's range\)"):
        FocalCrossentropy(**kwargs)
