"""Quantization-aware training on scikit-learn's digits: kerasplus QAT vs float, PTQ and tfmot.

Two models: a small CNN (``cnn``: two Conv-BN-ReLU blocks and a Dense head) and
a MobileNetV2-style net (``mbv2``: a Conv-BN-ReLU6 stem, three inverted
residual blocks of expand Conv-BN-ReLU6, DepthwiseConv-BN-ReLU6 and project
Conv-BN, with a residual Add where shapes allow, then GlobalAveragePooling2D
and a Dense head). Each is trained in float (Keras 3), then

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

Run: python benchmarks/qat.py [--models cnn mbv2] [--seeds 0 1 2] [--epochs 40] [--qat-epochs 5] [--repeats 5]
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


def mbv2(layers, inputs, model_class):
    """A MobileNetV2-style functional model from `layers` (keras.layers or tf_keras.layers)."""

    def conv_bn(x, filters, kernel=1, strides=1, relu6=True):
        x = layers.Conv2D(filters, kernel, strides=strides, padding="same", use_bias=False)(x)
        x = layers.BatchNormalization()(x)
        return layers.ReLU(6.0)(x) if relu6 else x

    def inverted_residual(x, filters, strides, expansion=4):
        y = conv_bn(x, x.shape[-1] * expansion)
        y = layers.DepthwiseConv2D(3, strides=strides, padding="same", use_bias=False)(y)
        y = layers.ReLU(6.0)(layers.BatchNormalization()(y))
        y = conv_bn(y, filters, relu6=False)
        return layers.Add()([x, y]) if strides == 1 and x.shape[-1] == filters else y

    x = conv_bn(inputs, 16, kernel=3)
    x = inverted_residual(x, 16, 1)
    x = inverted_residual(x, 24, 2)
    x = inverted_residual(x, 24, 1)
    x = layers.GlobalAveragePooling2D()(x)
    return model_class(inputs, layers.Dense(10)(x))


def build(kind, keras_module):
    """The `kind` model ("cnn" or "mbv2") built with `keras_module` (keras or tf_keras)."""
    layers = keras_module.layers
    if kind == "cnn":
        input_layer = keras.Input((8, 8, 1)) if keras_module is keras else layers.InputLayer((8, 8, 1))
        return keras_module.Sequential(architecture(layers, input_layer))
    return mbv2(layers, keras_module.Input((8, 8, 1)), keras_module.Model)


def float_tflite(model, path, batch_size=None):
    converter = tf.lite.TFLiteConverter.from_concrete_functions([_concrete_function(model, batch_size)], model)
    with open(path, "wb") as f:
        f.write(converter.convert())
    return path


def compile_keras(model, lr):
    model.compile(
        keras.optimizers.Adam(lr), keras.losses.SparseCategoricalCrossentropy(from_logits=True), metrics=["accuracy"]
    )


def run(kind, seed, args, folder):
    import tf_keras

    (xt, yt), (xv, yv), (xs, ys) = kerasplus.data.split(
        *kerasplus.data.load("digits"), train=0.6, val=0.15, test=0.25, seed=seed
    )
    keras.utils.set_random_seed(seed)
    model = build(kind, keras)
    compile_keras(model, 1e-3)
    model.fit(xt, yt, validation_data=(xv, yv), epochs=args.epochs, batch_size=32, verbose=0)
    float_acc = model.evaluate(xs, ys, verbose=0)[1]

    qat = quantize_model(model)
    compile_keras(qat, args.qat_lr)
    qat.fit(xt, yt, validation_data=(xv, yv), epochs=args.qat_epochs, batch_size=32, verbose=0)

    tk_model = build(kind, tf_keras)
    tk_model.set_weights(model.get_weights())
    tk_float_acc = np.mean(tk_model.predict(xs, verbose=0).argmax(1) == ys)
    tk_qat = quantize_model(tk_model)  # -> tfmot.quantization.keras.quantize_model
    tk_qat.compile(
        tf_keras.optimizers.Adam(args.qat_lr), tf_keras.losses.SparseCategoricalCrossentropy(from_logits=True)
    )
    tk_qat.fit(xt, yt, validation_data=(xv, yv), epochs=args.qat_epochs, batch_size=32, verbose=0)

    files = {
        "float": float_tflite(model, os.path.join(folder, f"{kind}_float{seed}.tflite"), args.batch_size),
        "qat": export_tflite(qat, os.path.join(folder, f"{kind}_qat{seed}.tflite"), batch_size=args.batch_size),
        "ptq": export_tflite(
            model, os.path.join(folder, f"{kind}_ptq{seed}.tflite"), representative_data=xt, batch_size=args.batch_size
        ),
        "tfmot": export_tflite(tk_qat, os.path.join(folder, f"{kind}_tfmot{seed}.tflite"), batch_size=args.batch_size),
    }
    acc = {name: evaluate_tflite(path, xs, ys)["accuracy"] for name, path in files.items()}
    head = qat.layers[-1].output_range
    step = (float(head.maximum.numpy()) - float(head.minimum.numpy())) / 255
    keras_out = qat.predict(xs, verbose=0)
    default_out = evaluate_tflite(files["qat"], xs)["outputs"]
    acc["agreement_steps"] = float(np.abs(default_out - keras_out).max() / step)
    # The same file run with TFLite's reference kernels instead of the default (optimized, XNNPACK)
    # ones: how far the file is from itself, the floor under any Keras-vs-file agreement.
    acc["kernel_steps"] = float(np.abs(reference_outputs(files["qat"], xs) - default_out).max() / step)
    acc["keras_float"] = float_acc
    acc["tf_keras_float"] = tk_float_acc
    size = {name: os.path.getsize(path) for name, path in files.items()}
    latency = {"float": [], "qat": []}
    for _ in range(args.repeats):
        for name, values in latency.items():
            values.append(evaluate_tflite(files[name], xs, num_threads=1)["latency_ms"])
    latency = {name: statistics.median(values) for name, values in latency.items()}
    return acc, size, latency, len(ys)


def reference_outputs(path, x):
    """The file's outputs on `x`, one sample at a time, with TFLite's reference kernels."""
    from ai_edge_litert.interpreter import Interpreter, OpResolverType

    interpreter = Interpreter(model_path=path, experimental_op_resolver_type=OpResolverType.BUILTIN_REF)
    index = interpreter.get_input_details()[0]["index"]
    interpreter.resize_tensor_input(index, [1, *x.shape[1:]])
    interpreter.allocate_tensors()
    output = interpreter.get_output_details()[0]["index"]
    outputs = []
    for sample in x:
        interpreter.set_tensor(index, sample[None].astype(np.float32))
        interpreter.invoke()
        outputs.append(interpreter.get_tensor(output).copy())
    return np.concatenate(outputs)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--models", nargs="+", choices=["cnn", "mbv2"], default=["cnn", "mbv2"])
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
    for kind in args.models:
        report(kind, args, [run(kind, seed, args, folder) for seed in args.seeds])


def report(kind, args, results):
    print(f"## model: {kind}")
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
    print(
        "# kerasplus QAT file vs the Keras QAT model, max |difference| over the test split in int8 steps of "
        "the output: " + ", ".join(f"seed {s}: {r[0]['agreement_steps']:.2f}" for s, r in zip(args.seeds, results))
    )
    print(
        "# the same file with TFLite's reference vs its default (XNNPACK) kernels, in the same steps: "
        + ", ".join(f"seed {s}: {r[0]['kernel_steps']:.2f}" for s, r in zip(args.seeds, results))
    )
    gap = 100 * (mean(0, "keras_float") - mean(0, "qat"))
    print(
        f"# QAT int8 vs float: {gap:+.2f} points below float (target <= 0.5); "
        f"vs tfmot: {100 * (mean(0, 'qat') - mean(0, 'tfmot')):+.2f} points (target >= 0); "
        f"size ratio {mean(1, 'qat') / mean(1, 'float'):.3f} (target <= 0.30)"
    )


if __name__ == "__main__":
    main()
