"""Private Keras APIs kerasplus relies on, each with its reason, public route and canary.

Sections by kerasplus area; add an entry to the section of the feature that needs it.
"""

from __future__ import annotations

import contextlib
import inspect

import keras

from kerasplus._internals.registry import fenced, require

# ---------------------------------------------------------------------------
# Schedules and learning-rate callbacks (callbacks/_schedule_callback.py, ...)
# ---------------------------------------------------------------------------


def _canary_optimizer_learning_rate_attribute():
    optimizer = keras.optimizers.SGD(0.1)
    rate = getattr(optimizer, "_learning_rate", None)
    require(isinstance(rate, keras.Variable), "Optimizer._learning_rate is a Variable")
    optimizer._learning_rate = keras.optimizers.schedules.ExponentialDecay(0.5, 10, 0.5)
    require(float(optimizer.learning_rate) == 0.5, "Optimizer.learning_rate evaluates the schedule in _learning_rate")
    require(any(x is rate for x in optimizer.variables), "a schedule put in _learning_rate keeps the rate Variable")


@fenced(
    reason="read the optimizer's own rate (Variable, schedule or callable); the public property evaluates it",
    waits_for="a public Optimizer API returning the learning rate as configured (keras-team/keras)",
    feature="WarmupLR wrapping the optimizer's rate; OneCycleLR/CyclicLR/WarmupLR/LRFinder saving it; NaNGuard; "
    "diagnostics.lint rule lr-callback-over-schedule",
    canary=_canary_optimizer_learning_rate_attribute,
)
def learning_rate_source(optimizer):
    """What the optimizer holds as its rate: a Variable, a LearningRateSchedule or a callable (None if no optimizer)."""
    return getattr(optimizer, "_learning_rate", None)


@fenced(
    reason="install a schedule keeping the rate Variable tracked, and put the Variable back; the public setter "
    "untracks the Variable when a schedule goes in and refuses a Variable once a schedule is set",
    waits_for="a public Optimizer API to swap a schedule for a variable (keras-team/keras: learning_rate setter)",
    feature="OneCycleLR/CyclicLR/WarmupLR/LRFinder installing their schedule and restoring the rate when fit ends",
    canary=_canary_optimizer_learning_rate_attribute,
)
def replace_learning_rate(optimizer, value):
    """Puts `value` (a Variable or a schedule) in the optimizer's rate slot; its variables stay as they are."""
    optimizer._learning_rate = value


def _canary_optimizer_iterations_attribute():
    class Recording(keras.optimizers.schedules.LearningRateSchedule):
        def __call__(self, step):
            seen.append(step)
            return 0.1

    seen = []
    optimizer = keras.optimizers.SGD(Recording(), gradient_accumulation_steps=2)
    steps = getattr(optimizer, "_iterations", None)
    require(isinstance(steps, keras.Variable), "Optimizer._iterations is a Variable")
    optimizer.learning_rate  # noqa: B018  (evaluates the schedule)
    require(bool(seen) and seen[-1] is steps, "a LearningRateSchedule is called with Optimizer._iterations")


@fenced(
    reason="the step count a LearningRateSchedule is called with; the public `iterations` divides it by "
    "gradient_accumulation_steps",
    waits_for="a public Optimizer API for the raw step count schedules receive (keras-team/keras)",
    feature="OneCycleLR/CyclicLR/WarmupLR/LRFinder: where a fit's schedule starts; momentum cycling; LRFinder's rows",
    canary=_canary_optimizer_iterations_attribute,
)
def schedule_step(optimizer):
    """The optimizer's step-count Variable, as its learning-rate schedule receives it."""
    return optimizer._iterations


def _canary_optimizer_get_config_on_the_instance():
    optimizer = keras.optimizers.SGD(0.1)
    rate = optimizer._learning_rate
    optimizer._learning_rate = keras.optimizers.schedules.ExponentialDecay(0.5, 10, 0.5)
    report_config_as_compiled(optimizer, rate)
    config = keras.saving.serialize_keras_object(optimizer)["config"]
    require(abs(config["learning_rate"] - 0.1) < 1e-6, "saving an optimizer calls the get_config set on the instance")
    stop_reporting_config(optimizer)
    require("get_config" not in vars(optimizer), "stop_reporting_config removes the instance's get_config")


