"""Images per second of kerasplus's augmentation layers against Keras's own.

Each layer runs on a float32 batch (default 256x32x32x3) inside a
`tf.function`, with or without `jit_compile=True`, whichever is faster for that
layer (Keras's MixUp and CutMix sample Beta through TF's gamma op, which has no
XLA CPU kernel, so they only run as a plain `tf.function`; Keras's
RandomErasing compiles under XLA but runs ~15x slower there). The physical limit is a
one-pass memory-bound reference: ``x * c`` under XLA. Medians over repeats,
variants interleaved, all in this one process.

Run: python benchmarks/augmentation.py [--repeats 9] [--calls 30]
"""

import argparse
import os
import statistics
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
sys.path.insert(0, os.path.dirname(__file__))

import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402
from _header import print_header  # noqa: E402

import kerasplus  # noqa: E402


def compiled(fn, args, batch, calls):
    """The faster of fn under XLA and as a plain tf.function; returns (callable, mode)."""
    best = None
    for jit in (True, False):
        function = tf.function(fn, jit_compile=jit)
        try:
            function(*args)
        except Exception:  # noqa: BLE001 - e.g. no XLA kernel for an op
            continue
        rate = statistics.median(images_per_second(function, args, batch, calls) for _ in range(3))
        if best is None or rate > best[0]:
            best = (rate, function, "xla" if jit else "graph")
    if best is None:
        raise RuntimeError("could not compile")
    return best[1], best[2]


def images_per_second(function, args, batch, calls):
    start = time.perf_counter()
    for _ in range(calls):
        out = function(*args)
    _ = tf.nest.flatten(out)[0].shape  # results are materialised: eager CPU execution is synchronous
    return batch * calls / (time.perf_counter() - start)


def variants(batch, size):
    rng = np.random.default_rng(0)
    x = tf.constant(rng.random((batch, size, size, 3)).astype("float32"))
    y = tf.constant(np.eye(10, dtype="float32")[rng.integers(0, 10, batch)])
    ours_cutout = kerasplus.layers.Cutout(0.5, seed=0)
    ours_mixup = kerasplus.layers.Mixup(0.2, seed=0)
    ours_cutmix = kerasplus.layers.CutMix(1.0, seed=0)
    keras_erasing = keras.layers.RandomErasing(factor=1.0, scale=(0.25, 0.25), seed=0)
    keras_mixup = keras.layers.MixUp(alpha=0.2, seed=0)
    keras_cutmix = keras.layers.CutMix(factor=1.0, seed=0)
    return {
        "reference x*c": (lambda a: a * 1.0001, (x,)),
        "kerasplus Cutout": (lambda a: ours_cutout(a, training=True), (x,)),
        "keras RandomErasing": (lambda a: keras_erasing(a, training=True), (x,)),
        "kerasplus Mixup": (lambda a, b: ours_mixup((a, b), training=True), (x, y)),
        "keras MixUp": (lambda a, b: keras_mixup({"images": a, "labels": b}, training=True), (x, y)),
        "kerasplus CutMix": (lambda a, b: ours_cutmix((a, b), training=True), (x, y)),
        "keras CutMix": (lambda a, b: keras_cutmix({"images": a, "labels": b}, training=True), (x, y)),
    }


def measure(batch, size, repeats, calls):
    functions = {}
    for name, (fn, args) in variants(batch, size).items():
        function, mode = compiled(fn, args, batch, calls)
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
    args = parser.parse_args()
    print_header(f"augmentation: images/s on Bx{args.size}x{args.size}x3 float32")
    result = measure(256, args.size, args.repeats, args.calls)
    reference = result["reference x*c"][0]
    print(
        f"# batch 256, repeats={args.repeats}, calls={args.calls}; modes: "
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
    for batch in (64, 256, 1024):
        scaled = measure(batch, args.size, max(3, args.repeats // 3), args.calls)
        row = "  ".join(
            f"{k.split()[-1]}={scaled[k][0]:.0f}"
            for k in ("reference x*c", "kerasplus Cutout", "kerasplus Mixup", "kerasplus CutMix")
        )
        print(f"batch {batch:5d}: {row}")


if __name__ == "__main__":
    main()
