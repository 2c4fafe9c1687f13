"""Runs every public kerasplus component on the backend of this process; prints JSON.

Started once per backend by `tests/backends/test_matrix.py` (``KERAS_BACKEND`` set
in the environment). Each component returns plain values that do not depend on
the backend's random-number streams (fixed weights, fixed batches, or invariants
of a random draw), so the test can compare JAX's and PyTorch's with TensorFlow's.
A component that cannot run on a backend must refuse at construction with a
`NotImplementedError` naming the backend; it is then recorded as ``refused``.
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
import time
import traceback
import warnings
from dataclasses import dataclass

import keras
import numpy as np
from keras import ops

import kerasplus
from tests.helpers import applied_rates, rate_probe, sum_loss

BACKEND = keras.backend.backend()


@dataclass
class Component:
    name: str
    run: object
    rtol: float = 1e-5
    atol: float = 1e-6


COMPONENTS: list[Component] = []


def component(name, rtol=1e-5, atol=1e-6):
    def register(function):
        COMPONENTS.append(Component(name, function, rtol, atol))
        return function

    return register


def numbers(x):
    return np.asarray(ops.convert_to_numpy(x), dtype="float64").round(10).tolist()


def fixed_weights(model, seed=0, scale=0.5):
    rng = np.random.default_rng(seed)
    model.set_weights([(rng.normal(size=w.shape) * scale).astype(w.dtype) for w in model.get_weights()])
    return model


def mlp(inputs=8, units=(8,), outputs=3, seed=0, activation="relu"):
    model = keras.Sequential(
        [keras.Input((inputs,))]
        + [keras.layers.Dense(u, activation=activation) for u in units]
        + [keras.layers.Dense(outputs)]
    )
    return fixed_weights(model, seed)


def batch(n=32, inputs=8, classes=3, seed=0):
    rng = np.random.default_rng(seed)
    return rng.normal(size=(n, inputs)).astype("float32"), rng.integers(0, classes, size=n)


STEPS = np.arange(40)

# ----------------------------------------------------------------- schedules


@component("schedules.OneCycle")
def _():
    return numbers(kerasplus.schedules.OneCycle(0.1, 30)(STEPS))


@component("schedules.OneCycleMomentum")
def _():
    return numbers(kerasplus.schedules.OneCycleMomentum(30)(STEPS))


@component("schedules.one_cycle/one_cycle_momentum")
def _():
    s = kerasplus.schedules
    return [
        numbers(s.one_cycle(STEPS, max_lr=0.1, total_steps=30)),
        numbers(s.one_cycle_momentum(STEPS, total_steps=30)),
    ]


@component("schedules.CyclicLR/cyclic")
def _():
    s = kerasplus.schedules
    return [
        numbers(s.CyclicLR(0.01, 0.1, 4, mode="exp_range", gamma=0.9)(STEPS)),
        numbers(s.cyclic(STEPS, base_lr=0.01, max_lr=0.1, step_size_up=5, mode="triangular2")),
    ]


@component("schedules.Warmup/warmup")
def _():
    s = kerasplus.schedules
    return [
        numbers(s.Warmup(s.OneCycle(0.1, 30), 10, shape="cos")(STEPS)),
        numbers(s.warmup(STEPS, 0.1, warmup_steps=8)),
    ]


@component("schedules.ExponentialSweep")
def _():
    return numbers(kerasplus.schedules.ExponentialSweep(1e-4, 1.0, 30)(STEPS))


@component("schedules.FiniteHorizonSchedule")
def _():
    """The tabulated lookup holds its ends: steps before 0, past the horizon and past the padded table (64).

    Step 30 = total_steps extrapolates the last phase one step, as torch does (see `one_cycle`).
    """
    schedule = kerasplus.schedules.OneCycle(0.1, 30)
    steps = [-3, 0, 1, 29, 30, 31, 63, 64, 1000]
    vector = numbers(schedule(np.asarray(steps, "int32")))
    scalars = [numbers(schedule(np.int32(k))) for k in steps]
    if BACKEND == "jax":
        import jax

        traced = [numbers(jax.jit(schedule)(np.int32(k))) for k in steps]
    elif BACKEND == "tensorflow":
        import tensorflow as tf

        traced = [numbers(tf.function(schedule, jit_compile=True)(tf.constant(k, "int32"))) for k in steps]
    else:
        traced = scalars
    assert vector == scalars == traced, (vector, scalars, traced)
    assert vector[0] == vector[1] and vector[5] == vector[6] == vector[7] == vector[8] == vector[3], vector
    return [isinstance(schedule, kerasplus.schedules.FiniteHorizonSchedule), int(schedule.horizon), vector]


# ----------------------------------------------------------------- callbacks


def fit_rates(callback, steps=16, **compile_kwargs):
    model, x, y = rate_probe(steps, **compile_kwargs)
    model.fit(x, y, batch_size=1, shuffle=False, verbose=0, callbacks=[callback])
    return numbers(applied_rates(model))


def scalar_fit(optimizer, callback, steps=16, **compile_kwargs):
    """A one-weight model fed gradient g_k at step k; returns the final weight."""
    gradients = np.random.default_rng(0).uniform(0.5, 2.0, size=(steps, 1)).astype("float32")
    model = keras.Sequential([keras.Input((1,)), keras.layers.Dense(1, use_bias=False, kernel_initializer="zeros")])
    model.compile(optimizer, loss=sum_loss, **compile_kwargs)
    model.fit(gradients, np.zeros_like(gradients), batch_size=1, shuffle=False, verbose=0, callbacks=[callback])
    return float(model.get_weights()[0][0, 0]), gradients[:, 0].astype("float64")


def sgd_by_hand(gradients, rates, momenta):
    w, m = 0.0, 0.0
    for g, lr, mu in zip(gradients, rates, momenta):
        m = mu * m - lr * g
        w = w + m
    return w


def adam_by_hand(gradients, rates, beta_1s, beta_2=0.999, epsilon=1e-7):
    w, m, v = 0.0, 0.0, 0.0
    for t, (g, lr, b1) in enumerate(zip(gradients, rates, beta_1s), start=1):
        m = m + (g - m) * (1 - b1)
        v = v + (g * g - v) * (1 - beta_2)
        w = w - lr * np.sqrt(1 - beta_2**t) / (1 - b1**t) * m / (np.sqrt(v) + epsilon)
    return w


# torch.compile (jit_compile=True on PyTorch) costs minutes here; the PyTorch backend runs its
# steps eagerly, one per execution (Keras requires steps_per_execution=1 there).
JIT = dict(jit_compile=True, steps_per_execution=8) if BACKEND != "torch" else {}


@component("callbacks.OneCycleLR (rate; jit and steps_per_execution=8 off torch)")
def _():
    return fit_rates(kerasplus.callbacks.OneCycleLR(0.2, cycle_momentum=False), 24, **JIT)


@component("callbacks.OneCycleLR (momentum and beta_1, by hand)")
def _():
    """The default cycle_momentum=True changes the update the compiled step applies."""
    steps = 16
    s = kerasplus.schedules
    rates = numbers(s.one_cycle(np.arange(steps), max_lr=0.05, total_steps=steps))
    momenta = numbers(s.one_cycle_momentum(np.arange(steps), total_steps=steps, base_momentum=0.6, max_momentum=0.95))
    out = {}
    for name, make, by_hand in (
        ("sgd", lambda: keras.optimizers.SGD(0.01, momentum=0.9), sgd_by_hand),
        ("adam", lambda: keras.optimizers.Adam(0.01, beta_1=0.9), adam_by_hand),
    ):
        for jit in (False, True) if BACKEND != "torch" else (False,):
            callback = kerasplus.callbacks.OneCycleLR(max_lr=0.05, base_momentum=0.6, max_momentum=0.95)
            weight, gradients = scalar_fit(make(), callback, steps, **(JIT if jit else {}))
            expected, fixed = by_hand(gradients, rates, momenta), by_hand(gradients, rates, [0.9] * steps)
            assert abs(expected - fixed) > 1e-3 * abs(fixed), "the check could not tell cycled from fixed"
            assert abs(weight - expected) <= 1e-5 * abs(expected), (name, jit, weight, expected, fixed)
            out[f"{name}{'_jit' if jit else ''}"] = weight
    return out


class CountingTraces(keras.Sequential):
    traces = 0

    def train_step(self, *args):  # (data), or (state, data) on JAX
        type(self).traces += 1  # Python in a compiled step runs only while it is traced
        return super().train_step(*args)


@component("callbacks: a later fit reuses the traced step and follows its own curve (OneCycleLR + WarmupLR + NaNGuard)")
def _():
    """Off PyTorch (whose step is eager) a second fit with equal callbacks traces nothing new; the
    weights after three fits match SGD with each fit's rates set from Python before each step."""
    x = np.random.default_rng(0).normal(size=(16, 4)).astype("float32")
    y = x @ np.array([[1.0], [-2.0], [0.5], [3.0]], "float32")
    model = CountingTraces([keras.Input((4,)), keras.layers.Dense(1, use_bias=False, kernel_initializer="zeros")])
    model.compile(keras.optimizers.SGD(0.05), "mse", **JIT)
    reference = keras.Sequential([keras.Input((4,)), keras.layers.Dense(1, use_bias=False, kernel_initializer="zeros")])
    reference.compile(keras.optimizers.SGD(0.05), "mse")
    traces = []
    for _ in range(3):
        callbacks = [
            kerasplus.callbacks.OneCycleLR(max_lr=0.1, cycle_momentum=False),
            kerasplus.callbacks.WarmupLR(warmup_steps=3),
            kerasplus.callbacks.NaNGuard(),
        ]
        model.fit(x, y, batch_size=4, epochs=2, shuffle=False, verbose=0, callbacks=callbacks)
        traces.append(CountingTraces.traces)
        rates = kerasplus.schedules.Warmup(kerasplus.schedules.OneCycle(0.1, 8), 3)(np.arange(8))
        for k, rate in enumerate(numbers(rates)):
            reference.optimizer.learning_rate.assign(rate)
            reference.train_on_batch(x[4 * (k % 4) : 4 * (k % 4) + 4], y[4 * (k % 4) : 4 * (k % 4) + 4])
    out = {"kernel": numbers(model.get_weights()[0]), "reference": numbers(reference.get_weights()[0])}
    np.testing.assert_allclose(out["kernel"], out["reference"], rtol=1e-5, atol=1e-6)
    if BACKEND != "torch":
        out["later_fits_traced_nothing"] = traces[0] > 0 and traces[2] == traces[1] == traces[0]
        assert out["later_fits_traced_nothing"], f"train_step traces after each fit: {traces}"
    return out


