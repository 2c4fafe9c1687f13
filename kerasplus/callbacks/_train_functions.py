"""The train functions kerasplus callbacks trace, kept per model so a later `fit` reuses them.

A callback that puts something into the compiled step (a learning-rate schedule,
NaNGuard's finiteness check) needs a train function traced with it. Instead of
forcing a new one in every `fit` and dropping it when `fit` ends (so the next
`fit`, with or without the callback, traced again), the callbacks share this
register:

- `select(model)`, after a callback changed what the step reads: reuses a train
  function traced earlier with exactly the same objects installed (the same
  schedule object, momentum scalar, train step, optimizer), or makes a new one.
  The first call of a `fit` also keeps the function `fit` started with.
- `finish(model)`, when `fit` ends, before anything is put back: files the
  function in use under what is installed, and gives the model back the one
  `fit` started with, so a later bare `fit` traces nothing new either.

The kept functions are dropped when the model's train function is replaced by
anything else between fits (`compile` resets it, so a recompiled model never
reuses a stale function).

On JAX, `jax.jit` bakes the Python values a step reads into its trace; what
changes between fits (the start of a schedule, `StartedSchedule.first_step`) is
passed instead as an input of a train function this register jits itself
(`trace_input`: the callback names the object; inside the trace `traced_input`
gives it the traced value). A value read as a constant in a trace is part of the
key (`trace_key`), so such a function is never reused with another value.
"""

from __future__ import annotations

import threading

import keras

from kerasplus._internals import keras as internal_keras

_READING = threading.local()  # .values: {id(holder): traced value} while this register's JAX step is traced


def _key(model) -> tuple:
    """The objects a traced train step captured, compared by identity."""
    optimizer = model.optimizer
    inner = getattr(optimizer, "inner_optimizer", optimizer)
    rate = internal_keras.learning_rate_source(inner)
    return (
        optimizer,
        inner,
        rate,
        getattr(rate, "trace_key", None),
        getattr(inner, "momentum", None),
        getattr(inner, "beta_1", None),
        vars(model).get("train_step"),
        model.steps_per_execution,
        model.jit_compile,
        model.run_eagerly,
        keras.distribution.distribution() if keras.backend.backend() == "jax" else None,
        len(_state(model)["inputs"]),
        *_state(model)["inputs"],
    )


def _same(a: tuple, b: tuple) -> bool:
    return len(a) == len(b) and all(x is y or (type(x) is type(y) and _plain(x) and x == y) for x, y in zip(a, b))


def _plain(value) -> bool:
    return value is None or type(value) in (bool, int, float, str)


def _state(model) -> dict:
    """{"bare": fn, "active": bool, "left": fn, "cache": [(key, fn)]}, kept on the model (freed with it)."""
    return internal_keras.kerasplus_slot(model).setdefault(
        "train_functions", {"bare": None, "active": False, "left": None, "cache": [], "inputs": []}
    )


def trace_input(model, holder) -> None:
    """Makes ``holder.trace_input_value()`` an input of the JAX train functions `select` makes from now on.

    Until `finish`. `holder` then reads it in the traced step through `traced_input`,
    so the step follows a later change of that value without a new trace.
    """
    inputs = _state(model)["inputs"]
    if not any(h is holder for h in inputs):
        inputs.append(holder)


_VERSION = [0]  # bumped whenever a holder's input value changes: train functions refresh what they pass


def input_changed() -> None:
    """Tells the train functions that a holder's `trace_input_value` changed (read again at the next step)."""
    _VERSION[0] += 1


def traced_input(holder):
    """The value `holder` reads in a JAX train step this register is tracing; None anywhere else."""
    values = getattr(_READING, "values", None)
    return None if values is None else values.get(id(holder))


def _jax_reads_inputs(model) -> bool:
    """Whether the model's train step is jitted by Keras (so a train function of ours replaces it)."""
    return not model.run_eagerly and bool(model.jit_compile) and not keras.config.is_nnx_enabled()


def _make(model) -> None:
    """A new train function for what is installed: on JAX one reading the registered inputs."""
    if keras.backend.backend() != "jax" or not _jax_reads_inputs(model):
        model.make_train_function(force=True)
        return
    import jax

    holders = list(_state(model)["inputs"])
    train_step = model.train_step  # the instance's (NaNGuard's) or the class's, as Keras binds it
    shardings = internal_keras.jax_state_shardings(model)

    def step(state, data, values):
        _READING.values = {id(h): v for h, v in zip(holders, values)}
        try:
            return train_step(state, data)
        finally:
            _READING.values = None

    jitted = jax.jit(step, donate_argnums=0, out_shardings=None if shardings is None else (None, shardings))

    passed = [None, None]  # (version, values): read again only after a holder's value changed

    def call(state, data):
        if passed[0] != _VERSION[0]:
            passed[:] = _VERSION[0], [h.trace_input_value() for h in holders]
        return jitted(state, data, passed[1])

    model.train_function = internal_keras.jax_train_function(model, call)


def select(model) -> None:
    """Puts on `model` a train function traced with what is installed now (reused when there is one)."""
    state = _state(model)
    if not state["active"]:
        if model.train_function is not state["left"]:
            state["cache"] = []  # replaced since the last fit (compile, or a first fit): nothing kept is valid
        state["bare"] = model.train_function
        state["active"] = True
    key = _key(model)
    for kept_key, function in state["cache"]:
        if _same(kept_key, key):
            model.train_function = function
            return
    _make(model)


def finish(model) -> None:
    """Files the train function in use and gives `model` back the one its `fit` started with."""
    state = _state(model)
    if not state["active"]:
        state["inputs"] = []
        return
    state["active"] = False
    function = model.train_function
    if function is not None and function is not state["bare"]:
        key = _key(model)
        state["cache"] = [(k, f) for k, f in state["cache"] if not _same(k, key)][-7:] + [(key, function)]
    model.train_function = state["bare"]
    state["left"] = state["bare"]
    state["inputs"] = []
