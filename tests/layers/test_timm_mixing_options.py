"""timm's Mixup options (prob, mode, label_smoothing, correct_lam) on Mixup, CutMix and MixupOrCutMix.

timm is not installed: its formulas (``timm/data/mixup.py``: ``mixup_target``,
``_mix_pair``, ``_mix_batch``, ``cutmix_bbox_and_lam``) are written here in numpy
and checked against what the layers return.
"""

import keras
import numpy as np
import pytest

from kerasplus.layers import CutMix, Mixup, MixupOrCutMix

B, C = 8, 8


def timm_mixup_target(own, partner, lam, smoothing, num_classes=C):
    """timm's mixup_target for one row: smoothed one-hots (off = s / C, on = 1 - s + s / C), mixed by lam."""
    off = smoothing / num_classes
    on = 1.0 - smoothing + off
    y1 = np.full(num_classes, off)
    y1[own] = on
    y2 = np.full(num_classes, off)
    y2[partner] = on
    return y1 * lam + y2 * (1.0 - lam)


def images(batch=B, size=6, seed=0):
    return np.random.default_rng(seed).random((batch, size, size, 1)).astype("float32")


def run(layer, x, labels=None):
    labels = np.eye(C, dtype="float32")[np.arange(len(x)) % C] if labels is None else labels
    out, soft = layer((x, labels), training=True)
    return keras.ops.convert_to_numpy(out), keras.ops.convert_to_numpy(soft).astype(np.float64)


def own_weight_and_partner(soft, smoothing):
    """Each row's own weight (timm's lam) and partner class, read back from the smoothed soft labels."""
    lam = (np.diag(soft) - smoothing / C) / (1.0 - smoothing)
    rest = soft.copy()
    np.fill_diagonal(rest, -1.0)
    return lam, rest.argmax(axis=1)


