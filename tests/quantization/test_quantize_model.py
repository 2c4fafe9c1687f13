import os

import keras
import numpy as np
import pytest

import kerasplus
from kerasplus.quantization import (
    QuantizationConfig,
    QuantizeOutput,
    QuantizeWrapper,
    quantize_model,
)
from tests.quantization.conftest import build_float_model, compile_for, data

L = keras.layers


def randomize_batch_norms(model):
    rng = np.random.default_rng(0)
    for layer in model.layers:
        if isinstance(layer, L.BatchNormalization):
            n = layer.gamma.shape[0]
            layer.set_weights([rng.uniform(0.5, 2, n), rng.normal(size=n), rng.normal(size=n), rng.uniform(0.5, 2, n)])


def test_batch_norm_is_folded_and_relu_fused_like_tflite():
    qat = quantize_model(build_float_model())
    assert [type(layer).__name__ for layer in qat.layers] == [
        "InputLayer",
        "QuantizeWrapper",
        "QuantizeWrapper",
        "MaxPooling2D",
        "Flatten",
        "QuantizeWrapper",
    ]
    conv, depthwise, dense = (qat.layers[i] for i in (1, 2, 5))
    assert (conv.activation, depthwise.activation, dense.activation) == ("relu", "relu6", "linear")
    assert (conv.quantize_inputs, depthwise.quantize_inputs, dense.quantize_inputs) == (True, False, False)
    assert depthwise.layer.use_bias  # the folded BN brings a bias


def test_folded_layers_compute_what_conv_bn_relu_computed():
    model = build_float_model()
    randomize_batch_norms(model)
    qat = quantize_model(model)
    x, _ = data(8)
    # Reference: the float model's own Conv -> BN (inference) -> ReLU -> Depthwise -> BN -> ReLU6.
    reference = keras.Model(model.input, model.layers[6].output)(x, training=False)
    conv, depthwise = qat.layers[1], qat.layers[2]
    hidden = keras.ops.relu(conv.layer(x))
    folded = keras.ops.relu6(depthwise.layer(hidden))
    np.testing.assert_allclose(
        keras.ops.convert_to_numpy(folded), keras.ops.convert_to_numpy(reference), rtol=1e-4, atol=1e-4
    )


def test_original_model_is_untouched_and_dense_weights_copied():
    model = build_float_model()
    before = [w.copy() for w in model.get_weights()]
    qat = quantize_model(model)
    for a, b in zip(before, model.get_weights()):
        np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(qat.layers[-1].layer.kernel.numpy(), model.layers[-1].kernel.numpy())
    for layer in model.layers:  # reading the graph called no original layer again (`output` needs one call)
        assert layer.output is not None


def test_named_dict_inputs_and_a_tensor_read_twice():
    a, b = keras.Input((4,), name="a"), keras.Input((4,), name="b")
    x = L.Dense(4, name="first")(a)
    y = L.Concatenate(name="cat")([x, b, x])
    model = keras.Model({"a": a, "b": b}, [L.Dense(2, name="head")(y), x])
    qat = quantize_model(model)
    assert sorted(layer.name for layer in qat.layers) == ["a", "b", "quant_cat", "quant_first", "quant_head"]
    assert not qat.get_layer("quant_head").quantize_inputs  # the concatenation's output is already int8
    inputs = {"a": np.ones((2, 4), "float32"), "b": np.zeros((2, 4), "float32")}
    assert [tuple(t.shape) for t in qat(inputs)] == [(2, 2), (2, 4)]


def test_sequential_residual_and_standalone_layers():
    seq = keras.Sequential([keras.Input((6,)), L.Dense(4, activation="relu"), L.Dense(3, activation="softmax")])
    qat = quantize_model(seq)
    assert [type(layer).__name__ for layer in qat.layers[1:]] == ["QuantizeWrapper", "QuantizeWrapper"]
    assert qat.layers[2].output_range is None  # int8 softmax has a fixed output range
    inputs = keras.Input((8, 8, 2))
    a = L.Conv2D(2, 1)(inputs)
    b = L.Add()([a, inputs])
    c = L.ReLU()(b)
    outputs = L.GlobalAveragePooling2D()(c)
    qat = quantize_model(keras.Model(inputs, outputs))
    kinds = [type(layer).__name__ for layer in qat.layers[1:]]
    assert kinds == ["QuantizeWrapper", "QuantizeOutput", "QuantizeOutput"]  # the ReLU is fused into the ADD
    assert isinstance(qat.layers[2].layer, L.Add) and qat.layers[2].fused_activation == "relu"
    assert isinstance(qat.layers[3].layer, L.GlobalAveragePooling2D)


