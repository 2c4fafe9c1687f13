"""Per-step cost and fixed cost of kerasplus callbacks on a real architecture.

MobileNetV2(alpha=0.5, weights=None) on 32x32x3 inputs (10 classes, made-up
data: nothing is downloaded), batch 64, Adam, all in this one process on one
model: after one warm-up `fit` (the bare train function is traced there), every
variant runs `--fits` fits of `--epochs` epochs, in an order rotated from
repeat to repeat:

  bare              no callbacks (the anchor)
  OneCycleLR, CyclicLR, WarmupLR, EarlyStopping, BackupAndRestore(save_freq=100),
  NaNGuard, FitDiagnostics
                    each kerasplus callback alone
  full stack        OneCycleLR + EarlyStopping + BackupAndRestore(save_freq=100)
                    + NaNGuard + FitDiagnostics

Rows:
  per step          steps/s over the epochs after the first of each fit, as a
                    ratio to bare fit's (median over fits of the ratio to the
                    bare fit of the same repeat); an epoch is timed from its
                    first on_train_batch_begin (see EpochTimer)
  traces            train-step traces in the variant's first fit / in its later
                    fits (Python code in `train_step` runs only while it is traced)
  first fit s       the extra seconds of the variant's first fit (from calling
                    `fit` to the last `on_train_end`) over its per-step time
                    (tracing, `on_train_begin`/`on_epoch_end` work, first saves)
  later fit s       the same for its later fits

Run: python benchmarks/real_architecture_overhead.py [--backend tensorflow] [--fits 3] [--epochs 3] [--steps 40]
"""

import argparse
import os
import shutil
import statistics
import sys
import tempfile
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
sys.path.insert(0, os.path.dirname(__file__))

import _backends  # noqa: E402

BACKEND = _backends.select_backend()

import keras  # noqa: E402
import numpy as np  # noqa: E402
from _header import print_header  # noqa: E402

import kerasplus  # noqa: E402

BATCH = 64
TRACES = []


class CountingModel(keras.Model):
    """The functional MobileNetV2, counting the traces of its train step.

    Counted in `compute_loss` (called once per trace of Keras's own train step,
    with ``training=True``), not by overriding `train_step`: the model keeps
    Keras's own step, as users' models do, and NaNGuard guards it as it guards
    theirs (a custom `train_step` takes its copy-and-restore path).
    """

    def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None, training=True):
        if training:
            TRACES.append(1)
        return super().compute_loss(x, y, y_pred, sample_weight, training=training)


def make_model():
    keras.utils.set_random_seed(0)
    net = keras.applications.MobileNetV2(input_shape=(32, 32, 3), alpha=0.5, weights=None, classes=10)
    model = CountingModel(net.inputs, net.outputs)
    model.compile(keras.optimizers.Adam(1e-3), keras.losses.SparseCategoricalCrossentropy())
    return model


class EpochTimer(keras.callbacks.Callback):
    """First in the callback list: each epoch from its first `on_train_batch_begin` to `on_epoch_end`.

    Not from `on_epoch_begin`: with numpy input on TensorFlow, Keras makes the
    epoch's `tf.data` iterator after `on_epoch_begin`, and deleting the previous
    one waits for its autotune thread's next wake-up (TF 2.21: up to tens of
    seconds, at 10·(2^k-1) ms marks), whatever the callbacks do.
    """

    def on_train_begin(self, logs=None):
        self.durations, self.gaps = [], []  # gaps: on_epoch_begin to the first on_train_batch_begin
        self._start = None

    def on_epoch_begin(self, epoch, logs=None):
        self._epoch_begin = time.perf_counter()

    def on_train_batch_begin(self, batch, logs=None):
        if self._start is None:
            self._start = time.perf_counter()
            self.gaps.append(self._start - self._epoch_begin)

    def on_epoch_end(self, epoch, logs=None):
        self.durations.append(time.perf_counter() - self._start)
        self._start = None


class EndMark(keras.callbacks.Callback):
    """Last in the callback list: when every callback's `on_train_end` has run (before fit's own teardown)."""

    def on_train_end(self, logs=None):
        self.time = time.perf_counter()


def variants(backup_dir):
    def backup():
        return kerasplus.callbacks.BackupAndRestore(backup_dir, save_freq=100)

    return {
        "bare": lambda: [],
        "OneCycleLR": lambda: [kerasplus.callbacks.OneCycleLR(max_lr=1e-3)],
        "CyclicLR": lambda: [kerasplus.callbacks.CyclicLR(base_lr=1e-4, max_lr=1e-3, step_size_up=20)],
        "WarmupLR": lambda: [kerasplus.callbacks.WarmupLR(warmup_steps=20)],
        "EarlyStopping": lambda: [kerasplus.callbacks.EarlyStopping(monitor="loss", patience=100)],
        "BackupAndRestore(100)": lambda: [backup()],
        "NaNGuard": lambda: [kerasplus.callbacks.NaNGuard()],
        "FitDiagnostics": lambda: [kerasplus.diagnostics.FitDiagnostics()],
        "full stack": lambda: [
            kerasplus.callbacks.OneCycleLR(max_lr=1e-3),
            kerasplus.callbacks.EarlyStopping(monitor="loss", patience=100),
            kerasplus.callbacks.NaNGuard(),
            backup(),
            kerasplus.diagnostics.FitDiagnostics(),
        ],
    }


