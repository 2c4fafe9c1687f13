"""Quantization-aware training on scikit-learn's digits: kerasplus QAT vs float, PTQ and tfmot.

A small CNN (two Conv-BN-ReLU blocks and a Dense head) is trained in float
(Keras 3), then

* kerasplus: ``quantize_model`` + a short fine-tune, exported to int8 TFLite;
* PTQ: the float model quantized after training (TFLite calibration on
  training images);
* tfmot: the same architecture built in tf_keras, given the same float
  weights, ``tfmot.quantization.keras.quantize_model`` + the same fine-tune,
  exported to int8 TFLite.

Accuracies are on the held-out test split, measured on the TFLite files with
ai-edge-litert (the float Keras model is also scored directly). Latency is the
mean per-sample `invoke` time (batch 1, one interpreter thread), median over
repeats with float and int8 interleaved. Targets: QAT int8 accuracy within 0.5
points of float, at least tfmot's, int8 file <= 0.30x the float TFLite file.

Run: python benchmarks/qat.py [--seeds 0 1 2] [--epochs 40] [--qat-epochs 5] [--repeats 5]
"""

import argparse
import os
import statistics
import sys
import tempfile

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
sys.path.insert(0, os.path.dirname(__file__))

import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402
from _header import print_header  # noqa: E402

import kerasplus  # noqa: E402
from kerasplus.quantization import evaluate_tflite, export_tflite, quantize_model  # noqa: E402
from kerasplus.quantization.export_tflite import _concrete_function  # noqa: E402


def architecture(layers, input_layer):
    return [
        input_layer,
        layers.Conv2D(32, 3, padding="same"),
        layers.BatchNormalization(),
        layers.ReLU(),
        layers.MaxPooling2D(),
        layers.Conv2D(64, 3, padding="same"),
        layers.BatchNormalization(),
        layers.ReLU(),
        layers.Flatten(),
        layers.Dense(10),
    ]


def float_tflite(model, path, batch_size=None):
    converter = tf.lite.TFLiteConverter.from_concrete_functions([_concrete_function(model, batch_size)], model)
    with open(path, "wb") as f:
        f.write(converter.convert())
    return path


def compile_keras(model, lr):
    model.compile(
        keras.optimizers.Adam(lr), keras.losses.SparseCategoricalCrossentropy(from_logits=True), metrics=["accuracy"]
    )


