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
