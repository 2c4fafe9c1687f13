"""What a `BackupAndRestore` checkpoint holds, and how it is put back into a model.

A training state is a dict of named numpy arrays plus a JSON header (`meta`):

- ``model/<i>``, ``optimizer/<i>``, ``optimizer:<attribute>/<i>``,
  ``metrics/<i>``, ``seed/0``: every model variable (weights and the
  `SeedGenerator` states of random layers), `model.optimizer`'s variables
  (iteration count, slots) and those of every other optimizer the model holds
  in an attribute (a GAN's ``d_optimizer``), the metric accumulators and
  Keras's global seed generator; the header describes each (path, shape, dtype)
  under ``variables``, and under ``optimizer_targets`` the model variables
  (indices) each other optimizer was built for;
- ``rng/numpy`` and the header's ``numpy_rng``/``python_rng``: NumPy's and
  Python's global random states; ``rng/torch`` (header ``torch_rng``: true)
  torch's global one when torch is loaded;
- ``callbacks/...`` and the header's ``callbacks``: the state of every other
  stateful callback of the `fit`, each under its stable key (see
  `_callback_state.state_key`);
- the header's ``epoch``, ``step`` and ``position`` (the data position, see
  `_data_position`; the random states of its iterator under
  ``position/<created|started>/...``), and ``steps`` and ``batch_size``: the steps per epoch and
  the batch size of the run that wrote it.

`assemble` builds one from a running `fit`; `Verifier` refuses one that does
not fit a model and a fit (before its arrays are read, then after), `assign`
puts its variables back, `restore_rng` the random states, `callback_states`
the callbacks' states.
"""

from __future__ import annotations

import random
import sys

import keras
import numpy as np

from kerasplus import _optimizer_choice
from kerasplus._internals import keras as internal_keras
from kerasplus.callbacks import _callback_state
from kerasplus.callbacks._checkpoint_store import CheckpointRejected

FORMAT = 2  # 1: callback states by list position; not read any more (refused with a message)


class NonFiniteWeights(ValueError):
    """`assemble` refuses a state whose trainable weights hold NaN or inf."""

    def __init__(self, variable_path: str):
        super().__init__(f"variable {variable_path} holds NaN or inf")
        self.variable_path = variable_path


OTHER_OPTIMIZER = "optimizer:"  # group prefix of the optimizers a model holds besides model.optimizer


def other_optimizers(model) -> dict:
    """``{group: optimizer}`` of the optimizers the model holds besides `model.optimizer` (a GAN's two)."""
    compiled = getattr(model, "optimizer", None)
    return {
        OTHER_OPTIMIZER + name: held
        for name, held in _optimizer_choice.tracked_optimizers(model).items()
        if held is not compiled
    }


def variable_groups(model, targets: dict | None = None) -> dict:
    """The model's variables by group; builds the optimizers it can.

    Groups: ``model``, ``optimizer`` (`model.optimizer`, built for the
    trainable variables if it is not), ``optimizer:<attribute>`` for every
    other optimizer the model holds, ``metrics``, ``seed``. An other optimizer
    that is not built yet is built for the variables `targets` names
    (``{group: [index into model.variables]}``, what `optimizer_targets`
    saved), so a resumed process restores it before its first step.
    """
    optimizer = model.optimizer
    if optimizer is not None and not optimizer.built:
        optimizer.build(model.trainable_variables)
    model_variables = list(model.variables)
    groups = {
        "model": model_variables,
        "optimizer": list(optimizer.variables) if optimizer is not None else [],
    }
    for group, held in other_optimizers(model).items():
        indices = (targets or {}).get(group)
        if not held.built and indices:
            held.build([model_variables[i] for i in indices])
        groups[group] = list(held.variables)
    generator = internal_keras.global_seed_generator()
    groups["metrics"] = list(model.metrics_variables)
    groups["seed"] = [generator.state] if generator is not None else []
    return groups