def test_subclassed_model_is_rejected_with_what_to_do():
    class Net(keras.Model):
        def __init__(self):
            super().__init__()
            self.dense = L.Dense(2)

        def call(self, x):
            return self.dense(x)

    net = Net()
    net(np.zeros((1, 3), "float32"))
    with pytest.raises(TypeError, match=r"subclassed model \(Net\).*functional API"):
        quantize_model(net)
    with pytest.raises(TypeError, match="Sequential or functional"):
        quantize_model(L.Dense(2))


def test_unbuilt_model_is_rejected_with_what_to_do():
    with pytest.raises(ValueError, match=r"'unbuilt' is not built: start it with keras.Input"):
        quantize_model(keras.Sequential([L.Dense(2)], name="unbuilt"))


def test_unsupported_layer_is_named_and_keep_float_lets_it_through():
    inputs = keras.Input((6,))
    x = L.LayerNormalization(name="norm")(inputs)
    outputs = L.Dense(2, name="head")(x)
    model = keras.Model(inputs, outputs)
    with pytest.raises(ValueError, match=r"'norm' \(LayerNormalization\).*keep_float=\['norm'\]"):
        quantize_model(model)
    qat = quantize_model(model, QuantizationConfig(keep_float=["norm"]))
    assert type(qat.layers[1]) is L.LayerNormalization
    assert qat.layers[2].quantize_inputs  # the float layer's output is quantized again
    np.testing.assert_array_equal(qat.layers[1].gamma.numpy(), model.layers[1].gamma.numpy())
    with pytest.raises(ValueError, match="not in model"):
        quantize_model(model, QuantizationConfig(keep_float=["nope"]))
    with pytest.raises(TypeError, match="config"):
        quantize_model(model, {"keep_float": ["norm"]})


def test_keep_float_leaves_a_weighted_layer_in_float():
    model = build_float_model()
    name = model.layers[-1].name
    qat = quantize_model(model, QuantizationConfig(keep_float=[name]))
    assert type(qat.layers[-1]) is L.Dense
    np.testing.assert_array_equal(qat.layers[-1].kernel.numpy(), model.layers[-1].kernel.numpy())


def test_trains_with_fit_and_a_kerasplus_callback_under_jit_compile():
    model = keras.Sequential([keras.Input((6,)), L.Dense(8), L.BatchNormalization(), L.ReLU(), L.Dense(2)])
    qat = quantize_model(model)
    qat.compile(keras.optimizers.Adam(1e-2), "mse", jit_compile=True)
    rng = np.random.default_rng(0)
    x = rng.normal(size=(64, 6)).astype("float32")
    schedule = kerasplus.callbacks.OneCycleLR(2e-2)  # kerasplus callbacks drop in as with any model
    history = qat.fit(x, x[:, :2] * 2, epochs=3, batch_size=16, verbose=0, callbacks=[schedule])
    assert history.history["loss"][-1] < history.history["loss"][0]
    rates = history.history["learning_rate"]  # logged by OneCycleLR at each epoch end
    assert rates[0] > rates[-1] and rates[-1] < 2e-2 / 25  # the cycle ran to its end
    assert float(qat.layers[1].output_range.seen.numpy()) == 1.0
    assert float(qat.layers[1].input_range.minimum.numpy()) < 0


