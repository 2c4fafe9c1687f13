"""Training speed with kerasplus LR callbacks vs a bare `fit`.

Variants, all in this one process, order rotated each repeat; each ratio is the
median over repeats of the ratio measured within one repeat:
  ours    OneCycleLR + WarmupLR + EarlyStopping (kerasplus's; Keras's until 2026-12-04)
  bare    no callbacks (the anchor)
  python  a per-batch callback that assigns the rate from Python (the common pattern)
  bare2   bare again: the "bare / bare" row is the noise floor of this run
  noop    three `keras.callbacks.Callback()` (as many as "ours"): what Keras's own
          dispatch of any three callbacks costs (each hook of each callback is a
          Python call per batch; on JAX the batch-end calls run on Keras's thread)

The process is pinned to one core (`--cpu`, default the last one; `--cpu -1`
leaves it unpinned): on these 2-core VMs the main thread, Keras's callback
thread and XLA's thread otherwise migrate between cores, and bare `fit` on JAX
measured 0.94x itself (bare / bare, 9 repeats of 16 epochs) unpinned, 0.999x pinned.

Rows:
  fit steps/s      per epoch after the first (tracing excluded for every variant)
  train step us    `model.train_function` called directly: the compiled step
                   alone, with our in-graph schedules installed vs without

TensorFlow runs with one intra-op and one inter-op thread: the machines here are
shared 2-core boxes and single-threaded runs are far less noisy; the ratio is
what matters. Likewise torch gets one intra- and one inter-op thread, and JAX's
XLA CPU client single-threaded Eigen with one intra-op thread (XLA_FLAGS).

`--backend jax` (or torch) runs the same rows on that Keras backend; `--backend all`
(or a comma-separated list) re-runs this script once per backend in a subprocess
and prints one table each. On JAX and torch the "train step" row calls the
model's `train_function` on one fixed batch (JAX: threading the state through
it, as `fit` does); on TensorFlow it reads a repeating `tf.data` iterator.

Run: python benchmarks/callback_overhead.py [--repeats 15] [--epochs 8] [--backend all]
"""

import argparse
import itertools
import os
import statistics
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
sys.path.insert(0, os.path.dirname(__file__))

import _backends  # noqa: E402

BACKEND = _backends.select_backend(single_thread_jax=True)
PINNED = _backends.pin_to_cpu()  # before any import starts a thread: threads inherit it

import _digits_mlp  # noqa: E402
import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402
from _digits_mlp import BATCH, make_data, make_model, steps_per_epoch  # noqa: E402
from _header import print_header  # noqa: E402

import kerasplus  # noqa: E402
from kerasplus.schedules import one_cycle  # noqa: E402


class PythonAssignLR(keras.callbacks.Callback):
    """The pattern we replace: compute the rate in Python and assign it per batch."""

    def __init__(self, max_lr, total_steps):
        super().__init__()
        self.rates = keras.ops.convert_to_numpy(
            one_cycle(np.arange(total_steps + 1), max_lr=max_lr, total_steps=total_steps)
        )
        self.step = 0

    def on_train_batch_begin(self, batch, logs=None):
        self.model.optimizer.learning_rate.assign(float(self.rates[min(self.step, len(self.rates) - 1)]))
        self.step += 1


def callbacks_for(variant, steps, epochs):
    return {
        "ours": [
            kerasplus.callbacks.OneCycleLR(max_lr=0.1),
            kerasplus.callbacks.WarmupLR(warmup_steps=steps),
            kerasplus.callbacks.EarlyStopping(monitor="loss", patience=100),
        ],
        "bare": [],
        "bare2": [],
        "noop": [keras.callbacks.Callback() for _ in range(3)],
        "python": [PythonAssignLR(0.1, epochs * steps)],
    }[variant]


def fit_steps_per_second(variant, x, y, epochs):
    return _digits_mlp.fit_steps_per_second(x, y, callbacks_for(variant, steps_per_epoch(x), epochs), epochs)


class KeepInstalled(keras.callbacks.Callback):
    """Ends fit early, leaving the schedules the callbacks before it installed."""

    def on_epoch_begin(self, epoch, logs=None):
        self.model.stop_training = True
        self.model.kept_train_function = None

    def on_train_batch_end(self, batch, logs=None):
        self.model.kept_train_function = self.model.train_function


def compiled_step_models(x, y):
    """One model per variant whose train_function has (or lacks) our schedules traced in."""
    models = {}
    for variant in ("ours", "bare"):
        model = make_model()
        steps = steps_per_epoch(x)
        model.fit(
            x,
            y,
            batch_size=BATCH,
            epochs=10,
            verbose=0,
            callbacks=callbacks_for(variant, steps, 10) + [KeepInstalled()],
        )
        models[variant] = model
    return models


def time_compiled_step(model, iterator, calls=200):
    function = model.kept_train_function
    if BACKEND == "jax":
        return _time_jax_step(model, function, iterator, calls)
    start = time.perf_counter()
    for _ in range(calls):
        function(iterator)
    return (time.perf_counter() - start) / calls * 1e6