@fenced(
    reason="a model saved mid-fit (ModelCheckpoint) must describe the optimizer as compiled, with its rate Variable, "
    "so it reloads with the same variables; done by an instance get_config that swaps the rate back while it runs",
    waits_for="a public hook to install a schedule for one fit without it being saved (keras-team/keras)",
    feature="OneCycleLR/CyclicLR/WarmupLR/LRFinder: checkpoints saved during fit reload as compiled and resume",
    canary=_canary_optimizer_get_config_on_the_instance,
)
def report_config_as_compiled(optimizer, learning_rate, hyperparameters=None):
    """Until `stop_reporting_config`, `optimizer.get_config()` reports `learning_rate` as the rate.

    `hyperparameters` (a dict, read at each call) overrides other config entries it
    names, such as a cycled `momentum` that is a tensor during the fit on PyTorch.
    """
    if "get_config" in vars(optimizer):
        return

    def get_config():
        # Through __dict__: saving must not go through the optimizer's variable tracking.
        installed = vars(optimizer)["_learning_rate"]
        vars(optimizer)["_learning_rate"] = learning_rate
        try:
            config = type(optimizer).get_config(optimizer)
        finally:
            vars(optimizer)["_learning_rate"] = installed
        for name, value in (hyperparameters or {}).items():
            if name in config and name != "learning_rate":
                config[name] = value
        return config

    vars(optimizer)["get_config"] = get_config


@fenced(
    reason="undo report_config_as_compiled: remove the instance get_config",
    waits_for="a public hook to install a schedule for one fit without it being saved (keras-team/keras)",
    feature="OneCycleLR/CyclicLR/WarmupLR/LRFinder: the optimizer saves as itself again after fit",
    canary=_canary_optimizer_get_config_on_the_instance,
)
def stop_reporting_config(optimizer):
    """Removes what `report_config_as_compiled` set."""
    vars(optimizer).pop("get_config", None)


def _canary_jax_train_function():
    if keras.backend.backend() != "jax":
        return
    import numpy as np
    from keras.src.backend.jax.trainer import JAXTrainer

    source = inspect.getsource(JAXTrainer.make_train_function)
    require(
        "self._make_function(" in source, "JAXTrainer.make_train_function wraps its jitted step with _make_function"
    )
    require("_get_state_sharding_spec" in source, "JAXTrainer.make_train_function reads _get_state_sharding_spec")
    calls = []
    model = keras.Sequential([keras.Input((1,)), keras.layers.Dense(1)])
    model.compile(keras.optimizers.SGD(0.1), "mse", steps_per_execution=2)
    model.make_train_function()

    def step(state, data):
        calls.append(1)
        return model.train_step(state, data)

    model.train_function = jax_train_function(model, step)
    x = np.ones((4, 1), "float32")
    model.fit(x, x, batch_size=1, epochs=1, verbose=0)
    require(len(calls) == 4, f"_make_function calls the step once per batch with steps_per_execution=2; {len(calls)}")
    require(jax_state_shardings(model) is None, "no state shardings without a distribution")


@fenced(
    reason="on JAX, a train function that reads a schedule's start as an input (not a constant baked into the trace) "
    "so a later fit reuses its compiled step; Keras builds its train function only around model.train_step, "
    "and its per-batch loop (steps_per_execution) is the private JAXTrainer._make_function",
    waits_for="a public way to pass extra inputs to the compiled train step, or to make a train function around a "
    "given step function (keras-team/keras)",
    feature="OneCycleLR/CyclicLR/WarmupLR/NaNGuard: a second fit on JAX traces nothing new",
    canary=_canary_jax_train_function,
)
def jax_train_function(model, step):
    """A JAX model's train function around `step(state, data) -> (logs, state)`, batches looped as Keras does."""
    return model._make_function(step)


@fenced(
    reason="the output shardings Keras gives its jitted train step under a keras.distribution (private "
    "JAXTrainer._get_state_sharding_spec), for a train function kerasplus jits itself",
    waits_for="a public way to pass extra inputs to the compiled train step (keras-team/keras)",
    feature="OneCycleLR/CyclicLR/WarmupLR/NaNGuard under keras.distribution on JAX",
    canary=_canary_jax_train_function,
)
def jax_state_shardings(model):
    """The state shardings Keras's jitted train step outputs under the current distribution, or None."""
    if keras.distribution.distribution() is None:
        return None
    return model._get_state_sharding_spec()


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


