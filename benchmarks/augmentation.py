"""Images per second of kerasplus's augmentation layers against Keras's own.

Each layer runs on a float32 batch (default 256x32x32x3) inside a
`tf.function`, with or without `jit_compile=True`, whichever is faster for that
layer (Keras's MixUp and CutMix sample Beta through TF's gamma op, which has no
XLA CPU kernel, so they only run as a plain `tf.function`; Keras's
RandomErasing compiles under XLA but runs ~15x slower there). The physical limit is a
one-pass memory-bound reference: ``x * c`` under XLA. Medians over repeats,
variants interleaved, all in this one process.

`--backend jax` (or torch) measures the same rows on that Keras backend, all in
that one process; `--backend all` (or a comma-separated list) re-runs the script
once per backend in a subprocess. There the counterpart of the two TF modes is
"jit" (`jax.jit`, the layers' seed state threaded through a
`keras.StatelessScope`, as Keras's JAX trainer does) against "eager"; torch runs
eagerly only (what Keras's torch trainer does by default). Keras's preprocessing
layers are called on that backend's tensors the same way as ours.

Run: python benchmarks/augmentation.py [--repeats 9] [--calls 30] [--backend all]
"""

import argparse
import os
import statistics
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
sys.path.insert(0, os.path.dirname(__file__))

import _backends  # noqa: E402

BACKEND = _backends.select_backend()

import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402
from _header import print_header  # noqa: E402

import kerasplus  # noqa: E402


def candidates(fn, layer):
    """(mode, callable) pairs to try on this backend."""
    if BACKEND == "tensorflow":
        return [("xla", tf.function(fn, jit_compile=True)), ("graph", tf.function(fn, jit_compile=False))]
    if BACKEND == "jax":
        return [("jit", jax_jit(fn, layer)), ("eager", fn)]
    return [("eager", fn)]


def jax_jit(fn, layer):
    """fn under jax.jit with the layer's variables (its seed state) passed in and out."""
    import jax

    variables = list(layer.variables) if layer is not None else []

    def pure(values, *args):
        with keras.StatelessScope(state_mapping=list(zip(variables, values))) as scope:
            out = fn(*args)
        return out, [scope.get_current_value(v) for v in variables]

    jitted = jax.jit(pure)

    def call(*args):
        out, values = jitted([v.value for v in variables], *args)
        for variable, value in zip(variables, values):
            variable.assign(value)
        return out

    return call


def compiled(fn, args, batch, calls, layer=None):
    """The faster of fn's modes on this backend (TF: XLA or a plain tf.function); returns (callable, mode)."""
    best = None
    for mode, function in candidates(fn, layer):
        try:
            function(*args)
            function(*args)
        except Exception:  # noqa: BLE001 - e.g. no XLA kernel for an op
            continue
        rate = statistics.median(images_per_second(function, args, batch, calls) for _ in range(3))
        if best is None or rate > best[0]:
            best = (rate, function, mode)
    if best is None:
        raise RuntimeError("could not compile")
    return best[1], best[2]


def images_per_second(function, args, batch, calls):
    start = time.perf_counter()
    for _ in range(calls):
        out = function(*args)
    if BACKEND == "jax":
        import jax

        jax.block_until_ready(out)  # JAX dispatches asynchronously
    else:
        _ = keras.tree.flatten(out)[0].shape  # results are materialised: eager CPU execution is synchronous
    return batch * calls / (time.perf_counter() - start)


def variants(batch, size):
    rng = np.random.default_rng(0)
    x = keras.ops.convert_to_tensor(rng.random((batch, size, size, 3)).astype("float32"))
    y = keras.ops.convert_to_tensor(np.eye(10, dtype="float32")[rng.integers(0, 10, batch)])
    ours_cutout = kerasplus.layers.Cutout(0.5, seed=0)
    ours_mixup = kerasplus.layers.Mixup(0.2, seed=0)
    ours_cutmix = kerasplus.layers.CutMix(1.0, seed=0)
    keras_erasing = keras.layers.RandomErasing(factor=1.0, scale=(0.25, 0.25), seed=0)
    keras_mixup = keras.layers.MixUp(alpha=0.2, seed=0)
    keras_cutmix = keras.layers.CutMix(factor=1.0, seed=0)
    return {
        "reference x*c": (lambda a: a * 1.0001, (x,), None),
        "kerasplus Cutout": (lambda a: ours_cutout(a, training=True), (x,), ours_cutout),
        "keras RandomErasing": (lambda a: keras_erasing(a, training=True), (x,), keras_erasing),
        "kerasplus Mixup": (lambda a, b: ours_mixup((a, b), training=True), (x, y), ours_mixup),
        "keras MixUp": (lambda a, b: keras_mixup({"images": a, "labels": b}, training=True), (x, y), keras_mixup),
        "kerasplus CutMix": (lambda a, b: ours_cutmix((a, b), training=True), (x, y), ours_cutmix),
        "keras CutMix": (
            lambda a, b: keras_cutmix({"images": a, "labels": b}, training=True),
            (x, y),
            keras_cutmix,
        ),
    }


def measure(batch, size, repeats, calls):
    functions = {}
    for name, (fn, args, layer) in variants(batch, size).items():
        function, mode = compiled(fn, args, batch, calls, layer)
        functions[name] = (function, args, mode)
    rates = {name: [] for name in functions}
    names = list(functions)
    for r in range(repeats):
        for name in names[r % len(names) :] + names[: r % len(names)]:
            function, args, _ = functions[name]
            rates[name].append(images_per_second(function, args, batch, calls))
    return {name: (statistics.median(rates[name]), functions[name][2]) for name in names}


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeats", type=int, default=9)
    parser.add_argument("--calls", type=int, default=30)
    parser.add_argument("--size", type=int, default=32)
    parser.add_argument("--batches", type=int, nargs="*", default=[64, 256, 1024], help="batch-size scaling rows")
    _backends.add_argument(parser)
    args = parser.parse_args()
    print_header(f"augmentation [{BACKEND}]: images/s on Bx{args.size}x{args.size}x3 float32")
    result = measure(256, args.size, args.repeats, args.calls)
    reference = result["reference x*c"][0]
    print(
        f"# backend={BACKEND} batch 256, repeats={args.repeats}, calls={args.calls}; modes: "
        + ", ".join(f"{k}={m}" for k, (_, m) in result.items())
    )
    print(f"{'name':44s} {'ours':>10s} {'anchor':>10s} {'ratio':>7s}")
    for ours, theirs in (("Cutout", "RandomErasing"), ("Mixup", "MixUp"), ("CutMix", "CutMix")):
        a, b = result[f"kerasplus {ours}"][0], result[f"keras {theirs}"][0]
        print(f"{f'{ours} / keras {theirs}':44s} {a:10.0f} {b:10.0f} {a / b:7.2f}")
    for ours in ("Cutout", "Mixup", "CutMix"):
        a = result[f"kerasplus {ours}"][0]
        print(f"{f'{ours} / one-pass reference x*c':44s} {a:10.0f} {reference:10.0f} {a / reference:7.2f}")
    print("# batch-size scaling, images/s (kerasplus layers and the reference)")
    for batch in args.batches:
        scaled = measure(batch, args.size, max(3, args.repeats // 3), args.calls)
        row = "  ".join(
            f"{k.split()[-1]}={scaled[k][0]:.0f}"
            for k in ("reference x*c", "kerasplus Cutout", "kerasplus Mixup", "kerasplus CutMix")
        )
        print(f"batch {batch:5d}: {row}")


if __name__ == "__main__":
    main()
