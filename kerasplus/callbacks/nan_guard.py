"""`NaNGuard`: undo a step that made the loss or the weights non-finite, and give up cleanly."""

from __future__ import annotations

import logging
import math
import warnings
import weakref

import keras
from keras import ops

from kerasplus import _optimizer_choice
from kerasplus import _validation as v
from kerasplus._internals import keras as internal_keras
from kerasplus._internals import tensorflow as internal_tensorflow
from kerasplus.callbacks import _accumulation, _train_functions

logger = logging.getLogger(__name__)
# The train steps NaNGuard made: not a model's own step when found installed on it.
_GUARDED_STEPS: weakref.WeakSet = weakref.WeakSet()


class NaNGuard(keras.callbacks.Callback):
    """Skips a step that made the loss or the weights non-finite, inside the compiled step.

    For the length of a `fit` it wraps the model's train step (its own, or a
    custom `train_step`): after the step, still inside the compiled function,
    it checks the step's loss and (with `check_weights`) the updated trainable
    weights, and when they are not all finite it keeps the state from before
    the step: weights, non-trainable variables (BatchNormalization
    statistics), the slots and iteration count of every optimizer the model
    holds (a GAN's ``d_optimizer`` and ``g_optimizer`` too), metric
    accumulators. The
    step is undone as if the batch had been skipped (the iteration count, and
    with it any schedule, does not advance), with no copy of the variables made
    from Python and no extra host transfer: on JAX the kept state is selected
    inside the jitted step (Optax's ``apply_if_finite`` way); on TensorFlow
    the graph puts back the values it read at the start of the step (under XLA,
    the default, these are the step's inputs; without XLA TensorFlow keeps each
    updated variable's old buffer); on PyTorch, whose step is eager, the step
    keeps a device copy of the variables it updates. A skipped step's batch logs
    read NaN. With ``lr_factor < 1`` the learning rate is then multiplied by
    `lr_factor` (a float learning rate only; a schedule is left alone, with a
    warning). After `max_consecutive` failed steps in a row it stops training
    with a message saying so, and `stopped_reason` holds the message.

    Under a TensorFlow distribution strategy with several replicas
    (`MirroredStrategy`, `MultiWorkerMirroredStrategy`) the step is not
    wrapped (a conditional assign inside the replicated step is not allowed):
    the callback keeps an on-device copy of the same state after each kept
    step and puts it back after a bad one, as every replica agrees on the
    reduced loss.

    Weights made non-finite outside the train step (by another callback, say)
    are not repaired: every later step then fails and training stops after
    `max_consecutive` of them. With ``steps_per_execution=k`` each step of a
    call is checked and skipped on its own; the count of failures sees the
    last step of each call.

    When every step of an epoch was undone, the epoch's training metrics
    (``loss`` and the compiled metrics, not ``val_*``) are reported as NaN,
    with a warning, instead of Keras's 0.0 for a mean over no batch (History
    and the callbacks after this one see NaN).

    Put it before `kerasplus.callbacks.BackupAndRestore` in the callback
    list so its count is saved with the checkpoint (BackupAndRestore also
    refuses to write non-finite weights on its own).

    Args:
        max_consecutive: failed steps in a row before training stops (>= 1).
        lr_factor: factor in (0, 1] applied to the learning rate after each
            failure; 1 keeps it.
        check_weights: also check the trainable weights the step produced (the
            loss of a step is computed before its update, so weights can turn
            non-finite first) and, with ``gradient_accumulation_steps``, the
            gradient accumulators (a step between updates writes only them).
        optimizer: the optimizer whose rate `lr_factor` lowers: one the model
            holds, or the name of its attribute (``"g_optimizer"``); None
            takes the model's only optimizer. With ``lr_factor < 1`` and
            several optimizers, `fit` raises at its start unless one is named.

    Example:

    >>> import numpy as np, keras, kerasplus
    >>> model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
    >>> model.compile(keras.optimizers.SGD(0.1), "mse")
    >>> x, y = np.ones((8, 2), "float32"), np.ones((8, 1), "float32")
    >>> x[4] = np.nan  # one poisoned sample: the batch holding it is skipped
    >>> guard = kerasplus.callbacks.NaNGuard(lr_factor=0.5)
    >>> history = model.fit(x, y, batch_size=2, shuffle=False, verbose=0,
    ...                     callbacks=[guard])
    >>> guard.failures, round(float(model.optimizer.learning_rate), 6)
    (1, 0.05)
    """

    def __init__(
        self,
        max_consecutive: int = 3,
        lr_factor: float = 1.0,
        check_weights: bool = True,
        optimizer: keras.optimizers.Optimizer | str | None = None,
    ) -> None:
        super().__init__()
        self.optimizer = _optimizer_choice.check_optimizer_argument(optimizer)
        self.max_consecutive = v.check_int("max_consecutive", max_consecutive, minimum=1)
        self.lr_factor = v.check_range("lr_factor", lr_factor, 0.0, 1.0, low_inclusive=False)
        self.check_weights = v.check_bool("check_weights", check_weights)
        self.failures = 0
        self.consecutive = 0
        self.stopped_reason = None
        self._good_steps = 0
        self._installed = False
        self._previous_step = None
        self._snapshot = None

    def get_config(self) -> dict:
        return {
            "max_consecutive": self.max_consecutive,
            "lr_factor": self.lr_factor,
            "check_weights": self.check_weights,
            "optimizer": _optimizer_choice.config_value(self.optimizer),
        }

    def get_state(self) -> dict:
        return {"failures": self.failures, "consecutive": self.consecutive}

    def set_state(self, state: dict) -> None:
        self.failures = int(state["failures"])
        self.consecutive = int(state["consecutive"])

    def _lowered(self):
        """The optimizer whose rate `lr_factor` lowers (None when it lowers none)."""
        if self.lr_factor >= 1.0:
            return None
        return _optimizer_choice.chosen_optimizer(self.model, self.optimizer, "NaNGuard")

    def on_train_begin(self, logs: dict | None = None) -> None:
        self._lowered()  # raises now, before training, when it cannot tell which rate to lower
        _accumulation.refuse_unsupported(self.model, "NaNGuard")
        self.consecutive = 0
        self.stopped_reason = None
        self._good_steps = 0
        self._uninstall()  # left over from a fit an exception cut short
        self._install()

    def on_train_end(self, logs: dict | None = None) -> None:
        self._uninstall()

    def _install(self):
        model = self.model
        optimizer = model.optimizer
        if optimizer is not None and not optimizer.built:
            optimizer.build(model.trainable_variables)
        self._snapshot = None
        if _replicated(model):
            # A tf.distribute strategy with several replicas: variables cannot be put back inside the
            # replicated step (a conditional assign there needs a merge_call), so the state is copied
            # after each kept step and put back from the callback, where every replica's is one.
            self._take_snapshot()
            return
        # The same wrapper in the next fit, from this guard or a new one: its traced function is reused.
        own = _class_train_step(model)
        kept = internal_keras.kerasplus_slot(model).setdefault("nan_guard_steps", {})
        guarded = kept.get((own, self.check_weights))
        if guarded is None:
            guarded = kept[(own, self.check_weights)] = guarded_train_step(model, model.train_step, self.check_weights)
        self._previous_step = vars(model).get("train_step")
        internal_keras.install_train_step(model, guarded)
        self._installed = True
        _train_functions.select(model)

    def _uninstall(self):
        self._snapshot = None
        if not self._installed:
            return
        self._installed = False
        _train_functions.finish(self.model)
        internal_keras.remove_train_step(self.model)
        if self._previous_step is not None:
            internal_keras.install_train_step(self.model, self._previous_step)
        self._previous_step = None

    def on_epoch_begin(self, epoch: int, logs: dict | None = None) -> None:
        self._good_steps = 0

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        if self._good_steps or logs is None:
            return
        undone = [name for name in logs if not name.startswith("val_") and name not in ("learning_rate", "lr")]
        for name in undone:
            logs[name] = float("nan")
        warnings.warn(
            f"NaNGuard: every step of epoch {epoch} was undone; its {', '.join(undone) or 'metrics'} "
            "are reported as NaN.",
            RuntimeWarning,
            stacklevel=2,
        )

    def _finite(self, logs):
        """Whether the step was kept: the guarded step marks a skipped step's logs NaN."""
        logs = logs or {}
        values = [logs["loss"]] if "loss" in logs else list(logs.values())
        for value in values:
            try:
                value = float(value)
            except (TypeError, ValueError):
                continue
            if not math.isfinite(value):
                return False, "non-finite loss or weights"
        return True, ""

    def _take_snapshot(self):
        self._snapshot = [(x, ops.copy(x.value)) for x in _state_variables(self.model)]

    def _restore(self):
        for variable, value in self._snapshot:
            variable.assign(value)

    def _weights_finite(self):
        return bool(ops.convert_to_numpy(_all_finite([x.value for x in self.model.trainable_variables])))

    def on_train_batch_end(self, batch: int, logs: dict | None = None) -> None:
        finite, what = self._finite(logs)
        if self._snapshot is not None and finite and self.check_weights and not self._weights_finite():
            finite, what = False, "non-finite weights"
        if finite:
            self.consecutive = 0
            self._good_steps += 1
            if self._snapshot is not None:
                self._take_snapshot()
            return
        if self._snapshot is not None:
            self._restore()
        self.failures += 1
        self.consecutive += 1
        message = (
            f"NaNGuard: {what} at batch {batch}; skipped it (weights and optimizer state are those from before it)"
        )
        if self.lr_factor < 1.0:
            message += self._lower_rate()
        logger.warning(message)
        if self.consecutive >= self.max_consecutive:
            self.stopped_reason = (
                f"NaNGuard stopped training: {self.consecutive} consecutive steps gave a "
                f"non-finite loss or weights (last: {what}). The weights are those of the "
                "last finite step. Lower the learning rate, clip gradients "
                "(optimizer clipnorm=...), or look for NaN/inf in the inputs."
            )
            warnings.warn(self.stopped_reason, RuntimeWarning, stacklevel=2)
            self.model.stop_training = True

    def _lower_rate(self):
        optimizer = self._lowered()
        if not isinstance(optimizer.learning_rate, keras.Variable):  # a schedule gives a tensor
            warnings.warn(
                "NaNGuard: the learning rate is a schedule; lr_factor cannot lower it.",
                UserWarning,
                stacklevel=3,
            )
            return ""
        internal_keras.sync_training_state(self.model)  # JAX: fit's copy of the state first, then the rate
        rate = float(ops.convert_to_numpy(optimizer.learning_rate)) * self.lr_factor
        optimizer.learning_rate = rate
        return f"; learning rate lowered to {rate:g}"


