"""Private Keras APIs kerasplus relies on, each with its reason, public route and canary.

Sections by kerasplus area; add an entry to the section of the feature that needs it.
"""

from __future__ import annotations

import keras  # noqa: F401  (entries below use it)

from kerasplus._internals.registry import fenced, require

# ---------------------------------------------------------------------------
# Schedules and learning-rate callbacks (callbacks/_schedule_callback.py, ...)
# ---------------------------------------------------------------------------


# ---------------------------------------------------------------------------
# Resume: BackupAndRestore, the data position inside fit
# ---------------------------------------------------------------------------

# Keras 3's `fit` keeps its `EpochIterator` and `CallbackList` in local
# variables and gives callbacks no handle on either; a mid-epoch resume has to
# find them from `on_train_begin` and steer that one iterator object (nothing
# global is patched; it is discarded with `fit`).


def _canary_fit_locals():
    import inspect

    fit = inspect.unwrap(keras.Model.fit)
    for name in ("epoch_iterator", "callbacks"):
        require(name in fit.__code__.co_varnames, f"{fit.__qualname__} has no local variable {name!r}")


@fenced(
    reason="find the running fit's epoch iterator and callback list from inside a callback (frame inspection)",
    waits_for="a public handle from a callback on fit's data iterator and callback list (keras-team/keras)",
    feature="BackupAndRestore mid-epoch resume (save_freq=<int>) and other callbacks' state in checkpoints",
    canary=_canary_fit_locals,
)
def find_running_fit(max_depth: int = 12):
    """``(epoch_iterator, callback_list)`` of the `fit` running below the caller (a callback hook), or Nones."""
    import sys

    from keras.src.trainers.epoch_iterator import EpochIterator

    frame = sys._getframe(1)
    epoch_iterator = callback_list = None
    for _ in range(max_depth):
        if frame is None:
            break
        local = frame.f_locals
        candidate = local.get("self")
        if callback_list is None and isinstance(candidate, keras.callbacks.CallbackList):
            callback_list = candidate
        if isinstance(local.get("epoch_iterator"), EpochIterator):
            epoch_iterator = local["epoch_iterator"]
            candidate = local.get("callbacks")
            if callback_list is None and isinstance(candidate, keras.callbacks.CallbackList):
                callback_list = candidate
            break
        frame = frame.f_back
    return epoch_iterator, callback_list


def _canary_epoch_iterator_get_iterator():
    from keras.src.trainers.epoch_iterator import EpochIterator

    require(callable(getattr(EpochIterator, "_get_iterator", None)), "EpochIterator._get_iterator")
    require(callable(getattr(EpochIterator, "_enumerate_iterator", None)), "EpochIterator._enumerate_iterator")


@fenced(
    reason="count the iterators fit makes over its data, and replay a saved run's, by wrapping their factory",
    waits_for="a public way to start fit mid-epoch (keras-team/keras: initial_step for fit)",
    feature="BackupAndRestore mid-epoch resume (save_freq=<int>)",
    canary=_canary_epoch_iterator_get_iterator,
)
def wrap_iterator_factory(epoch_iterator, wrap):
    """Makes `epoch_iterator` take each epoch's data from ``wrap(source)``; returns the original factory.

    `source` is what Keras's own factory returns (something `iter()` takes);
    the returned no-argument callable makes another one, unwrapped.
    """
    make_source = type(epoch_iterator)._get_iterator.__get__(epoch_iterator)
    epoch_iterator._get_iterator = lambda: wrap(make_source())
    return make_source


def _canary_epoch_iterator_enumerate():
    import numpy as np
    from keras.src.trainers.epoch_iterator import EpochIterator

    require(callable(getattr(EpochIterator, "_enumerate_iterator", None)), "EpochIterator._enumerate_iterator")
    iterator = EpochIterator(x=np.zeros((4, 1), "float32"), batch_size=2)
    require(isinstance(getattr(iterator, "_steps_seen", None), int), "EpochIterator._steps_seen (an int)")
    steps = [item[0] for item in iterator._enumerate_iterator()]
    require(steps == [0, 1], f"EpochIterator._enumerate_iterator yields (step, ...) from 0; got steps {steps}")


