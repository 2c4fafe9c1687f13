"""Training speed with FitDiagnostics vs a bare `fit`.

Variants, all in this one process, order rotated each repeat; each ratio is the
median over repeats of the ratio measured within one repeat:
  bare       no callbacks (the anchor)
  verdicts   FitDiagnostics() without a held batch: per-epoch verdict only
  probes     FitDiagnostics(held_batch=256 examples, gradient_every=100):
             gradient norms every 100 batches + dead-ReLU share each epoch
  every10    the same with gradient_every=10 (a dense sampling)

Rows: fit steps/s per epoch after the first (tracing excluded); the cost of one
gradient probe (forward + backward on the held batch, outside the step, traced)
in ms against one train step; and the share of a whole 20-epoch fit's wall
time spent inside FitDiagnostics's own hooks (measured inside the process, so
far less sensitive to a busy machine than the steps/s ratios).

TensorFlow runs with one intra-op and one inter-op thread, as in
callback_overhead.py: the machines here are shared 2-core boxes.

Run: python benchmarks/diagnostics_overhead.py [--repeats 9] [--epochs 6] [--long-epochs 20]
"""

import argparse
import os
import statistics
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
sys.path.insert(0, os.path.dirname(__file__))

import _digits_mlp  # noqa: E402
import tensorflow as tf  # noqa: E402
from _digits_mlp import BATCH, make_data, make_model  # noqa: E402
from _header import print_header  # noqa: E402

from kerasplus.diagnostics import FitDiagnostics, _probes  # noqa: E402


class TimedDiagnostics(FitDiagnostics):
    """FitDiagnostics that adds up the wall time spent in its own hooks."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.seconds = 0.0

    def _timed(name):  # noqa: N805 - a decorator factory used in the class body
        def hook(self, *args, **kwargs):
            start = time.perf_counter()
            getattr(FitDiagnostics, name)(self, *args, **kwargs)
            self.seconds += time.perf_counter() - start

        return hook

    on_train_begin = _timed("on_train_begin")
    on_train_batch_end = _timed("on_train_batch_end")
    on_epoch_end = _timed("on_epoch_end")


def share_in_callback(x, y, held, epochs, gradient_every):
    """Seconds inside FitDiagnostics's hooks / seconds of the whole fit."""
    model = make_model()
    diagnostics = TimedDiagnostics(held_batch=held, gradient_every=gradient_every)
    start = time.perf_counter()
    model.fit(x, y, batch_size=BATCH, epochs=epochs, verbose=0, callbacks=[diagnostics])
    return diagnostics.seconds / (time.perf_counter() - start)


def callbacks_for(variant, held):
    return {
        "bare": [],
        "verdicts": [FitDiagnostics()],
        "probes": [FitDiagnostics(held_batch=held, gradient_every=100)],
        "every10": [FitDiagnostics(held_batch=held, gradient_every=10)],
    }[variant]


def fit_steps_per_second(variant, x, y, held, epochs):
    return _digits_mlp.fit_steps_per_second(x, y, callbacks_for(variant, held), epochs)


def probe_ms(x, y, calls=50):
    model = make_model()
    probe = _probes.GradientProbe(model, _probes.weighted_layers(model))
    for _ in range(_probes.EAGER_CALLS + 2):  # eager calls, then the one that traces
        probe(x, y)
    start = time.perf_counter()
    for _ in range(calls):
        probe(x, y)
    return (time.perf_counter() - start) / calls * 1e3


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeats", type=int, default=9)
    parser.add_argument("--epochs", type=int, default=6)
    parser.add_argument("--long-epochs", type=int, default=20)
    args = parser.parse_args()
    tf.config.threading.set_intra_op_parallelism_threads(1)
    tf.config.threading.set_inter_op_parallelism_threads(1)
    print_header("diagnostics_overhead: MLP 64-64-64-10 on digits, batch 32, held batch 256, TF threads 1+1")
    x, y = make_data()
    held = (x[:256], y[:256])
    variants = ["bare", "verdicts", "probes", "every10"]
    rates = {v: [] for v in variants}
    fit_steps_per_second("bare", x, y, held, 2)  # warm up TensorFlow
    for r in range(args.repeats):
        for variant in variants[r % 4 :] + variants[: r % 4]:
            rates[variant].append(fit_steps_per_second(variant, x, y, held, args.epochs))
    one_probe = statistics.median(probe_ms(*held) for _ in range(3))
    shares = {
        every: statistics.median(share_in_callback(x, y, held, args.long_epochs, every) for _ in range(3))
        for every in (100, 10)
    }

    def paired(a, b):
        return statistics.median(p / q for p, q in zip(a, b))

    print(
        f"# repeats={args.repeats} epochs={args.epochs} steps/epoch={_digits_mlp.steps_per_epoch(x)}; "
        "ours/anchor are medians, ratio is the median of per-repeat ratios"
    )
    print(f"{'name':52s} {'ours':>9s} {'anchor':>9s} {'ratio':>7s}")
    median = {v: statistics.median(rates[v]) for v in variants}
    for variant, label in (
        ("verdicts", "fit steps/s: verdicts only / bare"),
        ("probes", "fit steps/s: gradient_every=100 / bare"),
        ("every10", "fit steps/s: gradient_every=10 / bare"),
    ):
        print(f"{label:52s} {median[variant]:9.1f} {median['bare']:9.1f} {paired(rates[variant], rates['bare']):7.3f}")
    step_ms = 1e3 / median["bare"]
    print(
        f"{'one gradient probe ms / one train step ms':52s} {one_probe:9.2f} {step_ms:9.2f} {one_probe / step_ms:7.2f}"
    )
    for every, share in shares.items():
        label = f"time in FitDiagnostics / fit, every={every}, {args.long_epochs} ep"
        print(f"{label:52s} {'':9s} {'':9s} {share:7.3f}")


if __name__ == "__main__":
    main()