_JAX_STATES = {}


def _time_jax_step(model, function, data, calls):
    import jax

    state = _JAX_STATES.get(id(model))
    if state is None:
        state = model._get_jax_state(
            trainable_variables=True,
            non_trainable_variables=True,
            optimizer_variables=True,
            metrics_variables=True,
            purge_model_variables=False,
        )
    start = time.perf_counter()
    for _ in range(calls):
        logs, state = function(state, data)
    jax.block_until_ready((logs, state))
    elapsed = time.perf_counter() - start
    _JAX_STATES[id(model)] = state  # the step donates its input state: keep the newest (not on the model: tracked)
    return elapsed / calls * 1e6


def step_inputs(x, y):
    """What `train_function` is called with: a repeating tf.data iterator (TF), else one fixed batch."""
    if BACKEND == "tensorflow":
        return iter(tf.data.Dataset.from_tensor_slices((x, y)).batch(BATCH, drop_remainder=True).repeat())
    batch = (keras.ops.convert_to_tensor(x[:BATCH]), keras.ops.convert_to_tensor(y[:BATCH]))
    return itertools.repeat(batch) if BACKEND == "jax" else [batch]  # JAX calls next(); torch reads data[0]


def limit_threads():
    if BACKEND == "tensorflow":
        tf.config.threading.set_intra_op_parallelism_threads(1)
        tf.config.threading.set_inter_op_parallelism_threads(1)
        return "TF threads 1+1"
    if BACKEND == "torch":
        import torch

        torch.set_num_threads(1)
        torch.set_num_interop_threads(1)
        return "torch threads 1+1"
    return "XLA CPU single-threaded"


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeats", type=int, default=15)
    parser.add_argument("--epochs", type=int, default=8)
    parser.add_argument("--step-calls", type=int, default=200, help="train_function calls per timing")
    _backends.add_cpu_argument(parser)
    _backends.add_argument(parser)
    args = parser.parse_args()
    threads = limit_threads()
    print_header(
        f"callback_overhead [{BACKEND}]: small MLP (64-64-64-10) on digits, batch 32, steps_per_execution=1, {threads}, "
        + (f"pinned to CPU {PINNED}" if PINNED is not None else "not pinned")
    )
    x, y = make_data()
    variants = ["ours", "bare", "python", "bare2", "noop"]
    fit_rates = {v: [] for v in variants}
    fit_steps_per_second("bare", x, y, 2)  # warm up TensorFlow
    models = compiled_step_models(x, y)
    iterators = {v: step_inputs(x, y) for v in models}
    step_us = {v: [] for v in models}
    for r in range(args.repeats):
        for variant in variants[r % len(variants) :] + variants[: r % len(variants)]:
            fit_rates[variant].append(fit_steps_per_second(variant, x, y, args.epochs))
        for variant in ("ours", "bare") if r % 2 else ("bare", "ours"):
            step_us[variant].append(time_compiled_step(models[variant], iterators[variant], args.step_calls))
    fit = {v: statistics.median(fit_rates[v]) for v in variants}
    step = {v: statistics.median(1e6 / np.asarray(step_us[v])) for v in step_us}

    def paired(a, b):
        # Median over repeats of the ratio within one repeat: slow drifts of a
        # shared machine cancel, which medians of each side alone do not do.
        return statistics.median(x / y for x, y in zip(a, b))

    step_rates = {v: 1e6 / np.asarray(step_us[v]) for v in step_us}
    print(
        f"# backend={BACKEND} repeats={args.repeats} epochs={args.epochs} step calls={args.step_calls}; "
        "ours/anchor are medians, ratio is the median of per-repeat ratios"
    )
    print(f"{'name':52s} {'ours':>9s} {'anchor':>9s} {'ratio':>7s}")
    pairs = [
        ("fit steps/s: kerasplus callbacks / bare fit", fit_rates, "ours", "bare"),
        ("fit steps/s: per-batch Python assign / bare fit", fit_rates, "python", "bare"),
        ("fit steps/s: kerasplus / per-batch Python assign", fit_rates, "ours", "python"),
        ("fit steps/s: 3 no-op Keras callbacks / bare fit", fit_rates, "noop", "bare"),
        ("fit steps/s: kerasplus / 3 no-op Keras callbacks", fit_rates, "ours", "noop"),
        ("fit steps/s: bare / bare (noise floor)", fit_rates, "bare2", "bare"),
        ("train step steps/s: kerasplus / bare", step_rates, "ours", "bare"),
    ]
    medians = {id(fit_rates): fit, id(step_rates): step}
    rows = [
        (name, medians[id(rates)][a], medians[id(rates)][b], paired(rates[a], rates[b])) for name, rates, a, b in pairs
    ]
    for name, ours, anchor, ratio in rows:
        print(f"{name:52s} {ours:9.1f} {anchor:9.1f} {ratio:7.3f}")


if __name__ == "__main__":
    main()