@fenced(
    reason="skip the batches a mid-epoch checkpoint already consumed, inside the running fit",
    waits_for="a public way to start fit mid-epoch (keras-team/keras: initial_step for fit)",
    feature="BackupAndRestore mid-epoch resume (save_freq=<int>)",
    canary=_canary_epoch_iterator_enumerate,
)
def skip_consumed_batches(epoch_iterator, step_in_epoch: int, consumed: int) -> None:
    """For its next epoch only, `epoch_iterator` drops the steps before `step_in_epoch`.

    Their data is not read (the iterator factory skipped `consumed` batches
    already), so callbacks see the true step numbers and the epoch ends
    where it would have.
    """
    generate = type(epoch_iterator)._enumerate_iterator.__get__(epoch_iterator)

    def resumed():
        del epoch_iterator._enumerate_iterator  # this epoch only
        adjusted = False
        for item in generate():
            if item[0] < step_in_epoch:
                continue  # done before the interruption; its data was skipped
            if not adjusted:
                # Keras counts the batches taken from the current iterator to
                # know when it runs out; ours are `consumed`, not one per yield.
                epoch_iterator._steps_seen += consumed - step_in_epoch
                adjusted = True
            yield item

    epoch_iterator._enumerate_iterator = resumed


def _canary_initial_epoch():
    import inspect

    fit = inspect.unwrap(keras.Model.fit)
    require("_initial_epoch" in fit.__code__.co_names, f"{fit.__qualname__} reads self._initial_epoch")


@fenced(
    reason="make the running fit start at the restored epoch (as Keras's own BackupAndRestore does)",
    waits_for="a public way for a callback to set fit's initial epoch (keras-team/keras)",
    feature="BackupAndRestore: resuming at the saved epoch",
    canary=_canary_initial_epoch,
)
def set_initial_epoch(model, epoch: int | None) -> None:
    """Sets the epoch the running `fit` of `model` starts at; None leaves a later `fit` its own."""
    model._initial_epoch = epoch


def _canary_global_seed_generator():
    import inspect

    from keras.src.backend.common import global_state
    from keras.src.random import seed_generator

    require(callable(getattr(global_state, "get_global_attribute", None)), "global_state.get_global_attribute")
    require(
        "global_seed_generator" in inspect.getsource(seed_generator),
        "keras.src.random.seed_generator keeps its generator under 'global_seed_generator'",
    )


@fenced(
    reason="save and restore the state of Keras's global SeedGenerator (unseeded random ops) without creating it",
    waits_for="a public getter for the global SeedGenerator (keras.random)",
    feature="BackupAndRestore bit-exact resume of unseeded random ops",
    canary=_canary_global_seed_generator,
)
def global_seed_generator():
    """Keras's global `SeedGenerator`, or None while no unseeded random op has created it."""
    from keras.src.backend.common import global_state

    return global_state.get_global_attribute("global_seed_generator")


def _canary_monitor_op():
    callback = keras.callbacks.EarlyStopping(monitor="loss", mode="auto", min_delta=0.5)
    require(callable(getattr(callback, "_set_monitor_op", None)), "MonitorCallback._set_monitor_op")
    callback._set_monitor_op()
    require(callback.monitor_op is keras.ops.less, "_set_monitor_op sets monitor_op to keras.ops.less for a loss")
    require(callback.min_delta == -0.5, "_set_monitor_op makes min_delta negative when minimizing")


@fenced(
    reason="resolve mode='auto' to the monitored metric's direction as Keras's EarlyStopping does",
    waits_for="a public MonitorCallback method that sets monitor_op (keras-team/keras)",
    feature="kerasplus EarlyStopping criteria 'gl', 'pq', 'up' with mode='auto'",
    canary=_canary_monitor_op,
)
def set_monitor_op(callback) -> None:
    """Sets `callback.monitor_op` (and the sign of `min_delta`) from its mode and model metrics."""
    callback._set_monitor_op()



# ---------------------------------------------------------------------------
# Diagnostics, initializers, transfer, data, losses
# ---------------------------------------------------------------------------


# ---------------------------------------------------------------------------
# Quantization and distribution
# ---------------------------------------------------------------------------
