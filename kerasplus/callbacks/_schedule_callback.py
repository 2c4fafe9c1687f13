"""What every learning-rate callback shares: installing an in-graph schedule.

A callback puts a `LearningRateSchedule` on the optimizer for the length of one
`fit`, counted from the step where that `fit`'s epoch 0 began, and forces a new
train function, so the schedule is read inside the compiled step from
`optimizer.iterations` (correct under `jit_compile=True` and
`steps_per_execution > 1`, and after a train function was already traced). The
momentum (SGD, RMSprop) or `beta_1` (Adam family) is cycled the same way through
`ScheduledScalar` on TensorFlow and JAX; on PyTorch, whose train step is eager
(``steps_per_execution`` must be 1) and whose fused optimizers read it as a
Python scalar, it is set from the same schedule before each step. When `fit` ends the optimizer gets back what it had.
"""

from __future__ import annotations

import functools
import warnings
import weakref

import keras
import numpy as np
from keras import ops

from kerasplus import _optimizer_choice
from kerasplus import _validation as v
from kerasplus._internals import keras as internal_keras
from kerasplus.callbacks import _accumulation, _train_functions
from kerasplus.callbacks._scheduled_scalar import ScheduledScalar
from kerasplus.schedules.finite_horizon import padded_length

# optimizer -> {"learning_rate" or the momentum attribute: value before the first kerasplus callback of this fit}
_ORIGINALS: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()
# Longest fit (in steps) whose momentum PyTorch tabulates at the start of the fit.
TABLE_LIMIT = 1 << 22
# optimizer -> {(callback class, schedule fingerprint, momentum fingerprint): (StartedSchedule, ScheduledScalar)}
_KEPT: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def inner_optimizer(model):
    """The optimizer that applies updates (unwraps `LossScaleOptimizer`)."""
    optimizer = getattr(model, "optimizer", None)
    if optimizer is None:
        raise ValueError("The model has no optimizer: compile it before calling fit.")
    return getattr(optimizer, "inner_optimizer", optimizer)


def momentum_attribute(optimizer) -> str:
    """`beta_1` for the Adam family, `momentum` for SGD/RMSprop; else ValueError."""
    if hasattr(optimizer, "beta_1"):
        return "beta_1"
    if getattr(optimizer, "momentum", 0.0):
        return "momentum"
    raise ValueError(
        "cycle_momentum=True needs an optimizer with momentum: SGD or RMSprop "
        "created with momentum > 0, or one of the Adam family (beta_1); received "
        f"{type(optimizer).__name__}"
        + (" with momentum=0" if hasattr(optimizer, "momentum") else "")
        + ". Pass cycle_momentum=False to keep the momentum fixed."
    )


def accumulation_steps(optimizer) -> int:
    """The optimizer's ``gradient_accumulation_steps`` (1 without accumulation)."""
    return int(getattr(optimizer, "gradient_accumulation_steps", None) or 1)


