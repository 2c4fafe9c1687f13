import math

import pytest

from kerasplus.diagnostics import VERDICTS, curve_verdict


def verdicts_per_epoch(train, val=None, **kwargs):
    """The verdict curve_verdict gives after each epoch of hand-made curves."""
    return [
        curve_verdict(train[: e + 1], None if val is None else val[: e + 1], **kwargs)[0] for e in range(len(train))
    ]


def test_overfitting_starts_when_the_rise_has_lasted_patience_epochs():
    train = [1.0, 0.6, 0.4, 0.3, 0.2, 0.15, 0.1, 0.08]
    val = [1.0, 0.7, 0.6, 0.67, 0.7, 0.8, 0.9, 1.0]
    # best val 0.6 at epoch 3 (index 2); > 0.66 from index 3 on; three such epochs end at index 5.
    got = verdicts_per_epoch(train, val, baseline_loss=1.0, patience=3, overfit_tolerance=0.1)
    assert got[:5] == ["underfitting", "underfitting", "good fit", "good fit", "good fit"]
    assert got[5:] == ["overfitting"] * 3


def test_a_single_bounce_of_the_validation_loss_is_not_overfitting():
    train = [1.0, 0.5, 0.3, 0.2, 0.15, 0.1]
    val = [1.0, 0.5, 0.3, 0.4, 0.29, 0.28]
    assert verdicts_per_epoch(train, val, baseline_loss=1.0)[-3:] == ["good fit"] * 3


def test_rising_validation_with_rising_training_loss_is_not_overfitting():
    train = [1.0, 0.4, 0.45, 0.5, 0.55]
    val = [1.0, 0.4, 0.5, 0.55, 0.6]
    assert curve_verdict(train, val, baseline_loss=2.0, patience=3)[0] == "good fit"


def test_underfitting_is_the_share_of_the_baseline_left():
    assert curve_verdict([0.8, 0.51], baseline_loss=1.0, underfit_ratio=0.5)[0] == "underfitting"
    assert curve_verdict([0.8, 0.49], baseline_loss=1.0, underfit_ratio=0.5)[0] == "good fit"
    # Without a baseline the first epoch is the reference.
    assert curve_verdict([2.0, 1.2])[0] == "underfitting"
    assert curve_verdict([2.0, 0.9])[0] == "good fit"


@pytest.mark.parametrize("bad", [math.nan, math.inf])
def test_a_non_finite_loss_is_diverging(bad):
    verdict, reason = curve_verdict([1.0, 0.5, bad], baseline_loss=1.0)
    assert verdict == "diverging" and "not finite" in reason
    assert curve_verdict([1.0, 0.5], [1.0, bad], baseline_loss=1.0)[0] == "diverging"


def test_diverging_needs_a_rise_above_the_first_loss_and_the_factor():
    # 2.1 > 2 * best(1.0) and > first (2.0): diverging.
    assert curve_verdict([2.0, 1.0, 2.1], divergence_factor=2.0)[0] == "diverging"
    # 1.9 < 2 * best: a bump, not divergence.
    assert curve_verdict([2.0, 1.0, 1.9], divergence_factor=2.0)[0] != "diverging"
    # Tiny losses tripling but staying below the first loss: not divergence.
    assert curve_verdict([1.0, 0.001, 0.003], divergence_factor=2.0)[0] == "good fit"


def test_verdicts_are_the_documented_four():
    assert VERDICTS == ("good fit", "underfitting", "overfitting", "diverging")


def test_bad_curves_are_rejected():
    with pytest.raises(ValueError, match="train_loss"):
        curve_verdict([])
    with pytest.raises(ValueError, match="val_loss"):
        curve_verdict([1.0, 0.5], [1.0])
