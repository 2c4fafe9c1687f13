"""Fuzzing every public constructor and function with arguments good, odd and wrong.

For each entry of `TABLE`, hypothesis draws keyword arguments from one strategy per
argument and checks one of two outcomes:

* construction raises `ValueError` or `TypeError` whose message names one of the
  arguments passed (in backquotes, as `kerasplus._validation` writes them), or
* it is accepted, and then the entry's `works` check passes: a schedule gives
  finite values >= 0 at a few steps (start, middle, end and past the end), a
  layer gives finite outputs on a small batch.

Anything else (another exception, an accepted argument that then breaks) fails.
Settings are deterministic (``derandomize=True``, a fixed `max_examples`).

To add a namespace, append `Entry` rows: the callable, a strategy per argument
(`rate()`, `count()`, `choice(...)`, ... or your own) and a `works` function.
"""

from __future__ import annotations

import dataclasses
import datetime
import inspect
import math
import re
from collections.abc import Callable
from typing import Any

import keras
import keras_tuner
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from keras import ops

from kerasplus import (
    callbacks,
    data,
    diagnostics,
    distribute,
    initializers,
    layers,
    losses,
    pruning,
    quantization,
    schedules,
    transfer,
)
from kerasplus.tuning import find_batch_size, spaces

EXAMPLES = 64  # per entry; 18 entries give 1,152 cases

# ---------------------------------------------------------------- strategies

GARBAGE = st.sampled_from([None, "0.1", True, [0.1], np.array(0.5), np.array([1, 2]), object()])
EDGE_FLOATS = [
    0.0, -0.0, -1.0, 5e-324, 1e-300, 1e-40, 1.2e-38, 1e-30, 1e-7, 0.1, 0.5, 0.999, 1.0, 2.0, 25.0,
    1e4, 1e30, 3.4e38, 3.5e38, 1e308, math.inf, -math.inf, math.nan, np.float32(0.2), np.float64(1e-3),
]  # fmt: skip
EDGE_INTS = [-1, 0, 1, 2, 3, 5, 10, 2**20 - 1, 2**31 - 1, 2**31, 2**63, 10**400, np.int64(7), 4.0]


@dataclasses.dataclass
class Arg:
    """How to draw one argument: `good` values a user would pass, `wild` ones to break it."""

    good: st.SearchStrategy
    wild: st.SearchStrategy


def rate():
    """A positive or non-negative real: edges of float32 and float64, any float, garbage."""
    wild = st.one_of(st.sampled_from(EDGE_FLOATS), st.floats(allow_nan=True, allow_infinity=True), GARBAGE)
    return Arg(st.floats(min_value=1e-6, max_value=10.0), wild)


def fraction():
    wild = st.one_of(st.floats(min_value=-0.5, max_value=1.5), st.sampled_from(EDGE_FLOATS), GARBAGE)
    return Arg(st.floats(min_value=0.0, max_value=1.0), wild)


def count():
    """Step counts and sizes."""
    wild = st.one_of(st.integers(-3, 3), st.sampled_from(EDGE_INTS), GARBAGE)
    return Arg(st.integers(min_value=1, max_value=300), wild)


def optional_count():
    return Arg(st.one_of(st.none(), count().good), count().wild)


def choice(*options):
    return Arg(
        st.sampled_from(options),
        st.sampled_from(["bogus", "", 3, None, np.array(options[0]), np.array(list(options))]),
    )


def flag():
    return Arg(st.booleans(), st.sampled_from([1, 0, None, "yes", np.bool_(True)]))


def optimizer_choice():
    """None, a model attribute's name or an optimizer; anything else is refused."""
    return Arg(
        st.sampled_from([None, "optimizer", "d_optimizer", keras.optimizers.SGD()]),
        st.sampled_from([3, "", "not a name", ["d_optimizer"], True, object()]),
    )


def logs_key():
    """A key of fit's logs (LRFinder's `monitor`)."""
    return Arg(st.sampled_from(["loss", "d_loss", "val_loss"]), st.sampled_from(["", 3, None, ["loss"]]))


def seed():
    return Arg(st.one_of(st.none(), st.integers(0, 1000)), st.one_of(st.integers(-(2**64), 2**64), GARBAGE))


# Scale functions of the cycle: registered, traceable with keras.ops; one breaks the contract.
@keras.saving.register_keras_serializable(package="kerasplus_tests")
def halve_each_cycle(x):
    return ops.power(0.5, x - 1.0)


@keras.saving.register_keras_serializable(package="kerasplus_tests")
def negative_scale(x):
    return -ops.ones_like(x)


def scale_fn():
    return Arg(
        st.sampled_from([None, halve_each_cycle, lambda x: 1.0 / (1.0 + x)]),
        st.sampled_from([negative_scale, lambda x: x["no"], "halve", 3]),
    )


def wrapped_schedule():
    return Arg(
        st.one_of(
            rate().good,
            st.sampled_from(
                [
                    schedules.OneCycle(0.1, total_steps=50),
                    schedules.CyclicLR(0.01, 0.1, step_size_up=5),
                    keras.optimizers.schedules.CosineDecay(0.1, decay_steps=100),
                ]
            ),
        ),
        rate().wild,
    )


# ---------------------------------------------------------------- "works" checks


def finite_non_negative(values, what):
    values = np.asarray(ops.convert_to_numpy(values), dtype=np.float64)
    assert np.all(np.isfinite(values)) and np.all(values >= 0), f"{what} gave {values}"


