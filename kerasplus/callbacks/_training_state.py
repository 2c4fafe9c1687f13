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
  stateful callback of the `fit` (see `_callback_state`);
- the header's ``epoch``, ``step`` and ``position`` (the data position, see
  `_data_position`).

`assemble` builds one from a running `fit`; `check` says whether it fits a
model, `assign` puts its variables back, `restore_rng` the random states,
`callback_states` the callbacks' states.
"""

from __future__ import annotations

import random

import keras
import numpy as np

from kerasplus._internals import keras as internal_keras
from kerasplus.callbacks import _callback_state

FORMAT = 1


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


def assemble(model, epoch: int, step: int, position, callbacks) -> tuple[dict, dict]:
    """``(arrays, meta)`` of the training state now; raises `NonFiniteWeights` first if a weight is not finite.

    Args:
        model: the model being fit.
        epoch, step: where training resumes from this state.
        position: the data position (`DataCursor.position()`), or None.
        callbacks: the stateful callbacks whose state it holds.
    """
    groups = variable_groups(model)
    arrays, described = {}, {}
    for group, variables in groups.items():
        described[group] = []
        for i, variable in enumerate(variables):
            value = _to_numpy(variable)
            arrays[f"{group}/{i}"] = value
            described[group].append([variable.path, list(value.shape), str(value.dtype)])
    trainable = {id(variable) for variable in model.trainable_variables}
    for i, variable in enumerate(groups["model"]):
        value = arrays[f"model/{i}"]
        if id(variable) in trainable and np.issubdtype(value.dtype, np.floating) and not np.all(np.isfinite(value)):
            raise NonFiniteWeights(variable.path)
    saved_callbacks = []
    for i, callback in enumerate(callbacks):
        state = _callback_state.encode(_callback_state.get_state(callback), f"callbacks/{i}", arrays)
        saved_callbacks.append({"class": type(callback).__name__, "state": state})
    meta = {
        "format": FORMAT,
        "epoch": int(epoch),
        "step": int(step),
        "position": position,
        "variables": described,
        "callbacks": saved_callbacks,
        **encode_rng(arrays),
    }
    return arrays, meta


def check(model, checkpoint) -> dict:
    """Raises ValueError, naming the variable, unless `checkpoint` fits `model`; returns `variable_groups`."""
    meta, path = checkpoint.meta, checkpoint.path
    if meta.get("format") != FORMAT:
        raise ValueError(f"{path} is not a kerasplus BackupAndRestore checkpoint (format {meta.get('format')!r}).")
    if not model.built:
        raise ValueError(
            "BackupAndRestore needs a built model to restore into: build it "
            "(or call it on a batch) before fit."
        )
    groups = variable_groups(model)
    for group, variables in groups.items():
        saved = meta["variables"].get(group, [])
        if group in ("seed", "metrics") and len(saved) != len(variables):
            continue  # created lazily: may not exist yet in this process
        _check_same(group, saved, variables, path, names=group == "model")
    return groups


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


def callback_states(checkpoint, callbacks) -> list | None:
    """The saved state of each of `callbacks`, or None when the checkpoint holds other callbacks."""
    saved = checkpoint.meta["callbacks"]
    if len(saved) != len(callbacks) or any(
        entry["class"] != type(callback).__name__ for entry, callback in zip(saved, callbacks)
    ):
        return None
    return [_callback_state.decode(entry["state"], checkpoint.arrays) for entry in saved]


def saved_callback_classes(checkpoint) -> list:
    return [entry["class"] for entry in checkpoint.meta["callbacks"]]


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


def _check_same(group, saved, variables, path, names):
    for i, variable in enumerate(variables):
        shape = list(variable.shape)
        if i >= len(saved):
            raise ValueError(
                f"{path} was written for a different model: it has no {group} variable "
                f"#{i} {variable.path} {tuple(shape)} (it holds {len(saved)} {group} variables)."
            )
        saved_path, saved_shape, _ = saved[i]
        # Layer names differ between processes (dense vs dense_3); a variable's own name does not.
        renamed = names and saved_path.split("/")[-1] != variable.path.split("/")[-1]
        if saved_shape != shape or renamed:
            raise ValueError(
                f"{path} was written for a different model: {group} variable #{i} is "
                f"{saved_path} {tuple(saved_shape)} there and {variable.path} {tuple(shape)} here."
            )
    if len(saved) > len(variables):
        extra = saved[len(variables)]
        raise ValueError(
            f"{path} was written for a different model: its {group} variable "
            f"#{len(variables)} {extra[0]} {tuple(extra[1])} has no counterpart here."
        )


def _to_numpy(variable):
    """A variable's value as numpy; a tf.distribute variable reads its primary copy."""
    value = variable.value
    if hasattr(value, "numpy"):  # TF: also MirroredVariable, whose __array__ numpy rejects
        return np.asarray(value.numpy())
    return keras.ops.convert_to_numpy(value)
