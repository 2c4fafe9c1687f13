"""`ConstantSparsity`: one target sparsity, applied every `frequency` steps."""

from __future__ import annotations

from typing import Any

import keras
from keras import ops

from kerasplus.pruning._schedule import PruningSchedule, check_sparsity, check_steps


@keras.saving.register_keras_serializable(package="kerasplus")
class ConstantSparsity(PruningSchedule):
    """Pruning schedule with a constant sparsity, as tfmot's `ConstantSparsity`.

    From `begin_step` on, every `frequency` steps, the mask is recomputed to
    zero the `target_sparsity` fraction of smallest-magnitude weights, until
    `end_step` (forever with the default ``end_step=-1``).

    Args:
        target_sparsity: the sparsity, in ``[0, 1)``.
        begin_step: first step (counted from 1) at which the mask is updated, >= 0.
        end_step: last step at which the mask is updated, >= `begin_step`, or
            -1 to keep updating it.
        frequency: the mask is updated every `frequency` steps, >= 1.

    Example:

    >>> from kerasplus.pruning import ConstantSparsity
    >>> schedule = ConstantSparsity(0.5, begin_step=10, frequency=5)
    >>> [bool(schedule(step)[0]) for step in (5, 10, 12, 15)], float(schedule(15)[1])
    ([False, True, False, True], 0.5)
    """

    def __init__(self, target_sparsity: float, begin_step: int, end_step: int = -1, frequency: int = 100) -> None:
        self.target_sparsity = check_sparsity("target_sparsity", target_sparsity)
        self.begin_step, self.end_step, self.frequency = check_steps(
            begin_step, end_step, frequency, allow_forever=True
        )

    def sparsity(self, step: Any) -> Any:
        del step
        return ops.convert_to_tensor(self.target_sparsity, "float32")

    def get_config(self) -> dict:
        return {
            "target_sparsity": self.target_sparsity,
            "begin_step": self.begin_step,
            "end_step": self.end_step,
            "frequency": self.frequency,
        }
