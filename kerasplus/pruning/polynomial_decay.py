"""`PolynomialDecay`: sparsity rising from `initial_sparsity` to `final_sparsity` along a polynomial."""

from __future__ import annotations

from typing import Any

import keras
from keras import ops

from kerasplus import _validation as v
from kerasplus.pruning._schedule import PruningSchedule, check_sparsity, check_steps


@keras.saving.register_keras_serializable(package="kerasplus")
class PolynomialDecay(PruningSchedule):
    """Pruning schedule whose sparsity rises polynomially, as tfmot's `PolynomialDecay`.

    At training step `step` the target sparsity is::

        p = clip((step - begin_step) / (end_step - begin_step), 0, 1)
        sparsity = final_sparsity + (initial_sparsity - final_sparsity) * (1 - p) ** power

    and the mask is recomputed every `frequency` steps from `begin_step` to
    `end_step` (both included), so the final sparsity is reached at `end_step`
    when ``end_step - begin_step`` is a multiple of `frequency`. Same
    arguments, defaults and values as
    ``tfmot.sparsity.keras.PolynomialDecay`` (computed in float32).

    Args:
        initial_sparsity: sparsity at `begin_step`, in ``[0, 1)``.
        final_sparsity: sparsity from `end_step` on, in ``[0, 1)``.
        begin_step: first step (counted from 1) at which the mask is updated, >= 0.
        end_step: last step at which the mask is updated, >= `begin_step`.
        power: exponent of the polynomial (3 rises fast, then flattens).
        frequency: the mask is updated every `frequency` steps, >= 1.

    Example:

    >>> from kerasplus.pruning import PolynomialDecay
    >>> schedule = PolynomialDecay(0.0, 0.8, begin_step=0, end_step=100, frequency=10)
    >>> update, sparsity = schedule(50)
    >>> bool(update), round(float(sparsity), 4)
    (True, 0.7)
    """

    def __init__(
        self,
        initial_sparsity: float,
        final_sparsity: float,
        begin_step: int,
        end_step: int,
        power: float = 3,
        frequency: int = 100,
    ) -> None:
        self.initial_sparsity = check_sparsity("initial_sparsity", initial_sparsity)
        self.final_sparsity = check_sparsity("final_sparsity", final_sparsity)
        self.begin_step, self.end_step, self.frequency = check_steps(
            begin_step, end_step, frequency, allow_forever=False
        )
        self.power = v.check_number("power", power)

    def sparsity(self, step: Any) -> Any:
        step = ops.cast(ops.convert_to_tensor(step), "float32")
        span = max(self.end_step - self.begin_step, 0)
        if span == 0:  # tfmot divides by zero here; a one-step window means final sparsity from begin_step on
            p = ops.cast(ops.greater_equal(step, self.begin_step), "float32")
        else:
            p = ops.clip((step - self.begin_step) / span, 0.0, 1.0)
        decay = ops.power(1.0 - p, ops.cast(self.power, "float32"))
        return (self.initial_sparsity - self.final_sparsity) * decay + self.final_sparsity

    def get_config(self) -> dict:
        return {
            "initial_sparsity": self.initial_sparsity,
            "final_sparsity": self.final_sparsity,
            "begin_step": self.begin_step,
            "end_step": self.end_step,
            "power": self.power,
            "frequency": self.frequency,
        }
