"""`MixupOrCutMix`: per-image choice between CutMix (probability `switch_prob`) and Mixup."""

import keras
import numpy as np
import pytest

from kerasplus.layers import MixupOrCutMix
from tests.layers.test_cutmix import constant_images


def test_mixup_or_cutmix_extremes_behave_like_each_layer():
    images = constant_images(32, 8, 8)
    labels = np.eye(32, dtype="float32")
    cut_images, cut_soft = MixupOrCutMix(switch_prob=1.0, seed=0)((images, labels), training=True)
    cut_images, cut_soft = keras.ops.convert_to_numpy(cut_images), keras.ops.convert_to_numpy(cut_soft)
    for i in range(32):
        assert cut_soft[i, i] == pytest.approx(np.mean(cut_images[i] == i + 1), abs=1e-6)
    mix_images, mix_soft = MixupOrCutMix(switch_prob=0.0, seed=0)((images, labels), training=True)
    mix_images = keras.ops.convert_to_numpy(mix_images)
    # Mixup images are constant per image: their value is the label-weighted mean of origins.
    np.testing.assert_allclose(
        mix_images[:, 0, 0, 0], keras.ops.convert_to_numpy(mix_soft) @ np.arange(1, 33), rtol=1e-5
    )


def _is_cutmix(images, soft):
    """An image is CutMix when its pixels hold at most two origins, each constant on a box (not blended)."""
    origins = np.arange(1, images.shape[0] + 1)
    return np.array([np.isin(np.unique(images[i]), origins).all() for i in range(images.shape[0])])


@pytest.mark.parametrize("switch_prob", [0.2, 0.5, 0.8])
def test_the_share_of_cutmix_images_follows_switch_prob(switch_prob):
    images = constant_images(64, 8, 8)
    labels = np.eye(64, dtype="float32")
    layer = MixupOrCutMix(mixup_alpha=1.0, cutmix_alpha=1.0, switch_prob=switch_prob, seed=4)
    shares = []
    for _ in range(20):
        out, soft = layer((images, labels), training=True)
        out, soft = keras.ops.convert_to_numpy(out), keras.ops.convert_to_numpy(soft)
        blended = ~_is_cutmix(out, soft)
        # An image paired with itself, or whose box covers nothing, looks like both; count only the clear cases.
        own = np.diag(soft)
        clear = own < 0.999
        shares.append(1.0 - blended[clear].mean())
    share = float(np.mean(shares))
    # 20 x 64 draws: the binomial standard error is at most 0.014; 0.06 is over 4 of them.
    assert abs(share - switch_prob) < 0.06, share


def test_inference_returns_the_batch_unchanged():
    images = constant_images(8, 6, 6)
    labels = np.eye(8, dtype="float32")
    out, soft = MixupOrCutMix(seed=0)((images, labels), training=False)
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(out), images)
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(soft), labels)


def test_round_trip_in_a_keras_file(tmp_path):
    layer = MixupOrCutMix(0.1, 0.9, 0.3, num_classes=4, seed=3)
    restored = keras.saving.deserialize_keras_object(keras.saving.serialize_keras_object(layer), safe_mode=True)
    assert type(restored) is MixupOrCutMix and restored.get_config() == layer.get_config()


@pytest.mark.parametrize(
    "arguments, message",
    [
        ({"mixup_alpha": 0.0}, r"`mixup_alpha` must be in \[1e-30, 1e\+30\]"),
        ({"cutmix_alpha": -1.0}, r"`cutmix_alpha` must be in \[1e-30, 1e\+30\]"),
        ({"switch_prob": -0.1}, r"`switch_prob` must be in \[0.0, 1.0\]"),
    ],
)
def test_bad_arguments_are_named(arguments, message):
    with pytest.raises(ValueError, match=message):
        MixupOrCutMix(**arguments)