def optimizer_targets(model) -> dict:
    """``{group: [index into model.variables]}``: the variables each other optimizer was built for.

    Raises ValueError (the checkpoint could not be restored exactly) when an
    optimizer trains a variable the model does not hold.
    """
    position = {id(variable): i for i, variable in enumerate(model.variables)}
    targets = {}
    for group, held in other_optimizers(model).items():
        trained = internal_keras.optimizer_trained_variables(held)
        missing = [variable.path for variable in trained if id(variable) not in position]
        if missing:
            raise ValueError(
                f"BackupAndRestore: the model's {group[len(OTHER_OPTIMIZER) :]} trains variables the model does "
                f"not hold ({', '.join(missing[:3])}), so a resumed run could not rebuild it; keep the layers "
                "it trains as attributes of the model."
            )
        if trained:
            targets[group] = [position[id(variable)] for variable in trained]
    return targets


def assemble(
    model, epoch: int, step: int, position, callbacks, steps=None, batch_size=None, defer_host_copy: bool = False
) -> tuple[dict, dict]:
    """``(arrays, meta)`` of the training state now; raises `NonFiniteWeights` first if a weight is not finite.

    Args:
        model: the model being fit.
        epoch: where training resumes from this state.
        step: where training resumes from this state.
        position: the data position (`DataCursor.position()`), or None.
        callbacks: ``{state key: callback}``, the stateful callbacks whose state it holds.
        steps: the steps per epoch and the batch size of this fit (None if unknown).
        batch_size: the steps per epoch and the batch size of this fit (None if unknown).
        defer_host_copy: on TensorFlow outside a distribution strategy, hold each variable as a
            `HostCopyLater` (an immutable read, taken in microseconds) instead of copying it to numpy
            now; the copy is made where the arrays are written (the background thread of an
            asynchronous save).
    """
    targets = optimizer_targets(model)
    groups = variable_groups(model)
    defer = defer_host_copy and _can_read_later()
    arrays, described = {}, {}
    for group, variables in groups.items():
        described[group] = []
        for i, variable in enumerate(variables):
            value = _read_later(variable) if defer else _to_numpy(variable)
            arrays[f"{group}/{i}"] = value
            described[group].append([variable.path, list(value.shape), str(value.dtype)])
    for i, variable in enumerate(groups["model"]):
        if not _finite(arrays[f"model/{i}"]):
            raise NonFiniteWeights(variable.path)
    saved_callbacks = []
    for i, (key, callback) in enumerate(callbacks.items()):
        state = _callback_state.encode(_callback_state.get_state(callback), f"callbacks/{i}", arrays)
        saved_callbacks.append({"key": key, "class": type(callback).__name__, "state": state})
    meta = {
        "format": FORMAT,
        "epoch": int(epoch),
        "step": int(step),
        "position": encode_position(position, arrays),
        "steps": None if steps is None else int(steps),
        "batch_size": None if batch_size is None else int(batch_size),
        "variables": described,
        "optimizer_targets": targets,
        "callbacks": saved_callbacks,
        **encode_rng(arrays),
    }
    return arrays, meta


def _finite(value) -> bool:
    if isinstance(value, HostCopyLater):  # checked where the tensor is, without a host copy
        return not np.issubdtype(value.dtype, np.inexact) or bool(keras.ops.all(keras.ops.isfinite(value.tensor)))
    return not np.issubdtype(value.dtype, np.inexact) or bool(np.all(np.isfinite(value)))


def _is_int(value, low=0, high=None) -> bool:
    return type(value) is int and value >= low and (high is None or value <= high)


