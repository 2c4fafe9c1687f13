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
    model = tf_keras.Sequential(
        [
            layers.InputLayer((8, 8, 1)),
            layers.Conv2D(4, 3),
            layers.BatchNormalization(),
            layers.ReLU(),
            layers.Flatten(),
            layers.Dense(3),
        ]
    )
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


BACKEND_SCRIPT = """
import json, os, sys
import keras, numpy as np
from kerasplus.quantization import export_tflite, quantize_model
from tests.quantization.conftest import build_float_model, compile_for, data

folder = sys.argv[1]
keras.utils.set_random_seed(0)
x, y = data()
model = compile_for(build_float_model())
model.fit(x, y, epochs=3, batch_size=16, verbose=0)
# XLA on JAX; on PyTorch jit_compile=True means torch.compile, which recompiles for minutes on
# 2 CPU cores (measured: the test took 600 s under load), so PyTorch trains eagerly as in the
# backend matrix (tests/backends/matrix_runner.py).
qat = compile_for(quantize_model(model), jit_compile=keras.backend.backend() != "torch")
history = qat.fit(x, y, epochs=2, batch_size=16, verbose=0)
qat.save(os.path.join(folder, "qat.keras"))
np.save(os.path.join(folder, "predictions.npy"), keras.ops.convert_to_numpy(qat.predict(x, verbose=0)))
export_tflite(qat, os.path.join(folder, "qat.tflite"))
export_tflite(model, os.path.join(folder, "ptq.tflite"), representative_data=x)
model.save(os.path.join(folder, "float.keras"))
try:
    export_tflite(model, os.path.join(folder, "bad.tflite"))
    refused = None
except ValueError as error:
    refused = str(error)
out = {"backend": keras.backend.backend(), "losses": history.history["loss"], "refused": refused,
       "output_range": [float(keras.ops.convert_to_numpy(v)) for v in
                        (qat.layers[-1].output_range.minimum, qat.layers[-1].output_range.maximum)]}
print("RESULT " + json.dumps(out), flush=True)
"""


@pytest.mark.parametrize("backend", [pytest.param("jax", marks=pytest.mark.slow), "torch"])
def test_qat_trained_on_another_backend_exports_the_file_tensorflow_gives(backend, tmp_path):
    # QAT trains on `backend` (under jit_compile on JAX); export_tflite there converts in a
    # TensorFlow-backend child process. The file must be byte for byte what TensorFlow
    # writes for the same .keras model, int8 throughout, and agree with the model
    # trained on `backend` as the TensorFlow tests above require.
    import json
    import subprocess
    import sys
    from pathlib import Path

    pytest.importorskip(backend)
    root = Path(__file__).resolve().parents[2]
    env = {
        **os.environ,
        "KERAS_BACKEND": backend,
        "PYTHONPATH": str(root),
        "TF_CPP_MIN_LOG_LEVEL": "3",
        "CUDA_VISIBLE_DEVICES": "",
    }
    done = subprocess.run(
        [sys.executable, "-c", BACKEND_SCRIPT, str(tmp_path)],
        cwd=root,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    lines = [line for line in done.stdout.splitlines() if line.startswith("RESULT ")]
    assert lines, done.stderr[-4000:]
    result = json.loads(lines[0][len("RESULT ") :])
    assert result["backend"] == backend
    assert result["losses"][-1] < result["losses"][0]  # QAT trained
    assert result["refused"].startswith("Model 'tiny' is a float model: pass `representative_data`")

    if keras.backend.backend() != "tensorflow":
        pytest.skip("the reference export runs on the TensorFlow backend")
    qat = keras.saving.load_model(os.path.join(tmp_path, "qat.keras"), safe_mode=True)
    reference = export_tflite(qat, tmp_path / "reference.tflite")
    assert Path(reference).read_bytes() == (tmp_path / "qat.tflite").read_bytes()
    model = keras.saving.load_model(os.path.join(tmp_path, "float.keras"), safe_mode=True)
    x, _ = data()
    ptq = export_tflite(model, tmp_path / "reference_ptq.tflite", representative_data=x)
    assert Path(ptq).read_bytes() == (tmp_path / "ptq.tflite").read_bytes()

    path = str(tmp_path / "qat.tflite")
    ops, tensors = ops_and_tensors(path)
    for op in ops:
        if op["op_name"] in WEIGHTED_OPS:
            assert [tensors[i]["dtype"] for i in op["inputs"]] == [np.int8, np.int8, np.int32], op["op_name"]
    low, high = result["output_range"]
    expected = np.load(tmp_path / "predictions.npy")  # the model as trained on `backend`
    assert np.abs(evaluate_tflite(path, x)["outputs"] - expected).max() <= 2 * (high - low) / 255
