"""Magnitude pruning on scikit-learn's digits: kerasplus.pruning vs dense and vs tfmot on a tf_keras twin.

Two models (``--models``):

* ``digits``: a small CNN (two Conv-BN-ReLU blocks and a Dense head, as
  benchmarks/qat.py) on the 8x8x1 images;
* ``mobilenetv2``: ``keras.applications.MobileNetV2`` with ``weights=None``
  (the conformance corpus's model, tests/conformance/models.py), ``alpha``
  0.35 by default, on the digits upsampled to 32x32 (each pixel repeated 4x4)
  and copied to 3 channels; logits head (``classifier_activation=None``). Its
  BatchNormalization momentum is set from the application's 0.999 to 0.9 (on
  the twin too): a thousand steps from scratch leave 0.999's moving statistics
  near their initial values, and the dense model then scores at chance.

Each is trained dense (Keras 3), then fine-tuned with pruning to 50%, 75% and
90% sparsity (PolynomialDecay from 0 over the first 2/3 of the fine-tune, mask
updated every 10 steps):

* ours: ``kerasplus.pruning.prune_model`` + fit + ``strip_pruning``;
* tfmot: the same architecture in tf_keras with the same dense weights,
  ``tfmot.sparsity.keras.prune_low_magnitude`` + the same fine-tune (with its
  ``UpdatePruningStep`` callback) + ``strip_pruning``; for ``mobilenetv2``
  the twin is ``tf_keras.applications.MobileNetV2`` with the same arguments.

Both are written as float TFLite files and gzipped (tfmot's compressed-size
figure); accuracy is on the held-out test split (Keras model). Ours is also
taken through prune-preserving QAT (``quantize_model`` with
``QuantizationConfig(preserve_sparsity=True)``, a short fine-tune, int8 export):
its int8 accuracy (TFLite interpreter), gzipped size and the fraction of zeros
in the int8 weight tensors (``--qat-epochs 0`` leaves the int8 rows out).
The sparsity achieved is the fraction of exact zeros over the kernels of the
prunable layers (Dense, Conv2D, DepthwiseConv2D) of the stripped model.
tfmot 0.8 wraps DepthwiseConv2D but prunes none of its weights (its
prune_registry lists no prunable weight for it), while ``prune_model`` prunes
the depthwise kernels too; for a model with DepthwiseConv2D (mobilenetv2) ours
is therefore also run with ``layer_names`` set to tfmot's layers (its Conv2D
and Dense), the like-for-like row ("ours on tfmot's layers").
Figures are medians over seeds.

Run: python benchmarks/pruning.py [--models digits mobilenetv2] [--seeds 0 1 2] [--epochs 20] [--prune-epochs 4]
     [--qat-epochs 1] [--alpha 0.35]
"""

import argparse
import gzip
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
from qat import architecture, compile_keras, float_tflite  # noqa: E402

import kerasplus  # noqa: E402
from kerasplus.pruning import PolynomialDecay, prune_model, strip_pruning  # noqa: E402
from kerasplus.quantization import QuantizationConfig, evaluate_tflite, export_tflite, quantize_model  # noqa: E402

TARGETS = (0.5, 0.75, 0.9)
MODELS = ("digits", "mobilenetv2")
PRUNABLE = ("Dense", "Conv2D", "DepthwiseConv2D")  # the layer classes both prune_model and tfmot prune here


def gzipped_size(path):
    with open(path, "rb") as f:
        return len(gzip.compress(f.read(), compresslevel=9))


def int8_zero_fraction(path):
    from ai_edge_litert.interpreter import Interpreter

    interpreter = Interpreter(model_path=path)
    zeros = total = 0
    for tensor in interpreter.get_tensor_details():
        if tensor["dtype"] != np.int8 or len(tensor["shape"]) < 2:
            continue
        try:
            value = interpreter.get_tensor(tensor["index"])
        except ValueError:
            continue
        zeros, total = zeros + int((value == 0).sum()), total + value.size
    return zeros / max(total, 1)


def kernel_sparsity(model):
    """Fraction of exact zeros over the kernels of `model`'s Dense/Conv2D/DepthwiseConv2D layers (Keras 3 or tf_keras)."""
    zeros = total = 0
    for layer in model.layers:
        if type(layer).__name__ in PRUNABLE:
            kernel = layer.get_weights()[0]
            zeros, total = zeros + int((kernel == 0).sum()), total + kernel.size
    return zeros / max(total, 1)


def images(kind, x):
    """`x` (n, 8, 8, 1) as `kind` takes it: unchanged, or 32x32x3 for mobilenetv2 (nearest upsampling)."""
    if kind == "digits":
        return x
    return np.repeat(np.repeat(np.repeat(x, 4, axis=1), 4, axis=2), 3, axis=3)


