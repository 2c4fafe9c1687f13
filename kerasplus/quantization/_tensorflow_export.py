"""`export_tflite` for models on the JAX or PyTorch backend: the conversion runs in a TensorFlow-backend process.

The TFLite converter reads a TensorFlow graph, and Keras builds one only on its
TensorFlow backend (the backend is chosen once per process). So the model is
saved as a ``.keras`` file, which holds the same weights and int8 ranges on
every backend, and a child process with ``KERAS_BACKEND=tensorflow`` loads it
(``safe_mode=True``, ``compile=False``) and calls `export_tflite` there: the
file is the one the same model gives on TensorFlow. Calibration samples for a
float model are collected here and passed as arrays, in the same order.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile

import numpy as np

# Seconds the TensorFlow process may take (importing TensorFlow and converting a small model takes ~20 s).
TIMEOUT = 900
PREFIX = "KERASPLUS_EXPORT "
_ERRORS = {"ValueError": ValueError, "TypeError": TypeError}


def export_in_tensorflow(model, path, *, samples, int8_io: bool, batch_size, timeout: float = TIMEOUT) -> str:
    """Saves `model`, runs `export_tflite` on it in a TensorFlow-backend child process, returns `path`.

    `samples` is None or a list of calibration samples, each a list of arrays (one per input).
    """
    import keras

    folder = tempfile.mkdtemp(prefix="kerasplus_export_")
    try:
        model_path = os.path.join(folder, "model.keras")
        keras.saving.save_model(model, model_path)
        arguments = {
            "model": model_path,
            "path": os.path.abspath(os.fspath(path)),
            "int8_io": int8_io,
            "batch_size": batch_size,
            "data": None,
        }
        if samples is not None:
            arguments["data"] = os.path.join(folder, "data.npz")
            np.savez(arguments["data"], *[np.concatenate(parts) for parts in zip(*samples, strict=True)])
        with open(os.path.join(folder, "arguments.json"), "w") as f:
            json.dump(arguments, f)
        package_root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
        env = {**os.environ, "KERAS_BACKEND": "tensorflow"}
        env["PYTHONPATH"] = os.pathsep.join(p for p in (package_root, os.environ.get("PYTHONPATH")) if p)
        env.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
        command = [sys.executable, "-m", "kerasplus.quantization._tensorflow_export", folder]
        try:
            done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=timeout, check=False)
        except subprocess.TimeoutExpired:
            raise TimeoutError(
                f"export_tflite: the TensorFlow conversion process took more than {timeout} s."
            ) from None
        for line in done.stdout.splitlines():
            if line.startswith(PREFIX):
                result = json.loads(line[len(PREFIX) :])
                if "error" in result:
                    raise _ERRORS.get(result["type"], RuntimeError)(result["error"])
                return result["path"]
        raise RuntimeError(
            f"export_tflite: the TensorFlow conversion process failed (exit code {done.returncode}). The model "
            "must load with keras.saving.load_model(path, safe_mode=True) in a fresh process: register custom "
            "layers with keras.saving.register_keras_serializable in an importable module. Its stderr ends:\n"
            + done.stderr[-3000:]
        )
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def main(folder: str) -> None:
    import keras

    from kerasplus.quantization.export_tflite import export_tflite

    with open(os.path.join(folder, "arguments.json")) as f:
        arguments = json.load(f)
    try:
        if keras.backend.backend() != "tensorflow":
            raise RuntimeError(f"the conversion process runs {keras.backend.backend()!r}, not TensorFlow")
        model = keras.saving.load_model(arguments["model"], safe_mode=True, compile=False)
        data = None
        if arguments["data"] is not None:
            with np.load(arguments["data"]) as stored:
                arrays = [stored[f"arr_{i}"] for i in range(len(stored.files))]
            data = arrays[0] if len(arrays) == 1 else tuple(arrays)
        path = export_tflite(
            model,
            arguments["path"],
            representative_data=data,
            int8_io=arguments["int8_io"],
            batch_size=arguments["batch_size"],
        )
        print(PREFIX + json.dumps({"path": path}), flush=True)
    except (ValueError, TypeError) as error:
        print(PREFIX + json.dumps({"error": str(error), "type": type(error).__name__}), flush=True)


if __name__ == "__main__":
    main(sys.argv[1])
