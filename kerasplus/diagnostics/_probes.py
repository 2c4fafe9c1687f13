"""Measurements FitDiagnostics takes on its held batch, outside the train step.

Everything runs the model with ``training=False``, so a probe moves no
BatchNormalization statistic and draws from no dropout seed generator: the
training run is the same with or without the probes.
"""

from __future__ import annotations

import math

import keras
import numpy as np
from keras import ops

from kerasplus.diagnostics._loss_info import describe_loss, single_loss
from kerasplus.initializers.by_activation import activation_name
from kerasplus.initializers.kernel_layers import input_structure

RELU_NAMES = ("relu", "relu6")


def weighted_layers(model) -> list:
    """Leaf layers that own trainable weights, in model order (nested models opened)."""
    found = []
    for layer in model.layers:
        if isinstance(layer, keras.Model):
            found.extend(weighted_layers(layer))
        elif layer.trainable_weights:
            found.append(layer)
    return found


def loss_function(model):
    """The compiled loss as a callable ``(y_true, y_pred) -> scalar`` for single-output models."""
    loss = single_loss(getattr(model, "loss", None))
    if loss is None:
        return None
    function = keras.losses.get(loss) if isinstance(loss, str) else loss

    def value(y_true, y_pred):
        y_true = same_rank(y_true, y_pred)
        return ops.mean(function(y_true, y_pred))

    return value


def same_rank(y_true, y_pred):
    """`y_true` with the rank of `y_pred` where `fit` would align them (``(n,)`` labels for ``(n, 1)`` outputs).

    Keras's compiled loss squeezes or expands a trailing axis of size 1 (its
    ``squeeze_or_expand_to_same_rank``); sparse labels ``(n,)`` for ``(n, k)``
    outputs, k > 1, stay as they are.
    """
    if y_true is None or isinstance(y_pred, (list, tuple, dict)):
        return y_true
    try:
        true_rank, pred_rank = len(ops.shape(y_true)), len(ops.shape(y_pred))
    except ValueError:  # unknown rank (a relaxed trace): aligned before, at on_train_begin
        return y_true
    if true_rank == pred_rank - 1 and ops.shape(y_pred)[-1] == 1:
        return ops.expand_dims(y_true, -1)
    if true_rank == pred_rank + 1 and ops.shape(y_true)[-1] == 1:
        return ops.squeeze(y_true, -1)
    return y_true


def probe_loss(model, x, y, y_pred):
    """Compiled loss plus the model's own losses (regularizers), as `fit` minimises it."""
    function = loss_function(model)
    if function is not None and not isinstance(y_pred, (list, tuple, dict)):
        total = function(y, y_pred)
        for extra in model.losses:
            total = total + ops.cast(extra, total.dtype)
        return total
    # Several outputs: Keras's own compute_loss, which also feeds the per-output
    # loss metrics fit reports; their state is put back so the logs are unchanged.
    saved = [variable.numpy() for variable in model.metrics_variables]
    try:
        return model.compute_loss(x=x, y=y, y_pred=y_pred, training=False)
    finally:
        for variable, value in zip(model.metrics_variables, saved):
            variable.assign(value)


# Probes run eagerly for their first calls, then as a traced tf.function. On
# the digits MLP (benchmarks/diagnostics_overhead.py) an eager gradient probe
# costs ~10x a traced one, and tracing ~20-30 eager calls: short runs never trace.
EAGER_CALLS = 20


class WarmingFunction:
    """Calls `fn` eagerly `eager_calls` times, then compiled.

    TensorFlow: a `tf.function`. JAX: `jax.jit` when ``jax_pure=True`` (`fn` is a pure
    function of its arguments); otherwise eager. PyTorch: eager.
    """

    def __init__(self, fn, eager_calls: int = EAGER_CALLS, jax_pure: bool = False):
        self.fn = fn
        self.eager_calls = eager_calls
        self.jax_pure = jax_pure
        self.calls = 0
        self.compiled = None

    def __call__(self, *args, **kwargs):
        self.calls += 1
        backend = keras.backend.backend()
        compiles = backend == "tensorflow" or (backend == "jax" and self.jax_pure)
        if self.calls <= self.eager_calls or not compiles:
            return self.fn(*args, **kwargs)
        if self.compiled is None:
            if backend == "jax":
                import jax

                self.compiled = jax.jit(self.fn)
            else:
                import tensorflow as tf

                self.compiled = tf.function(self.fn, reduce_retracing=True)
        return self.compiled(*args, **kwargs)