def steps_for(end):
    end = min(int(end), 2**31 - 2)
    return np.array([0, 1, end // 2, end, end + 1], dtype="int64")


def schedule_works(schedule, end):
    finite_non_negative(schedule(steps_for(end)), type(schedule).__name__)
    for step in (0, end):  # a scalar step, as the optimizer passes it
        finite_non_negative(schedule(min(int(end), 2**31 - 2) if step else 0), type(schedule).__name__)


def one_cycle_end(kwargs):
    return kwargs["total_steps"]


def cyclic_end(kwargs):
    up = kwargs.get("step_size_up", 2000)
    down = kwargs.get("step_size_down") or up
    return 3 * (up + down)


def warmup_end(kwargs):
    return 2 * kwargs["warmup_steps"] + 10


def swa_lr_end(kwargs):
    return kwargs["start_step"] + (kwargs.get("anneal_epochs", 10) + 1) * kwargs["steps_per_epoch"]


def function_of_steps(function, end):
    """A pure schedule function as an entry: calling it is constructing it."""

    def call(**kwargs):
        return function(steps_for(end(kwargs)), **kwargs)

    call.__name__ = call.__qualname__ = function.__name__
    call.__wrapped__ = function  # its signature, for the argument names
    return call


def sweep_works(sweep, kwargs):
    """A range test's sweep is used for its `num_steps` steps (the finder stops `fit` then)."""
    end = sweep.num_steps - 1
    finite_non_negative(sweep(np.array([0, 1, end // 2, end])), "ExponentialSweep")


def values_work(values, kwargs):
    finite_non_negative(values, "the function")


def fitted_schedules_work(callback, kwargs):
    """What the callback would install in a fit of 3 epochs of 7 steps, evaluated."""
    callback.set_params({"epochs": 3, "steps": 7, "verbose": 0})
    try:
        rate_schedule, momentum = callback.make_schedules(keras.optimizers.SGD(0.1, momentum=0.9))
    except ValueError as error:
        # Only where the length of the fit decides (OneCycleLR's phases): a refusal before training.
        assert "`total_steps` and `pct_start`" in str(error) and kwargs.get("total_steps") is None, error
        return
    if isinstance(rate_schedule, schedules.ExponentialSweep):
        sweep_works(rate_schedule, kwargs)
        return
    end = 21 if getattr(rate_schedule, "horizon", None) is None else rate_schedule.horizon
    schedule_works(rate_schedule, end)
    if momentum is not None:
        finite_non_negative(momentum(steps_for(end)), "the momentum curve")


def lr_find_without_a_model(**kwargs):
    """`lr_find`'s argument checks run before it looks at the model."""
    return callbacks.lr_find(None, np.zeros((4, 1), "float32"), **kwargs)


lr_find_without_a_model.__wrapped__ = callbacks.lr_find


def lr_find_checks(result, kwargs):
    raise AssertionError("lr_find(model=None, ...) must raise")


def find_batch_size_without_a_model(**kwargs):
    """`find_batch_size`'s argument checks run before it looks at the model."""
    return find_batch_size(None, np.zeros((4, 1), "float32"), **kwargs)


find_batch_size_without_a_model.__wrapped__ = find_batch_size


def find_batch_size_checks(result, kwargs):
    raise AssertionError("find_batch_size(model=None, ...) must raise")


IMAGES = np.random.default_rng(0).random((2, 8, 8, 8)).astype("float32")  # 8x8 in either data format
LABELS = np.eye(2, dtype="float32")


def layer_works(layer, kwargs):
    size = kwargs.get("size")
    sides = size if isinstance(size, tuple) else (size,)
    if any(isinstance(side, int) and side > 8 for side in sides):
        with pytest.raises(ValueError, match="`size`.*larger than the image"):
            layer(IMAGES, training=True)
        return
    data = IMAGES if isinstance(layer, layers.Cutout) else (IMAGES, LABELS)
    out = layer(data, training=True)
    for tensor in out if isinstance(out, tuple) else (out,):
        array = ops.convert_to_numpy(tensor)
        assert np.all(np.isfinite(array)), f"{layer} gave non-finite outputs"
        assert array.shape[0] == 2


# ---------------------------------------------------------------- the table


@dataclasses.dataclass
class Entry:
    """One public callable: a strategy per keyword argument, required ones always drawn."""

    target: Callable[..., Any]
    required: dict[str, Arg]
    optional: dict[str, Arg]
    works: Callable[[Any, dict], None]
    expected_error: type[Exception] | None = None  # raised even by valid arguments (lr_find without a model)
    examples: int = EXAMPLES

    @property
    def name(self):
        return getattr(self.target, "__qualname__", getattr(self.target, "__name__", repr(self.target)))


def schedule_entry(cls, required, optional, end):
    return Entry(cls, required, optional, lambda schedule, kwargs: schedule_works(schedule, end(kwargs)))


ONE_CYCLE_ARGS = dict(
    pct_start=fraction(), anneal_strategy=choice("cos", "linear"), div_factor=rate(),
    final_div_factor=rate(), three_phase=flag(),
)  # fmt: skip
MOMENTUM_ARGS = dict(
    base_momentum=fraction(), max_momentum=fraction(), pct_start=fraction(),
    anneal_strategy=choice("cos", "linear"), three_phase=flag(),
)  # fmt: skip
CYCLIC_ARGS = dict(
    step_size_up=count(), step_size_down=optional_count(), mode=choice("triangular", "triangular2", "exp_range"),
    gamma=fraction(), scale_fn=scale_fn(), scale_mode=choice("cycle", "iterations"),
)  # fmt: skip
WARMUP_ARGS = dict(warmup_init_lr=rate(), shape=choice("linear", "cos", "exp"))
COSINE_RESTARTS_ARGS = dict(
    cycle_mul=Arg(st.floats(1.0, 4.0), rate().wild), cycle_decay=fraction(), cycle_limit=optional_count(),
    min_lr=rate(), k_decay=rate(),
)  # fmt: skip


def cosine_restarts_end(kwargs):
    return 3 * kwargs["cycle_steps"]


def join_arguments():
    """`schedules` and `boundaries`, drawn apart: a length mismatch must be named too."""
    return dict(
        schedules=Arg(
            st.lists(wrapped_schedule().good, min_size=1, max_size=3),
            st.one_of(wrapped_schedule().wild, st.lists(wrapped_schedule().wild, min_size=1, max_size=2)),
        ),
        boundaries=Arg(
            st.lists(st.integers(1, 300), max_size=2, unique=True).map(sorted),
            st.one_of(count().wild, st.lists(count().wild, min_size=1, max_size=2)),
        ),
    )


def join_works(schedule, kwargs):
    schedule_works(schedule, max([0, *schedule.boundaries]) + 20)


MIXING_ARGS = dict(
    num_classes=optional_count(),
    seed=seed(),
    data_format=choice("channels_last", "channels_first"),
    prob=fraction(),  # timm's options (issue 19)
    mode=choice("elem", "pair", "batch"),
    label_smoothing=fraction(),
)

TABLE = [
    # kerasplus.schedules (FiniteHorizonSchedule is an abstract base: its subclasses are here)
    schedule_entry(schedules.OneCycle, dict(max_lr=rate(), total_steps=count()), ONE_CYCLE_ARGS, one_cycle_end),
    schedule_entry(schedules.OneCycleMomentum, dict(total_steps=count()), MOMENTUM_ARGS, one_cycle_end),
    schedule_entry(schedules.CyclicLR, dict(base_lr=rate(), max_lr=rate()), CYCLIC_ARGS, cyclic_end),
    schedule_entry(
        schedules.Warmup,
        dict(schedule=wrapped_schedule(), warmup_steps=count()),
        {**WARMUP_ARGS, "shift_schedule": flag()},
        warmup_end,
    ),
    Entry(schedules.ExponentialSweep, dict(start_lr=rate(), end_lr=rate(), num_steps=count()), {}, sweep_works),
    schedule_entry(
        schedules.CosineRestarts,
        dict(max_lr=rate(), cycle_steps=count()),
        COSINE_RESTARTS_ARGS,
        cosine_restarts_end,
    ),
    Entry(
        function_of_steps(schedules.cosine_restarts, lambda kw: 100),
        dict(max_lr=rate(), cycle_steps=count()),
        COSINE_RESTARTS_ARGS,
        values_work,
    ),
    schedule_entry(
        schedules.SWALR,
        dict(
            before=wrapped_schedule(),
            start_step=Arg(st.integers(0, 300), count().wild),
            steps_per_epoch=count(),
            swa_lr=rate(),
        ),
        dict(anneal_epochs=Arg(st.integers(0, 20), count().wild), anneal_strategy=choice("cos", "linear")),
        swa_lr_end,
    ),
    Entry(schedules.Join, join_arguments(), {}, join_works),
    Entry(schedules.join, join_arguments(), {}, join_works),
    Entry(
        function_of_steps(schedules.one_cycle, lambda kw: 100),
        dict(max_lr=rate(), total_steps=count()),
        ONE_CYCLE_ARGS,
        values_work,
    ),
    Entry(
        function_of_steps(schedules.one_cycle_momentum, lambda kw: 100),
        dict(total_steps=count()),
        MOMENTUM_ARGS,
        values_work,
    ),
    Entry(
        function_of_steps(schedules.cyclic, lambda kw: 100),
        dict(base_lr=rate(), max_lr=rate()),
        CYCLIC_ARGS,
        values_work,
    ),
    Entry(
        function_of_steps(schedules.warmup, lambda kw: 100),
        dict(target=rate(), warmup_steps=count()),
        WARMUP_ARGS,
        values_work,
    ),
    # the learning-rate callbacks
    Entry(
        callbacks.OneCycleLR,
        dict(max_lr=rate()),
        dict(
            epochs=optional_count(),
            steps_per_epoch=optional_count(),
            total_steps=optional_count(),
            cycle_momentum=flag(),
            **MOMENTUM_ARGS,
            div_factor=rate(),
            final_div_factor=rate(),
            optimizer=optimizer_choice(),
            override_schedule=flag(),
        ),  # fmt: skip
        fitted_schedules_work,
    ),
    Entry(
        callbacks.CyclicLR,
        dict(base_lr=rate(), max_lr=rate()),
        dict(
            CYCLIC_ARGS,
            cycle_momentum=flag(),
            base_momentum=fraction(),
            max_momentum=fraction(),
            optimizer=optimizer_choice(),
            override_schedule=flag(),
        ),
        fitted_schedules_work,
    ),
    Entry(
        callbacks.WarmupLR,
        dict(warmup_steps=count()),
        {**WARMUP_ARGS, "shift_schedule": flag(), "optimizer": optimizer_choice()},
        fitted_schedules_work,
    ),  # fmt: skip
    Entry(
        callbacks.LRFinder,
        {},
        dict(
            start_lr=rate(),
            end_lr=rate(),
            num_steps=count(),
            beta=fraction(),
            diverge_threshold=rate(),
            optimizer=optimizer_choice(),
            override_schedule=flag(),
            monitor=logs_key(),
        ),
        fitted_schedules_work,
    ),
    Entry(
        lr_find_without_a_model,
        {},
        dict(
            start_lr=rate(),
            end_lr=rate(),
            num_steps=count(),
            batch_size=count(),
            beta=fraction(),
            diverge_threshold=rate(),
            seed=seed(),
            optimizer=optimizer_choice(),
            monitor=logs_key(),
        ),  # fmt: skip
        lr_find_checks,
        expected_error=TypeError,  # model=None: "`model` must be a keras.Model"
    ),
    Entry(
        find_batch_size_without_a_model,
        {},
        dict(
            mode=choice("power", "binsearch"),
            init_val=count(),
            max_batch_size=optional_count(),
            max_trials=count(),
            steps_per_trial=Arg(st.integers(2, 10), count().wild),
            memory_limit=optional_count(),
        ),
        find_batch_size_checks,
        expected_error=TypeError,  # model=None: "`model` must be a keras.Model"
    ),
    # kerasplus.layers
    Entry(
        layers.Cutout,
        dict(
            size=Arg(
                st.one_of(
                    st.integers(1, 12),
                    st.floats(0.01, 1.0),
                    st.tuples(st.integers(1, 8), st.floats(0.01, 1.0)),
                ),
                st.one_of(
                    count().wild,
                    fraction().wild,
                    st.tuples(st.one_of(count().wild, fraction().wild), st.integers(1, 4)),
                    st.sampled_from([(3,), (1, 2, 3), np.array([2, 2])]),
                ),
            )
        ),
        dict(
            num_holes=Arg(st.integers(1, 4), count().wild),
            fill_value=Arg(
                st.one_of(st.floats(-10, 10), st.just("mean")),
                st.one_of(rate().wild, st.sampled_from(["median", np.array(["mean"])])),
            ),
            seed=seed(),
            data_format=choice("channels_last", "channels_first"),
        ),
        layer_works,
    ),
    Entry(layers.Mixup, {}, dict(alpha=rate(), **MIXING_ARGS), layer_works),
    Entry(layers.CutMix, {}, dict(alpha=rate(), correct_lam=flag(), **MIXING_ARGS), layer_works),
    Entry(
        layers.MixupOrCutMix,
        {},
        dict(mixup_alpha=rate(), cutmix_alpha=rate(), switch_prob=fraction(), correct_lam=flag(), **MIXING_ARGS),
        layer_works,
    ),
]


# ---------------------------------------------------------------- losses, data, initializers, transfer

LOSS_RNG = np.random.default_rng(5)
LOSS_LOGITS = (LOSS_RNG.normal(size=(6, 3)) * 3).astype("float32")
LOSS_LABELS = LOSS_RNG.integers(0, 3, size=6)


def axis():
    return Arg(st.sampled_from([-1, 1]), st.one_of(count().wild, st.sampled_from([-3, 2, 1.0, "-1"])))


def sparse_labels(loss, kwargs):
    """Whether the loss takes integer labels (dense one-hot targets have y_pred's shape, so any class axis fits)."""
    if isinstance(loss, (losses.BinaryFocalCrossentropy, losses.Quantile)):
        return False
    return kwargs.get("sparse", False) or isinstance(loss, losses.SparseCategoricalCrossentropy)


def loss_works(loss, kwargs):
    """A small batch of logits (or probabilities) gives a finite loss >= 0; an out-of-range axis is named."""
    from_logits = kwargs.get("from_logits", False)
    if isinstance(loss, (losses.BinaryFocalCrossentropy, losses.Quantile)):
        y_true = (LOSS_LOGITS > 0).astype("float32")
        y_pred = LOSS_LOGITS if from_logits or isinstance(loss, losses.Quantile) else keras.ops.sigmoid(LOSS_LOGITS)
    else:
        sparse = kwargs.get("sparse", False) or isinstance(loss, losses.SparseCategoricalCrossentropy)
        y_true = LOSS_LABELS if sparse else np.eye(3, dtype="float32")[LOSS_LABELS]
        y_pred = LOSS_LOGITS if from_logits else keras.ops.softmax(LOSS_LOGITS)
    if kwargs.get("axis", -1) not in (-2, -1, 0, 1):
        with pytest.raises(ValueError, match="`axis` is out of range"):
            loss(y_true, y_pred)
        return
    if kwargs.get("axis", -1) in (0, -2) and sparse_labels(loss, kwargs):
        with pytest.raises(ValueError, match="`y_true` must"):  # 6 classes on axis 0: the labels do not fit
            loss(y_true, y_pred)
        return
    if isinstance(kwargs.get("alpha"), list) and len(kwargs["alpha"]) != 3:
        with pytest.raises(ValueError, match="`alpha` has"):
            loss(y_true, y_pred)
        return
    value = float(loss(y_true, y_pred))
    assert math.isfinite(value) and value >= -1e-6, f"{loss.name}({kwargs}) gave {value}"


def class_weights():
    return Arg(
        st.one_of(st.none(), st.floats(0.0, 1.0), st.lists(st.floats(0.0, 2.0), min_size=3, max_size=3)),
        st.one_of(rate().wild, st.sampled_from([[], [0.5, -1.0, 0.5], [0.5, math.nan, 1.0], "balanced"])),
    )


def ignore_class():
    return Arg(st.one_of(st.none(), st.integers(0, 2)), st.sampled_from([1.0, "0", True, -(2**70), np.array([1])]))


SOFTMAX_LOSS_ARGS = dict(label_smoothing=fraction(), from_logits=flag(), axis=axis())
DATA_X = np.random.default_rng(6).normal(size=(40, 3)).astype("float32")
DATA_Y = np.arange(40) % 2


def arrays(rows=DATA_X):
    return Arg(st.just(rows), st.sampled_from([None, 5, "x", rows[:7], {"a": 1}, np.array(3.0)]))


def fractions_summing():
    return Arg(st.sampled_from([0.2, 0.6, 0.7, 0.15]), fraction().wild)


def split_works(result, kwargs):
    (x_train, y_train), (x_val, y_val), (x_test, y_test) = result
    assert len(x_train) + len(x_val) + len(x_test) == len(DATA_X) and min(len(y_val), len(y_test)) >= 1


def kfold_works(folds, kwargs):
    sizes = [len(y_val) for _, (_, y_val) in folds]
    assert sum(sizes) == len(DATA_X) and len(sizes) == kwargs.get("k", 5)


def load_works(result, kwargs):
    x, y = result
    assert len(x) == len(y) > 0 and np.all(np.isfinite(x))


def dataset_works(dataset, kwargs):
    for batch in dataset.take(1):
        assert np.all(np.isfinite(ops.convert_to_numpy(batch[0] if isinstance(batch, tuple) else batch)))


def initializer_works(initializer, kwargs):
    assert np.all(np.isfinite(ops.convert_to_numpy(initializer((4, 4)))))


def small_model():
    return keras.Sequential(
        [keras.Input((4,)), keras.layers.Dense(4, activation="relu", name="a"),
         keras.layers.BatchNormalization(name="bn"), keras.layers.Dense(2, name="b")]
    )  # fmt: skip


SMALL_MODEL = small_model()  # one model for every case: freeze/unfreeze set flags, lsuv sets weights, all of them


def models():
    return Arg(st.just(SMALL_MODEL), st.sampled_from([None, "model", 3, keras.optimizers.SGD(), [SMALL_MODEL]]))


def lsuv_works(report, kwargs):
    assert len(report) == 2 and all(math.isfinite(row["variance"]) for row in report)


def freeze_works(model, kwargs):
    assert model.trainable_weights == []


def unfreeze_works(names, kwargs):
    assert isinstance(names, list) and set(names) <= {"a", "b"}


MORE = [
    Entry(
        losses.FocalCrossentropy,
        {},
        dict(gamma=rate(), alpha=class_weights(), sparse=flag(), ignore_class=ignore_class(), **SOFTMAX_LOSS_ARGS),
        loss_works,
        examples=100,
    ),
    Entry(
        losses.PolyLoss,
        {},
        dict(
            epsilon=Arg(st.floats(-1.0, 10.0), rate().wild),
            sparse=flag(),
            ignore_class=ignore_class(),
            **SOFTMAX_LOSS_ARGS,
        ),
        loss_works,
        examples=100,
    ),
    Entry(
        losses.SparseCategoricalCrossentropy,
        {},
        dict(ignore_class=ignore_class(), **SOFTMAX_LOSS_ARGS),
        loss_works,
        examples=80,
    ),
    Entry(
        losses.BinaryFocalCrossentropy,
        {},
        dict(gamma=rate(), alpha=Arg(st.one_of(st.none(), st.floats(0.0, 1.0)), fraction().wild), **SOFTMAX_LOSS_ARGS),
        loss_works,
        examples=80,
    ),
    Entry(
        losses.Quantile,
        {},
        dict(quantile=Arg(st.floats(0.01, 0.99), fraction().wild), axis=axis()),
        loss_works,
        examples=80,
    ),
    Entry(
        data.split,
        dict(x=arrays(), y=arrays(DATA_Y)),
        dict(
            train=fractions_summing(),
            val=fractions_summing(),
            test=fractions_summing(),
            stratify=flag(),
            seed=Arg(st.integers(0, 1000), seed().wild),
        ),
        split_works,
        examples=100,
    ),
    Entry(
        data.kfold,
        dict(x=arrays(), y=arrays(DATA_Y)),
        dict(k=Arg(st.integers(2, 10), count().wild), stratify=flag(), seed=Arg(st.integers(0, 1000), seed().wild)),
        kfold_works,
        examples=100,
    ),
    Entry(data.load, dict(name=choice(*data.datasets.NAMES)), {}, load_works, examples=30),  # 5 names: 30 draws
    Entry(
        data.augmented_dataset,
        dict(x=arrays()),
        dict(
            y=arrays(DATA_Y),
            batch_size=Arg(st.integers(1, 64), count().wild),
            shuffle=flag(),
            seed=Arg(st.integers(0, 1000), seed().wild),
            drop_remainder=flag(),
            layers=Arg(st.just(()), st.sampled_from(["cutout", 3, [None], keras.layers.Dense(1)])),
        ),
        dataset_works,
        examples=80,
    ),
    Entry(
        initializers.for_activation,
        dict(
            activation=Arg(
                st.sampled_from(
                    [
                        "relu",
                        "leaky_relu",
                        "tanh",
                        "selu",
                        "sigmoid",
                        None,
                        keras.activations.gelu,
                        keras.layers.ReLU(),
                        keras.layers.LeakyReLU(0.3),
                    ]
                ),
                st.sampled_from(["bogus", "", 3, object(), np.array(["relu"])]),
            )
        ),
        dict(
            negative_slope=Arg(st.one_of(st.none(), st.floats(0.0, 1.0)), rate().wild),
            distribution=choice("normal", "uniform"),
        ),
        initializer_works,
        examples=100,
    ),
    Entry(
        initializers.lsuv,
        dict(
            model=models(),
            batch=Arg(
                st.just(DATA_X[:16, :1].repeat(4, 1)),
                st.sampled_from([None, DATA_X[:1, :1].repeat(4, 1), DATA_X, "batch"]),
            ),
        ),
        dict(tol=fraction(), max_iters=Arg(st.integers(1, 3), count().wild), seed=Arg(st.none(), seed().wild)),
        lsuv_works,
        examples=60,
    ),
    Entry(transfer.freeze, dict(model=models()), {}, freeze_works, examples=6),  # one good model, 5 wild values
    Entry(
        transfer.unfreeze,
        dict(model=models()),
        dict(
            last_n=Arg(st.one_of(st.none(), st.integers(1, 2)), count().wild),
            from_layer=Arg(
                st.one_of(st.none(), st.sampled_from(["a", "b", 0, -1, 2])),
                st.sampled_from(["nope", 99, -99, 2.5, True, ["a"]]),
            ),
        ),
        unfreeze_works,
        examples=100,
    ),
]
FIRST_TABLE = ("kerasplus.schedules", "kerasplus.callbacks", "kerasplus.layers", "tests.")
TABLE += MORE


@st.composite
def arguments(draw, entry):
    """Good values for the required arguments and some optional ones, then 0-2 of them made wild."""
    specs = {**entry.required, **entry.optional}
    passed = list(entry.required) + [name for name in entry.optional if draw(st.booleans())]
    kwargs = {name: draw(specs[name].good) for name in passed}
    if passed:
        for name in draw(st.lists(st.sampled_from(sorted(specs)), max_size=2, unique=True)):
            kwargs[name] = draw(specs[name].wild)
    return kwargs


def names_an_argument(message, entry):
    """The message names one of the callable's arguments (`size[0]` counts for `size`)."""
    names = inspect.signature(entry.target).parameters
    return any(re.search(rf"`{re.escape(name)}(\[\d\])?`", message) for name in [*names, "model"])


@pytest.mark.parametrize("entry", TABLE, ids=lambda entry: entry.name)
def test_every_argument_is_checked_at_construction_or_works(entry):
    outcomes = {"rejected": 0, "accepted": 0}

    @settings(
        max_examples=entry.examples,
        derandomize=True,
        database=None,
        deadline=None,
        suppress_health_check=list(HealthCheck),
    )
    @given(arguments(entry))
    def check(kwargs):
        try:
            built = entry.target(**kwargs)
        except (ValueError, TypeError) as error:
            message = str(error)
            assert names_an_argument(message, entry), (
                f"{entry.name}({kwargs}) raised {type(error).__name__} naming no argument: {message}"
            )
            if entry.expected_error is not None and "`model`" in message:
                assert isinstance(error, entry.expected_error)
            outcomes["rejected"] += 1
            return
        outcomes["accepted"] += 1
        entry.works(built, kwargs)

    check()
    assert outcomes["rejected"] + outcomes["accepted"] >= entry.examples
    if entry.expected_error is None:
        assert outcomes["accepted"] > 0, f"{entry.name}: no drawn arguments were accepted"


def test_the_table_covers_every_public_schedule_lr_callback_and_layer():
    covered = {entry.name for entry in TABLE}
    for name in schedules.__all__:
        if name != "FiniteHorizonSchedule":  # abstract; each subclass is fuzzed
            assert name in covered, name
    for name in layers.__all__:
        if name != "MixingLayer":  # the base of Mixup, CutMix and MixupOrCutMix, each fuzzed
            assert name in covered, name
    for name in (
        "OneCycleLR",
        "CyclicLR",
        "WarmupLR",
        "LRFinder",
        "lr_find_without_a_model",
        "find_batch_size_without_a_model",
    ):
        assert name in covered, name
    assert sum(entry.examples for entry in TABLE if entry.target.__module__.startswith(FIRST_TABLE)) >= 1000
    assert sum(entry.examples for entry in MORE) >= 1000


def test_the_table_covers_losses_data_initializers_and_transfer():
    covered = {entry.name for entry in TABLE}
    for namespace in (losses, data, transfer):
        for name in namespace.__all__:
            if name not in ("Huber", "MeanAbsoluteError", "MeanSquaredError", "fine_tune"):  # Keras's; trains
                assert name in covered, name
    assert {"for_activation", "lsuv"} <= covered


# ---------------------------------------------------------------- callbacks, diagnostics, distribute, quantization, tuning


def config_round_trips(built, kwargs):
    """Accepted arguments survive `get_config` and rebuild an equal object."""
    config = built.get_config()
    rebuild = getattr(type(built), "from_config", None) or (lambda config: type(built)(**config))
    assert rebuild(config).get_config() == config


def fit_diagnostics_works(built, kwargs):
    assert built.patience >= 1 and built.exploding_norm > 0


def verdict_works(result, kwargs):
    verdict, reason = result
    assert verdict in diagnostics.VERDICTS and isinstance(reason, str)


def scaling_works(scaling, kwargs):
    assert scaling.replicas >= 1 and scaling.global_batch_size >= 1
    assert math.isfinite(scaling.learning_rate) and scaling.learning_rate > 0


def reinitialize_works(report, kwargs):
    assert isinstance(report, list)
    assert all(np.all(np.isfinite(ops.convert_to_numpy(w))) for w in SMALL_MODEL.weights)


def hp_value_works(value, kwargs):
    if isinstance(value, float):
        assert math.isfinite(value) and value >= 0
    else:
        schedule_works(value, kwargs.get("steps", 10))


def lr_range_works(result, kwargs):
    low, high = result
    assert 0 < low < high


def hps():
    return Arg(st.builds(keras_tuner.HyperParameters), st.sampled_from([None, "hp", 3, {}]))


def losses_list():
    return Arg(
        st.lists(st.floats(0.01, 5.0), min_size=1, max_size=8),
        st.one_of(st.sampled_from([[], None, "loss", 3, [None], [math.nan], ["a"]]), GARBAGE),
    )


def finder_result():
    lrs = np.geomspace(1e-5, 1.0, 50)
    curve = 2.0 - np.tanh(10 * (np.log10(lrs) + 3))
    return callbacks.LRFinderResult(lrs, curve, curve, diverged=False)


LR_FINDER_RESULT = finder_result()


def backup_without_a_dir(**kwargs):
    import tempfile

    return callbacks.BackupAndRestore(tempfile.mkdtemp(prefix="kp_fuzz_"), **kwargs)


backup_without_a_dir.__wrapped__ = callbacks.BackupAndRestore


def learning_rate_schedule(**kwargs):
    return spaces.learning_rate_schedule(**kwargs)


learning_rate_schedule.__wrapped__ = spaces.learning_rate_schedule

FEW = 40


def swa_works(swa, kwargs):
    assert callbacks.StochasticWeightAveraging(**swa.get_config()).get_config() == swa.get_config()
    swa.set_params({"epochs": 5, "steps": 4, "verbose": 0})
    if swa.swa_lr is not None:
        schedule, _ = swa.make_schedules(keras.optimizers.SGD(0.1))
        schedule_works(schedule, 40)


def timer_works(timer, kwargs):
    assert 0 < timer.time_remaining() < math.inf and not timer.expired
    again = callbacks.Timer(**timer.get_config())
    assert again.get_config() == timer.get_config()


THIRD = [
    Entry(
        callbacks.StochasticWeightAveraging,
        {},
        dict(
            swa_start=Arg(
                st.one_of(st.integers(0, 50), st.floats(0.01, 0.99)), st.one_of(count().wild, fraction().wild)
            ),
            swa_lr=Arg(st.one_of(st.none(), rate().good), rate().wild),
            anneal_epochs=Arg(st.integers(0, 20), count().wild),
            anneal_strategy=choice("cos", "linear"),
            bn_batch_size=Arg(st.integers(1, 64), count().wild),
            optimizer=optimizer_choice(),
        ),
        swa_works,
        examples=20,
    ),
    Entry(
        callbacks.update_bn,
        dict(
            model=models(),
            data=Arg(
                st.sampled_from([np.ones((8, 4), "float32"), (np.ones((8, 4), "float32"), np.zeros(8))]),
                st.sampled_from([None, 3, "x", {}, [], object()]),
            ),
        ),
        dict(batch_size=Arg(st.integers(1, 16), count().wild)),
        lambda seen, kwargs: isinstance(seen, int) and seen >= 0,
        examples=20,
    ),
    Entry(
        callbacks.Timer,
        dict(
            duration=Arg(
                st.one_of(
                    st.floats(1e-3, 1e6),
                    st.integers(1, 10**6),
                    st.builds(lambda m: {"minutes": m}, st.floats(0.01, 600)),
                    st.sampled_from(["00:00:01:00", "1:02:03:04.5", datetime.timedelta(hours=2)]),
                ),
                st.one_of(
                    rate().wild,
                    st.sampled_from(["1:00", "", "00:00:00:00", {"hour": 1}, {"minutes": "5"}]),
                    st.sampled_from([datetime.timedelta(0), datetime.timedelta(days=-1), {"minutes": -1}]),
                ),
            )
        ),
        dict(interval=choice("step", "epoch"), count_previous_runs=flag(), verbose=flag()),
        timer_works,
        examples=FEW,
    ),
    Entry(
        callbacks.EarlyStopping,
        {},
        dict(
            monitor=Arg(
                st.sampled_from(["val_loss", "loss", "val_accuracy"]), st.sampled_from(["", None, 3, ["loss"]])
            ),
            min_delta=Arg(st.floats(0.0, 1.0), rate().wild),
            patience=Arg(st.integers(0, 10), count().wild),
            mode=choice("auto", "min", "max"),
            baseline=Arg(st.one_of(st.none(), st.floats(0.0, 5.0)), rate().wild),
            restore_best_weights=flag(),
            start_from_epoch=Arg(st.integers(0, 5), count().wild),
            criterion=choice("patience", "gl", "pq", "up"),
            alpha=Arg(st.none(), st.one_of(rate().wild, count().wild)),
            strip_length=Arg(st.integers(1, 10), count().wild),
            smoothing=Arg(st.floats(0.0, 0.99), fraction().wild),
        ),
        config_round_trips,
        examples=FEW,
    ),
    Entry(
        callbacks.NaNGuard,
        {},
        dict(
            max_consecutive=Arg(st.integers(1, 10), count().wild),
            lr_factor=Arg(st.floats(0.01, 1.0), fraction().wild),
            check_weights=flag(),
            optimizer=Arg(st.sampled_from([None, "g_optimizer"]), optimizer_choice().wild),
        ),
        config_round_trips,
        examples=FEW,
    ),
    Entry(
        backup_without_a_dir,
        {},
        dict(
            save_freq=Arg(
                st.one_of(st.just("epoch"), st.integers(1, 100)), st.sampled_from(["batch", 0, -1, None, 2.5])
            ),
            double_checkpoint=flag(),
            delete_checkpoint=flag(),
            keep=Arg(st.integers(1, 5), count().wild),
            async_save=flag(),
        ),
        config_round_trips,
        examples=FEW,
    ),
    Entry(
        diagnostics.FitDiagnostics,
        {},
        dict(
            gradient_every=optional_count(),
            baseline_loss=Arg(st.one_of(st.none(), st.floats(0.01, 5.0)), rate().wild),
            underfit_ratio=Arg(st.floats(0.01, 1.0), fraction().wild),
            overfit_tolerance=Arg(st.floats(0.0, 1.0), rate().wild),
            patience=Arg(st.integers(1, 10), count().wild),
            divergence_factor=Arg(st.floats(1.01, 10.0), rate().wild),
            exploding_norm=rate(),
            log_per_layer=flag(),
            verbose=choice(0, 1),
        ),
        fit_diagnostics_works,
        examples=FEW,
    ),
    Entry(
        diagnostics.curve_verdict,
        dict(train_loss=losses_list()),
        dict(
            baseline_loss=Arg(st.one_of(st.none(), st.floats(0.01, 5.0)), rate().wild),
            underfit_ratio=Arg(st.floats(0.01, 1.0), fraction().wild),
            overfit_tolerance=Arg(st.floats(0.0, 1.0), rate().wild),
            patience=Arg(st.integers(1, 10), count().wild),
            divergence_factor=Arg(st.floats(1.01, 10.0), rate().wild),
        ),
        verdict_works,
        examples=FEW,
    ),
    Entry(
        distribute.scale_for_replicas,
        dict(per_replica_batch_size=count(), base_lr=rate()),
        dict(base_batch_size=optional_count()),
        scaling_works,
        examples=FEW,
    ),
    Entry(
        quantization.QuantizationConfig,
        {},
        dict(
            keep_float=Arg(
                st.lists(st.sampled_from(["a", "b", "head"]), max_size=3),
                st.sampled_from(["head", [3], None, 3, [None]]),
            ),
            ema_decay=Arg(st.floats(0.0, 0.999), fraction().wild),
            preserve_sparsity=flag(),
        ),
        config_round_trips,
        examples=FEW,
    ),
    Entry(
        initializers.reinitialize,
        dict(model=models()),
        dict(
            zero_init_residual=flag(),
            seed=Arg(st.one_of(st.none(), st.integers(0, 1000)), seed().wild),
            activations=Arg(
                st.none(), st.sampled_from([{"no_such_layer": "relu"}, {"x": "bogus"}, "relu", {"x": 3}, 3])
            ),
        ),
        reinitialize_works,
        examples=FEW,
    ),
    Entry(
        learning_rate_schedule,
        dict(hp=hps(), steps=Arg(st.integers(2, 300), count().wild)),
        dict(min_lr=Arg(st.floats(1e-5, 1e-3), rate().wild), max_lr=Arg(st.floats(1e-2, 1.0), rate().wild)),
        hp_value_works,
        examples=FEW,
    ),
    Entry(
        spaces.lr_range,
        dict(result=Arg(st.just(LR_FINDER_RESULT), st.sampled_from([None, 3, "result"]))),
        dict(below=Arg(st.floats(1.01, 100.0), rate().wild), above=Arg(st.floats(1.01, 100.0), rate().wild)),
        lr_range_works,
        examples=FEW,
    ),
    Entry(spaces.mixup_alpha, dict(hp=hps()), {}, hp_value_works, examples=5),
    Entry(
        spaces.focal_gamma, dict(hp=hps()), {}, hp_value_works, examples=5
    ),  # one good HyperParameters, 4 wild values
    Entry(
        spaces.dropout,
        dict(hp=hps()),
        dict(name=Arg(st.sampled_from(["dropout", "head_dropout"]), st.sampled_from(["", None, 3]))),
        hp_value_works,
        examples=FEW,
    ),
]
TABLE += THIRD


# ---------------------------------------------------------------- pruning schedules


def pruning_schedule_works(schedule, kwargs):
    """Sparsities in [0, 1) at a few steps, a boolean update flag, and a config that rebuilds it."""
    config_round_trips(schedule, kwargs)
    end = schedule.end_step if schedule.end_step >= 0 else schedule.begin_step + 10
    for step in (0, 1, schedule.begin_step, (schedule.begin_step + end) // 2, end, end + 1, 2 * end + 7):
        update, sparsity = schedule(step)
        sparsity = float(ops.convert_to_numpy(sparsity))
        assert 0.0 <= sparsity < 1.0 and math.isfinite(sparsity), (step, sparsity)
        assert bool(ops.convert_to_numpy(update)) in (True, False)


def step_count():
    return Arg(st.integers(0, 200), count().wild)


PRUNING = [
    Entry(
        pruning.PolynomialDecay,
        dict(initial_sparsity=fraction(), final_sparsity=fraction(), begin_step=step_count(), end_step=step_count()),
        dict(power=Arg(st.floats(0.5, 4.0), rate().wild), frequency=count()),
        pruning_schedule_works,
        examples=FEW,
    ),
    Entry(
        pruning.ConstantSparsity,
        dict(target_sparsity=fraction(), begin_step=step_count()),
        dict(end_step=Arg(st.integers(-1, 300), count().wild), frequency=count()),
        pruning_schedule_works,
        examples=FEW,
    ),
]
TABLE += PRUNING


def test_the_table_covers_the_pruning_schedules():
    covered = {entry.name for entry in TABLE}
    assert {"PolynomialDecay", "ConstantSparsity"} <= covered


def test_the_table_covers_callbacks_diagnostics_distribute_quantization_and_tuning_spaces():
    covered = {entry.name for entry in TABLE}
    assert {"StochasticWeightAveraging", "update_bn"} <= covered
    assert {"EarlyStopping", "NaNGuard", "Timer", "backup_without_a_dir", "FitDiagnostics", "curve_verdict"} <= covered
    assert {"scale_for_replicas", "QuantizationConfig", "reinitialize"} <= covered
    for name in ("learning_rate_schedule", "lr_range", "mixup_alpha", "focal_gamma", "dropout"):
        assert name in covered, name