@component("private-API canaries (kerasplus._internals) on this backend")
def _():
    from kerasplus._internals import registry

    failed = []
    for name, entry in sorted(registry.ENTRIES.items()):
        try:
            entry.canary()
        except Exception as error:  # noqa: BLE001 - every failing canary is named
            failed.append(f"{name}: {type(error).__name__}: {error}")
    assert not failed, "\n".join(failed)
    return {"all_pass": True}


OPTIMIZERS = {
    "SGD": lambda rate: keras.optimizers.SGD(rate, momentum=0.9),
    "SGD_nesterov": lambda rate: keras.optimizers.SGD(rate, momentum=0.9, nesterov=True),
    "Adam": lambda rate: keras.optimizers.Adam(rate),
    "AdamW": lambda rate: keras.optimizers.AdamW(rate, weight_decay=0.1),
    "Adamax": lambda rate: keras.optimizers.Adamax(rate),
    "Nadam": lambda rate: keras.optimizers.Nadam(rate),
    "RMSprop": lambda rate: keras.optimizers.RMSprop(rate, momentum=0.5),
    "Adagrad": lambda rate: keras.optimizers.Adagrad(rate),
    "Adadelta": lambda rate: keras.optimizers.Adadelta(rate),
    "Lion": lambda rate: keras.optimizers.Lion(rate),
    "Lamb": lambda rate: keras.optimizers.Lamb(rate),
    "Ftrl": lambda rate: keras.optimizers.Ftrl(rate),
    "Adafactor": lambda rate: keras.optimizers.Adafactor(rate),
    "Adam_ema": lambda rate: keras.optimizers.Adam(rate, use_ema=True, ema_overwrite_frequency=5),
}


