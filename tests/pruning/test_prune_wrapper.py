import keras
import numpy as np
import pytest
from keras import ops

from kerasplus.pruning import ConstantSparsity, PolynomialDecay, PruneWrapper

EVERY_STEP = ConstantSparsity(0.6, begin_step=0, frequency=1)


def numpy_of(x):
    return ops.convert_to_numpy(x)


def wrapped(layer, input_shape, schedule=EVERY_STEP, seed=0, **kwargs):
    wrapper = PruneWrapper(layer, schedule, **kwargs)
    wrapper.build(input_shape)
    kernel = wrapper.layer.embeddings if isinstance(layer, keras.layers.Embedding) else wrapper.layer.kernel
    kernel.assign(np.random.default_rng(seed).normal(size=kernel.shape).astype("float32"))
    return wrapper, numpy_of(kernel)


def reference_mask(kernel, sparsity):
    """Keeps the max(round(size * (1 - sparsity)), 1) largest |w| (tfmot's count), in numpy."""
    keep = max(int(np.round(np.float32(kernel.size) * np.float32(1 - sparsity))), 1)
    order = np.argsort(np.abs(kernel).ravel())
    mask = np.zeros(kernel.size, "float32")
    mask[order[kernel.size - keep :]] = 1
    return mask.reshape(kernel.shape)


LAYERS = {
    "dense": (lambda: keras.layers.Dense(5), (2, 8), "float32"),
    "conv1d_causal": (lambda: keras.layers.Conv1D(4, 3, padding="causal", dilation_rate=2), (2, 9, 3), "float32"),
    "conv2d": (lambda: keras.layers.Conv2D(4, 3, strides=2, activation="relu"), (2, 7, 7, 3), "float32"),
    "conv2d_first": (lambda: keras.layers.Conv2D(4, 3, data_format="channels_first"), (2, 3, 6, 6), "float32"),
    "depthwise": (lambda: keras.layers.DepthwiseConv2D(3, depth_multiplier=2, padding="same"), (2, 6, 6, 3), "float32"),
    "embedding": (lambda: keras.layers.Embedding(10, 4), (2, 5), "int32"),
}


def inputs_for(shape, dtype, seed=1):
    rng = np.random.default_rng(seed)
    return rng.integers(0, 10, size=shape).astype(dtype) if dtype == "int32" else rng.normal(size=shape).astype(dtype)