def test_a_training_step_under_xla_matches_graph_mode_from_the_same_state():
    # On a first step the batch's extremes define the ranges. Exactly on a range's
    # edge, whether FakeQuant passes their gradient depended on the last bit of
    # its range arithmetic, which XLA computes differently (first-conv gradients
    # 4e-3 apart); the ranges are widened by RANGE_MARGIN for this. One step from
    # the same state must agree to float precision: gradients and range updates.
    # (8 whole steps are compared in tests/distribute/test_matrix.py.)
    import tensorflow as tf

    keras.utils.set_random_seed(0)
    x, y = data()
    qat = quantize_model(compile_for(build_float_model()))
    loss_fn = keras.losses.SparseCategoricalCrossentropy(from_logits=True)
    start = [v.numpy() for v in qat.weights]
    start_ranges = [v.numpy() for v in qat.non_trainable_weights]

    def one_step(jit_compile):
        for variable, value in zip(qat.weights, start, strict=True):
            variable.assign(value)

        @tf.function(jit_compile=jit_compile)
        def step():
            with tf.GradientTape() as tape:
                loss = loss_fn(y[:16], qat(x[:16], training=True))
            return tape.gradient(loss, qat.trainable_weights)

        gradients = [g.numpy() for g in step()]
        return gradients, [v.numpy() for v in qat.non_trainable_weights]

    (graph_grads, graph_ranges), (xla_grads, xla_ranges) = one_step(False), one_step(True)
    assert any(not np.allclose(a, b) for a, b in zip(graph_ranges, start_ranges, strict=True))  # ranges moved
    for a, b in zip(graph_grads + graph_ranges, xla_grads + xla_ranges, strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)


def test_round_trips_through_keras_file_with_safe_mode(tmp_path):
    x, y = data(32)
    qat = compile_for(quantize_model(build_float_model()))
    qat.fit(x, y, epochs=1, batch_size=8, verbose=0)
    path = os.path.join(tmp_path, "qat.keras")
    qat.save(path)
    loaded = keras.saving.load_model(path, safe_mode=True)
    assert isinstance(loaded.layers[1], QuantizeWrapper)
    np.testing.assert_array_equal(loaded.predict(x, verbose=0), qat.predict(x, verbose=0))
    for a, b in zip(loaded.weights, qat.weights):
        np.testing.assert_array_equal(a.numpy(), b.numpy())


def test_tf_keras_model_goes_to_tfmot():
    import tf_keras

    model = tf_keras.Sequential([tf_keras.layers.InputLayer((6,)), tf_keras.layers.Dense(3)])
    qat = quantize_model(model)
    assert isinstance(qat, tf_keras.Model)
    assert "QuantizeWrapper" in type(qat.layers[-1]).__name__
    assert type(qat.layers[-1]).__module__.startswith("tensorflow_model_optimization")
    model = tf_keras.Sequential(
        [tf_keras.layers.InputLayer((6,)), tf_keras.layers.Dense(4, name="body"), tf_keras.layers.Dense(3, name="head")]
    )
    partial = quantize_model(model, QuantizationConfig(keep_float=["head"]))
    assert "QuantizeWrapper" in type(partial.get_layer("quant_body")).__name__
    assert type(partial.get_layer("head")) is tf_keras.layers.Dense
    np.testing.assert_array_equal(partial.get_layer("head").kernel.numpy(), model.get_layer("head").kernel.numpy())
    with pytest.raises(ValueError, match="not in model"):
        quantize_model(model, QuantizationConfig(keep_float=["nope"]))


def test_quantize_output_is_registered_for_safe_loading():
    assert keras.saving.get_registered_object("kerasplus>QuantizeOutput") is QuantizeOutput
    assert keras.saving.get_registered_object("kerasplus>QuantizeWrapper") is QuantizeWrapper


def test_rescaling_and_normalization_become_one_int8_depthwise_affine():
    inputs = keras.Input((4, 4, 3))
    x = L.Rescaling(1 / 255.0, name="scale")(inputs)
    norm = L.Normalization(mean=[0.4, 0.5, 0.6], variance=[0.04, 0.09, 0.16], name="norm")
    x = norm(x)
    outputs = L.Conv2D(2, 1, name="conv")(x)
    model = keras.Model(inputs, outputs)
    qat = quantize_model(model)
    kinds = [type(layer).__name__ for layer in qat.layers]
    assert kinds == ["InputLayer", "QuantizeWrapper", "QuantizeWrapper"]
    affine = qat.layers[1]
    assert isinstance(affine.layer, L.DepthwiseConv2D) and affine.quantize_inputs and not affine.layer.trainable
    pixels = np.random.default_rng(0).integers(0, 256, size=(2, 4, 4, 3)).astype("float32")
    reference = keras.ops.convert_to_numpy(keras.Model(inputs, norm.output)(pixels))  # Keras's own two layers
    np.testing.assert_allclose(keras.ops.convert_to_numpy(affine.layer(pixels)), reference, rtol=1e-5, atol=1e-5)


