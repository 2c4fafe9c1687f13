"""`FiniteHorizonSchedule`: the base of schedules that stop changing at a known step."""

from __future__ import annotations

from typing import Any

import keras
import numpy as np
from keras import ops

# Below this horizon the curve is tabulated: the train step does one gather
# instead of dozens of scalar ops (which on a small model cost a few percent of
# the step time); above it every call evaluates the formula.
TABLE_LIMIT = 1 << 20


def padded_length(count: int) -> int:
    """``count`` rounded up to a power of two (at least 64): the length of a tabulated vector of steps.

    JAX compiles each eager op for each new shape, so a formula evaluated on the
    steps of a new length compiles its dozen ops again (measured on the digits MLP:
    0.14-0.19 s at the start and first epoch end of every fit of a new length with
    OneCycleLR + WarmupLR). Vectors of a few padded lengths reuse those compilations.
    """
    return max(64, 1 << (int(count) - 1).bit_length())


def _lookup(table, step, torch_tables=None):
    """``table[step]`` for integer steps, clipped to the table's ends.

    On PyTorch (eager: Keras calls the schedule at every optimizer step) three torch
    ops on a tensor copy of the table kept per device (`torch_tables`): through
    `keras.ops` the same lookup costs ~10x as much, a few percent of a small model's step.
    """
    if torch_tables is not None and keras.backend.backend() == "torch":
        return _torch_lookup(table, step, torch_tables)
    if keras.backend.backend() == "jax":
        # A gather in XLA's clamping mode: XLA itself clamps the index into the table, so the
        # traced step has no clip and no out-of-bounds NaN select (`ops.take` fills with NaN).
        # XLA copies this lookup into every update fusion that reads the rate: each op it
        # saves is saved once per updated variable.
        import jax.numpy as jnp

        return jnp.take(table, ops.cast(ops.convert_to_tensor(step), "int32"), mode="clip")
    index = ops.clip(ops.cast(ops.convert_to_tensor(step), "int32"), 0, len(table) - 1)
    if keras.backend.backend() == "tensorflow":
        # One Gather op; `ops.take` adds ~7 ops to wrap negative indices, which
        # a clipped index never is.
        import tensorflow as tf

        return tf.gather(table, index)
    return ops.take(table, index)


def _torch_lookup(table, step, torch_tables):
    import torch

    if not isinstance(step, torch.Tensor):
        step = ops.convert_to_tensor(step)  # a Python or numpy step, a Keras Variable
    values = torch_tables.get(step.device)
    if values is None:
        values = torch_tables[step.device] = torch.from_numpy(table).to(step.device)
    index = torch.clamp(step.to(torch.int64), 0, len(table) - 1)
    return values.take(index)


class FiniteHorizonSchedule(keras.optimizers.schedules.LearningRateSchedule):
    """Base of the schedules whose value is constant from a known step on.

    A subclass defines `formula` (its pure function of the step) and calls
    ``super().__init__(horizon)`` once the fields `formula` reads are set. When
    the horizon is known and below 2**20 steps, the values at steps
    ``0 .. horizon`` are computed once, in float32, and a call reads them (one
    gather; integer steps, clipped to the table, so every step past the horizon
    reads the value held there). Otherwise a call evaluates `formula`.

    `Warmup` reads the `horizon` of the schedule it wraps, so a warm-up in
    front of a finite-horizon schedule is tabulated as a whole.

    Args:
        horizon: first step from which the value never changes, >= 0; None
            when unknown (e.g. `Warmup` around a Keras `CosineDecay`).

    Example:

    >>> import kerasplus
    >>> from keras import ops
    >>> class Ramp(kerasplus.schedules.FiniteHorizonSchedule):
    ...     def __init__(self):
    ...         super().__init__(horizon=10)
    ...     def formula(self, step):
    ...         return ops.minimum(ops.cast(step, "float32") * 0.01, 0.1)
    >>> ramp = Ramp()
    >>> round(float(ramp(5)), 6), round(float(ramp(1000)), 6)
    (0.05, 0.1)
    >>> kerasplus.schedules.Warmup(ramp, warmup_steps=5).horizon
    15
    """

    def __init__(self, horizon: int | None) -> None:
        self._horizon = None if horizon is None else int(horizon)
        self._table = None
        self._torch_tables = {}  # device -> the table as a torch tensor (PyTorch backend)
        if self._horizon is not None and self._horizon < TABLE_LIMIT:
            steps = np.arange(padded_length(self._horizon + 1))
            table = ops.convert_to_numpy(self.formula(steps)).astype("float32")
            table[self._horizon + 1 :] = table[self._horizon]  # the value held from the horizon on
            self._table = table

    @property
    def horizon(self) -> int | None:
        """First step from which the value never changes, or None if unknown."""
        return self._horizon

    def formula(self, step: Any) -> Any:
        """The value at `step` (scalar or array) computed from the formula, as float32."""
        raise NotImplementedError

    def __call__(self, step: Any) -> Any:
        if self._table is not None:
            return _lookup(self._table, step, self._torch_tables)
        return self.formula(step)