@pytest.mark.parametrize("kind", LAYERS)
def test_unpruned_wrapper_computes_what_the_layer_computes(kind):
    make, shape, dtype = LAYERS[kind]
    wrapper, _ = wrapped(make(), shape)
    x = inputs_for(shape, dtype)
    np.testing.assert_allclose(numpy_of(wrapper(x)), numpy_of(wrapper.layer(x)), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("kind", LAYERS)
def test_a_training_call_prunes_the_smallest_weights_to_the_schedule_sparsity(kind):
    make, shape, dtype = LAYERS[kind]
    wrapper, kernel = wrapped(make(), shape)
    x = inputs_for(shape, dtype)
    y = wrapper(x, training=True)
    np.testing.assert_array_equal(numpy_of(wrapper.mask), reference_mask(kernel, 0.6))
    assert int(numpy_of(wrapper.pruning_step)) == 1
    # The layer computed with the pruned kernel.
    wrapper.layer.kernel.assign(kernel * reference_mask(kernel, 0.6)) if kind != "embedding" else None
    if kind != "embedding":
        np.testing.assert_allclose(numpy_of(y), numpy_of(wrapper.layer(x)), rtol=1e-5, atol=1e-6)


def test_inference_calls_do_not_move_the_mask_or_the_step():
    wrapper, _ = wrapped(keras.layers.Dense(3), (2, 4))
    wrapper(np.ones((2, 4), "float32"), training=False)
    assert int(numpy_of(wrapper.pruning_step)) == 0 and numpy_of(wrapper.mask).all()


def test_mask_only_grows_and_updates_at_the_schedule_steps():
    schedule = PolynomialDecay(0.2, 0.8, begin_step=1, end_step=7, frequency=3)  # updates at steps 1, 4, 7
    wrapper, kernel = wrapped(keras.layers.Dense(10), (2, 10), schedule)
    x = np.ones((2, 10), "float32")
    previous = numpy_of(wrapper.mask)
    for step in range(1, 10):
        # Move the stored kernel (as an optimizer would), also where it is pruned.
        wrapper.layer.kernel.assign(
            numpy_of(wrapper.layer.kernel) + 0.05 * np.random.default_rng(step).normal(size=(10, 10))
        )
        wrapper(x, training=True)
        mask = numpy_of(wrapper.mask)
        assert (mask <= previous).all(), f"step {step} revived a pruned weight"
        zeros = int((mask == 0).sum())
        if step in (1, 4, 7):
            expected = 100 - max(round(100 * (1 - float(schedule(step)[1]))), 1)
            assert zeros == expected, step
        else:
            np.testing.assert_array_equal(mask, previous)
        previous = mask
    assert zeros == 80


@pytest.mark.parametrize("kind", ["dense", "conv2d"])
def test_two_four_mask_is_tfmot_mask(kind):
    from tensorflow_model_optimization.python.core.sparsity.keras import pruning_utils

    layer, shape = (keras.layers.Dense(3), (2, 8)) if kind == "dense" else (keras.layers.Conv2D(5, 3), (2, 6, 6, 8))
    wrapper, kernel = wrapped(layer, shape, schedule=None, sparsity_m_by_n=(2, 4))
    wrapper(inputs_for(shape, "float32"), training=True)  # step 1 sets the pattern
    mask = numpy_of(wrapper.mask)
    import tensorflow as tf

    theirs = pruning_utils.m_by_n_sparsity_mask_prepare(
        pruning_utils.generate_m_by_n_mask(pruning_utils.weights_rearrange(tf.constant(kernel)), (2, 4)),
        tf.TensorShape(kernel.shape),
    )
    np.testing.assert_array_equal(mask, theirs.numpy())
    assert pruning_utils.is_pruned_m_by_n(tf.constant(kernel * mask), (2, 4))
    # Every run of 4 input channels (fixed output channel and position) holds exactly 2 zeros.
    groups = np.moveaxis(mask, -1, 0).reshape(-1, 4)
    assert (groups.sum(axis=1) == 2).all()


def test_block_mask_prunes_whole_blocks_by_mean_magnitude():
    wrapper, kernel = wrapped(keras.layers.Dense(8), (2, 6), ConstantSparsity(0.5, 0, frequency=1), block_size=(2, 4))
    wrapper(np.ones((2, 6), "float32"), training=True)
    mask = numpy_of(wrapper.mask)
    means = np.abs(kernel).reshape(3, 2, 2, 4).mean(axis=(1, 3))  # 3 x 2 blocks
    keep = round(6 * 0.5)
    expected_blocks = np.zeros(6)
    expected_blocks[np.argsort(means.ravel())[6 - keep :]] = 1
    expected = np.repeat(np.repeat(expected_blocks.reshape(3, 2), 2, axis=0), 4, axis=1)
    np.testing.assert_array_equal(mask, expected)


def test_block_mask_averages_partial_edge_blocks_over_their_weights():
    wrapper, kernel = wrapped(keras.layers.Dense(5), (2, 3), ConstantSparsity(0.5, 0, frequency=1), block_size=(2, 2))
    wrapper(np.ones((2, 3), "float32"), training=True)
    mask = numpy_of(wrapper.mask)
    magnitude = np.abs(kernel)
    means = np.array(
        [[magnitude[r : r + 2, c : c + 2].mean() for c in range(0, 5, 2)] for r in range(0, 3, 2)]
    )  # 2 x 3 blocks, edge blocks smaller
    blocks = reference_mask(means, 0.5) == 1
    expected = np.repeat(np.repeat(blocks, 2, axis=0), 2, axis=1)[:3, :5]
    np.testing.assert_array_equal(mask, expected.astype("float32"))


@pytest.mark.parametrize(
    "make, shape, kwargs, match",
    [
        (
            lambda: keras.layers.Dense(3),
            (2, 6),
            dict(sparsity_m_by_n=(2, 4)),
            r"'dense\w*' to be a multiple of 4.*\(6, 3\)",
        ),
        (
            lambda: keras.layers.Conv2D(4, 3),
            (2, 5, 5, 3),
            dict(sparsity_m_by_n=(2, 4)),
            r"\(3, 3, 3, 4\), input dimension 3",
        ),
        (lambda: keras.layers.DepthwiseConv2D(3), (2, 5, 5, 4), dict(sparsity_m_by_n=(2, 4)), "DepthwiseConv2D"),
        (lambda: keras.layers.Conv2D(4, 3), (2, 5, 5, 4), dict(block_size=(2, 2)), r"2-D kernel.*\(3, 3, 4, 4\)"),
    ],
)
def test_kernels_that_do_not_fit_the_structure_are_refused_naming_layer_and_shape(make, shape, kwargs, match):
    with pytest.raises(ValueError, match=match):
        wrapped(make(), shape, **kwargs)


@pytest.mark.parametrize(
    "kwargs, error, match",
    [
        (dict(layer=keras.layers.LSTM(2)), TypeError, "`layer` must be"),
        (dict(schedule=None), ValueError, "`schedule` is required"),
        (dict(schedule=0.5), TypeError, "`schedule` must be"),
        (dict(sparsity_m_by_n=(4, 4)), ValueError, r"`sparsity_m_by_n\[0\]` must be an integer <= 3"),
        (dict(sparsity_m_by_n=(2,)), ValueError, "sparsity_m_by_n"),
        (dict(sparsity_m_by_n="2:4"), TypeError, "sparsity_m_by_n"),
        (dict(block_size=(0, 2)), ValueError, r"`block_size\[0\]` must be an integer >= 1"),
        (dict(block_size=4), TypeError, "block_size"),
        (dict(sparsity_m_by_n=(2, 4), block_size=(2, 2)), ValueError, "pass one"),
    ],
)
def test_bad_arguments_are_rejected(kwargs, error, match):
    arguments = dict(layer=keras.layers.Dense(2), schedule=EVERY_STEP) | kwargs
    with pytest.raises(error, match=match):
        PruneWrapper(**arguments)


def test_config_returns_constructor_arguments():
    schedule = PolynomialDecay(0.0, 0.5, 0, 10, frequency=2)
    wrapper = PruneWrapper(keras.layers.Dense(2), schedule, block_size=(1, 2), name="p")
    config = wrapper.get_config()
    assert config["block_size"] == [1, 2] and config["sparsity_m_by_n"] is None
    clone = PruneWrapper.from_config(config)
    assert clone.schedule == schedule and clone.block_size == (1, 2) and clone.layer.units == 2


def test_embedding_mask_zero_is_passed_on():
    wrapper, _ = wrapped(keras.layers.Embedding(10, 4, mask_zero=True), (2, 3))
    mask = wrapper.compute_mask(np.array([[0, 1, 2]]))
    assert numpy_of(mask).tolist() == [[False, True, True]]
