import keras
import numpy as np
import pytest
import torch

from kerasplus.losses import SparseCategoricalCrossentropy

RNG = np.random.default_rng(0)
LOGITS = (RNG.normal(size=(32, 7)) * 4).astype("float32")
LABELS = RNG.integers(0, 7, size=32)


@pytest.mark.parametrize("label_smoothing", [0.0, 0.05, 0.1, 0.5, 0.9])
def test_equals_torch_cross_entropy_with_label_smoothing(label_smoothing):
    ours = SparseCategoricalCrossentropy(from_logits=True, label_smoothing=label_smoothing)(LABELS, LOGITS)
    reference = torch.nn.CrossEntropyLoss(label_smoothing=label_smoothing)(
        torch.tensor(LOGITS, dtype=torch.float64), torch.tensor(LABELS)
    )
    assert float(ours) == pytest.approx(float(reference), rel=1e-6)


def test_ignore_class_matches_torch_ignore_index():
    labels = LABELS.copy()
    labels[::3] = -1
    ours = SparseCategoricalCrossentropy(from_logits=True, label_smoothing=0.2, ignore_class=-1)(labels, LOGITS)
    reference = torch.nn.CrossEntropyLoss(label_smoothing=0.2, ignore_index=-1)(
        torch.tensor(LOGITS, dtype=torch.float64), torch.tensor(labels)
    )
    assert float(ours) == pytest.approx(float(reference), rel=1e-6)


def test_without_smoothing_equals_keras_for_probabilities_and_logits():
    probabilities = keras.ops.softmax(LOGITS)
    for from_logits, y_pred in ((True, LOGITS), (False, probabilities)):
        ours = SparseCategoricalCrossentropy(from_logits=from_logits)(LABELS, y_pred)
        theirs = keras.losses.SparseCategoricalCrossentropy(from_logits=from_logits)(LABELS, y_pred)
        assert float(ours) == pytest.approx(float(theirs), rel=1e-6)


def test_half_precision_inputs_are_computed_in_float32():
    loss = SparseCategoricalCrossentropy(from_logits=True, label_smoothing=0.1)
    for dtype in ("float16", "bfloat16"):
        value = loss(LABELS, keras.ops.cast(LOGITS, dtype))
        assert keras.backend.standardize_dtype(value.dtype) == "float32"
        assert float(value) == pytest.approx(float(loss(LABELS, LOGITS)), rel=2e-2)


def test_out_of_range_labels_are_rejected():
    with pytest.raises(ValueError, match=r"class indices outside \[0, 7\).*received e.g. 9"):
        SparseCategoricalCrossentropy(from_logits=True)(np.array([9]), LOGITS[:1])


@pytest.mark.parametrize(
    "kwargs, error, message",
    [
        (
            dict(label_smoothing=1.0),
            ValueError,
            r"`label_smoothing` must be in \[0.0, 1.0\); received label_smoothing=1.0",
        ),
        (dict(label_smoothing=-0.1), ValueError, "`label_smoothing` must be in"),
        (dict(from_logits="yes"), TypeError, "`from_logits` must be True or False"),
        (dict(ignore_class=1.5), TypeError, "`ignore_class` must be an integer"),
    ],
)
def test_rejects_bad_arguments(kwargs, error, message):
    with pytest.raises(error, match=message):
        SparseCategoricalCrossentropy(**kwargs)


def test_one_hot_labels_point_to_categorical_crossentropy():
    with pytest.raises(ValueError, match=r"look one-hot\. To fix: use keras.losses.CategoricalCrossentropy"):
        SparseCategoricalCrossentropy(from_logits=True)(np.eye(7)[LABELS], LOGITS)
    with pytest.raises(ValueError, match=r"`axis` is out of range .* received axis=-3"):
        SparseCategoricalCrossentropy(axis=-3)(LABELS, LOGITS)