class Verifier:
    """Refuses (`CheckpointRejected`) a checkpoint that does not fit `model` and a fit of `epochs` epochs.

    `headers` runs on the JSON header and the arrays' npy headers, before any
    array is read: structure, every variable's shape and dtype, positions
    (epoch beyond the fit, step beyond the epoch), random states, the
    callbacks' array references. `content` runs on the arrays: no NaN or inf
    model variable.
    """

    def __init__(self, model, epochs):
        self.model = model
        self.epochs = epochs
        self.groups = None

    def require_built(self):
        """Raises ValueError (not a checkpoint's fault: fit stops) unless the model can be restored into.

        A subclassed model that is not built but whose layers are (the Keras
        guide's GAN: built discriminator and generator) has its variables: fine.
        """
        if not self.model.built and not self.model.variables:
            raise ValueError(
                "BackupAndRestore needs a built model to restore into: build it (or call it on a batch) before fit."
            )

    def headers(self, meta, headers):
        if meta.get("format") != FORMAT:
            raise CheckpointRejected(
                f"format {meta.get('format')!r}, not {FORMAT}: written by another kerasplus version "
                "(format 1, callback states by list position, is not read any more)"
            )
        epoch, step, steps = meta.get("epoch"), meta.get("step"), meta.get("steps")
        if not _is_int(epoch) or not _is_int(step) or not (steps is None or _is_int(steps, 1)):
            raise CheckpointRejected(f"epoch {epoch!r}, step {step!r}, steps {steps!r} are not counts")
        if self.epochs is not None and (epoch > self.epochs or (epoch == self.epochs and step > 0)):
            raise CheckpointRejected(f"it is at epoch {epoch}, step {step}; this fit has {self.epochs} epochs")
        if steps is not None and step >= steps:
            raise CheckpointRejected(f"it is at step {step} of an epoch of {steps} steps")
        batch_size = meta.get("batch_size")
        if not (batch_size is None or _is_int(batch_size, 1)):
            raise CheckpointRejected(f"batch size {batch_size!r}")
        position = meta.get("position")
        if position is not None and not (
            isinstance(position, dict) and _is_int(position.get("iterators")) and _is_int(position.get("consumed"))
        ):
            raise CheckpointRejected(f"data position {str(position)[:200]}")
        if position is not None:
            history = position.get("history", "")
            if not isinstance(history, str) or not set(history) <= {"0", "1"}:
                raise CheckpointRejected("the data position's iterator history is malformed")
            _check_position_rng(position.get("rng"), headers)
        described = meta.get("variables")
        if not isinstance(described, dict):
            raise CheckpointRejected("no variables in the header")
        targets = _check_targets(meta.get("optimizer_targets", {}), len(described.get("model") or []))
        self.groups = groups = variable_groups(self.model, targets)
        unknown = sorted(set(described) - set(groups))
        if unknown:
            raise CheckpointRejected(
                f"written for a different model: it holds {', '.join(unknown)}, which this model does not have"
            )
        for group, variables in groups.items():
            saved = described.get(group, [])
            if not isinstance(saved, list) or not all(
                isinstance(e, list)
                and len(e) == 3
                and isinstance(e[0], str)
                and isinstance(e[1], list)
                and isinstance(e[2], str)
                for e in saved
            ):
                raise CheckpointRejected(f"the {group} variables are not described as [path, shape, dtype]")
            if any(f"{group}/{i}" not in headers for i in range(len(saved))):
                raise CheckpointRejected(f"a {group} variable's array is missing")
            if group in ("seed", "metrics") and len(saved) != len(variables):
                continue  # created lazily: may not exist yet in this process
            _check_same(group, saved, variables, names=group == "model")
            for i, variable in enumerate(variables):
                header, want = headers[f"{group}/{i}"], numpy_dtype(variable)
                if list(header.shape) != saved[i][1] or header.dtype != want:
                    raise CheckpointRejected(
                        f"{group} variable #{i} {variable.path} is {header.dtype} {header.shape} in the file, "
                        f"{want} {tuple(variable.shape)} here"
                    )
        for i in range(len(described.get("metrics", []))):
            if headers[f"metrics/{i}"].dtype.kind not in "biuf":
                raise CheckpointRejected(f"metric accumulator #{i} is {headers[f'metrics/{i}'].dtype}")
        _check_rng(meta, headers)
        _check_callbacks(meta, headers)

    def content(self, checkpoint):
        for i, variable in enumerate(self.groups["model"]):
            if not _finite(checkpoint.arrays[f"model/{i}"]):
                raise CheckpointRejected(f"model variable {variable.path} holds NaN or inf")