class GradientProbe:
    """Per-layer L2 norms of the loss gradient on a held batch, on every backend.

    TensorFlow: `tf.GradientTape`; for a single-output model the forward and
    backward pass become one traced `tf.function` after the first calls
    (`WarmingFunction`); with several outputs they stay eager, because Keras's
    `compute_loss` also feeds fit's per-output loss metrics and their state is
    put back from Python. JAX: `jax.grad` of the model's own stateless
    `compute_loss_and_updates` (metric updates are returned, not applied), jitted
    after the first calls. PyTorch: `torch.autograd.grad` of the same loss, eager.
    """

    def __init__(self, model, layers):
        self.model = model
        self.layers = list(layers)
        self.variables = [variable for layer in self.layers for variable in layer.trainable_weights]
        backend = keras.backend.backend()
        if backend == "jax":
            self.warming = WarmingFunction(self._jax_squares, jax_pure=True)
        elif backend == "torch":
            self.warming = WarmingFunction(self._torch_squares)
        else:
            self.warming = WarmingFunction(self._squares)
        self.single = None  # known after the first (eager) call
        self._indices = None  # JAX: positions of `variables` in model.trainable_variables

    def _jax_squares(self, trainable, non_trainable, metrics, x, y):
        import jax
        import jax.numpy as jnp

        def loss(values):
            value, _ = self.model.compute_loss_and_updates(values, non_trainable, metrics, x, y, None, training=False)
            return value

        gradients = jax.grad(loss)(trainable)
        return [jnp.sum(jnp.square(gradients[index].astype("float32"))) for index in self._indices]

    def _torch_squares(self, x, y):
        import torch

        y_pred = self.model(x, training=False)
        loss = probe_loss(self.model, x, y, y_pred)
        values = [variable.value for variable in self.variables]
        gradients = torch.autograd.grad(loss, values, allow_unused=True)
        return [
            torch.zeros((), dtype=torch.float64) if gradient is None else torch.sum(torch.square(gradient.double()))
            for gradient in gradients
        ]

    def _backend_squares(self, x, y):
        x = keras.tree.map_structure(ops.convert_to_tensor, x)
        y = keras.tree.map_structure(ops.convert_to_tensor, y)
        if keras.backend.backend() == "torch":
            return self.warming(x, y)
        trainable = self.model.trainable_variables
        if self._indices is None:
            position = {id(variable): index for index, variable in enumerate(trainable)}
            self._indices = [position[id(variable)] for variable in self.variables]
        return self.warming(
            [variable.value for variable in trainable],
            [variable.value for variable in self.model.non_trainable_variables],
            [variable.value for variable in self.model.metrics_variables],
            x,
            y,
        )

    def _squares(self, x, y):
        import tensorflow as tf

        with tf.GradientTape() as tape:
            y_pred = self.model(x, training=False)
            loss = probe_loss(self.model, x, y, y_pred)
        if self.single is None:
            self.single = loss_function(self.model) is not None and not isinstance(y_pred, (list, tuple, dict))
        gradients = tape.gradient(loss, self.variables)
        squares = []
        for gradient in gradients:
            if gradient is None:
                squares.append(tf.constant(0.0, tf.float64))
                continue
            if isinstance(gradient, tf.IndexedSlices):
                gradient = tf.convert_to_tensor(gradient)
            squares.append(tf.reduce_sum(tf.square(tf.cast(gradient, tf.float64))))
        return squares

    def __call__(self, x, y) -> dict:
        if keras.backend.backend() != "tensorflow":
            squares = [float(ops.convert_to_numpy(value)) for value in self._backend_squares(x, y)]
        else:
            import tensorflow as tf

            x = tf.nest.map_structure(tf.convert_to_tensor, x)
            y = tf.nest.map_structure(tf.convert_to_tensor, y)
            squares = (self._squares if self.single is False else self.warming)(x, y)
        norms, index = {}, 0
        for layer in self.layers:
            count = len(layer.trainable_weights)
            total = float(sum(float(value) for value in squares[index : index + count]))
            index += count
            norms[layer.name] = math.sqrt(total) if math.isfinite(total) else float("nan")
        return norms