def test_activations_fuse_like_tflite_and_scalar_arithmetic_gets_a_range(tmp_path):
    inputs = keras.Input((6, 6, 2))
    a = L.Conv2D(4, 1, name="a")(inputs)
    a = L.BatchNormalization(name="a_bn")(a)
    a = L.Activation("swish", name="a_swish")(a)  # conv output range, then LOGISTIC+MUL
    b = L.Conv2D(4, 1, name="b")(inputs)
    s = L.Add(name="res")([a, b])
    s = L.ReLU(name="res_relu")(s)  # fused into the int8 ADD
    gate = L.ReLU(6.0, name="gate")(s + 3.0) * (1.0 / 6.0)  # MobileNetV3's hard sigmoid from keras.ops
    outputs = L.Multiply(name="excite")([s, gate])
    qat = quantize_model(keras.Model(inputs, outputs))
    names = [layer.name for layer in qat.layers]
    assert "quant_a_bn" not in names and "quant_a_swish" not in names and "quant_res_relu" not in names
    assert qat.get_layer("quant_a").activation == "silu" and qat.get_layer("quant_a").pre_activation_range
    assert qat.get_layer("quant_res").fused_activation == "relu"
    scalars = [
        layer for layer in qat.layers if isinstance(layer, QuantizeOutput) and isinstance(layer.layer, L.Rescaling)
    ]
    assert [(layer.layer.scale, layer.layer.offset) for layer in scalars] == [(1.0, 3.0), (1.0 / 6.0, 0.0)]
    x = np.random.default_rng(0).normal(size=(2, 6, 6, 2)).astype("float32")
    qat(x, training=True)
    np.testing.assert_allclose(  # the float model's function, to int8 rounding
        keras.ops.convert_to_numpy(qat(x)), keras.ops.convert_to_numpy(keras.Model(inputs, outputs)(x)), atol=0.15
    )
    qat.save(tmp_path / "m.keras")
    loaded = keras.saving.load_model(tmp_path / "m.keras", safe_mode=True)
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(loaded(x)), keras.ops.convert_to_numpy(qat(x)))


def test_conv1d_is_quantized_per_channel_and_exports_int8(tmp_path):
    from ai_edge_litert.interpreter import Interpreter

    from kerasplus.quantization import export_tflite

    model = keras.Sequential([keras.Input((16, 3)), L.Conv1D(4, 3, activation="relu"), L.Flatten(), L.Dense(2)])
    qat = quantize_model(model)
    assert isinstance(qat.layers[1].layer, L.Conv1D) and qat.layers[1].activation == "relu"
    x = np.random.default_rng(0).normal(size=(8, 16, 3)).astype("float32")
    qat(x, training=True)
    path = export_tflite(qat, tmp_path / "conv1d.tflite")
    interpreter = Interpreter(model_path=path)
    tensors = {t["index"]: t for t in interpreter.get_tensor_details()}
    conv = next(op for op in interpreter._get_ops_details() if op["op_name"] == "CONV_2D")
    assert [tensors[i]["dtype"] for i in conv["inputs"]] == [np.int8, np.int8, np.int32]
    assert len(tensors[conv["inputs"][1]]["quantization_parameters"]["scales"]) == 4  # per output channel
    with pytest.raises(ValueError, match="causal"):
        QuantizeWrapper(L.Conv1D(2, 3, padding="causal"))


