"""Private Keras APIs kerasplus relies on, each with its reason, public route and canary.

Sections by kerasplus area; add an entry to the section of the feature that needs it.
"""

from __future__ import annotations

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
    feature="WarmupLR wrapping the optimizer's rate; OneCycleLR/CyclicLR/WarmupLR/LRFinder saving it; NaNGuard",
    canary=_canary_optimizer_learning_rate_attribute,
)
def learning_rate_source(optimizer):
    """What the optimizer holds as its rate: a Variable, a LearningRateSchedule or a callable."""
    return optimizer._learning_rate


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
def report_config_as_compiled(optimizer, learning_rate):
    """Until `stop_reporting_config`, `optimizer.get_config()` reports `learning_rate` as the rate."""
    if "get_config" in vars(optimizer):
        return

    def get_config():
        # Through __dict__: saving must not go through the optimizer's variable tracking.
        installed = vars(optimizer)["_learning_rate"]
        vars(optimizer)["_learning_rate"] = learning_rate
        try:
            return type(optimizer).get_config(optimizer)
        finally:
            vars(optimizer)["_learning_rate"] = installed

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


# ---------------------------------------------------------------------------
# Resume: BackupAndRestore, the data position inside fit
# ---------------------------------------------------------------------------


# ---------------------------------------------------------------------------
# Diagnostics, initializers, transfer, data, losses
# ---------------------------------------------------------------------------


def _canary_flatten_layers():
    flatten = getattr(keras.layers.Layer, "_flatten_layers", None)
    require(callable(flatten), "Layer._flatten_layers")
    parameters = inspect.signature(flatten).parameters
    require("include_self" in parameters and "recursive" in parameters,
            "Layer._flatten_layers(include_self=..., recursive=...)")


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


def _canary_optimizer_learning_rate():
    schedule = keras.optimizers.schedules.ExponentialDecay(0.1, 10, 0.5)
    optimizer = keras.optimizers.SGD(schedule)
    require(getattr(optimizer, "_learning_rate", None) is schedule, "Optimizer._learning_rate holds the schedule")


@fenced(
    reason="whether an optimizer's learning rate is a schedule (optimizer.learning_rate gives only its value)",
    waits_for="a public accessor of the optimizer's learning-rate schedule (keras-team/keras)",
    feature="diagnostics.lint rule lr-callback-over-schedule",
    canary=_canary_optimizer_learning_rate,
)
def learning_rate_as_given(optimizer):
    """What the optimizer's learning rate was set to: a schedule, a callable or a variable (None if unknown)."""
    return getattr(optimizer, "_learning_rate", None)


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
# Quantization and distribution
# ---------------------------------------------------------------------------
