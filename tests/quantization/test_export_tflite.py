import os

import keras
import numpy as np
import pytest
from ai_edge_litert.interpreter import Interpreter

from kerasplus.quantization import evaluate_tflite, export_tflite, quantize_model
from tests.quantization.conftest import build_float_model, data

WEIGHTED_OPS = ("CONV_2D", "DEPTHWISE_CONV_2D", "FULLY_CONNECTED")


def ops_and_tensors(path):
    interpreter = Interpreter(model_path=path)
    tensors = {t["index"]: t for t in interpreter.get_tensor_details()}
    return interpreter._get_ops_details(), tensors


def output_step(wrapper):
    return (float(wrapper.output_range.maximum.numpy()) - float(wrapper.output_range.minimum.numpy())) / 255


def test_weights_and_activations_of_quantized_layers_are_int8(trained):
    _, qat, _, _, path = trained
    channels = qat.layers[1].layer.filters  # the depthwise layer keeps this many channels too
    ops, tensors = ops_and_tensors(path)
    names = [op["op_name"] for op in ops]
    assert names.count("CONV_2D") == names.count("DEPTHWISE_CONV_2D") == names.count("FULLY_CONNECTED") == 1
    assert "BATCH_NORMALIZATION" not in names and "RELU" not in names and "MUL" not in names  # folded, fused
    for op in ops:
        if op["op_name"] in WEIGHTED_OPS:
            x, weights, bias = (tensors[i] for i in op["inputs"])
            (y,) = (tensors[i] for i in op["outputs"])
            assert (x["dtype"], weights["dtype"], y["dtype"]) == (np.int8, np.int8, np.int8), op["op_name"]
            assert bias["dtype"] == np.int32
            zero_points = weights["quantization_parameters"]["zero_points"]
            assert not zero_points.any()  # symmetric
            if op["op_name"] != "FULLY_CONNECTED":  # per channel: one scale per output channel
                assert len(weights["quantization_parameters"]["scales"]) == channels
        elif op["op_name"] not in ("QUANTIZE", "DEQUANTIZE"):
            dtypes = {tensors[i]["dtype"] for i in list(op["outputs"])}
            assert dtypes <= {np.int8, np.int32}, op["op_name"]  # int32: Flatten's shape arithmetic
    assert [names[0], names[-1]] == ["QUANTIZE", "DEQUANTIZE"]


def test_int8_file_agrees_with_the_qat_model_within_two_steps(trained):
    _, qat, x, _, path = trained
    expected = qat.predict(x, verbose=0)
    got = evaluate_tflite(path, x)["outputs"]
    assert np.abs(got - expected).max() <= 2 * output_step(qat.layers[-1])


def test_keras_file_round_trip_then_export_gives_the_same_outputs(trained, tmp_path):
    _, qat, x, _, path = trained
    qat.save(os.path.join(tmp_path, "qat.keras"))
    loaded = keras.saving.load_model(os.path.join(tmp_path, "qat.keras"), safe_mode=True)
    again = export_tflite(loaded, os.path.join(tmp_path, "again.tflite"))
    np.testing.assert_array_equal(evaluate_tflite(again, x)["outputs"], evaluate_tflite(path, x)["outputs"])


def test_int8_io_file_has_int8_input_and_output(trained, tmp_path):
    _, qat, x, _, path = trained
    int8_path = export_tflite(qat, tmp_path / "io.tflite", int8_io=True)
    interpreter = Interpreter(model_path=int8_path)
    assert interpreter.get_input_details()[0]["dtype"] == np.int8
    assert interpreter.get_output_details()[0]["dtype"] == np.int8
    got = evaluate_tflite(int8_path, x)["outputs"]
    assert np.abs(got - evaluate_tflite(path, x)["outputs"]).max() <= 2 * output_step(qat.layers[-1])


