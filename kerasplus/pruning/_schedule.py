"""What the pruning schedules share: the step window, argument checks, and (de)serialization."""

from __future__ import annotations

from typing import Any

from keras import ops

from kerasplus import _validation as v


def check_steps(begin_step: Any, end_step: Any, frequency: Any, *, allow_forever: bool) -> tuple[int, int, int]:
    """`begin_step` >= 0, `end_step` >= `begin_step` (or -1, "forever", where allowed), `frequency` >= 1."""
    begin_step = v.check_int("begin_step", begin_step, minimum=0)
    end_step = v.check_int("end_step", end_step, minimum=-1 if allow_forever else 0)
    if end_step != -1 and end_step < begin_step:
        allowed = "-1 (prune forever) or >= begin_step" if allow_forever else ">= begin_step"
        raise ValueError(
            f"`end_step` must be {allowed}; received end_step={end_step!r} with begin_step={begin_step!r}."
        )
    frequency = v.check_int("frequency", frequency, minimum=1)
    return begin_step, end_step, frequency


def check_sparsity(name: str, value: Any) -> float:
    """A sparsity in [0, 1): the fraction of weights set to zero."""
    return v.check_range(name, value, 0.0, 1.0, high_inclusive=False)


class PruningSchedule:
    """Base of the pruning schedules: ``schedule(step)`` -> ``(update_mask, sparsity)``.

    `step` counts training steps from 1 (the first training batch is step 1),
    as tfmot's ``pruning_step`` does. The mask is recomputed at `step` when
    ``begin_step <= step <= end_step`` (any step >= `begin_step` when
    ``end_step == -1``) and ``(step - begin_step) % frequency == 0``: exactly
    tfmot's ``PruningSchedule._should_prune_in_step``. Both values are computed
    with `keras.ops`, so a schedule runs inside a compiled train step on every
    backend; `step` may be a Python int, a NumPy value or a tensor.
    """

    begin_step: int
    end_step: int
    frequency: int

    def should_prune(self, step: Any) -> Any:
        step = ops.convert_to_tensor(step, "int32")
        in_range = ops.greater_equal(step, self.begin_step)
        if self.end_step >= 0:
            in_range = ops.logical_and(in_range, ops.less_equal(step, self.end_step))
        turn = ops.equal(ops.mod(step - self.begin_step, self.frequency), 0)
        return ops.logical_and(in_range, turn)

    def sparsity(self, step: Any) -> Any:  # pragma: no cover - every schedule defines it
        raise NotImplementedError

    def __call__(self, step: Any) -> tuple[Any, Any]:
        return self.should_prune(step), self.sparsity(step)

    def get_config(self) -> dict:  # pragma: no cover - every schedule defines it
        raise NotImplementedError

    @classmethod
    def from_config(cls, config: dict) -> PruningSchedule:
        return cls(**config)

    def __repr__(self) -> str:
        arguments = ", ".join(f"{key}={value!r}" for key, value in self.get_config().items())
        return f"{type(self).__name__}({arguments})"

    def __eq__(self, other: object) -> bool:
        return type(other) is type(self) and other.get_config() == self.get_config()

    def __hash__(self) -> int:
        return hash((type(self).__name__, tuple(sorted(self.get_config().items()))))