def _replicated(model) -> bool:
    """Whether the model trains under a TensorFlow distribution strategy with more than one replica."""
    if keras.backend.backend() != "tensorflow":
        return False
    strategy = getattr(model, "distribute_strategy", None)
    return strategy is not None and strategy.num_replicas_in_sync > 1


def _class_train_step(model):
    """The train step the model has without NaNGuard (an instance's own, or its class's)."""
    own = vars(model).get("train_step")
    if own is not None and own not in _GUARDED_STEPS:
        return own
    return type(model).train_step


def _all_finite(tensors):
    backend = keras.backend.backend()
    if backend == "torch":
        return _torch_all_finite(tensors)
    floats = [x for x in tensors if "float" in str(x.dtype)]
    if backend == "tensorflow" and len(floats) > 1:
        return _graph_all_finite(floats)
    return _each_finite(floats)


def _each_finite(floats):
    flags = [ops.all(ops.isfinite(x)) for x in floats]
    if not flags:
        return ops.convert_to_tensor(True)
    return ops.all(ops.stack(flags)) if len(flags) > 1 else flags[0]


def _graph_all_finite(floats):
    """TensorFlow: the sum of every element is finite when every element is (checked per tensor only if not).

    A TensorFlow graph without XLA runs each op as a node of its own: two per
    tensor (``isfinite``, ``all``) cost MobileNetV2 about 2.6 ms a step (4 %).
    Here tensors of one shape are added first (one ``add_n`` node each), then
    each sum reduced: MobileNetV2's 158 weights have 36 shapes. The sum is
    exact as a test: a NaN or an infinity anywhere makes it NaN or infinite;
    only an overflow of finite values does too, and then the per-tensor check
    decides.
    """
    import tensorflow as tf

    groups = {}
    for x in floats:
        groups.setdefault((tuple(x.shape), str(x.dtype)), []).append(x)
    sums = [
        tf.cast(tf.reduce_sum(tf.add_n(group) if len(group) > 1 else group[0]), tf.float32) for group in groups.values()
    ]
    total = tf.add_n(sums) if len(sums) > 1 else sums[0]
    return internal_tensorflow.graph_cond(
        ops.isfinite(total), lambda: ops.convert_to_tensor(True), lambda: _each_finite(floats)
    )


