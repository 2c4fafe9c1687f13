"""What a `BackupAndRestore` checkpoint holds, and how it is put back into a model.

A training state is a dict of named numpy arrays plus a JSON header (`meta`):

- ``model/<i>``, ``optimizer/<i>``, ``metrics/<i>``, ``seed/0``: every model
  variable (weights and the `SeedGenerator` states of random layers), the
  optimizer's variables (iteration count, slots), the metric accumulators and
  Keras's global seed generator; the header describes each (path, shape, dtype)
  under ``variables``;
- ``rng/numpy`` and the header's ``numpy_rng``/``python_rng``: NumPy's and
  Python's global random states;
- ``callbacks/...`` and the header's ``callbacks``: the state of every other
  stateful callback of the `fit`, each under its stable key (see
  `_callback_state.state_key`);
- the header's ``epoch``, ``step`` and ``position`` (the data position, see
  `_data_position`), and ``steps`` and ``batch_size``: the steps per epoch and
  the batch size of the run that wrote it.

`assemble` builds one from a running `fit`; `Verifier` refuses one that does
not fit a model and a fit (before its arrays are read, then after), `assign`
puts its variables back, `restore_rng` the random states, `callback_states`
the callbacks' states.
"""

from __future__ import annotations

import random

import keras
import numpy as np

from kerasplus._internals import keras as internal_keras
from kerasplus.callbacks import _callback_state
from kerasplus.callbacks._checkpoint_store import CheckpointRejected

FORMAT = 2  # 1: callback states by list position; not read any more (refused with a message)


class NonFiniteWeights(ValueError):
    """`assemble` refuses a state whose trainable weights hold NaN or inf."""

    def __init__(self, variable_path: str):
        super().__init__(f"variable {variable_path} holds NaN or inf")
        self.variable_path = variable_path


def variable_groups(model) -> dict:
    """The model's variables by group (``model``, ``optimizer``, ``metrics``, ``seed``); builds the optimizer."""
    optimizer = model.optimizer
    if optimizer is not None and not optimizer.built:
        optimizer.build(model.trainable_variables)
    generator = internal_keras.global_seed_generator()
    return {
        "model": list(model.variables),
        "optimizer": list(optimizer.variables) if optimizer is not None else [],
        "metrics": list(model.metrics_variables),
        "seed": [generator.state] if generator is not None else [],
    }


def assemble(model, epoch: int, step: int, position, callbacks, steps=None, batch_size=None) -> tuple[dict, dict]:
    """``(arrays, meta)`` of the training state now; raises `NonFiniteWeights` first if a weight is not finite.

    Args:
        model: the model being fit.
        epoch, step: where training resumes from this state.
        position: the data position (`DataCursor.position()`), or None.
        callbacks: ``{state key: callback}``, the stateful callbacks whose state it holds.
        steps, batch_size: the steps per epoch and the batch size of this fit (None if unknown).
    """
    groups = variable_groups(model)
    arrays, described = {}, {}
    for group, variables in groups.items():
        described[group] = []
        for i, variable in enumerate(variables):
            value = _to_numpy(variable)
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
        "position": position,
        "steps": None if steps is None else int(steps),
        "batch_size": None if batch_size is None else int(batch_size),
        "variables": described,
        "callbacks": saved_callbacks,
        **encode_rng(arrays),
    }
    return arrays, meta


def _finite(value) -> bool:
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
        """Raises ValueError (not a checkpoint's fault: fit stops) unless the model can be restored into."""
        if not self.model.built:
            raise ValueError(
                "BackupAndRestore needs a built model to restore into: build it "
                "(or call it on a batch) before fit."
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
            raise CheckpointRejected(f"data position {position!r}")
        described = meta.get("variables")
        if not isinstance(described, dict):
            raise CheckpointRejected("no variables in the header")
        self.groups = groups = variable_groups(self.model)
        for group, variables in groups.items():
            saved = described.get(group, [])
            if not isinstance(saved, list) or not all(
                isinstance(e, list) and len(e) == 3 and isinstance(e[0], str) and isinstance(e[1], list)
                and isinstance(e[2], str) for e in saved
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


def numpy_dtype(variable):
    return np.dtype(keras.backend.standardize_dtype(variable.dtype))


def _check_rng(meta, headers):
    numpy_rng, python_rng = meta.get("numpy_rng"), meta.get("python_rng")
    key = headers.get("rng/numpy")
    if (
        key is None or key.shape != (624,) or key.dtype != np.uint32
        or not isinstance(numpy_rng, list) or len(numpy_rng) != 4 or numpy_rng[0] != "MT19937"
        or not _is_int(numpy_rng[1], 0, 624) or numpy_rng[2] not in (0, 1) or type(numpy_rng[3]) is not float
    ):
        raise CheckpointRejected("NumPy's random state is malformed")
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
    return {
        "numpy_rng": [name, int(pos), int(has_gauss), float(gauss)],
        "python_rng": [version, list(internal), python_gauss],
    }


def restore_rng(checkpoint) -> None:
    """Sets NumPy's and Python's global random states to those `encode_rng` saved."""
    name, pos, has_gauss, gauss = checkpoint.meta["numpy_rng"]
    np.random.set_state((name, checkpoint.arrays["rng/numpy"], pos, has_gauss, gauss))
    version, internal, python_gauss = checkpoint.meta["python_rng"]
    random.setstate((version, tuple(internal), python_gauss))


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
    if hasattr(value, "numpy"):  # TF: also MirroredVariable, whose __array__ numpy rejects
        return np.asarray(value.numpy())
    return keras.ops.convert_to_numpy(value)
