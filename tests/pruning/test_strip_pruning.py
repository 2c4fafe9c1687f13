import keras
import numpy as np
import pytest
from keras import ops

from kerasplus.pruning import PolynomialDecay, PruneWrapper, prune_model, strip_pruning
from kerasplus.quantization import QuantizationConfig, QuantizeWrapper, export_tflite, quantize_model

LOSS = keras.losses.SparseCategoricalCrossentropy(from_logits=True)


def cnn():
    inputs = keras.Input((8, 8, 1))
    x = keras.layers.Conv2D(8, 3, padding="same")(inputs)
    x = keras.layers.BatchNormalization()(x)
    x = keras.layers.ReLU()(x)
    x = keras.layers.Conv2D(8, 3, padding="same", activation="relu")(x)
    x = keras.layers.Flatten()(x)
    return keras.Model(inputs, keras.layers.Dense(3)(x), name="cnn")


def data(n=32, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 8, 8, 1)).astype("float32")
    return x, (x[:, :4].mean(axis=(1, 2, 3)) > 0).astype("int64") + (x[:, 4:].mean(axis=(1, 2, 3)) > 0)


@pytest.fixture(scope="module")
def pruned():
    keras.utils.set_random_seed(0)
    model = prune_model(cnn(), PolynomialDecay(0.0, 0.75, begin_step=0, end_step=8, frequency=4))
    model.compile(keras.optimizers.Adam(1e-2), LOSS)
    x, y = data()
    model.fit(x, y, batch_size=4, epochs=1, verbose=0)
    return model


def kernels(model):
    return [ops.convert_to_numpy(layer.kernel) for layer in model.layers if hasattr(layer, "kernel")]


def test_stripped_model_is_plain_with_the_pruned_kernels(pruned):
    plain = strip_pruning(pruned)
    assert not any(isinstance(layer, PruneWrapper) for layer in plain.layers)
    assert [layer.name for layer in plain.layers] == [getattr(layer, "layer", layer).name for layer in pruned.layers]
    masked = [ops.convert_to_numpy(layer.pruned_kernel()) for layer in pruned.layers if isinstance(layer, PruneWrapper)]
    for ours, expected in zip(kernels(plain), masked):
        np.testing.assert_array_equal(ours, expected)
        assert (ours == 0).mean() == pytest.approx(0.75, abs=0.01)
    x, _ = data(8, seed=1)
    np.testing.assert_allclose(plain.predict(x, verbose=0), pruned.predict(x, verbose=0), rtol=1e-5, atol=1e-6)


def test_a_model_without_wrappers_comes_back_as_a_copy():
    model = cnn()
    plain = strip_pruning(model)
    for a, b in zip(plain.get_weights(), model.get_weights()):
        np.testing.assert_array_equal(a, b)
    with pytest.raises(TypeError, match="Sequential or functional"):
        strip_pruning("model")


def int8_weight_zeros(path):
    """Zero count of each constant int8 tensor in a .tflite file, by element count."""
    from ai_edge_litert.interpreter import Interpreter

    interpreter = Interpreter(model_path=path)
    zeros = {}
    for tensor in interpreter.get_tensor_details():
        if tensor["dtype"] != np.int8 or len(tensor["shape"]) < 2:
            continue
        try:
            value = interpreter.get_tensor(tensor["index"])
        except ValueError:  # an activation tensor, no data before invoke
            continue
        zeros.setdefault(value.size, []).append(int((value == 0).sum()))
    return zeros


def test_prune_preserving_qat_keeps_the_zeros_into_the_int8_tflite(pruned, tmp_path):
    plain = strip_pruning(pruned)
    pruned_zeros = [(k.size, int((k == 0).sum())) for k in kernels(plain)]
    x, y = data()

    regrown = quantize_model(plain)
    regrown.compile(keras.optimizers.Adam(1e-2), LOSS)
    regrown.fit(x, y, batch_size=8, epochs=1, verbose=0)
    qat_zeros = [
        int((ops.convert_to_numpy(layer.quantized_kernel()) == 0).sum())
        for layer in regrown.layers
        if isinstance(layer, QuantizeWrapper)
    ]
    assert all(after < before for after, (_, before) in zip(qat_zeros, pruned_zeros)), (
        "plain QAT regrows pruned weights"
    )

    kept = quantize_model(plain, QuantizationConfig(preserve_sparsity=True))
    kept.compile(keras.optimizers.Adam(1e-2), LOSS)
    kept.fit(x, y, batch_size=8, epochs=1, verbose=0)
    wrappers = [layer for layer in kept.layers if isinstance(layer, QuantizeWrapper)]
    for layer, (_, before) in zip(wrappers, pruned_zeros):
        assert int((ops.convert_to_numpy(layer.quantized_kernel()) == 0).sum()) >= before
    path = export_tflite(kept, str(tmp_path / "pruned_int8.tflite"))
    zeros = int8_weight_zeros(path)
    for size, before in pruned_zeros:
        assert max(zeros[size]) >= before, (size, zeros.get(size), before)