def _torch_all_finite(tensors):
    """PyTorch (eager): one check over every tensor at once (a concatenation), not two ops per tensor."""
    import torch

    flat = [x.detach().reshape(-1) for x in tensors if torch.is_tensor(x) and x.is_floating_point()]
    if not flat:
        return torch.tensor(True)
    return torch.isfinite(torch.cat(flat)).all()


def _step_finite(logs, weights):
    """True when the step's loss (or, without one, every float log) and `weights` are finite."""
    logs = logs if isinstance(logs, dict) else {}
    values = [logs["loss"]] if "loss" in logs else list(logs.values())
    values = [ops.convert_to_tensor(x) for x in values if hasattr(x, "dtype")]
    return ops.logical_and(_all_finite(values), _all_finite(weights))


def _mark_skipped(logs, finite):
    """A skipped step's float logs read NaN (how the callback, outside the step, learns of it)."""
    if not isinstance(logs, dict):
        return logs
    marked = {}
    for name, value in logs.items():
        if hasattr(value, "dtype") and "float" in str(value.dtype):
            value = ops.where(finite, value, ops.cast(float("nan"), value.dtype))
        marked[name] = value
    return marked


def guarded_train_step(model, train_step, check_weights):
    """`train_step` that keeps the state from before it when its loss or new weights are not finite."""
    backend = keras.backend.backend()
    # Under gradient accumulation a step between updates writes only the accumulators: checked with the weights.
    accumulators = internal_keras.gradient_accumulators(model.optimizer) if model.optimizer is not None else []
    if backend == "jax":
        import jax

        held = [id(x) for x in accumulators]
        accumulator_positions = [i for i, x in enumerate(model.optimizer.variables) if id(x) in held] if held else []

        def guarded(state, data):
            logs, new_state = train_step(state, data)
            checked = list(new_state[0]) + [new_state[2][i] for i in accumulator_positions] if check_weights else []
            finite = _step_finite(logs, checked)
            kept = jax.tree_util.tree_map(lambda new, old: jax.numpy.where(finite, new, old), new_state, state)
            return _mark_skipped(logs, finite), kept

    elif backend == "torch" and _defers_update(model, train_step):
        guarded = _torch_deferred_guard(model, train_step, check_weights)
    else:

        def guarded(data):
            variables = _state_variables(model)
            if backend == "torch":
                before = [x.value.detach().clone() for x in variables]  # eager in-place updates
            else:
                import tensorflow as tf

                # In-graph reads (one ReadVariableOp each, no Identity) before the step writes: a read keeps the
                # old buffer when the step updates the variable in place.
                before = [tf.convert_to_tensor(x.value) for x in variables]
            logs = train_step(data)
            weights = [x.value for x in model.trainable_variables + accumulators] if check_weights else []
            finite = _step_finite(logs, weights)

            def undo():
                for variable, value in zip(variables, before):
                    variable.assign(value)

            if backend == "torch":
                if not bool(finite):
                    undo()
            else:

                def undone():
                    undo()
                    return ops.convert_to_tensor(False)

                # One If op: tf.cond's Switch and Merge per captured variable cost more than the check.
                internal_tensorflow.graph_cond(finite, lambda: ops.convert_to_tensor(True), undone)
            return _mark_skipped(logs, finite)

    _GUARDED_STEPS.add(guarded)
    return guarded