def layer_gradient_norms(model, x, y, layers) -> dict:
    """L2 norm of the loss gradient over each layer's trainable weights."""
    return GradientProbe(model, layers)(x, y)


def flag_gradients(norms: dict, vanishing_ratio: float, exploding_norm: float):
    """(vanishing layer names, exploding layer names) by the documented rules."""
    finite = [value for value in norms.values() if math.isfinite(value)]
    largest = max(finite) if finite else 0.0
    vanishing = [
        name
        for name, value in norms.items()
        if math.isfinite(value) and len(norms) > 1 and value < vanishing_ratio * largest
    ]
    exploding = [name for name, value in norms.items() if not math.isfinite(value) or value > exploding_norm]
    return vanishing, exploding


def relu_outputs(model) -> tuple[list, keras.Model | None]:
    """(layer names, a model returning each ReLU-activated layer's output) or ([], None)."""
    try:
        inputs = model.inputs
    except (AttributeError, ValueError):
        return [], None
    if not inputs:
        return [], None
    structure = input_structure(model)
    names, tensors = [], []
    for layer in model.layers:
        try:
            if isinstance(layer, keras.layers.ReLU):
                is_relu = float(layer.negative_slope or 0.0) == 0.0
            elif isinstance(layer, keras.layers.Activation):
                is_relu = activation_name(layer.activation) in RELU_NAMES
            else:
                is_relu = activation_name(getattr(layer, "activation", None)) in RELU_NAMES
        except TypeError:
            is_relu = False
        if not is_relu:
            continue
        try:
            tensors.append(layer.output)
        except (AttributeError, ValueError):
            continue  # layer used several times, or not in a graph
        names.append(layer.name)
    if not tensors:
        return [], None
    return names, keras.Model(structure, tensors)


def dead_relu_fractions(probe, names, x) -> tuple[float, dict]:
    """Share of units whose output is 0 for every example (and position) of `x`.

    Units are the last axis (channels_last). Returns (overall share, per layer).
    """
    outputs = probe(x, training=False)
    if not isinstance(outputs, (list, tuple)):
        outputs = [outputs]
    per_layer, dead, total = {}, 0, 0
    for name, output in zip(names, outputs):
        values = ops.convert_to_numpy(output)
        alive = np.max(values.reshape(-1, values.shape[-1]), axis=0) > 0
        per_layer[name] = float(1.0 - alive.mean())
        dead += int((~alive).sum())
        total += alive.size
    return (dead / total if total else float("nan")), per_layer


def constant_baseline(model, y, y_pred) -> float | None:
    """Loss of the best constant prediction on `y`, through the model's own loss; None if unknown.

    MSE: the mean target. Crossentropy: the label frequencies (as logits when
    ``from_logits=True``). Other losses: None.
    """
    function = loss_function(model)
    info = describe_loss(single_loss(getattr(model, "loss", None)))
    if function is None or info is None or info.family is None:
        return None
    if isinstance(y_pred, (list, tuple, dict)):
        return None
    shape = tuple(ops.shape(y_pred))
    if info.family != "sparse":
        y = same_rank(ops.convert_to_tensor(y), y_pred)
    y = np.asarray(ops.convert_to_numpy(y), dtype="float64")
    eps = 1e-7
    if info.family == "sparse":
        classes = shape[-1]
        labels = y.astype("int64").reshape(-1)
        if labels.size == 0 or labels.min() < 0 or labels.max() >= classes:
            return None
        prior = np.bincount(labels, minlength=classes) / labels.size
    else:
        if y.shape != shape:
            return None
        prior = y.reshape(-1, shape[-1]).mean(axis=0)
    if info.family == "mse":
        constant = prior
    elif info.family == "binary":
        prior = np.clip(prior, eps, 1 - eps)
        constant = np.log(prior / (1 - prior)) if info.from_logits else prior
    else:
        prior = np.clip(prior / max(prior.sum(), eps), eps, 1.0)
        constant = np.log(prior) if info.from_logits else prior
    prediction = np.broadcast_to(constant, shape).astype(keras.backend.standardize_dtype(y_pred.dtype))
    y_true = y.astype(prediction.dtype)
    value = float(ops.convert_to_numpy(function(y_true, prediction)))
    return value if math.isfinite(value) else None
