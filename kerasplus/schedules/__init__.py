"""Learning-rate schedules: pure step -> value functions and the Keras classes on top.

Cosine decay, exponential/step decay and piecewise-constant schedules come from
`keras.optimizers.schedules`; wrap any of them in `Warmup`.
"""

from kerasplus.schedules.cyclic import CyclicLR, cyclic
from kerasplus.schedules.exponential_sweep import ExponentialSweep
from kerasplus.schedules.finite_horizon import FiniteHorizonSchedule
from kerasplus.schedules.one_cycle import (
    OneCycle,
    OneCycleMomentum,
    one_cycle,
    one_cycle_momentum,
)
from kerasplus.schedules.warmup import Warmup, warmup

__all__ = [
    "CyclicLR",
    "ExponentialSweep",
    "FiniteHorizonSchedule",
    "OneCycle",
    "OneCycleMomentum",
    "Warmup",
    "cyclic",
    "one_cycle",
    "one_cycle_momentum",
    "warmup",
]