def test_preserve_sparsity_masks_the_zeros_of_the_folded_kernels():
    model = build_float_model()
    randomize_batch_norms(model)
    rng = np.random.default_rng(1)
    for layer in model.layers:
        if hasattr(layer, "kernel"):
            kernel = (
                layer.kernel.numpy() if hasattr(layer.kernel, "numpy") else keras.ops.convert_to_numpy(layer.kernel)
            )
            layer.kernel.assign(np.where(rng.random(kernel.shape) < 0.5, 0.0, kernel).astype("float32"))
    zeros = [keras.ops.convert_to_numpy(layer.kernel) == 0 for layer in model.layers if hasattr(layer, "kernel")]
    qat = quantize_model(model, QuantizationConfig(preserve_sparsity=True))
    wrappers = [layer for layer in qat.layers if isinstance(layer, QuantizeWrapper)]
    assert len(wrappers) == len(zeros)
    for wrapper, zero in zip(wrappers, zeros):
        np.testing.assert_array_equal(keras.ops.convert_to_numpy(wrapper.sparsity_mask), (~zero).astype("float32"))
    compile_for(qat).fit(*data(32), batch_size=8, epochs=1, verbose=0)
    for wrapper, zero in zip(wrappers, zeros):
        assert (keras.ops.convert_to_numpy(wrapper.quantized_kernel())[zero] == 0).all()


def test_preserve_sparsity_on_tf_keras_uses_tfmot_prune_preserve_scheme():
    import tf_keras

    model = tf_keras.Sequential([tf_keras.layers.InputLayer((8,)), tf_keras.layers.Dense(4)])
    qat = quantize_model(model, QuantizationConfig(preserve_sparsity=True))
    assert "QuantizeWrapper" in type(qat.layers[-1]).__name__
    assert type(qat.layers[-1].quantize_config.weight_quantizer).__name__ == "PrunePreserveDefault8BitWeightsQuantizer"
    with pytest.raises(ValueError, match="cannot be combined"):
        quantize_model(model, QuantizationConfig(preserve_sparsity=True, keep_float=["dense"]))


def dense_block_model():
    """DenseNet's pattern at toy size: pre-activation BatchNormalization + ReLU before each convolution
    (after a Concatenate or a convolution read twice, so nothing to fold into), then Concatenate; a
    last BN (no ReLU) before the head. (Its transition's AveragePooling2D is tested below.)"""
    inputs = keras.Input((6, 6, 3))
    x = L.Conv2D(4, 3, padding="same", name="stem")(inputs)
    for i in range(2):
        y = L.BatchNormalization(epsilon=1.001e-5, name=f"b{i}_bn")(x)
        y = L.Activation("relu", name=f"b{i}_relu")(y)
        y = L.Conv2D(4, 3, padding="same", use_bias=False, name=f"b{i}_conv")(y)
        x = L.Concatenate(name=f"b{i}_concat")([x, y])
    x = L.BatchNormalization(name="final_bn")(x)
    x = L.GlobalAveragePooling2D()(x)
    return keras.Model(inputs, L.Dense(3, name="head")(x), name="dense_block")


