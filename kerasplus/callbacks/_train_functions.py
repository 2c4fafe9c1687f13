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

Not on JAX: `jax.jit` caches a trace by the function it wraps (the model's
`train_step`) and the arguments' shapes, not by the Python state a schedule
installs, so a kept function would make a new jit of the same `train_step` reuse
its trace, whatever is installed. There each `select` makes a new function and
`finish` drops it, as Keras does after `compile`: one trace per `fit`.
"""

from __future__ import annotations

import keras

from kerasplus._internals import keras as internal_keras


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
    )


def _same(a: tuple, b: tuple) -> bool:
    return len(a) == len(b) and all(x is y or (type(x) is type(y) and _plain(x) and x == y) for x, y in zip(a, b))


def _plain(value) -> bool:
    return value is None or type(value) in (bool, int, float, str)


def _state(model) -> dict:
    """{"bare": fn, "active": bool, "left": fn, "cache": [(key, fn)]}, kept on the model (freed with it)."""
    return internal_keras.kerasplus_slot(model).setdefault(
        "train_functions", {"bare": None, "active": False, "left": None, "cache": []}
    )


def select(model) -> None:
    """Puts on `model` a train function traced with what is installed now (reused when there is one)."""
    if keras.backend.backend() == "jax":
        model.make_train_function(force=True)
        return
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
    model.make_train_function(force=True)


def finish(model) -> None:
    """Files the train function in use and gives `model` back the one its `fit` started with."""
    if keras.backend.backend() == "jax":
        model.train_function = None  # dropped, so no later jit of train_step finds its trace
        return
    state = _state(model)
    if not state["active"]:
        return
    state["active"] = False
    function = model.train_function
    if function is not None and function is not state["bare"]:
        key = _key(model)
        state["cache"] = [(k, f) for k, f in state["cache"] if not _same(k, key)][-7:] + [(key, function)]
    model.train_function = state["bare"]
    state["left"] = state["bare"]