@pytest.mark.parametrize("smoothing", [0.0, 0.1])
def test_pair_mode_mixes_i_with_i_plus_half_with_one_weight_per_pair(smoothing):
    x = images()
    out, soft = run(Mixup(1.0, mode="pair", label_smoothing=smoothing, seed=3), x)
    lam, partner = own_weight_and_partner(soft, smoothing)
    np.testing.assert_array_equal(partner, (np.arange(B) + B // 2) % B)
    np.testing.assert_allclose(lam[: B // 2], lam[B // 2 :], rtol=1e-5)
    assert len(set(np.round(lam[: B // 2], 5))) == B // 2, "each pair draws its own weight"
    for i in range(B):
        np.testing.assert_allclose(soft[i], timm_mixup_target(i, partner[i], lam[i], smoothing), atol=1e-6)
        np.testing.assert_allclose(out[i], lam[i] * x[i] + (1 - lam[i]) * x[partner[i]], atol=1e-5)


def test_batch_mode_draws_one_weight_and_one_box_for_the_batch():
    x = images()
    out, soft = run(Mixup(1.0, mode="batch", seed=4), x)
    lam, partner = own_weight_and_partner(soft, 0.0)
    np.testing.assert_allclose(lam, lam[0], rtol=1e-6)
    assert len(set((partner - np.arange(B)) % B)) == 1, "one roll of the batch"
    np.testing.assert_allclose(out, lam[0] * x + (1 - lam[0]) * x[partner], atol=1e-5)

    constant = np.arange(1, B + 1, dtype="float32")[:, None, None, None] * np.ones((B, 6, 6, 1), "float32")
    out, soft = run(CutMix(1.0, mode="batch", seed=5), constant)
    pasted = out != constant
    assert pasted.any() and all((pasted[i] == pasted[0]).all() for i in range(B)), "one box for every image"
    np.testing.assert_allclose(np.diag(soft), 1.0 - pasted[0].mean(), rtol=1e-6)  # timm's correct_lam


def test_pair_mode_cutmix_swaps_one_box_between_the_two_images_of_a_pair():
    x = np.arange(1, B + 1, dtype="float32")[:, None, None, None] * np.ones((B, 6, 6, 1), "float32")
    out, soft = run(CutMix(1.0, mode="pair", seed=6), x)
    half = B // 2
    for i in range(half):
        box = out[i] != x[i]
        np.testing.assert_array_equal(box, out[i + half] != x[i + half])
        np.testing.assert_array_equal(out[i][box], x[i + half][box])
        np.testing.assert_array_equal(out[i + half][box], x[i][box])
        assert soft[i, i] == pytest.approx(1.0 - box.mean()) == pytest.approx(soft[i + half, i + half])


def test_prob_leaves_images_unmixed_at_that_rate():
    x = np.random.default_rng(0).random((4000, 1, 1, 1)).astype("float32")
    labels = np.eye(2, dtype="float32")[np.arange(4000) % 2]
    out, soft = run(Mixup(1.0, prob=0.3, seed=7), x, labels)
    unmixed = (out == x).all(axis=(1, 2, 3))  # distinct random pixels: only lam = 1 leaves one unchanged
    assert abs(unmixed.mean() - 0.7) < 0.03
    out, soft = run(MixupOrCutMix(prob=0.0, label_smoothing=0.2, seed=0), images(), None)
    np.testing.assert_array_equal(out, images())
    np.testing.assert_allclose(soft, 0.8 * np.eye(C) + 0.2 / C, atol=1e-7)  # smoothing applies even unmixed, as timm


def test_prob_in_batch_mode_mixes_whole_batches():
    layer = Mixup(1.0, prob=0.5, mode="batch", seed=8)
    states = []
    for _ in range(60):
        _, soft = run(layer, images(4), np.eye(4, dtype="float32"))
        mixed = np.max(soft, axis=1) < 1.0
        assert mixed.all() or not mixed.any()
        states.append(mixed.all())
    assert 15 <= sum(states) <= 45


def test_correct_lam_false_keeps_the_drawn_weight_for_clipped_boxes():
    x = np.arange(1, 65, dtype="float32")[:, None, None, None] * np.ones((64, 8, 8, 1), "float32")
    labels = np.eye(64, dtype="float32")
    out_true, soft_true = run(CutMix(1.0, seed=9), x, labels)
    out_false, soft_false = run(CutMix(1.0, seed=9, correct_lam=False), x, labels)
    np.testing.assert_array_equal(out_true, out_false)  # same draws, same boxes
    pasted = (out_true != x).mean(axis=(1, 2, 3))
    np.testing.assert_allclose(np.diag(soft_true), 1.0 - pasted, rtol=1e-6)
    lam = np.diag(soft_false)
    side = np.floor(8 * np.sqrt(1.0 - lam))  # timm's cut_h = int(H * sqrt(1 - lam)) (our box is that side)
    assert np.all(pasted * 64 <= side * side + 1e-6), "a clipped box is never larger than the drawn one"
    assert np.any(np.abs(lam - (1.0 - pasted)) > 1e-3), "some boxes are clipped, so the two weights differ"


def test_options_survive_serialization_and_an_odd_pair_batch_is_refused():
    layer = MixupOrCutMix(prob=0.7, mode="pair", label_smoothing=0.1, correct_lam=False, num_classes=4)
    again = keras.saving.deserialize_keras_object(keras.saving.serialize_keras_object(layer), safe_mode=True)
    for key in ("prob", "mode", "label_smoothing", "correct_lam"):
        assert again.get_config()[key] == layer.get_config()[key]
    with pytest.raises(ValueError, match='mode="pair" needs an even batch; received a batch of 7'):
        Mixup(mode="pair")((images(7), np.eye(7, dtype="float32")), training=True)


@pytest.mark.parametrize("cls", [Mixup, CutMix, MixupOrCutMix])
@pytest.mark.parametrize(
    "kwargs, error, message",
    [
        (dict(prob=1.5), ValueError, r"`prob` must be in \[0.0, 1.0\]"),
        (dict(mode="element"), ValueError, "`mode` must be one of 'elem', 'pair', 'batch'"),
        (dict(label_smoothing=1.0), ValueError, r"`label_smoothing` must be in \[0.0, 1.0\)"),
        (dict(label_smoothing="0.1"), TypeError, "`label_smoothing` must be a real number"),
    ],
)
def test_mixing_options_are_checked_at_construction(cls, kwargs, error, message):
    with pytest.raises(error, match=message):
        cls(**kwargs)


@pytest.mark.parametrize("cls", [CutMix, MixupOrCutMix])
def test_correct_lam_is_checked(cls):
    with pytest.raises(TypeError, match="`correct_lam` must be True or False"):
        cls(correct_lam=1)