def test_post_training_quantization_of_a_float_model(trained, tmp_path):
    model, _, x, _, _ = trained
    path = export_tflite(model, tmp_path / "ptq.tflite", representative_data=x)
    ops, tensors = ops_and_tensors(path)
    for op in ops:
        if op["op_name"] in WEIGHTED_OPS:
            assert tensors[op["inputs"][1]]["dtype"] == np.int8
            assert tensors[op["outputs"][0]]["dtype"] == np.int8
    got = evaluate_tflite(path, x)["outputs"]
    expected = model.predict(x, verbose=0)
    spread = expected.max() - expected.min()
    assert np.abs(got - expected).max() < 0.1 * spread  # close to float, not equal (calibrated ranges)


def test_float_model_without_data_and_qat_model_with_data_are_rejected(trained, tmp_path):
    model, qat, x, _, _ = trained
    with pytest.raises(ValueError, match="float model: pass `representative_data`"):
        export_tflite(model, tmp_path / "a.tflite")
    with pytest.raises(ValueError, match="quantization-aware"):
        export_tflite(qat, tmp_path / "b.tflite", representative_data=x)
    with pytest.raises(TypeError, match="int8_io"):
        export_tflite(qat, tmp_path / "c.tflite", int8_io="yes")
    with pytest.raises(TypeError, match="path"):
        export_tflite(qat, 3)


def test_tfmot_model_of_a_tf_keras_net_exports_int8(tmp_path):
    import tf_keras

    x, y = data(32)
    layers = tf_keras.layers
    model = tf_keras.Sequential([layers.InputLayer((8, 8, 1)), layers.Conv2D(4, 3), layers.BatchNormalization(),
                                 layers.ReLU(), layers.Flatten(), layers.Dense(3)])
    qat = quantize_model(model)
    qat.compile("adam", tf_keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    qat.fit(x, y, epochs=1, verbose=0)
    path = export_tflite(qat, tmp_path / "tfmot.tflite")
    ops, tensors = ops_and_tensors(path)
    conv = next(op for op in ops if op["op_name"] == "CONV_2D")
    assert tensors[conv["inputs"][1]]["dtype"] == np.int8 and tensors[conv["outputs"][0]]["dtype"] == np.int8
    dense = next(op for op in ops if op["op_name"] == "FULLY_CONNECTED")
    step = tensors[dense["outputs"][0]]["quantization_parameters"]["scales"][0]
    expected = qat.predict(x, verbose=0)
    got = evaluate_tflite(path, x)["outputs"]
    assert np.abs(got - expected).max() <= 2 * step


def test_unquantized_keras_model_from_quantize_model_default_ranges_still_exports(tmp_path):
    # Before any training the activation ranges are tfmot's default [-6, 6]: export works, values clip there.
    qat = quantize_model(build_float_model())
    path = export_tflite(qat, tmp_path / "untrained.tflite")
    x, _ = data(4)
    got = evaluate_tflite(path, x)["outputs"]
    assert np.abs(got - qat.predict(x, verbose=0)).max() <= 2 * 12 / 255


def test_a_fixed_batch_size_drops_the_shape_ops_and_keeps_the_outputs(trained, tmp_path):
    _, qat, x, _, path = trained
    static = export_tflite(qat, tmp_path / "batch1.tflite", batch_size=1)
    dynamic_ops = [op["op_name"] for op in ops_and_tensors(path)[0]]
    static_ops = [op["op_name"] for op in ops_and_tensors(static)[0]]
    assert "SHAPE" in dynamic_ops and "SHAPE" not in static_ops  # Flatten's dynamic-batch arithmetic
    assert os.path.getsize(static) < os.path.getsize(path)
    assert Interpreter(model_path=static).get_input_details()[0]["shape"][0] == 1
    np.testing.assert_array_equal(evaluate_tflite(static, x)["outputs"], evaluate_tflite(path, x)["outputs"])
    with pytest.raises(ValueError, match="`batch_size` must be an integer >= 1"):
        export_tflite(qat, tmp_path / "bad.tflite", batch_size=0)