def _canary_callback_list_iterates_its_list():
    seen = []

    class Recorder(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            seen.append("added")

    class Adder(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            run_after_every_callback(callback_list, Recorder())

    callback_list = keras.callbacks.CallbackList([Adder()], add_history=False, add_progbar=False)
    callback_list.on_epoch_end(0, {})
    require(seen == ["added"], "CallbackList.on_epoch_end calls a callback appended to .callbacks during the call")


@fenced(
    reason="add a hook that runs after every callback of the running fit (its CallbackList gives no API to add one)",
    waits_for="a public CallbackList.append, or an on_epoch_end hook that runs after all callbacks (keras-team/keras)",
    feature="BackupAndRestore: the checkpoint holds every callback's state after its on_epoch_end/on_train_batch_end",
    canary=_canary_callback_list_iterates_its_list,
)
def run_after_every_callback(callback_list, callback) -> None:
    """Appends `callback` to the running `callback_list` (after History and the progress bar)."""
    callback_list.callbacks.append(callback)


@fenced(
    reason="remove the hook run_after_every_callback added, when fit ends or is preempted",
    waits_for="a public CallbackList.remove (keras-team/keras)",
    feature="BackupAndRestore: a later fit of the same model does not run a finished fit's hook",
    canary=_canary_callback_list_iterates_its_list,
)
def stop_running_after_every_callback(callback_list, callback) -> None:
    """Removes what `run_after_every_callback` added (no-op if it is gone)."""
    if callback in callback_list.callbacks:
        callback_list.callbacks.remove(callback)


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


def _canary_optimizer_trainable_variables():
    variable = keras.Variable(keras.ops.zeros((2,)), name="weight")
    optimizer = keras.optimizers.Adam()
    optimizer.build([variable])
    held = getattr(optimizer, "_trainable_variables", None)
    require(
        isinstance(held, list) and len(held) == 1 and held[0] is variable,
        "Optimizer._trainable_variables lists the variables it was built for",
    )


@fenced(
    reason="the variables an optimizer was built for (its slots follow their order), to build it the same way "
    "in a resumed process before its first step",
    waits_for="a public Optimizer API listing the variables it was built with (keras-team/keras)",
    feature="BackupAndRestore restoring every optimizer a model holds (a GAN's d_optimizer and g_optimizer)",
    canary=_canary_optimizer_trainable_variables,
)
def optimizer_trained_variables(optimizer) -> list:
    """The variables `optimizer` was built for, in order (empty while it is not built)."""
    return list(getattr(optimizer, "_trainable_variables", None) or [])


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
    reason="resolve mode (and 'auto' to the monitored metric's direction) and min_delta's sign as Keras's "
    "EarlyStopping does",
    waits_for="a public MonitorCallback method that sets monitor_op (keras-team/keras)",
    feature="kerasplus EarlyStopping, every criterion (its patience rule compares on the host)",
    canary=_canary_monitor_op,
)
def set_monitor_op(callback) -> None:
    """Sets `callback.monitor_op` (and the sign of `min_delta`) from its mode and model metrics."""
    callback._set_monitor_op()


def _canary_fit_validation_data_local():
    seen = []

    class Probe(keras.callbacks.Callback):
        def on_train_begin(self, logs=None):
            seen.append(running_fit_validates())

    import numpy as np

    model = keras.Sequential([keras.Input((1,)), keras.layers.Dense(1)])
    model.compile("sgd", "mse")
    x = np.zeros((4, 1), "float32")
    for kwargs in ({}, {"validation_data": (x, x)}, {"validation_split": 0.5}):
        model.fit(x, x, epochs=1, verbose=0, callbacks=[Probe()], **kwargs)
    require(seen == [False, True, True], "fit keeps its validation data in a local `validation_data` (after split)")


@fenced(
    reason="tell at on_train_begin whether this fit validates; callbacks get no validation flag in params",
    waits_for="a public fit parameter for callbacks saying whether validation runs (keras-team/keras)",
    feature="kerasplus EarlyStopping raising at on_train_begin when it monitors val_* in a fit without validation",
    canary=_canary_fit_validation_data_local,
)
def running_fit_validates(max_depth: int = 12) -> bool | None:
    """Whether the `fit` running below the caller (a callback hook) has validation data; None if no fit is found."""
    import sys

    from keras.src.trainers.epoch_iterator import EpochIterator

    frame = sys._getframe(1)
    for _ in range(max_depth):
        if frame is None:
            break
        local = frame.f_locals
        if (
            frame.f_code.co_name == "fit"
            and "validation_data" in local
            and isinstance(local.get("epoch_iterator"), EpochIterator)
        ):
            return local["validation_data"] is not None
        frame = frame.f_back
    return None


# ---------------------------------------------------------------------------
# NaNGuard (callbacks/nan_guard.py)
# ---------------------------------------------------------------------------

# On JAX, `fit` keeps the training state in arrays of its own between steps and
# writes them back to the variables only on `jax_state_sync()` (end of epoch, or
# when a callback reads `Callback.model`). After such a sync the next step reads
# the variables again, so a value assigned after the sync is the one it trains
# from; one assigned before it is overwritten by the sync.


def _canary_state_reread_after_sync():
    if keras.backend.backend() == "jax":
        from keras.src.backend.jax.trainer import JAXTrainer

        require(callable(getattr(JAXTrainer, "jax_state_sync", None)), "JAXTrainer.jax_state_sync")
        fit = inspect.getsource(JAXTrainer.fit)
        require("_jax_state_synced" in fit, "JAXTrainer.fit re-reads the variables when _jax_state_synced is set")

    class Zero(keras.callbacks.Callback):
        def on_train_batch_end(self, batch, logs=None):
            if batch == 0:
                sync_training_state(self.model)
                self.model.trainable_variables[0].assign(keras.ops.zeros((1, 1)))

    import numpy as np

    model = keras.Sequential([keras.Input((1,)), keras.layers.Dense(1, use_bias=False, kernel_initializer="ones")])
    model.compile(keras.optimizers.SGD(1.0), "mse")
    x = np.ones((2, 1), "float32")
    model.fit(x, np.zeros_like(x), batch_size=1, shuffle=False, verbose=0, callbacks=[Zero()])
    # loss w², lr 1: step 0 takes w from 1 to -1; from the assigned 0 step 1 stays at 0, from -1 it goes to 1
    kernel = float(keras.ops.convert_to_numpy(model.trainable_variables[0].value)[0, 0])
    require(kernel == 0.0, f"a variable assigned in on_train_batch_end after the sync is what fit trains on; {kernel}")


@fenced(
    reason="on JAX, fit holds the training state outside the variables mid-epoch and overwrites variables assigned "
    "before it writes its state back; write it back first (JAXTrainer.jax_state_sync, undocumented), after which "
    "Keras re-reads the variables for the next step",
    waits_for="a public API for a callback to set the model's variables mid-fit on JAX (keras-team/keras)",
    feature="NaNGuard undoing a step on JAX (restoring weights, optimizer and metric state mid-epoch)",
    canary=_canary_state_reread_after_sync,
)
def sync_training_state(model) -> None:
    """Writes a running JAX fit's state back to `model`'s variables, so assigning them next takes effect.

    A no-op on the other backends, whose variables are the training state.
    """
    sync = getattr(model, "jax_state_sync", None)
    if sync is not None:
        sync()


def _canary_kerasplus_slot():
    import os
    import tempfile

    model = keras.Sequential([keras.Input((1,)), keras.layers.Dense(1)])
    model.compile(keras.optimizers.SGD(0.1), "mse")
    kerasplus_slot(model)["probe"] = lambda: None
    require(not any("kerasplus" in str(x.path) for x in model.variables), "the slot adds no tracked variable")
    with tempfile.TemporaryDirectory() as folder:
        path = os.path.join(folder, "m.keras")
        model.save(path)
        loaded = keras.saving.load_model(path, safe_mode=True)
    require("_kerasplus" not in vars(loaded), "the slot is not saved with the model")


@fenced(
    reason="train functions kerasplus traced for a model are kept with the model (in its __dict__, untracked), so they "
    "are freed with it; a dict keyed weakly by the model would keep it alive, its functions referring to it",
    waits_for="nothing upstream: a plain attribute kerasplus owns; fenced because it writes into a Keras object",
    feature="OneCycleLR/CyclicLR/WarmupLR/LRFinder/NaNGuard reusing their traced train function in later fits",
    canary=_canary_kerasplus_slot,
)
def kerasplus_slot(obj) -> dict:
    """A dict kerasplus keeps on `obj` (a model), created on first use; not tracked, not saved."""
    slot = vars(obj).get("_kerasplus")
    if slot is None:
        slot = vars(obj)["_kerasplus"] = {}
    return slot


def _canary_instance_train_step():
    import numpy as np

    calls = []
    model = keras.Sequential([keras.Input((1,)), keras.layers.Dense(1)])
    model.compile(keras.optimizers.SGD(0.1), "mse")
    original = model.train_step

    def train_step(*args):
        calls.append(1)
        return original(*args)

    install_train_step(model, train_step)
    require(model.train_step is train_step, "a train_step set on the model instance is what model.train_step reads")
    model.fit(np.ones((2, 1), "float32"), np.ones((2, 1), "float32"), batch_size=2, epochs=1, verbose=0)
    require(bool(calls), "fit's train function calls the train_step set on the model instance")
    remove_train_step(model)
    require("train_step" not in vars(model), "remove_train_step removes the instance's train_step")


@fenced(
    reason="NaNGuard wraps whatever train step the model has (its class's, or a custom one) so the compiled step skips "
    "a non-finite update; Keras has no hook around train_step, so the wrapper is set on the model instance for one fit",
    waits_for="a public hook to wrap a model's train step for one fit (keras-team/keras), or Optax-style "
    "apply_if_finite in Keras optimizers",
    feature="NaNGuard skipping a non-finite step inside the compiled step",
    canary=_canary_instance_train_step,
)
def install_train_step(model, train_step) -> None:
    """Makes `train_step` the model's train step until `remove_train_step` (through __dict__: not tracked)."""
    vars(model)["train_step"] = train_step


@fenced(
    reason="undo install_train_step: the model's class's train_step again",
    waits_for="a public hook to wrap a model's train step for one fit (keras-team/keras)",
    feature="NaNGuard: the model trains with its own train step again after fit",
    canary=_canary_instance_train_step,
)
def remove_train_step(model) -> None:
    """Removes what `install_train_step` set."""
    vars(model).pop("train_step", None)


def _canary_gradient_accumulators():
    optimizer = keras.optimizers.SGD(0.1, gradient_accumulation_steps=2)
    variable = keras.Variable([[1.0, 2.0]])
    optimizer.build([variable])
    accumulators = gradient_accumulators(optimizer)
    require(len(accumulators) == 1, "Optimizer._accumulated_gradients holds one accumulator per trainable variable")
    require(tuple(accumulators[0].shape) == (1, 2), "an accumulator has its variable's shape")
    require(any(x is accumulators[0] for x in optimizer.variables), "the accumulators are optimizer variables")
    require(
        gradient_accumulators(keras.optimizers.SGD(0.1)) == [], "no accumulators without gradient_accumulation_steps"
    )


@fenced(
    reason="NaNGuard checks the gradients a step adds to the accumulators: a step between updates changes no weight, "
    "so a non-finite gradient there shows only in them",
    waits_for="a public Optimizer accessor for its gradient accumulators (keras-team/keras)",
    feature="NaNGuard skipping a non-finite step in the middle of a gradient accumulation",
    canary=_canary_gradient_accumulators,
)
def gradient_accumulators(optimizer) -> list:
    """The optimizer's gradient-accumulator Variables ([] without ``gradient_accumulation_steps``)."""
    if not getattr(optimizer, "gradient_accumulation_steps", None):
        return []
    return [x for x in getattr(optimizer, "_accumulated_gradients", None) or [] if x is not None]


def _canary_deferred_apply():
    import numpy as np

    model = keras.Sequential([keras.Input((1,)), keras.layers.Dense(1, kernel_initializer="ones")])
    model.compile(keras.optimizers.SGD(0.1), "mse", run_eagerly=True)
    model.build((None, 1))
    model.optimizer.build(model.trainable_variables)
    before = [np.array(w) for w in model.get_weights()]
    with deferred_optimizer_apply(model.optimizer) as pending:
        model.train_on_batch(np.ones((2, 1), "float32"), np.zeros((2, 1), "float32"))
    if keras.backend.backend() != "torch":
        return  # the feature (NaNGuard's deferred update) is PyTorch's only
    require(len(pending) == 1, "Keras's torch train_step calls model.optimizer.apply once per step")
    require(len(pending[0][0]) == len(model.trainable_variables), "apply receives one gradient per trainable weight")
    require(
        all(np.array_equal(a, b) for a, b in zip(before, model.get_weights())),
        "an apply set on the optimizer instance is what the train step calls (weights untouched while deferred)",
    )
    require("apply" not in vars(model.optimizer), "deferred_optimizer_apply removes the instance's apply")


@fenced(
    reason="NaNGuard on PyTorch: with Keras's own train step, record the update the step asks for and apply it only "
    "once the loss and gradients are known finite, instead of copying every variable before each eager step",
    waits_for="Optax-style apply_if_finite in Keras optimizers, or a public hook around optimizer.apply "
    "(keras-team/keras)",
    feature="NaNGuard on PyTorch skipping a non-finite step without a copy of the weights and optimizer slots",
    canary=_canary_deferred_apply,
)
@contextlib.contextmanager
def deferred_optimizer_apply(optimizer):
    """While active, ``optimizer.apply(grads, variables)`` only records its arguments in the yielded list."""
    pending = []

    def record(grads, trainable_variables=None):
        pending.append((list(grads), None if trainable_variables is None else list(trainable_variables)))

    vars(optimizer)["apply"] = record
    try:
        yield pending
    finally:
        vars(optimizer).pop("apply", None)


# ---------------------------------------------------------------------------
# Diagnostics, initializers, transfer, data, losses
# ---------------------------------------------------------------------------


def _canary_flatten_layers():
    flatten = getattr(keras.layers.Layer, "_flatten_layers", None)
    require(callable(flatten), "Layer._flatten_layers")
    parameters = inspect.signature(flatten).parameters
    require(
        "include_self" in parameters and "recursive" in parameters,
        "Layer._flatten_layers(include_self=..., recursive=...)",
    )


@fenced(
    reason="every layer of a model including those nested in custom layers, in order",
    waits_for="a public recursive layer iterator (keras-team/keras)",
    feature="diagnostics.lint rules and transfer.freeze/unfreeze on nested models",
    canary=_canary_flatten_layers,
)
def all_layers(layer) -> list:
    """Every layer inside `layer` (not `layer` itself), nested ones included, in order."""
    return list(layer._flatten_layers(include_self=False, recursive=True))


def _canary_keras_history():
    inputs = keras.Input((2,))
    dense = keras.layers.Dense(1)
    outputs = dense(inputs)
    history = getattr(outputs, "_keras_history", None)
    require(getattr(history, "operation", None) is dense, "KerasTensor._keras_history.operation")


@fenced(
    reason="the layer that produced a symbolic tensor (a functional model's output)",
    waits_for="a public accessor of a KerasTensor's producing operation (keras-team/keras)",
    feature="diagnostics.lint rules on the output activation (probabilities into a from_logits loss, ...)",
    canary=_canary_keras_history,
)
def producing_layer(tensor):
    """The layer (operation) whose call produced the symbolic `tensor`, or None."""
    history = getattr(tensor, "_keras_history", None)
    return getattr(history, "operation", None)


def _canary_outbound_nodes():
    inputs = keras.Input((2,))
    first = keras.layers.Dense(2)
    second = keras.layers.Dense(1)
    second(first(inputs))
    nodes = getattr(first, "_outbound_nodes", None)
    require(nodes is not None and [node.operation for node in nodes] == [second], "Layer._outbound_nodes[].operation")


@fenced(
    reason="the layers a functional model feeds a layer's output to",
    waits_for="a public graph-traversal API for functional models (keras-team/keras)",
    feature="initializers.reinitialize/lsuv and diagnostics.lint: the activation that follows a kernel layer",
    canary=_canary_outbound_nodes,
)
def outbound_layers(layer) -> list:
    """The layers (operations) that take `layer`'s output as input, over every call of `layer`."""
    return [node.operation for node in getattr(layer, "_outbound_nodes", [])]


def _canary_set_keras_mask():
    from keras.src.backend import get_keras_mask, set_keras_mask

    tensor = keras.ops.ones((2,))
    mask = keras.ops.convert_to_tensor([True, False])
    set_keras_mask(tensor, mask)
    require(get_keras_mask(tensor) is mask, "keras.src.backend.set_keras_mask / get_keras_mask")


@fenced(
    reason="mark ignored entries of a per-example loss so Keras's reduction leaves them out, as Keras's own losses do",
    waits_for="a public way to return a masked loss from a keras.losses.Loss (keras-team/keras)",
    feature="losses with ignore_class (sparse_categorical_crossentropy, focal losses, poly_loss)",
    canary=_canary_set_keras_mask,
)
def set_loss_mask(loss, mask) -> None:
    """Attaches `mask` to `loss` in place: Keras's loss reduction then averages over the True entries only."""
    from keras.src.backend import set_keras_mask

    set_keras_mask(loss, mask=mask)


# ---------------------------------------------------------------------------
# Layers: the augmentation layers inside tf.data on every backend (layers/_backend.py)
# ---------------------------------------------------------------------------

# Keras's own preprocessing layers run inside `tf.data` on JAX and PyTorch by
# switching to the TensorFlow backend there (`keras.src.layers.preprocessing.
# data_layer.DataLayer`, not exported). kerasplus's layers do the same through
# these entries.


def _canary_tensorflow_backend():
    from keras.src.utils import backend_utils

    tf_backend = backend_utils.DynamicBackend("tensorflow")
    for module, name in (("numpy", "where"), ("core", "cast"), ("nn", "one_hot"), ("random", "uniform")):
        require(
            callable(getattr(getattr(tf_backend, module), name, None)), f"DynamicBackend tensorflow.{module}.{name}"
        )
    require(callable(backend_utils.in_tf_graph), "keras.src.utils.backend_utils.in_tf_graph")


@fenced(
    reason="the TensorFlow backend's ops while another backend is active, as Keras's DataLayer uses them",
    waits_for="a public DataLayer / backend switch for preprocessing in tf.data (keras-team/keras)",
    feature="Cutout/Mixup/CutMix/MixupOrCutMix and data.augmented_dataset inside tf.data on JAX and PyTorch",
    canary=_canary_tensorflow_backend,
)
def tensorflow_backend():
    """Keras's TensorFlow backend namespace (``.numpy``, ``.core``, ``.nn``, ``.random``, ...)."""
    from keras.src.utils import backend_utils

    return backend_utils.DynamicBackend("tensorflow")


@fenced(
    reason="tell a tf.data (TF graph) call from a JAX trace, as Keras's DataLayer.__call__ does",
    waits_for="a public DataLayer / backend switch for preprocessing in tf.data (keras-team/keras)",
    feature="Cutout/Mixup/CutMix/MixupOrCutMix and data.augmented_dataset inside tf.data on JAX and PyTorch",
    canary=_canary_tensorflow_backend,
)
def in_tf_data_graph(inputs) -> bool:
    """True when `inputs` are TF graph tensors under another backend (a `tf.data` map)."""
    if keras.backend.backend() == "tensorflow":
        return False
    from keras.src.utils import backend_utils, jax_utils

    sample = keras.tree.flatten(inputs)[0]
    return (
        not isinstance(sample, keras.KerasTensor)
        and backend_utils.in_tf_graph()
        and not jax_utils.is_in_jax_tracing_scope(sample)
    )


def _canary_seed_generator_backend():
    generator = keras.random.SeedGenerator(3, backend=tensorflow_backend())
    import tensorflow as tf

    require(
        isinstance(generator.state.value, tf.Variable), "SeedGenerator(backend=...) keeps its state in that backend"
    )


@fenced(
    reason="a SeedGenerator whose state lives in TensorFlow (the undocumented backend= argument DataLayer uses)",
    waits_for="a public DataLayer / backend switch for preprocessing in tf.data (keras-team/keras)",
    feature="Cutout/Mixup/CutMix/MixupOrCutMix random draws inside tf.data on JAX and PyTorch",
    canary=_canary_seed_generator_backend,
)
def tensorflow_seed_generator(seed: int):
    return keras.random.SeedGenerator(seed, backend=tensorflow_backend())


def _canary_layer_input_conversion():
    layer = keras.layers.Identity()
    for name in ("_convert_input_args", "_allow_non_tensor_positional_args"):
        require(isinstance(getattr(layer, name, None), bool), f"Layer.{name}")


@fenced(
    reason="Layer.__call__ converts (and checks) inputs for the active backend; TF tensors must stay TF in tf.data",
    waits_for="a public DataLayer / backend switch for preprocessing in tf.data (keras-team/keras)",
    feature="Cutout/Mixup/CutMix/MixupOrCutMix inside tf.data on JAX and PyTorch",
    canary=_canary_layer_input_conversion,
)
@contextlib.contextmanager
def inputs_left_unconverted(layer):
    """Within the block, `layer.__call__` passes its inputs to `call` as they are."""
    saved = layer._convert_input_args, layer._allow_non_tensor_positional_args
    layer._convert_input_args, layer._allow_non_tensor_positional_args = False, True
    try:
        yield
    finally:
        layer._convert_input_args, layer._allow_non_tensor_positional_args = saved


# ---------------------------------------------------------------------------
# Quantization and distribution
# ---------------------------------------------------------------------------


def _canary_tensorflow_trainer_multi_worker():
    import inspect

    from keras.src.backend.tensorflow import trainer

    build = getattr(trainer.TensorFlowTrainer, "_maybe_symbolic_build", None)
    require(callable(build), "keras.src.backend.tensorflow.trainer.TensorFlowTrainer._maybe_symbolic_build")
    parameters = list(inspect.signature(build).parameters)  # the original's, through __wrapped__ when patched
    require(
        parameters == ["self", "iterator", "data_batch"],
        f"TensorFlowTrainer._maybe_symbolic_build(self, iterator, data_batch); found {parameters}",
    )
    reduce = getattr(trainer, "reduce_per_replica", None)
    require(callable(reduce), "keras.src.backend.tensorflow.trainer.reduce_per_replica")
    parameters = list(inspect.signature(reduce).parameters)
    require(
        parameters == ["values", "strategy", "reduction"],
        f"trainer.reduce_per_replica(values, strategy, reduction); found {parameters}",
    )


@fenced(
    reason="Keras 3's TF fit reduces an (x, y) batch and scalar logs in ways MultiWorkerMirroredStrategy "
    "rejects; patch TensorFlowTrainer._maybe_symbolic_build and trainer.reduce_per_replica",
    waits_for="keras-team/keras#20585 (tensorflow/tensorflow#72388) fixed upstream",
    feature="distribute.fix_multi_worker_fit (model.fit under MultiWorkerMirroredStrategy)",
    canary=_canary_tensorflow_trainer_multi_worker,
)
def patch_trainer_for_multi_worker() -> str:
    """Patches Keras's TensorFlow trainer for MultiWorkerMirroredStrategy (see `distribute/multi_worker_fit.py`).

    Returns "patched" when it patched now, "already patched", or "unavailable"
    when this Keras has no such method (the internals changed).
    """
    import functools

    import tensorflow as tf

    try:
        from keras.src.backend.tensorflow import trainer as module
    except ImportError:
        return "unavailable"
    TensorFlowTrainer = module.TensorFlowTrainer
    original = getattr(TensorFlowTrainer, "_maybe_symbolic_build", None)
    original_reduce = getattr(module, "reduce_per_replica", None)
    if original is None or original_reduce is None:
        return "unavailable"
    if getattr(original, "_kerasplus_fix", False):
        return "already patched"

    @functools.wraps(original)
    def _maybe_symbolic_build(self, iterator=None, data_batch=None):
        strategy = self._distribute_strategy
        if iterator is None or not isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy):
            return original(self, iterator=iterator, data_batch=data_batch)
        for _, _, batches in iterator:
            data_batch = next(batches)
            break

        def local(value):
            if isinstance(value, tf.distribute.DistributedValues):
                return strategy.experimental_local_results(value)[0]
            return value

        return original(self, data_batch=tf.nest.map_structure(local, data_batch))

    @functools.wraps(original_reduce)
    def reduce_per_replica(values, strategy, reduction):
        if reduction not in ("auto", "mean") or not isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy):
            return original_reduce(values, strategy, reduction)

        def reduce(value):
            local = value
            if isinstance(value, tf.distribute.DistributedValues):
                local = strategy.experimental_local_results(value)[0]
            if tf.is_tensor(local) and local.shape.rank == 0:
                return strategy.reduce("MEAN", value, axis=None)
            return original_reduce(value, strategy, reduction)

        return tf.nest.map_structure(reduce, values)

    _maybe_symbolic_build._kerasplus_fix = True
    TensorFlowTrainer._maybe_symbolic_build = _maybe_symbolic_build
    module.reduce_per_replica = reduce_per_replica  # looked up when a train function is made
    return "patched"