@component("callbacks.OneCycleLR on every Keras optimizer = the same curve compiled in as its schedule")
def _():
    """What the callback installs (on eager PyTorch a host table of Python floats) trains as the schedule does."""
    steps = 12
    x, y = batch(n=steps * 4)
    out = {}
    for name, make in OPTIMIZERS.items():
        weights = []
        for installed in (False, True):
            model = fixed_weights(mlp())
            rate = 0.01 if installed else kerasplus.schedules.OneCycle(0.05, steps)
            model.compile(make(rate), loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
            callbacks = [kerasplus.callbacks.OneCycleLR(0.05, total_steps=steps, cycle_momentum=False)]
            model.fit(x, y, batch_size=4, shuffle=False, verbose=0, callbacks=callbacks if installed else [])
            weights.append(np.concatenate([w.ravel() for w in model.get_weights()]).astype("float64"))
        compiled, installed = weights
        start = np.concatenate([w.ravel() for w in mlp().get_weights()]).astype("float64")
        moved = np.abs(compiled - start).max()
        assert moved > 1e-4, (name, "the fit did not move the weights: the check could not fail")
        assert np.abs(installed - compiled).max() <= 1e-6 * moved, (name, np.abs(installed - compiled).max(), moved)
        out[name] = numbers(installed[:6])
    return out


@component("callbacks.CyclicLR (rate and momentum)")
def _():
    rates = fit_rates(kerasplus.callbacks.CyclicLR(0.01, 0.1, step_size_up=4, cycle_momentum=False), 16)
    callback = kerasplus.callbacks.CyclicLR(0.01, 0.1, step_size_up=4)
    weight, _ = scalar_fit(keras.optimizers.SGD(0.01, momentum=0.9), callback, 16)
    return [rates, weight]


@component("callbacks.WarmupLR")
def _():
    model, x, y = rate_probe(16, optimizer=keras.optimizers.SGD(kerasplus.schedules.OneCycle(0.1, 16)))
    model.fit(x, y, batch_size=1, shuffle=False, verbose=0, callbacks=[kerasplus.callbacks.WarmupLR(4)])
    return numbers(applied_rates(model))


@component("schedules.Join/join (values; in fit, jit and steps_per_execution=8 off torch)")
def _():
    s = kerasplus.schedules
    decay = keras.optimizers.schedules.CosineDecay(0.1, decay_steps=12, alpha=0.1)
    schedule = s.join([s.Warmup(0.1, warmup_steps=4, warmup_init_lr=0.01), decay, 0.003], boundaries=[4, 16])
    model, x, y = rate_probe(24, optimizer=keras.optimizers.SGD(schedule), **JIT)
    model.fit(x, y, batch_size=1, shuffle=False, verbose=0)
    return [numbers(schedule(STEPS)), numbers(applied_rates(model))]


@component("schedules.CosineRestarts/cosine_restarts (values; in fit, jit off torch)")
def _():
    s = kerasplus.schedules
    schedule = s.CosineRestarts(0.1, 5, cycle_mul=1.5, cycle_decay=0.7, cycle_limit=None, min_lr=1e-3)
    model, x, y = rate_probe(24, optimizer=keras.optimizers.SGD(schedule), **JIT)
    model.fit(x, y, batch_size=1, shuffle=False, verbose=0)
    return [
        numbers(schedule(STEPS)),
        numbers(s.cosine_restarts(STEPS, max_lr=0.1, cycle_steps=6, cycle_limit=3, k_decay=2.0)),
        numbers(applied_rates(model)),
    ]


@component("callbacks.LRFinder/lr_find")
def _():
    x, y = batch(64)
    model = mlp()
    model.compile(keras.optimizers.SGD(), keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    result = kerasplus.callbacks.lr_find(model, x, y, start_lr=1e-4, end_lr=1.0, num_steps=12, batch_size=16)
    # the batch order (hence each loss) comes from the backend's shuffle; the swept rates and the
    # weights put back afterwards do not
    finite = bool(np.isfinite(result.losses).all())
    return {"lrs": numbers(result.lrs), "losses_finite": finite, "weights_back": numbers(model.get_weights()[0])}


@component("callbacks.EarlyStopping")
def _():
    x, y = batch(32)
    model = mlp()
    model.compile(keras.optimizers.SGD(0.5), keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    stop = kerasplus.callbacks.EarlyStopping(monitor="loss", patience=1, min_delta=10.0, restore_best_weights=True)
    history = model.fit(x, y, batch_size=32, epochs=6, shuffle=False, verbose=0, callbacks=[stop])
    return {
        "epochs": len(history.history["loss"]),
        "loss": numbers(history.history["loss"]),
        "kernel": numbers(model.get_weights()[0]),
    }


@component("callbacks.NaNGuard")
def _():
    x, y = batch(32)
    x[8:16] = np.nan  # the second of four batches poisons the update
    model = mlp()
    model.compile(keras.optimizers.SGD(0.1), keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    guard = kerasplus.callbacks.NaNGuard(max_consecutive=3)
    model.fit(x, y, batch_size=8, epochs=1, shuffle=False, verbose=0, callbacks=[guard])
    weights = model.get_weights()
    return {
        "failures": guard.failures,
        "finite": bool(all(np.isfinite(w).all() for w in weights)),
        "kernel": numbers(weights[0]),
    }


class StopAfter(keras.callbacks.Callback):
    def __init__(self, epoch):
        super().__init__()
        self.epoch = epoch

    def on_epoch_end(self, epoch, logs=None):
        if epoch == self.epoch:
            raise RuntimeError("interrupted")


@component("callbacks.BackupAndRestore (epoch resume)")
def _():
    x, y = batch(32)

    def model():
        net = mlp()
        net.compile(keras.optimizers.Adam(0.01), keras.losses.SparseCategoricalCrossentropy(from_logits=True))
        return net

    straight = model()
    straight.fit(x, y, batch_size=8, epochs=4, shuffle=False, verbose=0)
    with tempfile.TemporaryDirectory() as directory:
        first = model()
        try:
            first.fit(
                x,
                y,
                batch_size=8,
                epochs=4,
                shuffle=False,
                verbose=0,
                callbacks=[kerasplus.callbacks.BackupAndRestore(directory), StopAfter(1)],
            )
        except RuntimeError:
            pass
        resumed = model()
        history = resumed.fit(
            x,
            y,
            batch_size=8,
            epochs=4,
            shuffle=False,
            verbose=0,
            callbacks=[kerasplus.callbacks.BackupAndRestore(directory)],
        )
    gap = max(float(np.abs(a - b).max()) for a, b in zip(straight.get_weights(), resumed.get_weights()))
    assert gap < 1e-5, gap
    return {"resumed_epochs": len(history.history["loss"]), "kernel": numbers(resumed.get_weights()[0])}


@component("callbacks.OneCycleLR optimizer= (model holding several optimizers)")
def _():
    """The named optimizer gets the cycle (by hand: SGD writes each rate into its weight); unnamed, fit refuses."""
    model, x, y = rate_probe(12)
    model.other_optimizer = keras.optimizers.SGD(0.5)  # held, never applied: "optimizer" must be named
    try:
        model.fit(x, y, batch_size=1, shuffle=False, verbose=0, callbacks=[kerasplus.callbacks.OneCycleLR(0.2)])
        refused = False
    except ValueError as error:
        refused = "holds 2 optimizers" in str(error)
    callback = kerasplus.callbacks.OneCycleLR(0.2, cycle_momentum=False, optimizer="optimizer")
    model.fit(x, y, batch_size=1, shuffle=False, verbose=0, callbacks=[callback])
    rates = applied_rates(model)
    expected = numbers(kerasplus.schedules.one_cycle(np.arange(12), max_lr=0.2, total_steps=12))
    assert np.allclose(rates, expected, rtol=1e-5, atol=1e-9), (rates, expected)
    return {"refused": refused, "rates": numbers(rates), "other_untouched": float(model.other_optimizer.learning_rate)}


@component("callbacks.BackupAndRestore (every optimizer the model holds)")
def _():
    """Resumes bit-exactly with every optimizer's state: the Keras guide's GAN (TensorFlow, PyTorch);
    on JAX, whose fit carries only model.optimizer through the step, a second optimizer stepped outside fit."""
    from tests.callbacks.multi_optimizer_models import TwoOptimizerRegressor, digits, gan

    if BACKEND == "jax":
        x, y = batch(16, inputs=4)
        y = y.astype("float32")[:, None]

        def model(step_aux):
            keras.utils.set_random_seed(0)
            net = TwoOptimizerRegressor()
            net.build((None, 4))
            net.compile(keras.optimizers.Adam(0.01), "mse")
            if step_aux:
                net.step_aux(x, steps=4)
            return net

        data, optimizers = (x, y), lambda net: [net.optimizer, net.aux_optimizer]
    else:
        x = digits(16)

        def model(step_aux):
            keras.utils.set_random_seed(0)
            return gan()

        data, optimizers = (x,), lambda net: [net.d_optimizer, net.g_optimizer]

    def state(net):
        variables = list(net.variables) + [v for o in optimizers(net) for v in o.variables]
        return [np.array(ops.convert_to_numpy(v.value)) for v in variables]

    fit = dict(epochs=2, batch_size=8, shuffle=False, verbose=0)
    straight = model(True)
    straight.fit(*data, **fit)
    exact = []
    for save_freq, stop in (
        (1, StopAtBatch(1, 0)),
    ):  # mid-epoch (the epoch case: tests/callbacks/test_optimizer_choice.py)
        with tempfile.TemporaryDirectory() as directory:
            first = model(True)
            try:
                first.fit(*data, callbacks=[kerasplus.callbacks.BackupAndRestore(directory, save_freq), stop], **fit)
            except RuntimeError:
                pass
            resumed = model(False)  # fresh: its other optimizer is not built (nor stepped)
            resumed.fit(*data, callbacks=[kerasplus.callbacks.BackupAndRestore(directory, save_freq)], **fit)
        want, got = state(straight), state(resumed)
        exact.append(len(want) == len(got) and all(np.array_equal(a, b) for a, b in zip(want, got)))
    return {"exact": exact, "iterations": [int(o.iterations) for o in optimizers(resumed)]}


class StopAtBatch(keras.callbacks.Callback):
    def __init__(self, epoch, batch):
        super().__init__()
        self.epoch, self.batch, self.current = epoch, batch, 0

    def on_epoch_begin(self, epoch, logs=None):
        self.current = epoch

    def on_train_batch_end(self, batch, logs=None):
        if (self.current, batch) == (self.epoch, self.batch):
            raise RuntimeError("interrupted")


class TickingClock(keras.callbacks.Callback):
    """The Timer's clock, advanced one second per batch (put before the Timer)."""

    def __init__(self):
        super().__init__()
        self.now = 0.0

    def on_train_batch_end(self, batch, logs=None):
        self.now += 1.0


@component("callbacks.Timer (stop mid-epoch, BackupAndRestore resume)")
def _():
    from kerasplus.callbacks import timer as timer_module

    x, y = batch(32)

    def model():
        net = mlp()
        net.compile(keras.optimizers.Adam(0.01), keras.losses.SparseCategoricalCrossentropy(from_logits=True))
        return net

    straight = model()
    straight.fit(x, y, batch_size=8, epochs=3, shuffle=False, verbose=0)
    clock, real = TickingClock(), timer_module.monotonic
    timer_module.monotonic = lambda: clock.now
    try:
        with tempfile.TemporaryDirectory() as directory:
            first, timer = model(), kerasplus.callbacks.Timer(6.0, verbose=False)
            backup = kerasplus.callbacks.BackupAndRestore(directory, async_save=False)
            first.fit(x, y, batch_size=8, epochs=3, shuffle=False, verbose=0, callbacks=[clock, timer, backup])
            stopped_at = int(first.optimizer.iterations.numpy())
            resumed = model()
            resumed.fit(
                x, y, batch_size=8, epochs=3, shuffle=False, verbose=0,
                callbacks=[kerasplus.callbacks.Timer(3600.0), kerasplus.callbacks.BackupAndRestore(directory)],
            )  # fmt: skip
    finally:
        timer_module.monotonic = real
    gap = max(float(np.abs(a - b).max()) for a, b in zip(straight.get_weights(), resumed.get_weights()))
    assert gap < 1e-5, gap
    return {"stopped_at": stopped_at, "expired": timer.expired, "kernel": numbers(resumed.get_weights()[0])}


@component("callbacks.StochasticWeightAveraging/update_bn (SWALR, average, BN statistics; jit off torch)", rtol=1e-4)
def _():
    x, y = batch(32)
    model = keras.Sequential(
        [keras.Input((8,)), keras.layers.Dense(8), keras.layers.BatchNormalization(), keras.layers.Dense(3)]
    )
    fixed_weights(model)
    model.compile(
        keras.optimizers.SGD(kerasplus.schedules.CosineRestarts(0.05, 8)),
        keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        **JIT,
    )
    swa = kerasplus.callbacks.StochasticWeightAveraging(
        swa_start=2, swa_lr=0.01, anneal_epochs=2, bn_data=x, bn_batch_size=8
    )
    model.fit(x, y, batch_size=8, epochs=5, shuffle=False, verbose=0, callbacks=[swa])
    bn = model.layers[1]
    return {
        "averaged_epochs": swa.averaged_epochs,
        "kernel": numbers(model.layers[0].kernel),
        "moving_mean": numbers(bn.moving_mean),
        "moving_variance": numbers(bn.moving_variance),
    }


# ----------------------------------------------------------------- layers, losses


IMAGES = np.random.default_rng(1).random((8, 8, 8, 3)).astype("float32")
ONEHOT = np.eye(4, dtype="float32")[np.arange(8) % 4]


def layer_invariants(layer):
    """Eager on the backend (its own RNG stream: invariants only), then inside tf.data feeding fit."""
    import tensorflow as tf

    out = {}
    mixing = isinstance(layer, kerasplus.layers.MixingLayer)
    if mixing:
        images, labels = layer((IMAGES, ONEHOT), training=True)
        out["label_sum_error_below_1e-6"] = float(np.abs(ops.convert_to_numpy(labels).sum(axis=1) - 1).max()) < 1e-6
        same = layer((IMAGES, ONEHOT), training=False)[0]
    else:
        images = layer(IMAGES, training=True)
        same = layer(IMAGES, training=False)
    images = ops.convert_to_numpy(images)
    out["shape"] = list(images.shape)
    out["changed"] = bool((images != IMAGES).any())
    out["inference_is_identity"] = bool((ops.convert_to_numpy(same) == IMAGES).all())
    model = keras.Sequential([keras.Input((8, 8, 3)), keras.layers.Flatten(), keras.layers.Dense(4)])
    model.compile("sgd", "categorical_crossentropy")
    data = tf.data.Dataset.from_tensor_slices((IMAGES, ONEHOT)).batch(4)
    if mixing:
        data = data.map(lambda a, b: layer((a, b), training=True))
    else:
        data = data.map(lambda a, b: (layer(a, training=True), b))
    out["fit_on_tf_data_finite"] = bool(np.isfinite(model.fit(data, epochs=1, verbose=0).history["loss"]).all())
    return out


@component("layers.Cutout")
def _():
    return layer_invariants(kerasplus.layers.Cutout(3, seed=0))


@component("layers.Mixup")
def _():
    return layer_invariants(kerasplus.layers.Mixup(0.4, seed=0))


@component("layers.CutMix")
def _():
    return layer_invariants(kerasplus.layers.CutMix(seed=0))


@component("layers.MixupOrCutMix")
def _():
    return layer_invariants(kerasplus.layers.MixupOrCutMix(seed=0))


@component("losses")
def _():
    losses = kerasplus.losses
    rng = np.random.default_rng(0)
    logits = (rng.normal(size=(16, 4)) * 5).astype("float32")
    labels = rng.integers(0, 4, size=16)
    multi = (rng.random((16, 4)) > 0.5).astype("float32")
    return {
        "SparseCategoricalCrossentropy": float(
            losses.SparseCategoricalCrossentropy(from_logits=True, label_smoothing=0.1)(labels, logits)
        ),
        "FocalCrossentropy": float(
            losses.FocalCrossentropy(gamma=2.0, alpha=[1, 2, 3, 4], from_logits=True, sparse=True)(labels, logits)
        ),
        "BinaryFocalCrossentropy": float(
            losses.BinaryFocalCrossentropy(gamma=2.0, alpha=0.25, from_logits=True)(multi, logits)
        ),
        "PolyLoss": float(losses.PolyLoss(epsilon=1.0, from_logits=True, sparse=True, ignore_class=3)(labels, logits)),
        "Quantile": float(losses.Quantile(0.3)(multi, logits)),
        "Huber/MAE/MSE": [
            float(loss()(multi, logits)) for loss in (losses.Huber, losses.MeanAbsoluteError, losses.MeanSquaredError)
        ],
    }


# ----------------------------------------------------------------- initializers


@component("initializers.for_activation")
def _():
    return [
        keras.saving.serialize_keras_object(kerasplus.initializers.for_activation(a))
        for a in ("relu", "tanh", "selu", None)
    ]


@component("initializers.reinitialize")
def _():
    model = mlp(16, (64, 64), 3)
    report = kerasplus.initializers.reinitialize(model, seed=0)
    kernel = model.get_weights()[0]
    # He normal for ReLU: std sqrt(2 / 16) within sampling error; biases zero
    assert abs(kernel.std() / np.sqrt(2 / 16) - 1) < 0.1, kernel.std()
    return {"rows": len(report), "bias_zero": bool((model.get_weights()[1] == 0).all())}


@component("initializers.lsuv")
def _():
    model = mlp(6, (8,), 3)
    rows = kerasplus.initializers.lsuv(model, np.random.default_rng(0).normal(size=(32, 6)).astype("float32"), seed=0)
    return [row["converged"] for row in rows]


# ----------------------------------------------------------------- diagnostics


@component("diagnostics.FitDiagnostics (gradient probe)", rtol=1e-4)
def _():
    x, y = batch(32)
    model = mlp()
    model.compile(keras.optimizers.SGD(0.1), keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    diagnostics = kerasplus.diagnostics.FitDiagnostics(held_batch=(x[:16], y[:16]), gradient_every=2)
    model.fit(x, y, batch_size=8, epochs=3, shuffle=False, verbose=0, callbacks=[diagnostics])
    return {
        "gradients": [list(norms.values()) for _, norms in diagnostics.gradient_samples],
        "records": [[r["loss"], r.get("dead_relu")] for r in diagnostics.records],
        "verdict": diagnostics.verdict,
    }


@component("diagnostics.lint")
def _():
    model = mlp()
    model.compile(keras.optimizers.SGD(0.1), keras.losses.SparseCategoricalCrossentropy())  # logits without from_logits
    return sorted(f.rule for f in kerasplus.diagnostics.lint(model, batch_size=8))


@component("diagnostics.curve_verdict")
def _():
    verdict = kerasplus.diagnostics.curve_verdict
    return [
        verdict([1.0, 0.5, 0.3, 0.2, 0.1, 0.05], [1.0, 0.6, 0.5, 0.6, 0.7, 0.8], patience=2)[0],
        verdict([1.0, 0.9, 0.8], [1.0, 0.9, 0.8], baseline_loss=1.0)[0],
    ]


# ----------------------------------------------------------------- data, transfer


@component("data.load/split/kfold")
def _():
    x, y = kerasplus.data.load("iris")
    (x_tr, y_tr), (x_va, y_va), (x_te, y_te) = kerasplus.data.split(x, y, seed=0)
    folds = [(len(a[0]), len(b[0])) for a, b in kerasplus.data.kfold(x, y, k=3, seed=0)]
    return {"sizes": [len(y_tr), len(y_va), len(y_te)], "first": numbers(x_tr[0]), "folds": folds}


@component("data.augmented_dataset")
def _():
    layers = [
        kerasplus.layers.Cutout(2, seed=0),
        keras.layers.RandomFlip(seed=0),
        kerasplus.layers.MixupOrCutMix(num_classes=4, seed=0),
    ]
    dataset = kerasplus.data.augmented_dataset(IMAGES, np.arange(8) % 4, layers, batch_size=4, seed=0)
    shapes, error = [], 0.0
    for images, labels in dataset:
        shapes.append([list(images.shape), list(labels.shape)])
        error = max(error, float(np.abs(np.asarray(labels).sum(axis=1) - 1).max()))
    model = keras.Sequential([keras.Input((8, 8, 3)), keras.layers.Flatten(), keras.layers.Dense(4)])
    model.compile("adam", keras.losses.CategoricalCrossentropy(from_logits=True))
    finite = bool(np.isfinite(model.fit(dataset, epochs=1, verbose=0).history["loss"]).all())
    return {"shapes": shapes, "label_sum_error_below_1e-5": error < 1e-5, "fit_finite": finite}


def backbone():
    inputs = keras.Input((8, 8, 3))
    h = keras.layers.Conv2D(4, 3, padding="same", activation="relu")(inputs)
    h = keras.layers.BatchNormalization()(h)
    h = keras.layers.GlobalAveragePooling2D()(h)
    return fixed_weights(keras.Model(inputs, h), seed=3)


@component("transfer.freeze/unfreeze")
def _():
    base = backbone()
    kerasplus.transfer.freeze(base)
    frozen = [layer.trainable for layer in base.layers]
    kerasplus.transfer.unfreeze(base)
    return {"frozen": frozen, "unfrozen": [layer.trainable for layer in base.layers]}


@component("transfer.fine_tune", rtol=1e-4)
def _():
    base = backbone()
    head = fixed_weights(keras.Sequential([keras.Input((4,)), keras.layers.Dense(4)]), seed=4)
    data = (IMAGES, np.arange(8) % 4)
    result = kerasplus.transfer.fine_tune(
        base,
        head,
        data,
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        head_epochs=2,
        fine_tune_epochs=2,
        batch_size=4,
        verbose=0,
    )
    history = getattr(result, "history", None)
    losses = history.history["loss"] if history is not None and hasattr(history, "history") else None
    return {"losses": losses, "finite": bool(all(np.isfinite(w).all() for w in result.model.get_weights()))}


# ----------------------------------------------------------------- tuning, quantization


@component("callbacks under gradient_accumulation_steps=2 (OneCycleLR per update, NaNGuard's accumulators)")
def _():
    model, x, y = rate_probe(12, keras.optimizers.SGD(1.0, gradient_accumulation_steps=2))
    model.fit(
        x,
        y,
        batch_size=1,
        shuffle=False,
        verbose=0,
        callbacks=[kerasplus.callbacks.OneCycleLR(0.4, cycle_momentum=False)],
    )
    rates = numbers(applied_rates(model) * 2)  # update u's rate, written into batches 2u and 2u + 1
    xs, ys = batch(16, classes=3)
    xs[4:8] = np.inf  # batch 1 (of 4): the first of an accumulation
    net = mlp(seed=1)
    net.compile(
        keras.optimizers.Adam(0.01, gradient_accumulation_steps=2),
        keras.losses.SparseCategoricalCrossentropy(from_logits=True),
    )
    guard = kerasplus.callbacks.NaNGuard()
    net.fit(xs, ys, batch_size=4, shuffle=False, verbose=0, callbacks=[guard])
    accumulators = [v for v in net.optimizer.variables if "gradient_accumulator" in v.path]
    return {"rates": rates, "failures": guard.failures, "accumulated": [numbers(v) for v in accumulators]}


@component("tuning.find_batch_size (memory_limit; state restored)")
def _():
    x, y = batch(64)
    model = mlp(seed=2)
    model.compile(keras.optimizers.Adam(0.01), keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    model.fit(x[:8], y[:8], batch_size=4, verbose=0)
    before = [ops.convert_to_numpy(v).copy() for v in model.variables + model.optimizer.variables]
    limit = kerasplus.tuning.estimated_training_bytes(model, 20)
    result = kerasplus.tuning.find_batch_size(
        model, x, y, mode="binsearch", init_val=16, memory_limit=limit, steps_per_trial=2
    )
    after = [ops.convert_to_numpy(v) for v in model.variables + model.optimizer.variables]
    restored = all(np.array_equal(a, b) for a, b in zip(before, after))
    return {"max": result.max_batch_size, "tried": [t.batch_size for t in result.trials], "restored": restored}


@component("tuning.search (tiny)")
def _():
    x, y = batch(48)

    def build(hp):
        model = keras.Sequential(
            [
                keras.Input((8,)),
                keras.layers.Dense(hp.Int("units", 4, 8, step=4), activation="relu"),
                keras.layers.Dense(3),
            ]
        )
        model.compile("adam", keras.losses.SparseCategoricalCrossentropy(from_logits=True))
        return model

    with tempfile.TemporaryDirectory() as directory:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            tuner, summary = kerasplus.tuning.search(
                build,
                x,
                y,
                max_trials=1,
                directory=directory,
                project_name="matrix",
                epochs=1,
                batch_size=16,
                validation_split=0.25,
                verbose=0,
            )
    trials = tuner.oracle.trials.values()
    return {"completed": sum(1 for t in trials if t.status == "COMPLETED"), "summary": type(summary).__name__}


@component("quantization.quantize_model + QAT fit", rtol=1e-3, atol=1e-4)
def _():
    x, y = batch(32)
    model = mlp()
    qat = kerasplus.quantization.quantize_model(model)
    qat.compile(keras.optimizers.SGD(0.05), keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    history = qat.fit(x, y, batch_size=8, epochs=2, shuffle=False, verbose=0)
    # outputs are not compared: on TensorFlow fake quantization is TF's FakeQuant op, elsewhere keras.ops,
    # and one weight rounded to the other int8 step moves an output by ~0.02 (seen on JAX)
    predict = ops.convert_to_numpy(qat.predict(x[:4], verbose=0))
    return {
        "loss": history.history["loss"],
        "predict_shape": list(predict.shape),
        "finite": bool(np.isfinite(predict).all()),
    }


@component("quantization.export_tflite")
def _():
    model = kerasplus.quantization.quantize_model(mlp())
    model.compile(keras.optimizers.SGD(0.05), keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    x, y = batch(32)
    model.fit(x, y, batch_size=8, epochs=1, verbose=0)
    with tempfile.TemporaryDirectory() as directory:  # on JAX and PyTorch through a TensorFlow child process
        path = kerasplus.quantization.export_tflite(model, os.path.join(directory, "m.tflite"))
        return {"written": os.path.getsize(path) > 0}


# ----------------------------------------------------------------- pruning


@component("pruning.prune_model + fit + strip", rtol=1e-4, atol=1e-5)
def _():
    x, y = batch(32)
    schedule = kerasplus.pruning.PolynomialDecay(0.0, 0.75, begin_step=0, end_step=8, frequency=2)
    pruned = kerasplus.pruning.prune_model(mlp(units=(8,)), schedule)
    pruned.compile(keras.optimizers.Adam(0.05), keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    history = pruned.fit(x, y, batch_size=4, epochs=2, shuffle=False, verbose=0)  # steps 1..16: end_step is 8
    plain = kerasplus.pruning.strip_pruning(pruned)
    kernels = [ops.convert_to_numpy(layer.kernel) for layer in plain.layers]
    two_four = kerasplus.pruning.prune_model(mlp(units=(8,)), sparsity_m_by_n=(2, 4))
    two_four.compile(keras.optimizers.SGD(0.05), keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    two_four.fit(x, y, batch_size=8, epochs=1, shuffle=False, verbose=0)
    masks = [np.moveaxis(ops.convert_to_numpy(layer.mask), -1, 0).reshape(-1, 4) for layer in two_four.layers]
    return {
        "loss": history.history["loss"],
        "steps": [int(ops.convert_to_numpy(layer.pruning_step)) for layer in pruned.layers],
        "zeros": [int((k == 0).sum()) for k in kernels],
        "sizes": [int(k.size) for k in kernels],
        "stripped_equals_pruned": bool(
            np.allclose(plain.predict(x, verbose=0), pruned.predict(x, verbose=0), rtol=1e-5, atol=1e-6)
        ),
        "two_of_four": bool(all((groups.sum(axis=1) == 2).all() for groups in masks)),
    }


def main(only=None):
    results = {"backend": BACKEND, "components": {}}
    for entry in COMPONENTS:
        if only and only not in entry.name:
            continue
        started = time.perf_counter()
        keras.utils.set_random_seed(0)
        try:
            value = entry.run()
            cell = {"status": "ok", "values": value}
        except NotImplementedError as error:
            message = str(error)
            status = "refused" if BACKEND in message or BACKEND.replace("torch", "PyTorch") in message else "error"
            cell = {"status": status, "reason": message}
        except Exception as error:  # recorded; the test names the component and backend
            cell = {
                "status": "error",
                "reason": f"{type(error).__name__}: {error}",
                "trace": traceback.format_exc()[-2000:],
            }
        cell["seconds"] = round(time.perf_counter() - started, 2)
        results["components"][entry.name] = cell
    return results


if __name__ == "__main__":
    print("RESULT " + json.dumps(main(os.environ.get("KERASPLUS_BACKENDS_ONLY")), default=str))
    sys.stdout.flush()
