import numpy as np
import pytest
from ai_edge_litert.interpreter import Interpreter

from kerasplus.quantization import evaluate_tflite, export_tflite


def batch_outputs(path, x):
    """Reference: the interpreter run on the whole batch at once."""
    interpreter = Interpreter(model_path=path)
    interpreter.resize_tensor_input(interpreter.get_input_details()[0]["index"], list(x.shape))
    interpreter.allocate_tensors()
    interpreter.set_tensor(interpreter.get_input_details()[0]["index"], x)
    interpreter.invoke()
    return interpreter.get_tensor(interpreter.get_output_details()[0]["index"])


def test_outputs_metrics_and_latency(trained):
    _, _, x, y, path = trained
    result = evaluate_tflite(path, x, y)
    outputs = batch_outputs(path, x)
    np.testing.assert_allclose(result["outputs"], outputs, atol=1e-6)
    assert result["accuracy"] == np.mean(outputs.argmax(axis=1) == y)
    assert 0 < result["latency_ms"] < 1000
    one_hot = np.eye(3)[y]
    assert evaluate_tflite(path, x, one_hot)["accuracy"] == result["accuracy"]
    target = np.zeros_like(outputs)
    assert evaluate_tflite(path, x, target, metric="mae")["mae"] == pytest.approx(np.abs(outputs).mean(), rel=1e-6)
    assert evaluate_tflite(path, x, target, metric="mse")["mse"] == pytest.approx((outputs**2).mean(), rel=1e-6)
    custom = evaluate_tflite(path, x, y, metric=lambda t, p: float(np.mean(p.argmax(1) != t)))
    assert custom["metric"] == pytest.approx(1 - result["accuracy"])
    assert "accuracy" not in evaluate_tflite(path, x[:2])


def test_int8_io_file_is_fed_and_read_in_float_units(trained, tmp_path):
    _, qat, x, y, path = trained
    int8_path = export_tflite(qat, tmp_path / "io.tflite", int8_io=True)
    detail = Interpreter(model_path=int8_path).get_output_details()[0]
    scale = detail["quantization"][0]
    got = evaluate_tflite(int8_path, x, y)
    assert np.abs(got["outputs"] - evaluate_tflite(path, x)["outputs"]).max() <= 2 * scale


def test_bad_arguments_are_rejected(trained, tmp_path):
    _, _, x, y, path = trained
    with pytest.raises(ValueError, match="metric"):
        evaluate_tflite(path, x, y, metric="f1")
    with pytest.raises(ValueError, match="path"):
        evaluate_tflite(tmp_path / "missing.tflite", x)
    with pytest.raises(ValueError, match="as many samples"):
        evaluate_tflite(path, x, y[:3])
    with pytest.raises(ValueError, match="at least one sample"):
        evaluate_tflite(path, x[:0])
