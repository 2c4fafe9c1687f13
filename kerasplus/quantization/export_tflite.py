"""`export_tflite`: an int8 TFLite flatbuffer from a QAT model (Keras 3 or tfmot), or PTQ of a float model."""

from __future__ import annotations

import os
import warnings
from typing import Any

import numpy as np

from kerasplus import _validation as v
from kerasplus._internals import tensorflow as internal_tensorflow
from kerasplus.quantization.quantize_model import is_tf_keras_model

# Post-training calibration uses at most this many samples of `representative_data`.
MAX_CALIBRATION_SAMPLES = 500


def _concrete_function(model, batch_size=None):
    """The inference function of `model` (Keras 3 or tf_keras), variables frozen into constants."""
    import tensorflow as tf

    inputs = model.inputs
    if not inputs:
        raise ValueError(f"Model {model.name!r} has no inputs: build it with keras.Input before exporting.")
    signature = [
        tf.TensorSpec((batch_size, *tuple(x.shape)[1:]), x.dtype, name=f"input_{i}") for i, x in enumerate(inputs)
    ]

    @tf.function(input_signature=signature)
    def serve(*xs):
        return model(xs[0] if len(xs) == 1 else list(xs), training=False)

    # Post-training calibration cannot read resource variables, and the
    # converter maps FakeQuant ops to int8 when their ranges and the weights are constants.
    return internal_tensorflow.freeze_concrete_function(serve.get_concrete_function())


def _has_fake_quant(function) -> bool:
    return any(node.op.startswith("FakeQuant") for node in function.graph.as_graph_def().node) or any(
        node.op.startswith("FakeQuant") for f in function.graph.as_graph_def().library.function for node in f.node_def
    )


def _calibration_batches(data):
    """Single-sample input lists from an array, a tuple of arrays, or an iterable of batches."""
    import tensorflow as tf

    if isinstance(data, np.ndarray) or (isinstance(data, tuple) and all(isinstance(a, np.ndarray) for a in data)):
        batches = [data]
    elif isinstance(data, tf.data.Dataset):
        batches = data.as_numpy_iterator()
    else:
        batches = data
    seen = 0
    for batch in batches:
        if isinstance(batch, (tuple, list)) and len(batch) == 2 and not isinstance(data, tuple):
            batch = batch[0]  # (x, y) pairs: keep x
        arrays = list(batch) if isinstance(batch, (tuple, list)) else [batch]
        for i in range(len(arrays[0])):
            yield [np.asarray(a[i : i + 1], np.float32) for a in arrays]
            seen += 1
            if seen >= MAX_CALIBRATION_SAMPLES:
                return


def export_tflite(
    model: Any, path: str, *, representative_data: Any = None, int8_io: bool = False, batch_size: int | None = None
) -> str:
    """Writes an int8 TFLite flatbuffer of `model` to `path`.

    * A quantization-aware model (from `kerasplus.quantization.quantize_model`,
      Keras 3 or tfmot) is converted with the ranges it learned: weights int8,
      activations int8, biases int32 (pass no `representative_data`).
    * A float model with `representative_data` is quantized after training
      (TFLite's post-training full-integer quantization, calibrated on up to
      500 samples), for comparison with QAT.

    Weights and ranges are frozen into constants before conversion (the
    converter turns FakeQuant ops into int8 only for constant ranges).

    On the JAX and PyTorch backends the model is saved as a ``.keras`` file
    and converted by `export_tflite` in a child process on the TensorFlow
    backend (TensorFlow must be installed; the model must load with
    ``keras.saving.load_model(..., safe_mode=True)`` there), so a model
    trained on any backend gives the file it would give on TensorFlow.

    Args:
        model: a built Keras 3 or tf_keras model.
        path: where to write the ``.tflite`` file (parent folders are created).
        representative_data: for a float model, calibration inputs: an array
            (or tuple of arrays for several inputs), a `tf.data.Dataset` or an
            iterable of batches (``(x, y)`` pairs are fine).
        int8_io: also make the file's input and output int8 (for
            integer-only accelerators); by default they are float32 with a
            quantize op at the start and a dequantize op at the end.
        batch_size: None (default) keeps the batch dimension dynamic; an
            integer fixes it (e.g. 1 for on-device inference), which drops the
            shape-computing ops Keras 3 layers such as `Flatten` emit for a
            dynamic batch and makes the file smaller (about 0.9 KB on the
            digits CNN of `benchmarks/qat.py`).

    Returns:
        `path`, as a string.

    Example:

    >>> import numpy as np, keras, kerasplus, tempfile, os
    >>> model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(2)])
    >>> data = np.random.default_rng(0).normal(size=(32, 4)).astype("float32")
    >>> path = kerasplus.quantization.export_tflite(
    ...     model, os.path.join(tempfile.mkdtemp(), "ptq.tflite"), representative_data=data)
    >>> kerasplus.quantization.evaluate_tflite(path, data[:4])["outputs"].shape
    (4, 2)
    """
    import keras

    v.check_bool("int8_io", int8_io)
    v.check_optional_int("batch_size", batch_size, minimum=1)
    if not isinstance(path, (str, os.PathLike)):
        raise TypeError(f"`path` must be a file path; received path={path!r}.")
    if keras.backend.backend() != "tensorflow" and not is_tf_keras_model(model):
        from kerasplus.quantization._tensorflow_export import export_in_tensorflow

        samples = None if representative_data is None else list(_calibration_batches(representative_data))
        return export_in_tensorflow(model, path, samples=samples, int8_io=int8_io, batch_size=batch_size)
    import tensorflow as tf

    function = _concrete_function(model, batch_size)
    quantization_aware = _has_fake_quant(function)
    if quantization_aware and representative_data is not None:
        raise ValueError(
            f"Model {model.name!r} is quantization-aware (it has fake-quant ops): its int8 ranges come "
            "from training, so pass no `representative_data`."
        )
    if not quantization_aware and representative_data is None:
        raise ValueError(
            f"Model {model.name!r} is a float model: pass `representative_data` for post-training "
            "quantization, or train quantization-aware with kerasplus.quantization.quantize_model first."
        )
    converter = tf.lite.TFLiteConverter.from_concrete_functions([function], model)
    converter.optimizations = [tf.lite.Optimize.DEFAULT]
    if representative_data is not None:
        converter.representative_dataset = lambda: _calibration_batches(representative_data)
        converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
    if int8_io:
        converter.inference_input_type = tf.int8
        converter.inference_output_type = tf.int8
    with warnings.catch_warnings():
        # The converter asks for input statistics even though the QAT graph's
        # first FakeQuant provides them.
        warnings.filterwarnings("ignore", "Statistics for quantized inputs", UserWarning)
        flatbuffer = converter.convert()
    path = os.fspath(path)
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    with open(path, "wb") as f:
        f.write(flatbuffer)
    return path
