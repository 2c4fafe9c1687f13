"""The callback state protocol: `get_state()` / `set_state(state)`, and adapters for Keras's own.

A state is a dict of plain values (None, bool, int, float, str, lists, dicts)
and numpy arrays. `encode` splits it into JSON and named arrays, so a
checkpoint stores it without pickling; `decode` puts it back together.
"""

from __future__ import annotations

import keras
import numpy as np


def _keras_early_stopping_state(callback):
    best = callback.best
    weights = callback.best_weights
    return {
        "wait": int(callback.wait),
        "stopped_epoch": int(callback.stopped_epoch),
        "best": None if best is None else float(best),
        "best_epoch": int(getattr(callback, "best_epoch", 0)),
        "best_weights": None if weights is None else [np.asarray(w) for w in weights],
    }


def _set_keras_early_stopping_state(callback, state):
    callback.wait = int(state["wait"])
    callback.stopped_epoch = int(state["stopped_epoch"])
    callback.best = state["best"]
    callback.best_epoch = int(state["best_epoch"])
    weights = state["best_weights"]
    callback.best_weights = None if weights is None else [np.asarray(w) for w in weights]


def _reduce_lr_state(callback):
    best = callback.best
    return {
        "best": None if best is None else float(best),
        "wait": int(callback.wait),
        "cooldown_counter": int(callback.cooldown_counter),
    }


def _set_reduce_lr_state(callback, state):
    callback.best = state["best"]
    callback.wait = int(state["wait"])
    callback.cooldown_counter = int(state["cooldown_counter"])


# Keras callbacks have no state protocol: (type, get, set), most specific first.
ADAPTERS = (
    (keras.callbacks.EarlyStopping, _keras_early_stopping_state, _set_keras_early_stopping_state),
    (keras.callbacks.ReduceLROnPlateau, _reduce_lr_state, _set_reduce_lr_state),
)


def has_state(callback) -> bool:
    if callable(getattr(callback, "get_state", None)) and callable(getattr(callback, "set_state", None)):
        return True
    return any(isinstance(callback, kind) for kind, _, _ in ADAPTERS)


def get_state(callback) -> dict:
    if callable(getattr(callback, "get_state", None)):
        return callback.get_state()
    for kind, getter, _ in ADAPTERS:
        if isinstance(callback, kind):
            return getter(callback)
    raise TypeError(f"{type(callback).__name__} has no get_state()")


def set_state(callback, state: dict) -> None:
    if callable(getattr(callback, "set_state", None)):
        callback.set_state(state)
        return
    for kind, _, setter in ADAPTERS:
        if isinstance(callback, kind):
            setter(callback, state)
            return
    raise TypeError(f"{type(callback).__name__} has no set_state()")


def encode(value, prefix: str, arrays: dict):
    """JSON-able copy of `value`; its arrays go into `arrays` under names starting with `prefix`."""
    if isinstance(value, np.ndarray):  # 0-d too (a Normalization layer's `count` weight): dtype kept
        name = f"{prefix}/{len(arrays)}"
        arrays[name] = value
        return {"__array__": name}
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, dict):
        if not all(isinstance(k, str) for k in value):
            raise TypeError(f"state keys must be strings; received {list(value)!r}")
        return {k: encode(v, prefix, arrays) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [encode(v, prefix, arrays) for v in value]
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if hasattr(value, "numpy") or hasattr(value, "__array__"):  # tensors, keras Variables
        return encode(np.asarray(keras.ops.convert_to_numpy(value)), prefix, arrays)
    raise TypeError(
        f"A callback state may hold None, numbers, strings, lists, dicts and arrays; received {type(value).__name__}."
    )


def decode(value, arrays):
    if isinstance(value, dict):
        if set(value) == {"__array__"}:
            return np.asarray(arrays[value["__array__"]])
        return {k: decode(v, arrays) for k, v in value.items()}
    if isinstance(value, list):
        return [decode(v, arrays) for v in value]
    return value


def array_names(value) -> list:
    """The array names an encoded state refers to (`encode`'s ``{"__array__": name}``)."""
    if isinstance(value, dict):
        if set(value) == {"__array__"}:
            return [value["__array__"]]
        return [name for v in value.values() for name in array_names(v)]
    if isinstance(value, list):
        return [name for v in value for name in array_names(v)]
    return []


def state_key(callback) -> str:
    """A key that names `callback`'s state in a checkpoint, whatever its position in the callback list.

    The callback's own ``state_key`` attribute if it has one (a non-empty
    string, as in Lightning); else its class (module and qualified name), plus
    the quantity it monitors for callbacks that have a ``monitor`` (and a
    ``mode``): ``EarlyStopping(monitor="loss")`` and
    ``EarlyStopping(monitor="val_loss")`` are two owners. Hyper-parameters
    such as ``patience`` are not part of it, so changing them between runs
    keeps the state. `unique_keys` numbers callbacks whose keys are equal.
    """
    own = getattr(callback, "state_key", None)
    if isinstance(own, str) and own:
        return own
    kind = type(callback)
    key = f"{kind.__module__}.{kind.__qualname__}"
    monitor = getattr(callback, "monitor", None)
    if isinstance(monitor, str):
        mode = getattr(callback, "mode", None)
        key += f"[monitor={monitor}" + (f", mode={mode}]" if isinstance(mode, str) else "]")
    return key


def unique_keys(callbacks) -> dict:
    """``{key: callback}`` in list order; a key already taken gets ``#2``, ``#3``... in order of appearance."""
    keyed, seen = {}, {}
    for callback in callbacks:
        key = state_key(callback)
        seen[key] = seen.get(key, 0) + 1
        keyed[key if seen[key] == 1 else f"{key}#{seen[key]}"] = callback
    return keyed