def one_fit(model, x, y, callbacks, epochs, backup_dir):
    """(steps/s after the first epoch, traces, extra seconds of the whole fit over its per-step time, iterator swaps).

    The swaps: the gaps before the first batch of the epochs after the first
    (where the previous epoch's iterator is deleted, see EpochTimer), left out
    of the extra seconds.
    """
    timer, end = EpochTimer(), EndMark()
    before = len(TRACES)
    start = time.perf_counter()
    model.fit(x, y, batch_size=BATCH, epochs=epochs, verbose=0, shuffle=False, callbacks=[timer, *callbacks, end])
    total = end.time - start  # not the iterator teardown after on_train_end (see EpochTimer)
    shutil.rmtree(backup_dir, ignore_errors=True)
    steps = len(x) // BATCH
    per_step = sum(timer.durations[1:]) / (steps * (len(timer.durations) - 1))
    swaps = timer.gaps[1:]
    return 1.0 / per_step, len(TRACES) - before, total - sum(swaps) - per_step * steps * len(timer.durations), swaps


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--fits", type=int, default=3, help="fits per variant (the first one traces)")
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--steps", type=int, default=40, help="steps per epoch")
    parser.add_argument("--only", default="", help="comma-separated variants (default: all)")
    _backends.add_argument(parser)
    args = parser.parse_args()
    print_header(
        f"real_architecture_overhead [{BACKEND}]: MobileNetV2(alpha=0.5, weights=None) 32x32x3, batch {BATCH}, Adam"
    )
    rng = np.random.default_rng(0)
    x = rng.uniform(size=(args.steps * BATCH, 32, 32, 3)).astype("float32")
    y = rng.integers(0, 10, size=(args.steps * BATCH,)).astype("int32")
    backup_dir = os.path.join(tempfile.mkdtemp(prefix="kp-bench-"), "backup")
    table = variants(backup_dir)
    names = [n for n in table if not args.only or n in args.only.split(",") or n == "bare"]
    model = make_model()
    start = time.perf_counter()
    model.fit(x[: 2 * BATCH], y[: 2 * BATCH], batch_size=BATCH, epochs=1, verbose=0)  # traces the bare step
    print(f"# warm-up fit (traces the bare step): {time.perf_counter() - start:.1f} s, {len(TRACES)} traces")
    rates = {n: [] for n in names}
    traces = {n: [] for n in names}
    extra = {n: [] for n in names}
    gaps = []
    for r in range(args.fits):
        order = names[r % len(names) :] + names[: r % len(names)]
        for name in order:
            rate, traced, fixed, swaps = one_fit(model, x, y, table[name](), args.epochs, backup_dir)
            gaps.extend(swaps)
            rates[name].append(rate)
            traces[name].append(traced)
            extra[name].append(fixed)
    print(
        f"# backend={BACKEND} fits={args.fits} epochs={args.epochs} steps/epoch={args.steps}; "
        "ratio: median over repeats of steps/s / bare steps/s of the same repeat"
    )
    print(
        f"{'name':34s} {'ours':>8s} {'anchor':>8s} {'ratio':>6s} {'traces 1st/later':>17s} {'1st fit s':>9s} {'later s':>8s}"
    )
    for name in names:
        ratio = statistics.median(a / b for a, b in zip(rates[name], rates["bare"]))
        later = statistics.median(extra[name][1:]) if len(extra[name]) > 1 else float("nan")
        later_traces = "/".join(str(t) for t in traces[name][1:]) or "-"
        print(
            f"{'per step: ' + name + ' / bare':34s} {statistics.median(rates[name]):8.2f} "
            f"{statistics.median(rates['bare']):8.2f} {ratio:6.3f} {str(traces[name][0]) + ' / ' + later_traces:>17s} "
            f"{extra[name][0]:9.2f} {later:8.2f}"
        )
    print("# per-fit steps/s: " + "; ".join(f"{n}: " + ", ".join(f"{v:.2f}" for v in rates[n]) for n in names))
    if gaps:
        print(
            f"# on_epoch_begin -> first on_train_batch_begin, epochs after the first ({len(gaps)}): median "
            f"{statistics.median(gaps):.3f} s, max {max(gaps):.3f} s (the iterator swap; left out of every column)"
        )


if __name__ == "__main__":
    main()
