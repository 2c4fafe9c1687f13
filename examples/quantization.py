"""Quantization-aware training of a Keras 3 model, int8 TFLite export, and post-training quantization to compare.

Trains a small digits CNN (Conv-BN-ReLU blocks) in float, fine-tunes it with
fake quantization (`kerasplus.quantization.quantize_model`), exports both the
QAT model and a post-training-quantized copy of the float model to int8
TFLite, and prints test accuracy, file size and latency of each, run through
the ai-edge-litert interpreter.

Run:  python examples/quantization.py      (about a minute on 2 CPU cores)
Fast: KERASPLUS_FAST=1 python examples/quantization.py
"""

import os
import pathlib
import tempfile

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import keras  # noqa: E402

import kerasplus  # noqa: E402
from kerasplus.quantization import evaluate_tflite, export_tflite, quantize_model  # noqa: E402

FAST = os.environ.get("KERASPLUS_FAST") == "1"
EPOCHS, QAT_EPOCHS = (3, 1) if FAST else (20, 3)


def build():
    layers = [keras.Input((8, 8, 1))]
    for filters in (16, 32):
        layers += [
            keras.layers.Conv2D(filters, 3, padding="same", use_bias=False),
            # momentum 0.9: moving statistics that settle within a short run
            keras.layers.BatchNormalization(momentum=0.9),
            keras.layers.ReLU(),
        ]
    layers += [keras.layers.GlobalAveragePooling2D(), keras.layers.Dense(10)]
    return keras.Sequential(layers)


def loss():
    return keras.losses.SparseCategoricalCrossentropy(from_logits=True)


def main():
    keras.utils.set_random_seed(0)
    x, y = kerasplus.data.load("digits")
    (x_train, y_train), _, (x_test, y_test) = kerasplus.data.split(x, y, train=0.8, val=0.05, test=0.15)
    model = build()
    model.compile(keras.optimizers.Adam(3e-3), loss(), metrics=["accuracy"])
    model.fit(x_train, y_train, epochs=EPOCHS, batch_size=32, verbose=0)
    float_accuracy = model.evaluate(x_test, y_test, verbose=0)[1]

    qat = quantize_model(model)  # BN folded into the convolutions, ReLU fused, int8 ranges learnt
    qat.compile(keras.optimizers.Adam(1e-4), loss(), metrics=["accuracy"])
    qat.fit(x_train, y_train, epochs=QAT_EPOCHS, batch_size=32, verbose=0)

    out = pathlib.Path(tempfile.mkdtemp(prefix="kerasplus_qat_"))
    files = {
        "float TFLite": export_tflite_float(model, out / "float.tflite"),
        "QAT int8": export_tflite(qat, out / "qat_int8.tflite"),
        "PTQ int8": export_tflite(model, out / "ptq_int8.tflite", representative_data=x_train),
    }
    print(f"float Keras test accuracy {float_accuracy:.4f}")
    print(f"{'model':14s} {'accuracy':>8s} {'KiB':>6s} {'ms/sample':>9s}")
    for name, path in files.items():
        result = evaluate_tflite(path, x_test, y_test)
        print(f"{name:14s} {result['accuracy']:8.4f} {os.path.getsize(path) / 1024:6.1f} {result['latency_ms']:9.4f}")


def export_tflite_float(model, path):
    """A float TFLite file for the size and latency baseline (plain TFLite converter)."""
    import tensorflow as tf

    converter = tf.lite.TFLiteConverter.from_keras_model(model)
    pathlib.Path(path).write_bytes(converter.convert())
    return str(path)


if __name__ == "__main__":
    main()