def fit_total_steps(params: dict, epochs=None, steps_per_epoch=None, who="callback", optimizer=None) -> int:
    """Optimizer updates `fit` will run, from explicit arguments or `fit`'s params.

    `epochs` x `steps_per_epoch` counts batches, as `fit` does; with an `optimizer`
    that accumulates gradients over k batches it is divided by k (one update per
    k batches), with a warning when k does not divide it.
    """
    epochs = epochs if epochs is not None else params.get("epochs")
    steps = steps_per_epoch if steps_per_epoch is not None else params.get("steps")
    if steps is None:
        raise ValueError(
            f"{who} cannot tell how many steps an epoch has: the data has no "
            "known length (e.g. an endless or filtered tf.data.Dataset) and fit "
            "got no steps_per_epoch. Pass steps_per_epoch=... to fit, or "
            f"total_steps=... (or steps_per_epoch=...) to {who}."
        )
    batches = int(epochs) * int(steps)
    k = accumulation_steps(optimizer)
    if k > 1 and batches % k:
        warnings.warn(
            f"{who}: fit runs {batches} batches but the optimizer has gradient_accumulation_steps={k}; "
            f"the last {batches % k} batches are accumulated without an update in this fit, and the schedule "
            f"covers the {batches // k} updates. Make the batches of a fit a multiple of {k}.",
            UserWarning,
            stacklevel=3,
        )
    return max(batches // k, 1)


def _host_step(optimizer) -> int:
    """The optimizer's step count, read on the host (at an epoch end).

    On JAX numpy reads the array itself: in `fit`, right after the state sync of an epoch
    end, ``ops.convert_to_numpy(variable)`` took 56 us and ``int(array)`` 40 us, against
    6.5 us for ``np.asarray(array)`` (digits MLP, medians over 75 epoch ends), a third of
    what a small model's epoch gains from the in-graph schedule.
    """
    variable = internal_keras.schedule_step(optimizer)
    if keras.backend.backend() == "jax":
        return int(np.asarray(variable.value))
    return int(ops.convert_to_numpy(variable))


def _is_jax_tracer(value) -> bool:
    if keras.backend.backend() != "jax":
        return False
    import jax

    return isinstance(value, jax.core.Tracer)


@keras.saving.register_keras_serializable(package="kerasplus")
class StartedSchedule(keras.optimizers.schedules.LearningRateSchedule):
    """`schedule` counted from optimizer step `first_step`: ``schedule(step - first_step)``.

    What a callback installs, so a cycle starts where its `fit` starts (a second
    `fit` runs a new cycle) and a resumed `fit` (``initial_epoch > 0``)
    continues the curve. Serializable, so checkpoints saved mid-`fit` load.

    With ``gradient_accumulation_steps=k`` Keras calls the schedule with its batch
    count; the schedule then counts updates: ``schedule(step // k - first_step // k)``,
    so update u (applied at batch ``u*k + k - 1`` when the fit starts on an update
    boundary) gets the schedule's value at u, as torch's schedulers stepped once per
    ``optimizer.step()`` do.
    """

    def __init__(self, schedule, first_step: int = 0, gradient_accumulation_steps: int = 1):
        self.schedule = schedule
        self.gradient_accumulation_steps = int(gradient_accumulation_steps or 1)
        self._first_step = None
        self._baked = False  # JAX: whether a trace read the start as a constant
        self.first_step = first_step

    @property
    def first_step(self) -> int:
        """The optimizer step at which the schedule's step 0 falls."""
        return self._first_step_value

    @first_step.setter
    def first_step(self, value: int) -> None:
        # On TensorFlow a Variable the traced step reads, so a later fit moving the start
        # reuses the same trace; JAX bakes Python values into its trace (trace_key tells the
        # train-function register), and PyTorch's step is eager.
        self._first_step_value = int(value)
        self._first_step_array = None
        _train_functions.input_changed()
        if keras.backend.backend() == "tensorflow":
            if self._first_step is None:
                self._first_step = keras.Variable(int(value), dtype="int64", trainable=False, name="first_step")
            else:
                self._first_step.assign(int(value))

    @property
    def trace_key(self):
        """What a traced train step baked in of this schedule beyond its identity (None: nothing).

        On JAX nothing while the step reads the start as an input (`trace_input_value`,
        registered by the callback that installed it); the start once a trace read it as
        a constant.
        """
        if self._first_step is not None:
            return None
        if keras.backend.backend() == "jax" and not self._baked:
            return None
        return self._first_step_value

    def trace_input_value(self):
        """JAX: the start as an array, the input a train function of `_train_functions` passes its trace."""
        if self._first_step_array is None:
            self._first_step_array = ops.convert_to_tensor(self._first_step_value, "int32")
        return self._first_step_array

    def steps_since_start(self, step):
        """``step - first_step``, reading the first step as the traced step must (a Variable on TensorFlow)."""
        k = self.gradient_accumulation_steps
        if k == 1 and self._first_step is None and keras.backend.backend() == "torch":
            # Eager PyTorch calls this at every step: one torch op instead of three Keras ops.
            import torch

            if isinstance(step, torch.Tensor):
                return step - self._first_step_value
        step = ops.convert_to_tensor(step)
        if self._first_step is None:
            traced = _train_functions.traced_input(self)
            if traced is not None:
                first = ops.cast(traced, step.dtype)
            else:
                if _is_jax_tracer(step):
                    self._baked = True  # a constant in this trace: it keys the train function (trace_key)
                first = ops.convert_to_tensor(self._first_step_value, step.dtype)
        else:
            first = ops.cast(self._first_step, step.dtype)
        if k > 1:  # batches -> updates (Keras calls the schedule with its batch count)
            return ops.floor_divide(step, k) - ops.floor_divide(first, k)
        return step - first

    def __call__(self, step):
        if self.host_rates is not None:
            rate = self._host_rate(step)
            if rate is not None:
                return rate
        return self.schedule(self.steps_since_start(step))

    host_rates = None  # PyTorch eager: the rates of this fit's steps as Python floats (set by the callback)

    def _host_rate(self, step):
        """PyTorch, eager step on the CPU: the rate from `host_rates` as a Python float, or None.

        Keras evaluates the schedule before every eager optimizer step; a list lookup costs a
        fraction of the dozen tensor ops of the formula or the table gather (None: evaluate it).
        A float, not a 0-d tensor: Keras's torch optimizers either pass the rate to torch's
        foreach kernels as ``alpha=-learning_rate`` (a Python scalar is their fast path: 4.3 us
        against 7.8 us for a new tensor on the digits MLP's six tensors) or ``ops.cast`` it,
        and the value is the float32 value the schedule gives, exactly (a float32 tensor takes
        it unchanged).
        """
        import torch

        if isinstance(step, keras.Variable):  # what Keras passes: optimizer.iterations
            step = step.value
        if (
            not isinstance(step, torch.Tensor)
            or step.ndim
            or step.device.type != "cpu"
            or torch.compiler.is_compiling()
        ):
            return None
        index = (
            int(step) // self.gradient_accumulation_steps - self._first_step_value // self.gradient_accumulation_steps
        )
        if 0 <= index < len(self.host_rates):
            return self.host_rates[index]
        return None

    def get_config(self):
        return {
            "schedule": keras.saving.serialize_keras_object(self.schedule),
            "first_step": self.first_step,
            "gradient_accumulation_steps": self.gradient_accumulation_steps,
        }

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        config["schedule"] = keras.saving.deserialize_keras_object(config["schedule"])
        return cls(**config)


def _fingerprint(schedule):
    """A schedule's serialized config (equal for equal curves), or its identity if it has none.

    A `functools.partial` of a pure function (CyclicLR's momentum curve) is the
    same curve when its function and arguments are the same: fingerprinted by
    those, so a new callback with equal arguments does not retrace.
    """
    if schedule is None:
        return None
    if isinstance(schedule, functools.partial):
        keywords = tuple(sorted((k, _fingerprint_argument(a)) for k, a in schedule.keywords.items()))
        return ("partial", id(schedule.func), tuple(_fingerprint_argument(a) for a in schedule.args), keywords)
    try:
        return repr(keras.saving.serialize_keras_object(schedule))
    except Exception:  # not serializable: only the same object is the same curve
        return id(schedule)


def _fingerprint_argument(value):
    """Plain values by value, anything else (a user's `scale_fn`) by identity."""
    if value is None or type(value) in (bool, int, float, str):
        return (type(value).__name__, value)
    return ("id", id(value))


def _step_dtype():
    """The integer dtype of step vectors: JAX without x64 has no int64 (it warns and truncates)."""
    return "int32" if keras.backend.backend() == "jax" else "int64"


def _values_over_fit(function, params, first=0, padded=False):
    """``function`` at the steps ``first .. first + steps * epochs`` of this `fit` (numpy float32), or None.

    One evaluation on the vector of steps (`padded`: of a power-of-two length, see
    `padded_length`). None when the fit's length is unknown or above TABLE_LIMIT, or
    `function` does not take a vector of steps (a user's ``scale_fn`` written for one).
    """
    steps, epochs = params.get("steps"), params.get("epochs")
    if steps is None or epochs is None or not callable(function) or int(steps) * int(epochs) > TABLE_LIMIT:
        return None
    count = int(steps) * int(epochs) + 1
    vector = ops.arange(first, first + (padded_length(count) if padded else count), dtype=_step_dtype())
    try:
        values = ops.convert_to_numpy(ops.cast(function(vector), "float32"))
    except Exception:  # noqa: BLE001 - a schedule written for one step at a time
        return None
    return values if tuple(values.shape) == tuple(vector.shape) else None


class _LogTable:
    """Host-side values of a schedule at this `fit`'s remaining steps, for the epoch-end logs.

    `on_epoch_end` logs the rate (and momentum) at the optimizer's step. Evaluated
    eagerly that is a dozen small backend ops per callback and epoch (0.2-0.7 ms
    on JAX, more than a small model's whole epoch of training gains from the
    in-graph schedule); evaluated once for all the fit's steps at the first epoch
    end, each later epoch reads one entry. Steps outside the table, a fit of
    unknown length, or a schedule that does not take a vector of steps (a user's
    ``scale_fn`` written for one step) fall back to the eager evaluation.
    """

    def __init__(self, source, first, values):
        self.source = source  # what was tabulated: the optimizer's rate object, or the momentum function
        self.first = first
        self.values = values  # numpy float32, or None (always evaluate eagerly)

    @classmethod
    def build(cls, source, step, params):
        return cls(source, step, _values_over_fit(source, params, first=step, padded=True))

    def value(self, step, evaluate):
        index = step - self.first
        if self.values is not None and 0 <= index < len(self.values):
            return float(self.values[index])
        return float(ops.convert_to_numpy(evaluate()))


class ScheduleCallback(keras.callbacks.Callback):
    """Base class: subclasses return their schedules from `make_schedules`.

    The schedule is installed at the first `on_epoch_begin` of a `fit`, when
    the real initial epoch is known (Keras's `BackupAndRestore` may raise it in
    its `on_train_begin`). Its step 0 is the optimizer step at which epoch 0 of
    this `fit` began: ``iterations - initial_epoch * steps_per_epoch``.
    """

    def __init__(self, cycle_momentum: bool = False, optimizer=None, override_schedule: bool = False):
        super().__init__()
        self.cycle_momentum = cycle_momentum
        self.optimizer = _optimizer_choice.check_optimizer_argument(optimizer)
        self.override_schedule = v.check_bool("override_schedule", override_schedule)
        self._optimizer = None  # the one driven, chosen at on_train_begin
        self._momentum_fn = None
        self._eager_momentum_optimizer = None  # PyTorch: the optimizer whose momentum is set before each step
        self._float_momentum = False  # PyTorch: set as a Python float (eager steps) rather than a tensor
        self._momentum_attribute = None
        self._eager_momentum = None
        self._momentum_table = None
        self._momentum_list = None  # the table's values as Python floats (PyTorch on CPU)
        self._rate_table = None  # host tables of what on_epoch_end logs (see _LogTable)
        self._momentum_log_table = None
        self._momentum_of_step = None
        self._installed = False
        self.first_step = None
        self._resumed_first_step = None

    def get_state(self) -> dict:
        """The optimizer step at which this `fit`'s schedule started (None before it did).

        Saved by `kerasplus.callbacks.BackupAndRestore`: a run resumed in the
        middle of an epoch cannot work it out from ``initial_epoch``.
        """
        return {"first_step": self.first_step}

    def set_state(self, state: dict) -> None:
        """Continues the schedule of a saved run; re-installs it if already installed."""
        first_step = state.get("first_step")
        self._resumed_first_step = None if first_step is None else int(first_step)
        if self._installed and self._resumed_first_step is not None:
            self._restore_originals()
            self._install(None)

    def make_schedules(self, optimizer):
        """Returns ``(lr_schedule, momentum_fn_or_None)``, both counting from 0."""
        raise NotImplementedError

    def driven_optimizer(self):
        """The optimizer this callback drives in the running (or last) `fit`; see ``optimizer``."""
        if self._optimizer is None:
            self._optimizer = _optimizer_choice.chosen_optimizer(self.model, self.optimizer, type(self).__name__)
        return self._optimizer

    def on_train_begin(self, logs=None):
        self._installed = False
        self._optimizer = None
        self.driven_optimizer()  # raises now, before training, when the model holds several optimizers
        _accumulation.refuse_unsupported(self.model, type(self).__name__)
        # Nothing of this fit is installed before the first epoch begins, so
        # anything recorded now is left over from a fit an exception cut short.
        self._restore_originals()
        self._enforce_lint()

    def _enforce_lint(self):
        """What `kerasplus.diagnostics.lint` calls an error about this callback stops the fit here, in its words."""
        from kerasplus.diagnostics import linter

        _, callback_list = internal_keras.find_running_fit()
        callbacks = list(callback_list.callbacks) if callback_list is not None else [self]
        for finding, involved in linter.lr_problems(self.model, callbacks):
            if finding.severity == "error" and any(c is self for c in involved):
                raise ValueError(f"{type(self).__name__}: {finding}")

    def on_epoch_begin(self, epoch, logs=None):
        if not self._installed:
            self._install(epoch)
            self._installed = True

    def _first_step(self, optimizer, initial_epoch):
        iterations = int(ops.convert_to_numpy(internal_keras.schedule_step(optimizer)))
        if initial_epoch == 0:
            return iterations
        steps = self.params.get("steps")
        if steps is None:
            raise ValueError(
                f"{type(self).__name__} resumes at epoch {initial_epoch} but "
                "cannot tell how many steps an epoch has; pass steps_per_epoch "
                "to fit."
            )
        return iterations - initial_epoch * int(steps)

    def _install(self, initial_epoch):
        optimizer = self.driven_optimizer()
        if self.cycle_momentum:  # fail before changing anything
            name = momentum_attribute(optimizer)
        if self._resumed_first_step is not None:
            first_step, self._resumed_first_step = self._resumed_first_step, None
        else:
            first_step = self._first_step(optimizer, initial_epoch)
        self.first_step = first_step
        schedule, momentum_fn = self.make_schedules(optimizer)
        originals = _ORIGINALS.setdefault(optimizer, {})
        original_rate = originals.setdefault("learning_rate", internal_keras.learning_rate_source(optimizer))
        # The same curve as in an earlier fit: install the same objects again (with the new
        # start), so the train function traced with them then is reused instead of retraced.
        # Kept per optimizer, not per callback: a new callback with the same arguments (the
        # usual `fit(..., callbacks=[OneCycleLR(...)])` in a loop) reuses them too.
        fingerprint = (
            type(self).__name__,
            accumulation_steps(optimizer),
            _fingerprint(schedule),
            _fingerprint(momentum_fn) if self.cycle_momentum else None,
        )
        kept = _KEPT.setdefault(optimizer, {}).get(fingerprint)
        if kept is not None:
            started, momentum_scalar = kept
            started.first_step = first_step
        else:
            started = StartedSchedule(schedule, first_step, accumulation_steps(optimizer))
            momentum_scalar = None
        internal_keras.replace_learning_rate(optimizer, started)
        # A model saved mid-fit (ModelCheckpoint) then reloads an optimizer with the same
        # variables as the one that was saved (a float rate keeps its variable), so the
        # iteration count and slots load, and the callback installs its schedule again
        # when training resumes. Removed when fit ends.
        internal_keras.report_config_as_compiled(optimizer, original_rate, originals)
        self._momentum_fn = None
        self._eager_momentum_optimizer = None
        self._momentum_of_step = None
        self._momentum_table = None
        self._rate_table = None
        self._momentum_log_table = None
        if self.cycle_momentum:
            base = float(originals.setdefault(name, getattr(optimizer, name)))
            iterations = internal_keras.schedule_step(optimizer)
            momentum_schedule = started.momentum_schedule = getattr(started, "momentum_schedule", momentum_fn)
            self._momentum_of_step = lambda step: momentum_schedule(started.steps_since_start(step))
            self._momentum_fn = lambda: momentum_schedule(started.steps_since_start(iterations))
            self._momentum_attribute = name
            if keras.backend.backend() == "torch":
                # PyTorch's optimizers read it as a Python scalar, in an eager step
                # (steps_per_execution is 1 there): set before each step.
                self._momentum_table = self._tabulate_momentum(momentum_schedule, started, iterations)
                self._momentum_list = None
                self._float_momentum = not self.model.jit_compile
                self._set_eager_momentum(optimizer)
                self._eager_momentum_optimizer = optimizer
            else:
                if momentum_scalar is None or float(momentum_scalar) != base:
                    momentum_scalar = ScheduledScalar(base, self._momentum_fn)
                setattr(optimizer, name, momentum_scalar)
        kept = _KEPT[optimizer]
        kept.pop(fingerprint, None)
        while len(kept) >= 8:  # a few curves per optimizer (dicts keep insertion order)
            kept.pop(next(iter(kept)))
        kept[fingerprint] = (started, momentum_scalar)
        started.host_rates = self._tabulate_rates(started) if keras.backend.backend() == "torch" else None
        # A train function traced before with other objects captured the old rate: reuse
        # one traced with these, or trace anew. On JAX it reads the start as an input.
        _train_functions.trace_input(self.model, started)
        _train_functions.select(self.model)

    def _tabulate_rates(self, started):
        """PyTorch: the rate at each update of this `fit` as Python floats (float32 values), or None.

        None when the fit's length is unknown or too long, or the schedule does not take
        all steps at once; `StartedSchedule` then evaluates it at every step.
        """
        values = _values_over_fit(started.schedule, self.params)
        return None if values is None else values.tolist()

    def _tabulate_momentum(self, momentum_schedule, started, iterations):
        """PyTorch: ``(values, first_step, iterations)`` of the momentum at every step of this `fit`, or None.

        Computed once, the same function on all the fit's steps at once, so
        each batch reads one entry (three tensor ops) instead of evaluating the
        schedule (a dozen); None when the fit's length is unknown or too long,
        or the schedule does not take all steps at once (a user's `scale_fn`).
        """
        values = _values_over_fit(momentum_schedule, self.params)
        return None if values is None else (ops.convert_to_tensor(values), started, iterations)

    def _set_eager_momentum(self, optimizer):
        """PyTorch: the momentum for the next step.

        In an eager step a Python float, as the optimizer's own hyperparameter is (torch's
        foreach kernels take a tensor scalar on a slower path: measured 12 us more per step
        on the digits MLP). Under ``jit_compile=True`` one tensor updated in place, so the
        `torch.compile`d step reads it as an input instead of recompiling for every value.
        """
        if self._momentum_table is not None:
            values, started, iterations = self._momentum_table
            step = iterations.value
            if step.device.type == "cpu":
                # Read on the host (no device sync to wait for): a Python list lookup and one
                # in-place fill, a third of the tensor ops' cost on a small model's eager step.
                if self._momentum_list is None:
                    self._momentum_list = values.tolist()  # the float32 values, exactly
                index = min(max(int(step) - started.first_step, 0), len(self._momentum_list) - 1)
                if self._float_momentum:
                    setattr(optimizer, self._momentum_attribute, self._momentum_list[index])
                    return
                if getattr(optimizer, self._momentum_attribute) is self._eager_momentum:
                    self._eager_momentum.fill_(self._momentum_list[index])
                    return
                value = values[index].clone()  # not a view: the fills above must not write the table
            else:
                value = values[(step - started.first_step).clamp(0, values.shape[0] - 1)]
        else:
            value = ops.cast(self._momentum_fn(), "float32")
        if getattr(optimizer, self._momentum_attribute) is self._eager_momentum:
            self._eager_momentum.copy_(value)
        else:
            self._eager_momentum = value
            setattr(optimizer, self._momentum_attribute, value)

    def on_train_batch_begin(self, batch, logs=None):
        # Called for every batch on every backend (Keras calls each callback's hook): one attribute test.
        if self._eager_momentum_optimizer is not None:
            self._set_eager_momentum(self._eager_momentum_optimizer)

    def on_epoch_end(self, epoch, logs=None):
        if logs is None or not self._installed:
            return
        optimizer = self.driven_optimizer()
        step = _host_step(optimizer)
        rate = internal_keras.learning_rate_source(optimizer)
        if self._rate_table is None or self._rate_table.source is not rate:
            self._rate_table = _LogTable.build(rate, step, self.params)
        logs["learning_rate"] = self._rate_table.value(step, lambda: optimizer.learning_rate)
        if self._momentum_fn is not None:
            if self._momentum_log_table is None:
                self._momentum_log_table = _LogTable.build(self._momentum_of_step, step, self.params)
            logs[self._momentum_attribute] = self._momentum_log_table.value(step, self._momentum_fn)

    def on_train_end(self, logs=None):
        self._restore_originals()

    def _restore_originals(self):
        optimizer = self.driven_optimizer()
        originals = _ORIGINALS.pop(optimizer, None)
        if originals:
            # File the train function traced with our schedule, and give the model back the
            # one its fit started with (traced with the optimizer's own rate, put back next).
            _train_functions.finish(self.model)
            internal_keras.stop_reporting_config(optimizer)
            internal_keras.replace_learning_rate(optimizer, originals.pop("learning_rate"))
            for name, value in originals.items():  # momentum or beta_1
                setattr(optimizer, name, value)