def test_pre_activation_batch_norm_of_a_dense_block_becomes_an_int8_depthwise_with_fused_relu(tmp_path):
    from ai_edge_litert.interpreter import Interpreter

    from kerasplus.quantization import evaluate_tflite, export_tflite

    model = dense_block_model()
    randomize_batch_norms(model)
    qat = quantize_model(model)  # a functional BatchNormalization call records mask=None: no TypeError
    bn = qat.get_layer("quant_b0_bn")
    assert isinstance(bn, QuantizeWrapper) and isinstance(bn.layer, L.DepthwiseConv2D)
    assert bn.activation == "relu" and bn.layer.trainable and not bn.quantize_inputs
    assert "quant_b0_relu" not in [layer.name for layer in qat.layers]
    final = qat.get_layer("quant_final_bn")
    assert final.activation == "linear" and isinstance(final.layer, L.DepthwiseConv2D)
    x = np.random.default_rng(1).normal(size=(8, 6, 6, 3)).astype("float32")
    # The 1x1 depthwise computes Keras's inference-mode BatchNormalization.
    reference = keras.Model(model.inputs, model.get_layer("final_bn").output)
    before = keras.Model(model.inputs, model.get_layer("b1_concat").output)
    np.testing.assert_allclose(
        keras.ops.convert_to_numpy(final.layer(before(x))),
        keras.ops.convert_to_numpy(reference(x)),
        rtol=1e-5,
        atol=1e-5,
    )
    qat.compile(keras.optimizers.SGD(1e-3), keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    qat.fit(x, np.arange(8) % 3, batch_size=4, epochs=1, verbose=0)
    path = export_tflite(qat, tmp_path / "dense_block.tflite")
    interpreter = Interpreter(model_path=path)
    tensors = {t["index"]: t for t in interpreter.get_tensor_details()}
    ops = interpreter._get_ops_details()
    names = [op["op_name"] for op in ops]
    assert names.count("DEPTHWISE_CONV_2D") == 3 and "MUL" not in names and "RELU" not in names
    assert names.count("DEQUANTIZE") == 1  # only the float output: every op in between is int8
    for op in ops:
        if op["op_name"] == "DEPTHWISE_CONV_2D":
            assert [tensors[i]["dtype"] for i in op["inputs"]] == [np.int8, np.int8, np.int32]
    expected = qat.predict(x, verbose=0)
    got = np.asarray(evaluate_tflite(path, x)["outputs"]).reshape(expected.shape)
    head = qat.get_layer("quant_head").output_range
    step = (float(head.maximum.numpy()) - float(head.minimum.numpy())) / 255
    assert np.abs(got - expected).max() <= 2 * step + 1e-6


def test_standalone_batch_norm_on_features_keeps_a_range_and_accepts_its_mask_argument(tmp_path):
    inputs = keras.Input((5,))
    a = L.Dense(4, name="a")(inputs)
    b = L.Dense(4, name="b")(inputs)
    s = L.BatchNormalization(name="bn")(L.Add(name="sum")([a, b]))  # rank 2: no depthwise map
    model = keras.Model(inputs, L.Dense(2, name="head")(s))
    randomize_batch_norms(model)
    qat = quantize_model(model)
    bn = qat.get_layer("quant_bn")
    assert isinstance(bn, QuantizeOutput) and isinstance(bn.layer, L.BatchNormalization)
    x = np.random.default_rng(0).normal(size=(4, 5)).astype("float32")
    qat(x, training=True)
    assert float(bn.output_range.maximum.numpy()) != 6.0  # the first batch set the range (from [-6, 6])
    qat.save(tmp_path / "m.keras")
    loaded = keras.saving.load_model(tmp_path / "m.keras", safe_mode=True)
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(loaded(x)), keras.ops.convert_to_numpy(qat(x)))


def test_average_pooling_takes_over_the_range_of_the_convolution_it_follows(tmp_path):
    from ai_edge_litert.interpreter import Interpreter

    from kerasplus.quantization import evaluate_tflite, export_tflite

    inputs = keras.Input((6, 6, 3))
    x = L.AveragePooling2D(2, name="pool")(L.Conv2D(4, 1, name="conv")(inputs))
    qat = quantize_model(keras.Model(inputs, L.Flatten()(x)))
    conv, pool = qat.get_layer("quant_conv"), qat.get_layer("quant_pool")
    assert not conv.quantize_outputs and conv.output_range is None and pool.same_scale
    x = np.random.default_rng(0).normal(size=(8, 6, 6, 3)).astype("float32")
    qat(x, training=True)
    # TFLite's int8 AVERAGE_POOL_2D must keep its input's scale: another range fails the conversion.
    path = export_tflite(qat, tmp_path / "pool.tflite")
    interpreter = Interpreter(model_path=path)
    tensors = {t["index"]: t for t in interpreter.get_tensor_details()}
    (op,) = [op for op in interpreter._get_ops_details() if op["op_name"] == "AVERAGE_POOL_2D"]
    assert tensors[op["inputs"][0]]["quantization"] == tensors[op["outputs"][0]]["quantization"]
    expected = qat.predict(x, verbose=0)
    got = np.asarray(evaluate_tflite(path, x)["outputs"]).reshape(expected.shape)
    step = tensors[op["outputs"][0]]["quantization"][0]
    # Averages are rounded onto the same grid; a tie (a sum of 4 at .5) can round the other way.
    assert np.abs(got - expected).max() <= step * (1 + 1e-4)
    assert (np.abs(got - expected) > step / 2).mean() < 0.2
