"""`lint`: the technique compatibility matrix as checks on a model and its `fit` setup.

Each rule looks at the model (layers, initial weights, output activation,
compiled loss, optimizer, distribution strategy) and at what you will pass to
`fit` (callbacks, batch size, validation data), and returns a `Finding` with a
severity, the rule id, what is wrong and a one-line fix. `RULES` is the matrix
itself (the README's table is written from it).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any

import keras
import numpy as np

from kerasplus import _validation as v
from kerasplus._internals import keras as internal_keras
from kerasplus.diagnostics._loss_info import describe_loss, losses_per_output
from kerasplus.initializers import by_activation
from kerasplus.initializers.kernel_layers import (
    consumers,
    following_activation,
    kernel_layers,
    kernel_of,
)

SEVERITIES = ("error", "warning")
# Below this per-replica batch size BatchNormalization's batch statistics are noisy
# (Wu & He 2018, Group Normalization, Fig. 1: error rises below 16).
MIN_BATCHNORM_BATCH = 16
# ReLU-family layers in a row whose weights have Glorot's scale before the warning.
RELU_GLOROT_DEPTH = 8
# var(W) * fan_in: He gives 2, Glorot gives 2 fan_in / (fan_in + fan_out) (1 for square layers).
HE_SCALE_THRESHOLD = 1.5
PROBABILITY_ACTIVATIONS = ("softmax", "sigmoid", "hard_sigmoid")


@dataclasses.dataclass(frozen=True)
class Rule:
    """One row of the compatibility matrix (`RULES`): what `lint` checks and the fix it suggests.

    Attributes:
        id: the rule's id, as in `Finding.rule` (e.g. ``"two-lr-drivers"``).
        severity: ``"error"`` (training is wrong or fails) or ``"warning"``
            (it works, but worse).
        checks: what the rule looks for, in words.
        fix: the default one-line fix a `Finding` of this rule carries.

    Example:

    >>> from kerasplus.diagnostics import RULES
    >>> rule = next(r for r in RULES if r.id == "dropout-before-batchnorm")
    >>> rule.severity
    'warning'
    >>> rule.fix
    'move Dropout after the last BatchNormalization (just before the classifier)'
    """

    id: str
    severity: str
    checks: str
    fix: str


@dataclasses.dataclass(frozen=True)
class Finding:
    """What `lint` found: severity, rule id, message and a one-line fix.

    ``str(finding)`` is the one-line report ``"<severity> [<rule>] <message> Fix: <fix>"``.

    Attributes:
        severity: ``"error"`` or ``"warning"``, the severity of its `Rule`.
        rule: the id of the `Rule` that fired (one of ``RULES``).
        message: what is wrong in this model or `fit` setup, naming the layers
            or callbacks involved.
        fix: a one-line fix.

    Example:

    >>> from kerasplus.diagnostics import Finding
    >>> finding = Finding("warning", "batchnorm-small-batch", "BatchNormalization with a batch of 8 per replica.",
    ...                   "batch size >= 16 per replica")
    >>> finding.severity, finding.rule
    ('warning', 'batchnorm-small-batch')
    >>> print(finding)
    warning [batchnorm-small-batch] BatchNormalization with a batch of 8 per replica. Fix: batch size >= 16 per replica
    """

    severity: str
    rule: str
    message: str
    fix: str

    def __str__(self):
        return f"{self.severity} [{self.rule}] {self.message} Fix: {self.fix}"


RULES = (
    Rule(
        "val-monitor-without-validation",
        "error",
        "a callback monitors `val_*` but fit gets no validation data (it never fires)",
        "pass validation_data= (or validation_split=) to fit, or monitor 'loss'",
    ),
    Rule(
        "two-lr-drivers",
        "error",
        "two callbacks set the learning rate (OneCycleLR, CyclicLR, LRFinder, LearningRateScheduler, "
        "ReduceLROnPlateau; WarmupLR with a Keras one)",
        "keep one: e.g. OneCycleLR alone, or WarmupLR after OneCycleLR/CyclicLR",
    ),
    Rule(
        "lr-callback-over-schedule",
        "error",
        "the optimizer's learning_rate is a LearningRateSchedule and a callback also sets the rate",
        "give the optimizer a float rate, or drop the callback (WarmupLR may wrap a schedule)",
    ),
    Rule(
        "warmup-before-lr-callback",
        "warning",
        "WarmupLR comes before OneCycleLR/CyclicLR/LRFinder, which replaces its warm-up",
        "put WarmupLR after the schedule callback in the list",
    ),
    Rule(
        "mixing-with-label-smoothing",
        "warning",
        "Mixup/CutMix/MixupOrCutMix together with label_smoothing > 0 in the loss (targets softened twice)",
        "set label_smoothing=0 in the loss when mixing labels (a mixing layer's own label_smoothing, timm's "
        "mixup_target, alone is fine)",
    ),
    Rule(
        "batchnorm-small-batch",
        "warning",
        f"BatchNormalization with a per-replica batch size below {MIN_BATCHNORM_BATCH}",
        f"batch size >= {MIN_BATCHNORM_BATCH} per replica, or GroupNormalization/LayerNormalization",
    ),
    Rule(
        "dropout-before-batchnorm",
        "warning",
        "Dropout feeding BatchNormalization directly (variance shift between train and test)",
        "move Dropout after the last BatchNormalization (just before the classifier)",
    ),
    Rule(
        "probabilities-with-from-logits",
        "error",
        "softmax/sigmoid output with a crossentropy loss built with from_logits=True",
        "remove the output activation (keep from_logits=True), or set from_logits=False",
    ),
    Rule(
        "logits-without-from-logits",
        "error",
        "an output without softmax/sigmoid with a crossentropy loss built with from_logits=False",
        "build the loss with from_logits=True (numerically stable), or add the activation",
    ),
    Rule(
        "relu-stack-glorot",
        "warning",
        f"{RELU_GLOROT_DEPTH}+ ReLU-family layers in a row with Glorot-scaled weights (signal shrinks ~1/sqrt(2) per layer)",
        "kerasplus.initializers.reinitialize(model), or kernel_initializer='he_normal'",
    ),
    Rule(
        "l2-with-weight-decay",
        "warning",
        "L2 kernel/bias regularizers together with the optimizer's decoupled weight_decay (AdamW)",
        "drop the L2 regularizers and tune weight_decay (or use Adam without weight_decay)",
    ),
    Rule(
        "mirrored-xla-or-steps-per-execution",
        "error",
        "MirroredStrategy with more than one replica and jit_compile=True or steps_per_execution > 1 "
        "(InvalidArgumentError on Keras 3.15)",
        "compile with jit_compile=False and steps_per_execution=1 under MirroredStrategy",
    ),
    Rule(
        "accumulation-under-tf-distribution",
        "error",
        "an optimizer with gradient_accumulation_steps under a tf.distribute strategy other than OneDeviceStrategy "
        "(Keras 3.15 fails in its first step: merge_call inside the accumulation's cond, keras-team/keras#20582)",
        "drop gradient_accumulation_steps=k and multiply the global batch size by k (the same update for a loss "
        "averaged over the batch), or train without the strategy",
    ),
)
"""The technique compatibility matrix: every `Rule` that `lint` checks, a tuple.

