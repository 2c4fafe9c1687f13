import keras
import numpy as np
import pytest
from scipy import stats

from kerasplus.layers import Mixup


def draw_lambdas(alpha, batches=60, batch=64, seed=0):
    """lambda of every image whose partner is another image, read off one-hot labels."""
    layer = Mixup(alpha, seed=seed)
    labels = np.eye(batch, dtype="float32")
    images = np.zeros((batch, 2, 2, 1), "float32")
    lambdas = []
    for _ in range(batches):
        _, mixed = layer((images, labels), training=True)
        mixed = keras.ops.convert_to_numpy(mixed)
        own = np.diag(mixed)
        lambdas.extend(own[own < 1.0])  # own == 1 when an image drew itself as partner
    return np.array(lambdas)


@pytest.mark.parametrize("alpha", [0.2, 1.0, 2.0])
def test_lambda_follows_beta_alpha_alpha(alpha):
    lambdas = draw_lambdas(alpha)
    assert len(lambdas) > 3000
    assert stats.kstest(lambdas, stats.beta(alpha, alpha).cdf).pvalue > 0.001
    # The test can fail: the same draws are far from a different Beta.
    assert stats.kstest(lambdas, stats.beta(alpha * 3, alpha * 3).cdf).pvalue < 1e-6


def test_small_alpha_draws_each_variate_apart_off_eager_torch(monkeypatch):
    """Jöhnk's two variates come from two uniform draws of one shape (one shared draw on eager PyTorch only).

    One shared, sliced draw made TensorFlow's XLA CPU inline the Philox computation into the
    fusion that consumes it: Mixup ran ~10x slower under jit_compile (benchmarks/augmentation.py).
    """
    shapes = []
    uniform = keras.random.uniform

    def recording(shape, *args, **kwargs):
        shapes.append(tuple(shape))
        return uniform(shape, *args, **kwargs)

    monkeypatch.setattr(keras.random, "uniform", recording)
    Mixup(0.2, seed=0)((np.zeros((16, 2, 2, 1), "float32"), np.eye(16, dtype="float32")), training=True)
    if keras.backend.backend() == "torch":
        assert len(shapes) == 1 and shapes[0][0] == 2 and shapes[0][2] == 16, shapes
    else:
        assert len(shapes) == 2 and shapes[0] == shapes[1] and shapes[0][1] == 16, shapes


def test_images_are_the_convex_combination_of_the_pair_with_the_label_weight():
    rng = np.random.default_rng(0)
    images = rng.random((32, 5, 4, 3)).astype("float32")
    labels = np.eye(32, dtype="float32")
    mixed_images, mixed_labels = Mixup(0.4, seed=2)((images, labels), training=True)
    mixed_images, mixed_labels = keras.ops.convert_to_numpy(mixed_images), keras.ops.convert_to_numpy(mixed_labels)
    np.testing.assert_allclose(mixed_labels.sum(axis=1), 1.0, rtol=1e-6)
    for i in range(32):
        lam = mixed_labels[i, i]
        others = np.flatnonzero(mixed_labels[i] > 0)
        partner = next((j for j in others if j != i), i)
        expected = lam * images[i] + (1 - lam) * images[partner] if partner != i else images[i]
        np.testing.assert_allclose(mixed_images[i], expected, rtol=1e-6, atol=1e-7)


def test_sparse_labels_with_num_classes_and_dict_inputs():
    images = np.zeros((6, 4, 4, 1), "float32")
    out = Mixup(num_classes=3, seed=0)(
        {"images": images, "labels": np.array([0, 1, 2, 0, 1, 2]), "extra": np.zeros(6)}, training=True
    )
    assert set(out) == {"images", "labels", "extra"} and out["labels"].shape == (6, 3)
    np.testing.assert_allclose(keras.ops.convert_to_numpy(out["labels"]).sum(axis=1), 1.0, rtol=1e-6)


@pytest.mark.parametrize("dtype", ["uint8", "float16", "bfloat16"])
def test_dtype_is_preserved(dtype):
    images = keras.ops.cast(np.full((4, 3, 3, 1), 100.0), dtype)
    out, _ = Mixup(seed=0)((images, np.eye(4, dtype="float32")), training=True)
    assert keras.backend.standardize_dtype(out.dtype) == dtype


def test_identity_unless_training_and_batch_of_one():
    data = (np.ones((1, 3, 3, 1), "float32"), np.eye(1, dtype="float32"))
    untouched = Mixup()(data)
    for a, b in zip(untouched, data):
        np.testing.assert_array_equal(keras.ops.convert_to_numpy(a), b)
    out, labels = Mixup(seed=0)(data, training=True)
    np.testing.assert_allclose(keras.ops.convert_to_numpy(out), data[0])
    np.testing.assert_allclose(keras.ops.convert_to_numpy(labels), data[1])


def test_bad_inputs_are_named():
    with pytest.raises(ValueError, match=r"`alpha` must be in \[1e-30, 1e\+30\]; received alpha=0.0"):
        Mixup(alpha=0.0)
    with pytest.raises(ValueError, match="sparse integer labels need `num_classes`"):
        Mixup()((np.zeros((2, 3, 3, 1)), np.array([0, 1])), training=True)
    with pytest.raises(ValueError, match="`labels` must have one row per image; received 3 labels for 2 images"):
        Mixup()((np.zeros((2, 3, 3, 1)), np.eye(3, dtype="float32")), training=True)
    with pytest.raises(ValueError, match="Mixup mixes labels too"):
        Mixup()(np.zeros((2, 3, 3, 1)), training=True)