def _check_targets(targets, count):
    if not isinstance(targets, dict) or not all(
        isinstance(group, str)
        and group.startswith(OTHER_OPTIMIZER)
        and isinstance(indices, list)
        and all(_is_int(i, 0, count - 1) for i in indices)
        for group, indices in targets.items()
    ):
        raise CheckpointRejected("the optimizers' target variables are malformed")
    return targets


def numpy_dtype(variable):
    return np.dtype(keras.backend.standardize_dtype(variable.dtype))


def _check_rng(meta, headers):
    numpy_rng, python_rng = meta.get("numpy_rng"), meta.get("python_rng")
    if not _numpy_state_ok(numpy_rng, headers.get("rng/numpy")):
        raise CheckpointRejected("NumPy's random state is malformed")
    if meta.get("torch_rng") not in (None, True):
        raise CheckpointRejected("torch's random state is malformed")
    if meta.get("torch_rng"):
        _check_torch_state(headers.get("rng/torch"), "rng/torch")
    if not (isinstance(python_rng, list) and len(python_rng) == 3 and isinstance(python_rng[1], list)):
        raise CheckpointRejected("Python's random state is malformed")
    version, internal, gauss = python_rng
    if not (gauss is None or type(gauss) is float) or not all(_is_int(x, 0, 2**32 - 1) for x in internal):
        raise CheckpointRejected("Python's random state is malformed")
    try:
        random.Random().setstate((version, tuple(internal), gauss))  # a scratch generator: validates only
    except (TypeError, ValueError, OverflowError) as error:
        raise CheckpointRejected(f"Python's random state is malformed ({error})") from None


def _check_callbacks(meta, headers):
    saved = meta.get("callbacks")
    if not isinstance(saved, list) or not all(
        isinstance(e, dict) and isinstance(e.get("key"), str) and isinstance(e.get("class"), str) and "state" in e
        for e in saved
    ):
        raise CheckpointRejected("the callback states are not a list of {key, class, state}")
    if len({e["key"] for e in saved}) != len(saved):
        raise CheckpointRejected("two callback states have the same key")
    for entry in saved:
        for name in _callback_state.array_names(entry["state"]):
            if name not in headers:
                raise CheckpointRejected(f"callback {entry['key']}'s state refers to a missing array {name!r}")


def assign(groups: dict, checkpoint) -> None:
    """Assigns the saved model, optimizer and seed variables (`check` first); metrics: see `saved_metrics`."""
    for group, variables in groups.items():
        if group == "metrics" or len(checkpoint.meta["variables"].get(group, [])) != len(variables):
            continue
        for i, variable in enumerate(variables):
            variable.assign(checkpoint.arrays[f"{group}/{i}"])


def saved_metrics(checkpoint) -> list:
    """The metric accumulators saved (Keras builds compile metrics in the first step: added then)."""
    return [checkpoint.arrays[f"metrics/{i}"] for i in range(len(checkpoint.meta["variables"]["metrics"]))]


def callback_states(checkpoint) -> dict:
    """``{state key: saved state}`` of the callbacks the checkpoint holds."""
    arrays = checkpoint.arrays
    return {entry["key"]: _callback_state.decode(entry["state"], arrays) for entry in checkpoint.meta["callbacks"]}