The README's compatibility table is written from it; ``{rule.id: rule for rule in RULES}`` looks a rule up.
"""
_BY_ID = {rule.id: rule for rule in RULES}


def _finding(rule_id, message, fix=None):
    rule = _BY_ID[rule_id]
    return Finding(rule.severity, rule.id, message, fix or rule.fix)


# --------------------------------------------------------------------- helpers
def _all_layers(model):
    return internal_keras.all_layers(model)


def _class_names(obj):
    return {cls.__name__ for cls in type(obj).__mro__}


def _inner_optimizer(model):
    optimizer = getattr(model, "optimizer", None)
    return getattr(optimizer, "inner_optimizer", optimizer)


def _output_activation(model, tensor):
    """Activation name producing `tensor`, or None when it cannot be told."""
    layer = internal_keras.producing_layer(tensor)
    if layer is None:
        return None
    return _layer_output_activation(layer)


def _layer_output_activation(layer):
    if isinstance(layer, keras.Model):
        try:
            outputs = layer.outputs
        except (AttributeError, ValueError):
            return None
        return _output_activation(layer, outputs[0]) if len(outputs) == 1 else None
    if isinstance(layer, keras.layers.Softmax):
        return "softmax"
    if isinstance(layer, (keras.layers.Activation, keras.layers.ReLU, keras.layers.LeakyReLU, keras.layers.ELU)):
        return by_activation.activation_name(layer)
    if hasattr(layer, "activation"):
        try:
            return by_activation.activation_name(layer.activation)
        except TypeError:
            return None
    return None


def _outputs(model):
    """[(output name, activation name or None, how messages name it)].

    The name is what `compile` keys a loss dict by (the dict key of a dict output,
    else the producing layer's name), never the tensor's ``keras_tensor_45``.
    """
    try:
        tensors = model.outputs
        structure = model.output
        names = list(getattr(model, "output_names", None) or [])
    except (AttributeError, ValueError):
        tensors, structure, names = None, None, []
    if not tensors:
        if isinstance(model, keras.Sequential) and model.layers:
            last = model.layers[-1]
            return [(last.name, _layer_output_activation(last), f"{last.name!r} ({type(last).__name__})")]
        return []
    layers = [internal_keras.producing_layer(tensor) for tensor in tensors]
    if isinstance(structure, dict):
        keys = {id(tensor): key for key, tensor in structure.items()}
        names = [keys.get(id(tensor), str(i)) for i, tensor in enumerate(tensors)]
    elif len(names) != len(tensors):
        names = [layer.name if layer is not None else str(i) for i, layer in enumerate(layers)]
    labels = [
        repr(name)
        if layer is None
        else (
            f"{name!r} ({type(layer).__name__})"
            if name == layer.name
            else f"{name!r} (layer {layer.name!r}, {type(layer).__name__})"
        )
        for name, layer in zip(names, layers)
    ]
    return [(name, _output_activation(model, tensor), label) for name, tensor, label in zip(names, tensors, labels)]


def _mixing_layers(model, augmentation):
    mixing = ("Mixup", "CutMix", "MixupOrCutMix", "MixingLayer", "MixUp")  # ours and Keras's
    found = [layer for layer in _all_layers(model) if _class_names(layer) & set(mixing)]
    for layer in augmentation:
        if _class_names(layer) & set(mixing):
            found.append(layer)
    return found


def _l2_amount(regularizer):
    if regularizer is None:
        return 0.0
    try:
        config = regularizer.get_config()
    except (NotImplementedError, AttributeError):
        return 0.0
    return float(config.get("l2", 0.0) or 0.0)


def _glorot_scaled(layer):
    """True when the kernel's variance is Glorot's rather than He's (measured when built)."""
    kernel = kernel_of(layer)
    if kernel is not None and len(kernel.shape) >= 2:
        weights = np.asarray(keras.ops.convert_to_numpy(kernel), dtype="float64")
        fan_in = int(np.prod(weights.shape[:-1]))
        return float(weights.var()) * fan_in < HE_SCALE_THRESHOLD
    initializer = getattr(layer, "kernel_initializer", None)
    return type(initializer).__name__ in ("GlorotUniform", "GlorotNormal")


# ----------------------------------------------------------------------- rules
def _check_val_monitor(callbacks, validation_data):
    if validation_data is not None:
        return []
    found = []
    for callback in callbacks:
        monitor = getattr(callback, "monitor", None)
        if isinstance(callback, keras.callbacks.ModelCheckpoint) and not callback.save_best_only:
            continue  # saves every epoch: its monitor is not used
        if isinstance(monitor, str) and monitor.startswith("val_"):
            found.append(
                _finding(
                    "val-monitor-without-validation",
                    f"{type(callback).__name__} monitors {monitor!r} but no validation data is given, "
                    "so Keras only warns each epoch and the callback never acts.",
                )
            )
    return found


_REPLACING = ("OneCycleLR", "CyclicLR", "LRFinder")  # kerasplus: install their own schedule
_SETTING = ("LearningRateScheduler", "ReduceLROnPlateau")  # Keras: assign a float to the rate


def _lr_role(callback):
    names = _class_names(callback)
    if names & {"WarmupLR"} and type(callback).__module__.startswith("kerasplus"):
        return "wrapping"
    if names & set(_REPLACING) and type(callback).__module__.startswith("kerasplus"):
        return "replacing"
    if names & set(_SETTING):
        return "setting"
    return None


def _lr_target(model, callback):
    """The optimizer whose rate `callback` drives, or None when it cannot tell (the callback raises at fit)."""
    from kerasplus._optimizer_choice import chosen_optimizer

    if _lr_role(callback) == "setting":  # Keras's callbacks set model.optimizer's rate
        return _inner_optimizer(model)
    try:
        return chosen_optimizer(model, getattr(callback, "optimizer", None), type(callback).__name__)
    except ValueError:
        return None


def lr_problems(model, callbacks) -> list:
    """``[(Finding, [callbacks involved])]`` of the learning-rate rules, per driven optimizer.

    Callbacks driving different optimizers (a GAN's ``d_optimizer`` and
    ``g_optimizer``) do not conflict. The LR callbacks raise at
    ``on_train_begin`` on the errors that involve them.
    """
    roles = [(callback, _lr_role(callback)) for callback in callbacks]
    roles = [(callback, role, _lr_target(model, callback)) for callback, role in roles if role]
    problems = []
    for target in {id(t): t for _, _, t in roles if t is not None}.values():
        mine = [(c, role) for c, role, t in roles if t is target]
        problems += _lr_problems_on(target, mine)
    return problems


def _lr_problems_on(optimizer, roles):
    found = []
    drivers = [c for c, role in roles if role in ("replacing", "setting")]
    setters = [c for c, role in roles if role == "setting"]
    wrappers = [c for c, role in roles if role == "wrapping"]
    conflict = drivers if len(drivers) >= 2 else (wrappers + setters if wrappers and setters else [])
    if conflict:
        names = ", ".join(type(c).__name__ for c in conflict)
        crash = (
            " The Keras callback raises TypeError when it assigns a rate over the installed schedule."
            if setters and len(conflict) > len(setters)
            else ""
        )
        found.append(
            (
                _finding(
                    "two-lr-drivers",
                    f"{len(conflict)} callbacks drive the learning rate of the same {type(optimizer).__name__}: "
                    f"{names}; each overwrites the other.{crash}",
                ),
                conflict,
            )
        )
    schedule = internal_keras.learning_rate_source(optimizer)
    if isinstance(schedule, keras.optimizers.schedules.LearningRateSchedule):
        for callback in drivers:
            if getattr(callback, "override_schedule", False) is True:
                continue  # replacing the schedule for this fit is what the user asked for
            effect = (
                "raises TypeError when it sets the rate (the rate of a scheduled optimizer is not settable)"
                if callback in setters
                else "replaces it for the whole fit, so the optimizer's schedule is ignored"
            )
            fix = None if callback in setters else _BY_ID["lr-callback-over-schedule"].fix + OVERRIDE_FIX
            found.append(
                (
                    _finding(
                        "lr-callback-over-schedule",
                        f"the optimizer's learning_rate is a {type(schedule).__name__} and "
                        f"{type(callback).__name__} {effect}.",
                        fix,
                    ),
                    [callback],
                )
            )
    replacing_positions = [i for i, (c, role) in enumerate(roles) if role == "replacing"]
    for i, (callback, role) in enumerate(roles):
        if role == "wrapping" and any(j > i for j in replacing_positions):
            later = type(roles[max(replacing_positions)][0]).__name__
            found.append(
                (
                    _finding(
                        "warmup-before-lr-callback",
                        f"WarmupLR comes before {later} in the callback list; {later} installs its schedule "
                        "afterwards and the warm-up is lost.",
                    ),
                    [callback],
                )
            )
    return found


OVERRIDE_FIX = "; or pass override_schedule=True to the callback to replace it on purpose"


def _check_lr_drivers(model, callbacks):
    return [finding for finding, _ in lr_problems(model, callbacks)]


def _check_mixing_with_smoothing(model, loss_infos, augmentation):
    mixing = _mixing_layers(model, augmentation)
    smoothing = [info for info in loss_infos if info is not None and info.label_smoothing > 0]
    if not (mixing and smoothing):
        return []
    own = [layer for layer in mixing if float(getattr(layer, "label_smoothing", 0.0) or 0.0) > 0]
    if own:  # timm's mixup_target smoothing in the layer, and the loss's on top
        return [
            _finding(
                "mixing-with-label-smoothing",
                f"{type(own[0]).__name__} smooths its mixed targets with its own "
                f"label_smoothing={float(own[0].label_smoothing):g} and {smoothing[0].name} adds "
                f"label_smoothing={smoothing[0].label_smoothing:g}: the targets are smoothed twice.",
                f"keep one: label_smoothing=0 in the loss (the layer's smoothing is timm's mixup_target), "
                f"or label_smoothing=0 in {type(own[0]).__name__}",
            )
        ]
    return [
        _finding(
            "mixing-with-label-smoothing",
            f"{type(mixing[0]).__name__} mixes the labels and {smoothing[0].name} adds "
            f"label_smoothing={smoothing[0].label_smoothing:g}: the targets are softened twice.",
        )
    ]


def _check_batchnorm_batch(model, batch_size, replicas):
    if batch_size is None:
        return []
    found = []
    for layer in _all_layers(model):
        if not isinstance(layer, keras.layers.BatchNormalization):
            continue
        synchronized = bool(getattr(layer, "synchronized", False))
        per_replica = batch_size if synchronized else batch_size // max(replicas, 1)
        if per_replica < MIN_BATCHNORM_BATCH:
            where = "" if replicas <= 1 or synchronized else f" ({batch_size} over {replicas} replicas)"
            found.append(
                _finding(
                    "batchnorm-small-batch",
                    f"{layer.name} normalizes over batches of {per_replica}{where}; below "
                    f"{MIN_BATCHNORM_BATCH} its batch statistics are too noisy.",
                )
            )
            break  # one finding for the model
    return found


def _check_dropout_before_batchnorm(model):
    found = []
    dropouts = (
        keras.layers.Dropout,
        keras.layers.SpatialDropout1D,
        keras.layers.SpatialDropout2D,
        keras.layers.SpatialDropout3D,
        keras.layers.AlphaDropout,
        keras.layers.GaussianDropout,
    )
    for container in [model] + [layer for layer in _all_layers(model) if isinstance(layer, keras.Model)]:
        for layer in container.layers:
            if not isinstance(layer, dropouts):
                continue
            for after in consumers(container, layer):
                if isinstance(after, keras.layers.BatchNormalization):
                    found.append(
                        _finding(
                            "dropout-before-batchnorm",
                            f"{layer.name} feeds {after.name} directly: BatchNormalization's moving "
                            "variance is learnt with dropout on and used with it off (Li et al. 2019).",
                        )
                    )
    return found


def _check_logits(model, losses):
    found = []
    for (_, activation, name), info in zip(_outputs(model), losses):
        if info is None or not info.is_crossentropy or activation is None:
            continue
        if info.from_logits and activation in PROBABILITY_ACTIVATIONS:
            found.append(
                _finding(
                    "probabilities-with-from-logits",
                    f"output {name} ends in {activation} but {info.name} has from_logits=True: "
                    "the loss applies a second softmax/sigmoid and its gradients shrink.",
                )
            )
        elif not info.from_logits and activation not in PROBABILITY_ACTIVATIONS:
            found.append(
                _finding(
                    "logits-without-from-logits",
                    f"output {name} ends in {activation} (not a probability) but {info.name} has "
                    "from_logits=False: the loss clips the raw values into (0, 1).",
                )
            )
    return found


def _check_relu_glorot(model):
    run, longest, first, start = 0, 0, None, None
    for layer in kernel_layers(model):
        activation = following_activation(model, layer)
        try:
            name = by_activation.activation_name(activation)
        except TypeError:
            name = None
        if name in by_activation.HE and _glorot_scaled(layer):
            run += 1
            start = layer.name if run == 1 else start
            if run > longest:
                longest, first = run, start
        else:
            run = 0
    if longest >= RELU_GLOROT_DEPTH:
        return [
            _finding(
                "relu-stack-glorot",
                f"{longest} ReLU-family layers in a row (from {first}) have Glorot-scaled weights "
                "(var * fan_in < 1.5; He gives 2): the signal shrinks ~1/sqrt(2) per layer.",
            )
        ]
    return []


def _check_l2_with_weight_decay(model):
    optimizer = _inner_optimizer(model)
    decay = getattr(optimizer, "weight_decay", None)
    if not decay:
        return []
    attributes = (
        "kernel_regularizer",
        "bias_regularizer",
        "depthwise_regularizer",
        "pointwise_regularizer",
        "embeddings_regularizer",
        "gamma_regularizer",
        "beta_regularizer",
    )
    regularized = [
        layer.name
        for layer in _all_layers(model)
        if any(_l2_amount(getattr(layer, attribute, None)) > 0 for attribute in attributes)
    ]
    if not regularized:
        return []
    return [
        _finding(
            "l2-with-weight-decay",
            f"{type(optimizer).__name__} decays weights (weight_decay={float(decay):g}) and "
            f"{len(regularized)} layer(s) also carry an L2 regularizer ({', '.join(regularized[:3])}"
            f"{', ...' if len(regularized) > 3 else ''}): two weight penalties, and the L2 one is "
            "rescaled by Adam's second moment.",
        )
    ]


def _replicas(model):
    """The model's strategy and the replicas a global batch is split over.

    On JAX the active `keras.distribution` (DataParallel over N devices: N
    replicas); on TensorFlow the strategy the model was built under.
    """
    if keras.backend.backend() == "jax":
        from kerasplus.distribute import replica_count

        distribution = keras.distribution.distribution()
        return distribution, replica_count(distribution)
    if keras.backend.backend() != "tensorflow":
        return None, 1
    strategy = getattr(model, "distribute_strategy", None)
    return strategy, int(getattr(strategy, "num_replicas_in_sync", 1) or 1)


def accumulation_under_distribution(model):
    """The finding when the model's optimizer accumulates gradients under a tf.distribute strategy, else None."""
    if keras.backend.backend() != "tensorflow":
        return None
    optimizer = _inner_optimizer(model)
    steps = getattr(optimizer, "gradient_accumulation_steps", None)
    if not steps:
        return None
    import tensorflow as tf

    strategy = getattr(model, "distribute_strategy", None) or tf.distribute.get_strategy()
    if _class_names(strategy) & {"_DefaultDistributionStrategy", "OneDeviceStrategy"}:  # these run it
        return None
    return _finding(
        "accumulation-under-tf-distribution",
        f"the optimizer has gradient_accumulation_steps={steps} under {type(strategy).__name__}; Keras 3.15's "
        "accumulating optimizer fails in the first step there (merge_call called inside the cond that chooses "
        "between accumulating and updating, keras-team/keras#20582).",
        f"drop gradient_accumulation_steps={steps} and multiply the global batch size by {steps} (the same "
        "update for a loss averaged over the batch), or train without the strategy",
    )


def _check_accumulation(model):
    finding = accumulation_under_distribution(model)
    return [] if finding is None else [finding]


def _check_mirrored(model, strategy, replicas):
    if replicas <= 1 or "MirroredStrategy" not in _class_names(strategy) or not model.compiled:
        return []
    jit = model.jit_compile is True
    steps = int(getattr(model, "steps_per_execution", 1) or 1)
    if not jit and steps <= 1:
        return []
    what = " and ".join(
        part
        for part in ("jit_compile=True" if jit else "", f"steps_per_execution={steps}" if steps > 1 else "")
        if part
    )
    return [
        _finding(
            "mirrored-xla-or-steps-per-execution",
            f"the model is compiled with {what} under {type(strategy).__name__} with {replicas} "
            "replicas; Keras 3.15's fit fails there with InvalidArgumentError.",
        )
    ]


# ------------------------------------------------------------------------ lint
def lint(
    model: keras.Model,
    *,
    loss: Any = None,
    callbacks: Sequence[keras.callbacks.Callback] | None = None,
    batch_size: int | None = None,
    validation_data: Any = None,
    augmentation: Any = None,
) -> list[Finding]:
    """Checks a model and its `fit` setup against the compatibility matrix (`RULES`).

    Args:
        model: a Keras model, built; compiled for the rules about the loss and
            the optimizer.
        loss: the loss to check; None takes the compiled model's.
        callbacks: the callbacks you will pass to `fit`.
        batch_size: the global batch size you will pass to `fit` (None skips
            the batch-size rule).
        validation_data: what you will pass as `fit`'s `validation_data` (or
            your `validation_split`); None means no validation.
        augmentation: layers your input pipeline applies outside the model
            (e.g. those given to `kerasplus.data.augmented_dataset`), so that
            Mixup/CutMix there are seen too.

    Returns:
        A list of `Finding`, errors first; empty when nothing was found.

    Example:

    >>> import keras, kerasplus
    >>> model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3, activation="softmax")])
    >>> model.compile("adam", keras.losses.CategoricalCrossentropy(from_logits=True))
    >>> for finding in kerasplus.diagnostics.lint(
    ...         model, callbacks=[keras.callbacks.EarlyStopping("val_loss")]):
    ...     print(finding.severity, finding.rule)
    error val-monitor-without-validation
    error probabilities-with-from-logits
    """
    if not isinstance(model, keras.Model):
        raise TypeError(f"`model` must be a keras Model; received model of type {type(model).__name__}.")
    callbacks = _sequence("callbacks", callbacks, keras.callbacks.Callback)
    augmentation = _sequence("augmentation", augmentation, keras.layers.Layer)
    batch_size = v.check_optional_int("batch_size", batch_size, minimum=1)
    if loss is None:
        loss = getattr(model, "loss", None)
    outputs = _outputs(model)
    loss_infos = [describe_loss(item) for item in losses_per_output(loss, [name for name, _, _ in outputs])]
    if not outputs and loss is not None:
        loss_infos = [describe_loss(item) for item in losses_per_output(loss, ["output"])]
    strategy, replicas = _replicas(model)
    found = (
        _check_val_monitor(callbacks, validation_data)
        + _check_lr_drivers(model, callbacks)
        + _check_mixing_with_smoothing(model, loss_infos, augmentation)
        + _check_batchnorm_batch(model, batch_size, replicas)
        + _check_dropout_before_batchnorm(model)
        + _check_logits(model, loss_infos)
        + _check_relu_glorot(model)
        + _check_l2_with_weight_decay(model)
        + _check_mirrored(model, strategy, replicas)
        + _check_accumulation(model)
    )
    return sorted(found, key=lambda finding: SEVERITIES.index(finding.severity))


def _sequence(name, value, kind):
    if value is None:
        return []
    if isinstance(value, kind):
        value = [value]
    try:
        items = list(value)
    except TypeError:
        raise TypeError(f"`{name}` must be a list of {kind.__name__}; received {type(value).__name__}.") from None
    for item in items:
        if not isinstance(item, kind):
            raise TypeError(
                f"`{name}` must be a list of {kind.__name__}; received an item of type {type(item).__name__}."
            )
    return items


def matrix_markdown() -> str:
    """`RULES` as the Markdown table the README shows."""
    lines = ["| rule | severity | what it catches | fix |", "|---|---|---|---|"]
    for rule in RULES:
        lines.append(f"| `{rule.id}` | {rule.severity} | {rule.checks} | {rule.fix} |")
    return "\n".join(lines)