def run(seed, args, folder):
    import tf_keras

    (xt, yt), (xv, yv), (xs, ys) = kerasplus.data.split(
        *kerasplus.data.load("digits"), train=0.6, val=0.15, test=0.25, seed=seed
    )
    keras.utils.set_random_seed(seed)
    model = keras.Sequential(architecture(keras.layers, keras.Input((8, 8, 1))))
    compile_keras(model, 1e-3)
    model.fit(xt, yt, validation_data=(xv, yv), epochs=args.epochs, batch_size=32, verbose=0)
    float_acc = model.evaluate(xs, ys, verbose=0)[1]

    qat = quantize_model(model)
    compile_keras(qat, args.qat_lr)
    qat.fit(xt, yt, validation_data=(xv, yv), epochs=args.qat_epochs, batch_size=32, verbose=0)

    tk_model = tf_keras.Sequential(architecture(tf_keras.layers, tf_keras.layers.InputLayer((8, 8, 1))))
    tk_model.set_weights(model.get_weights())
    tk_float_acc = np.mean(tk_model.predict(xs, verbose=0).argmax(1) == ys)
    tk_qat = quantize_model(tk_model)  # -> tfmot.quantization.keras.quantize_model
    tk_qat.compile(
        tf_keras.optimizers.Adam(args.qat_lr), tf_keras.losses.SparseCategoricalCrossentropy(from_logits=True)
    )
    tk_qat.fit(xt, yt, validation_data=(xv, yv), epochs=args.qat_epochs, batch_size=32, verbose=0)

    files = {
        "float": float_tflite(model, os.path.join(folder, f"float{seed}.tflite"), args.batch_size),
        "qat": export_tflite(qat, os.path.join(folder, f"qat{seed}.tflite"), batch_size=args.batch_size),
        "ptq": export_tflite(
            model, os.path.join(folder, f"ptq{seed}.tflite"), representative_data=xt, batch_size=args.batch_size
        ),
        "tfmot": export_tflite(tk_qat, os.path.join(folder, f"tfmot{seed}.tflite"), batch_size=args.batch_size),
    }
    acc = {name: evaluate_tflite(path, xs, ys)["accuracy"] for name, path in files.items()}
    acc["keras_float"] = float_acc
    acc["tf_keras_float"] = tk_float_acc
    size = {name: os.path.getsize(path) for name, path in files.items()}
    latency = {"float": [], "qat": []}
    for _ in range(args.repeats):
        for name, values in latency.items():
            values.append(evaluate_tflite(files[name], xs, num_threads=1)["latency_ms"])
    latency = {name: statistics.median(values) for name, values in latency.items()}
    return acc, size, latency, len(ys)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--seeds", type=int, nargs="+", default=[0])
    parser.add_argument("--epochs", type=int, default=40)
    parser.add_argument("--qat-epochs", type=int, default=5)
    parser.add_argument("--qat-lr", type=float, default=1e-4)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument(
        "--batch-size",
        type=int,
        default=None,
        help="fix the files' batch dimension (all four files alike); default dynamic",
    )
    args = parser.parse_args()
    print_header("benchmarks/qat.py: int8 QAT on digits, kerasplus vs float / PTQ / tfmot")
    print(
        f"# seeds={args.seeds} epochs={args.epochs} qat_epochs={args.qat_epochs} qat_lr={args.qat_lr} "
        f"repeats={args.repeats} batch_size={args.batch_size or 'dynamic'}"
    )
    folder = tempfile.mkdtemp()
    results = [run(seed, args, folder) for seed in args.seeds]
    n_test = results[0][3]
    print(f"# test samples: {n_test} (one sample = {100 / n_test:.2f} points); accuracies are means over seeds")

    def mean(index, key):
        return float(np.mean([r[index][key] for r in results]))

    rows = [
        ("test acc %: kerasplus QAT int8 / Keras float", 100 * mean(0, "qat"), 100 * mean(0, "keras_float")),
        ("test acc %: kerasplus QAT int8 / tfmot QAT int8", 100 * mean(0, "qat"), 100 * mean(0, "tfmot")),
        ("test acc %: PTQ int8 / Keras float", 100 * mean(0, "ptq"), 100 * mean(0, "keras_float")),
        ("test acc %: float TFLite / Keras float", 100 * mean(0, "float"), 100 * mean(0, "keras_float")),
        (
            "test acc %: tf_keras float copy / Keras float",
            100 * mean(0, "tf_keras_float"),
            100 * mean(0, "keras_float"),
        ),
        ("file bytes: kerasplus QAT int8 / float TFLite", mean(1, "qat"), mean(1, "float")),
        ("file bytes: tfmot QAT int8 / float TFLite", mean(1, "tfmot"), mean(1, "float")),
        ("file bytes: PTQ int8 / float TFLite", mean(1, "ptq"), mean(1, "float")),
        ("latency ms/sample: QAT int8 / float TFLite", mean(2, "qat"), mean(2, "float")),
    ]
    print(f"{'name':50s} {'ours':>10s} {'anchor':>10s} {'ratio':>7s}")
    for name, ours, anchor in rows:
        print(f"{name:50s} {ours:10.3f} {anchor:10.3f} {ours / anchor:7.3f}")
    print(
        "# per seed (acc %): "
        + "; ".join(
            f"seed {s}: float {100 * r[0]['keras_float']:.2f} qat {100 * r[0]['qat']:.2f} "
            f"tfmot {100 * r[0]['tfmot']:.2f} ptq {100 * r[0]['ptq']:.2f}"
            for s, r in zip(args.seeds, results)
        )
    )
    gap = 100 * (mean(0, "keras_float") - mean(0, "qat"))
    print(
        f"# QAT int8 vs float: {gap:+.2f} points below float (target <= 0.5); "
        f"vs tfmot: {100 * (mean(0, 'qat') - mean(0, 'tfmot')):+.2f} points (target >= 0); "
        f"size ratio {mean(1, 'qat') / mean(1, 'float'):.3f} (target <= 0.30)"
    )


if __name__ == "__main__":
    main()