def encode_rng(arrays: dict) -> dict:
    """NumPy's and Python's global random states: NumPy's key into `arrays`, the rest as header entries."""
    name, key, pos, has_gauss, gauss = np.random.get_state()
    arrays["rng/numpy"] = key
    version, internal, python_gauss = random.getstate()
    encoded = {
        "numpy_rng": [name, int(pos), int(has_gauss), float(gauss)],
        "python_rng": [version, list(internal), python_gauss],
    }
    torch = sys.modules.get("torch")
    if torch is not None:  # a DataLoader's shuffle draws from it
        arrays["rng/torch"] = torch.get_rng_state().numpy().copy()
        encoded["torch_rng"] = True
    return encoded


def restore_rng(checkpoint) -> None:
    """Sets NumPy's, Python's (and torch's, if saved and loaded) global random states to those `encode_rng` saved."""
    name, pos, has_gauss, gauss = checkpoint.meta["numpy_rng"]
    np.random.set_state((name, checkpoint.arrays["rng/numpy"], pos, has_gauss, gauss))
    version, internal, python_gauss = checkpoint.meta["python_rng"]
    random.setstate((version, tuple(internal), python_gauss))
    torch = sys.modules.get("torch")
    if checkpoint.meta.get("torch_rng") and torch is not None:
        torch.set_rng_state(torch.from_numpy(np.array(checkpoint.arrays["rng/torch"], np.uint8)))


def _torch_rng_size():
    torch = sys.modules.get("torch")
    return None if torch is None else int(torch.get_rng_state().numel())


# Of the current iterator: made, about to give its first batch; and when the checkpoint was written.
_MOMENTS = ("created", "started", "saved")


def encode_position(position, arrays: dict):
    """The data position as a header entry; the random states of its iterator go into `arrays`."""
    if position is None:
        return None
    encoded = {"iterators": int(position["iterators"]), "consumed": int(position["consumed"])}
    if isinstance(position.get("history"), str):
        encoded["history"] = position["history"]
    rng = position.get("rng")
    if rng is not None:
        encoded["rng"] = {}
        for moment in _MOMENTS:
            snapshot = rng.get(moment)
            if snapshot is None:
                continue
            prefix = f"position/{moment}"
            name, key, pos, has_gauss, gauss = snapshot["numpy"]
            arrays[f"{prefix}/numpy"] = key
            if snapshot.get("torch") is not None:
                arrays[f"{prefix}/torch"] = snapshot["torch"]
            for i, state in enumerate(snapshot.get("generators") or []):
                arrays[f"{prefix}/generator/{i}"] = state
            encoded["rng"][moment] = {
                "numpy": [name, int(pos), int(has_gauss), float(gauss)],
                "torch": snapshot.get("torch") is not None,
                "generators": len(snapshot.get("generators") or []),
            }
    return encoded


def decode_position_rng(checkpoint) -> dict:
    """``{moment: rng snapshot}`` (see `_data_position.rng_snapshot`) of the checkpoint's data position."""
    rng = (checkpoint.meta.get("position") or {}).get("rng") or {}
    arrays, decoded = checkpoint.arrays, {}
    for moment, entry in rng.items():
        prefix = f"position/{moment}"
        name, pos, has_gauss, gauss = entry["numpy"]
        decoded[moment] = {
            "numpy": (name, arrays[f"{prefix}/numpy"], pos, has_gauss, gauss),
            "torch": arrays[f"{prefix}/torch"] if entry["torch"] else None,
            "generators": [arrays[f"{prefix}/generator/{i}"] for i in range(entry["generators"])],
        }
    return decoded


def _check_position_rng(rng, headers):
    if rng is None:
        return
    if not isinstance(rng, dict) or not set(rng) <= set(_MOMENTS):
        raise CheckpointRejected("the data position's random states are malformed")
    for moment, entry in rng.items():
        prefix = f"position/{moment}"
        if not (
            isinstance(entry, dict)
            and type(entry.get("torch")) is bool
            and _is_int(entry.get("generators"), 0, 8)
            and _numpy_state_ok(entry.get("numpy"), headers.get(f"{prefix}/numpy"))
        ):
            raise CheckpointRejected(f"the data position's random state at {moment} is malformed")
        names = [f"{prefix}/torch"] * entry["torch"] + [f"{prefix}/generator/{i}" for i in range(entry["generators"])]
        for name in names:
            _check_torch_state(headers.get(name), name)