def _defers_update(model, train_step):
    """Whether the PyTorch step can be guarded by holding back its update: Keras's own train step, plain optimizer.

    Keras's `train_step` writes the trainable weights and the optimizer's
    variables only in its one ``model.optimizer.apply`` call, after the loss
    and gradients are computed; a custom `train_step` may write anything, and a
    `LossScaleOptimizer` must see non-finite gradients itself (it lowers its
    scale), so those keep the copy-and-restore path, as does an optimizer with
    ``gradient_accumulation_steps`` (its accumulators are checked there).
    """
    step = getattr(train_step, "__func__", None)
    optimizer = model.optimizer
    return (
        step is keras.Model.train_step
        and getattr(train_step, "__self__", None) is model
        and optimizer is not None
        and not isinstance(optimizer, keras.optimizers.LossScaleOptimizer)
        and not getattr(optimizer, "gradient_accumulation_steps", None)  # the accumulators' check is the copy path's
        and len(_optimizer_choice.tracked_optimizers(model)) == 1
    )


def _torch_deferred_guard(model, train_step, check_weights):
    """PyTorch, Keras's own train step: the update is applied only when the step's loss and gradients are finite.

    The step runs with ``optimizer.apply`` held back; its loss (and metrics)
    and gradients are then checked, and the update is applied, as Keras would
    have (`compute_metrics` reads the predictions, not the updated weights),
    only if all are finite. What the forward pass writes before the update
    (non-trainable variables: BatchNormalization statistics, seed states; the
    metric accumulators) is copied and put back for a skipped step: small next
    to the weights and optimizer slots, which a skipped step never touches.
    With `check_weights`, a finite update can still overflow the weights; the
    variables the update writes are then copied just before it, so it can be
    undone exactly (as the copy-and-restore path does).
    """
    import torch

    optimizer = model.optimizer

    def guarded(data):
        forward = _forward_variables(model)
        before = [x.value.detach().clone() for x in forward]
        with internal_keras.deferred_optimizer_apply(optimizer) as pending:
            logs = train_step(data)
        grads = [g for g in (pending[0][0] if pending else []) if g is not None]
        finite = bool(_step_finite(logs, grads))
        if finite and pending:
            grads, variables = pending[0]
            written = _update_variables(model) if check_weights else []
            kept = [x.value.detach().clone() for x in written]
            with torch.no_grad():
                optimizer.apply(grads, variables)
            if check_weights and not bool(_all_finite([x.value for x in model.trainable_variables])):
                finite = False
                for variable, value in zip(written, kept):
                    variable.assign(value)
        if not finite:
            for variable, value in zip(forward, before):
                variable.assign(value)
        return _mark_skipped(logs, ops.convert_to_tensor(finite))

    return guarded


def _forward_variables(model):
    """What Keras's train step writes before its update: non-trainable variables and metric accumulators."""
    seen, variables = set(), []
    for variable in list(model.non_trainable_variables) + list(model.metrics_variables):
        if id(variable) not in seen:
            seen.add(id(variable))
            variables.append(variable)
    return variables


def _update_variables(model):
    """What ``optimizer.apply`` writes: the trainable weights and the optimizer's own variables."""
    return list(model.trainable_variables) + list(model.optimizer.variables)


def _state_variables(model):
    """Every variable a train step may write: the model's, every optimizer's, the metrics'."""
    seen, variables = set(), []
    optimizer_variables = []
    for held in _optimizer_choice.tracked_optimizers(model).values():  # a GAN's d_ and g_optimizer too
        optimizer_variables += list(held.variables)
    for variable in list(model.variables) + optimizer_variables + list(model.metrics_variables):
        if id(variable) not in seen:
            seen.add(id(variable))
            variables.append(variable)
    return variables