def build(kind, keras_module, args):
    """The dense `kind` model built with `keras_module` (keras or tf_keras), logits out."""
    layers = keras_module.layers
    if kind == "digits":
        input_layer = keras.Input((8, 8, 1)) if keras_module is keras else layers.InputLayer((8, 8, 1))
        return keras_module.Sequential(architecture(layers, input_layer))
    model = keras_module.applications.MobileNetV2(
        input_shape=(32, 32, 3), alpha=args.alpha, weights=None, classes=10, classifier_activation=None
    )
    for layer in model.layers:
        if isinstance(layer, layers.BatchNormalization):
            layer.momentum = 0.9  # see the module docstring; get_config carries it into every clone
    return model


def run(kind, seed, args, folder):
    import tensorflow_model_optimization as tfmot
    import tf_keras

    (xt, yt), (xv, yv), (xs, ys) = kerasplus.data.split(
        *kerasplus.data.load("digits"), train=0.6, val=0.15, test=0.25, seed=seed
    )
    xt, xs = images(kind, xt), images(kind, xs)
    keras.utils.set_random_seed(seed)
    dense = build(kind, keras, args)
    compile_keras(dense, 1e-3)
    dense.fit(xt, yt, epochs=args.epochs, batch_size=32, verbose=0)
    steps = args.prune_epochs * int(np.ceil(len(xt) / 32))
    end_step = (2 * steps // 3) // 10 * 10
    rows = {"dense": {"acc": dense.evaluate(xs, ys, verbose=0)[1], "sparsity": kernel_sparsity(dense)}}
    path = float_tflite(dense, os.path.join(folder, f"{kind}_dense{seed}.tflite"))
    rows["dense"]["gzip"] = gzipped_size(path)
    if args.qat_epochs:
        rows["dense int8"] = int8_row(dense, args, xt, yt, xs, ys, os.path.join(folder, f"{kind}_dense_int8_{seed}"))

    # tfmot 0.8 wraps DepthwiseConv2D but prunes none of its weights (prune_registry maps it to []), while
    # prune_model prunes its kernel: where the model has one, ours also runs on tfmot's layer set.
    tfmot_layers = [layer.name for layer in dense.layers if type(layer).__name__ in ("Dense", "Conv2D")]
    prunable = [layer.name for layer in dense.layers if type(layer).__name__ in PRUNABLE]
    layer_names = tfmot_layers if tfmot_layers != prunable else None
    for target in TARGETS:
        schedule = dict(initial_sparsity=0.0, final_sparsity=target, begin_step=0, end_step=end_step, frequency=10)

        def fine_tune_pruned(file_stem, target=target, schedule=schedule, **prune_kwargs):
            """Prune `dense` with this target's schedule, fine-tune, strip; (plain model, its row)."""
            pruned = prune_model(dense, PolynomialDecay(**schedule), **prune_kwargs)
            compile_keras(pruned, args.prune_lr)
            pruned.fit(xt, yt, epochs=args.prune_epochs, batch_size=32, verbose=0)
            plain = strip_pruning(pruned)
            compile_keras(plain, args.prune_lr)
            path = float_tflite(plain, os.path.join(folder, f"{kind}_{file_stem}{target}_{seed}.tflite"))
            row = {
                "acc": plain.evaluate(xs, ys, verbose=0)[1],
                "gzip": gzipped_size(path),
                "sparsity": kernel_sparsity(plain),
            }
            return plain, row

        plain, rows[f"ours {target:.0%}"] = fine_tune_pruned("ours")
        if args.qat_epochs:
            rows[f"ours {target:.0%} int8"] = int8_row(
                plain, args, xt, yt, xs, ys, os.path.join(folder, f"{kind}_ours_int8_{target}_{seed}"), sparse=True
            )

        if layer_names is not None:  # the same fine-tune, pruning only the layers tfmot prunes
            _, rows[f"ours-tfmot-layers {target:.0%}"] = fine_tune_pruned("ours_tfmot_layers", layer_names=layer_names)

        twin = build(kind, tf_keras, args)
        twin.set_weights(dense.get_weights())
        theirs = tfmot.sparsity.keras.prune_low_magnitude(
            twin, pruning_schedule=tfmot.sparsity.keras.PolynomialDecay(**schedule)
        )
        theirs.compile(
            tf_keras.optimizers.Adam(args.prune_lr),
            tf_keras.losses.SparseCategoricalCrossentropy(from_logits=True),
            metrics=["accuracy"],
        )
        theirs.fit(
            xt,
            yt,
            epochs=args.prune_epochs,
            batch_size=32,
            verbose=0,
            callbacks=[tfmot.sparsity.keras.UpdatePruningStep()],
        )
        their_plain = tfmot.sparsity.keras.strip_pruning(theirs)
        converter = tf.lite.TFLiteConverter.from_keras_model(their_plain)
        path = os.path.join(folder, f"{kind}_tfmot{target}_{seed}.tflite")
        with open(path, "wb") as f:
            f.write(converter.convert())
        acc = float(np.mean(their_plain.predict(xs, verbose=0).argmax(1) == ys))
        rows[f"tfmot {target:.0%}"] = {"acc": acc, "gzip": gzipped_size(path), "sparsity": kernel_sparsity(their_plain)}
    return rows, len(ys)


def int8_row(model, args, xt, yt, xs, ys, stem, sparse=False):
    """`model` through QAT (prune-preserving when `sparse`) and int8 export: accuracy, gzip bytes, int8 zeros."""
    qat = quantize_model(model, QuantizationConfig(preserve_sparsity=True)) if sparse else quantize_model(model)
    compile_keras(qat, args.qat_lr)
    qat.fit(xt, yt, epochs=args.qat_epochs, batch_size=32, verbose=0)
    path = export_tflite(qat, f"{stem}.tflite")
    return {
        "acc": evaluate_tflite(path, xs, ys)["accuracy"],
        "gzip": gzipped_size(path),
        "zeros": int8_zero_fraction(path),
    }


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--models", nargs="+", choices=MODELS, default=list(MODELS))
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--prune-epochs", type=int, default=4)
    parser.add_argument("--prune-lr", type=float, default=1e-3)
    parser.add_argument("--qat-epochs", type=int, default=1, help="0 leaves the int8 (QAT) rows out")
    parser.add_argument("--qat-lr", type=float, default=1e-4)
    parser.add_argument("--alpha", type=float, default=0.35, help="MobileNetV2 width multiplier")
    args = parser.parse_args()
    if args.epochs < 1 or args.prune_epochs < 1 or args.qat_epochs < 0:
        parser.error(f"--epochs and --prune-epochs must be >= 1 and --qat-epochs >= 0; got {args}")
    print_header("benchmarks/pruning.py: magnitude pruning on digits, kerasplus vs dense / tfmot (tf_keras twin)")
    print(
        f"# models={args.models} seeds={args.seeds} epochs={args.epochs} prune_epochs={args.prune_epochs} "
        f"prune_lr={args.prune_lr} qat_epochs={args.qat_epochs} qat_lr={args.qat_lr} alpha={args.alpha} "
        "(mobilenetv2); medians over seeds"
    )
    folder = tempfile.mkdtemp()
    for kind in args.models:
        print(f"## model: {kind}")
        results = []
        for seed in args.seeds:  # each seed's figures as soon as they are in (a long run can be read part way)
            results.append(run(kind, seed, args, folder))
            rows = results[-1][0]
            print(
                f"# seed {seed}: "
                + "; ".join(
                    f"{n} acc {100 * r['acc']:.2f} gzip {r['gzip']}"
                    + (f" sparsity {r['sparsity']:.4f}" if "sparsity" in r else "")
                    for n, r in rows.items()
                )
            )
            sys.stdout.flush()
        report(results, args)


def report(results, args):
    print(f"# test samples: {results[0][1]} (one sample = {100 / results[0][1]:.2f} points)")

    def median(name, key):
        return statistics.median(r[0][name][key] for r in results)

    print(f"{'name':58s} {'ours':>10s} {'anchor':>10s} {'ratio':>7s}")

    def row(label, ours, anchor):
        print(f"{label:58s} {ours:10.3f} {anchor:10.3f} {ours / anchor:7.3f}")

    for target in TARGETS:
        t = f"{target:.0%}"
        row(f"test acc %: ours {t} / tfmot {t}", 100 * median(f"ours {t}", "acc"), 100 * median(f"tfmot {t}", "acc"))
        row(f"test acc %: ours {t} / dense", 100 * median(f"ours {t}", "acc"), 100 * median("dense", "acc"))
        row(f"gzip bytes float: ours {t} / tfmot {t}", median(f"ours {t}", "gzip"), median(f"tfmot {t}", "gzip"))
        row(f"gzip bytes float: ours {t} / dense", median(f"ours {t}", "gzip"), median("dense", "gzip"))
        if args.qat_epochs:
            row(
                f"test acc %: ours {t} int8 (PQAT) / dense int8 QAT",
                100 * median(f"ours {t} int8", "acc"),
                100 * median("dense int8", "acc"),
            )
            row(
                f"gzip bytes int8: ours {t} / dense int8",
                median(f"ours {t} int8", "gzip"),
                median("dense int8", "gzip"),
            )
        if f"ours-tfmot-layers {t}" in results[0][0]:
            name = f"ours-tfmot-layers {t}"
            row(
                f"test acc %: ours on tfmot's layers {t} / tfmot {t}",
                100 * median(name, "acc"),
                100 * median(f"tfmot {t}", "acc"),
            )
            row(
                f"gzip bytes float: ours on tfmot's layers {t} / tfmot {t}",
                median(name, "gzip"),
                median(f"tfmot {t}", "gzip"),
            )
            print(f"#   kernel sparsity achieved: ours on tfmot's layers {t}: {median(name, 'sparsity'):.4f}")
        print(
            f"#   kernel sparsity achieved: ours {t}: {median(f'ours {t}', 'sparsity'):.4f}, "
            f"tfmot {t}: {median(f'tfmot {t}', 'sparsity'):.4f}"
            + (f"; int8 weight zeros: ours {t}: {median(f'ours {t} int8', 'zeros'):.3f}" if args.qat_epochs else "")
        )
    print(f"# dense kernel sparsity: {median('dense', 'sparsity'):.4f}")
    if args.qat_epochs:
        print(f"# dense int8 weight zeros: {median('dense int8', 'zeros'):.3f}")


if __name__ == "__main__":
    main()
