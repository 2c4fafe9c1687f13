"""`evaluate_tflite`: run a TFLite file on data with ai-edge-litert; metric and latency per sample."""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from typing import Any

import numpy as np

METRICS = ("accuracy", "mae", "mse")


def _quantize(x, detail):
    if detail["dtype"] == np.float32:
        return x.astype(np.float32)
    scale, zero_point = detail["quantization"]
    info = np.iinfo(detail["dtype"])
    return np.clip(np.round(x / scale + zero_point), info.min, info.max).astype(detail["dtype"])


def _dequantize(y, detail):
    if detail["dtype"] == np.float32:
        return y
    scale, zero_point = detail["quantization"]
    return (y.astype(np.float32) - zero_point) * scale


def _score(metric, y, outputs):
    if callable(metric):
        return float(metric(y, outputs))
    y = np.asarray(y)
    if metric == "accuracy":
        if outputs.ndim == 2 and outputs.shape[1] > 1:
            predicted = outputs.argmax(axis=1)
            truth = y.argmax(axis=1) if y.ndim == 2 and y.shape[1] == outputs.shape[1] else y.reshape(-1)
        else:
            predicted = (outputs.reshape(-1) > 0.5).astype(int)
            truth = y.reshape(-1)
        return float(np.mean(predicted == truth))
    error = outputs.reshape(y.shape) - y
    return float(np.mean(np.abs(error)) if metric == "mae" else np.mean(error**2))


def evaluate_tflite(
    path: str,
    x: Any,
    y: Any = None,
    *,
    metric: str | Callable[[np.ndarray, np.ndarray], float] = "accuracy",
    num_threads: int | None = None,
) -> dict:
    """Runs the TFLite file at `path` on `x`, one sample at a time, with ai-edge-litert.

    Inputs and outputs are quantized/dequantized for an int8-io file, so `x`,
    `y` and the returned outputs are in float units either way.

    Args:
        path: a ``.tflite`` file (e.g. from `export_tflite`).
        x: inputs, an array with the batch on axis 0 (one input only).
        y: targets; without them no metric is computed.
        metric: ``"accuracy"`` (argmax of a multi-class output against integer
            or one-hot labels; a single output is thresholded at 0.5),
            ``"mae"``, ``"mse"``, or a callable ``(y_true, y_pred) -> float``.
        num_threads: interpreter threads (default: the interpreter's own).

    Returns:
        A dict with ``outputs`` (the file's outputs for all of `x`),
        ``latency_ms`` (mean wall time of one `invoke` on one sample) and,
        when `y` is given, the metric under its name (``"metric"`` for a
        callable).

    Example:

    >>> import numpy as np, keras, kerasplus, tempfile, os
    >>> model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(2)])
    >>> x = np.random.default_rng(0).normal(size=(16, 4)).astype("float32")
    >>> path = kerasplus.quantization.export_tflite(
    ...     model, os.path.join(tempfile.mkdtemp(), "m.tflite"), representative_data=x)
    >>> labels = model.predict(x, verbose=0).argmax(axis=1)
    >>> result = kerasplus.quantization.evaluate_tflite(path, x, labels)
    >>> result["accuracy"] >= 0.8, result["latency_ms"] > 0
    (True, True)
    """
    from ai_edge_litert.interpreter import Interpreter

    if not isinstance(path, (str, os.PathLike)) or not os.path.isfile(path):
        raise ValueError(f"`path` must be an existing .tflite file; received path={path!r}.")
    if not callable(metric) and metric not in METRICS:
        raise ValueError(
            f"`metric` must be one of {', '.join(map(repr, METRICS))} or a callable; received metric={metric!r}."
        )
    x = np.asarray(x)
    if x.ndim < 1 or len(x) == 0:
        raise ValueError(f"`x` must hold at least one sample on axis 0; received an array of shape {x.shape}.")
    if y is not None and len(y) != len(x):
        raise ValueError(f"`y` must have as many samples as `x`; received {len(y)} and {len(x)}.")
    interpreter = Interpreter(model_path=os.fspath(path), num_threads=num_threads)
    input_detail = interpreter.get_input_details()
    if len(input_detail) != 1:
        raise ValueError(f"evaluate_tflite supports one input; {path!r} has {len(input_detail)}.")
    input_detail = input_detail[0]
    interpreter.resize_tensor_input(input_detail["index"], [1, *x.shape[1:]])
    interpreter.allocate_tensors()
    input_detail = interpreter.get_input_details()[0]
    output_detail = interpreter.get_output_details()[0]
    outputs, elapsed = [], 0.0
    for i in range(len(x)):
        interpreter.set_tensor(input_detail["index"], _quantize(x[i : i + 1], input_detail))
        start = time.perf_counter()
        interpreter.invoke()
        elapsed += time.perf_counter() - start
        outputs.append(_dequantize(interpreter.get_tensor(output_detail["index"]), output_detail))
    result = {"outputs": np.concatenate(outputs), "latency_ms": 1000.0 * elapsed / len(x)}
    if y is not None:
        result[metric if isinstance(metric, str) else "metric"] = _score(metric, y, result["outputs"])
    return result