def _check_torch_state(header, name):
    size = _torch_rng_size()
    if header is None or header.dtype != np.uint8 or len(header.shape) != 1 or (size and header.shape[0] != size):
        raise CheckpointRejected(f"torch random state {name} is malformed")


def _numpy_state_ok(numpy_rng, key) -> bool:
    return (
        key is not None
        and key.shape == (624,)
        and key.dtype == np.uint32
        and isinstance(numpy_rng, list)
        and len(numpy_rng) == 4
        and numpy_rng[0] == "MT19937"
        and _is_int(numpy_rng[1], 0, 624)
        and numpy_rng[2] in (0, 1)
        and type(numpy_rng[3]) is float
    )


def _check_same(group, saved, variables, names):
    for i, variable in enumerate(variables):
        shape = list(variable.shape)
        if i >= len(saved):
            raise CheckpointRejected(
                f"written for a different model: it has no {group} variable "
                f"#{i} {variable.path} {tuple(shape)} (it holds {len(saved)} {group} variables)."
            )
        saved_path, saved_shape, _ = saved[i]
        # Layer names differ between processes (dense vs dense_3); a variable's own name does not.
        renamed = names and saved_path.split("/")[-1] != variable.path.split("/")[-1]
        if saved_shape != shape or renamed:
            raise CheckpointRejected(
                f"written for a different model: {group} variable #{i} is "
                f"{saved_path} {tuple(saved_shape)} there and {variable.path} {tuple(shape)} here."
            )
    if len(saved) > len(variables):
        extra = saved[len(variables)]
        raise CheckpointRejected(
            f"written for a different model: its {group} variable "
            f"#{len(variables)} {extra[0]} {tuple(extra[1])} has no counterpart here."
        )


def _to_numpy(variable):
    """A variable's value as numpy; a tf.distribute variable reads its primary copy."""
    value = variable.value
    if keras.backend.backend() == "tensorflow" and hasattr(value, "numpy"):  # also MirroredVariable
        return np.asarray(value.numpy())
    return keras.ops.convert_to_numpy(value)  # torch: detached (a parameter requires grad)


class HostCopyLater:
    """A TensorFlow variable's value read at the step, brought to host numpy only when written.

    A `tf.Variable` read is an immutable tensor: a later `assign` of the
    variable writes a new buffer while a read still holds the old one
    (copy-on-write), so the value is the step's even if it is read as numpy
    after training went on. ``np.asarray`` gives it without a copy where the
    tensor is in host memory (`EagerTensor.__array__` views its buffer and
    keeps it alive; `.numpy()` would copy it), else copies it to the host.
    """

    __slots__ = ("tensor", "shape", "dtype")

    def __init__(self, tensor):
        self.tensor = tensor
        self.shape = tuple(tensor.shape.as_list())
        self.dtype = np.dtype(tensor.dtype.as_numpy_dtype)

    def __array__(self, dtype=None, copy=None):
        value = np.asarray(self.tensor)  # a read-only use: the writer hashes and writes it
        return value if dtype is None else value.astype(dtype, copy=False)


def _can_read_later() -> bool:
    """Whether `HostCopyLater` applies: TensorFlow's own variables (a distributed one is read as before)."""
    if keras.backend.backend() != "tensorflow":
        return False
    import tensorflow as tf

    return not tf.distribute.has_strategy()


def _read_later(variable):
    """The variable's value now, as a `HostCopyLater` (a plain tf.Variable) or numpy (anything else)."""
    import tensorflow as tf

    value = variable.value
    if isinstance(value, tf.Variable) and not isinstance(value, tf.distribute.DistributedValues):
        return HostCopyLater(value.read_value())
    return _to_numpy(variable)
