import numpy as np
import pytest

from kerasplus.losses import PolyLoss, SparseCategoricalCrossentropy
from tests.losses import reference

RNG = np.random.default_rng(3)
LOGITS = (RNG.normal(size=(20, 6)) * 2).astype("float32")
LABELS = RNG.integers(0, 6, size=20)


@pytest.mark.parametrize("epsilon", [-1.0, 0.5, 2.0])
@pytest.mark.parametrize("label_smoothing", [0.0, 0.1])
def test_poly1_is_cross_entropy_plus_epsilon_times_one_minus_pt(epsilon, label_smoothing):
    targets = np.eye(6)[LABELS] * (1 - label_smoothing) + label_smoothing / 6
    log_p = reference.log_softmax(LOGITS)
    expected = (-(targets * log_p).sum(-1) + epsilon * (1 - (targets * np.exp(log_p)).sum(-1))).mean()
    ours = PolyLoss(epsilon=epsilon, label_smoothing=label_smoothing, from_logits=True, sparse=True)(LABELS, LOGITS)
    assert float(ours) == pytest.approx(expected, rel=1e-5)


def test_epsilon_zero_is_cross_entropy():
    ours = PolyLoss(epsilon=0.0, from_logits=True, sparse=True)(LABELS, LOGITS)
    ce = SparseCategoricalCrossentropy(from_logits=True)(LABELS, LOGITS)
    assert float(ours) == pytest.approx(float(ce), rel=1e-6)


def test_rejects_bad_arguments():
    with pytest.raises(ValueError, match=r"`epsilon` must be in \[-1.0, inf\]; received epsilon=-2.0"):
        PolyLoss(epsilon=-2.0)
    with pytest.raises(ValueError, match="`ignore_class` needs sparse=True"):
        PolyLoss(ignore_class=3)


def test_epsilon_that_overflows_float32_is_rejected():
    with pytest.raises(
        ValueError,
        match=r"`epsilon` must be at most 3.403e\+38 in magnitude \(float32's range\); "
        r"received epsilon=1e\+308",
    ):
        PolyLoss(epsilon=1e308)


def test_one_hot_labels_with_sparse_true_name_the_fix():
    with pytest.raises(ValueError, match=r"the labels look one-hot\. To fix: pass sparse=False"):
        PolyLoss(sparse=True, from_logits=True)(np.eye(6)[LABELS], LOGITS)
