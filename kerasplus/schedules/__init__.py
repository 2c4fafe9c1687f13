"""Learning-rate schedules: pure step -> value functions and the Keras classes on top.

Cosine decay, exponential/step decay and piecewise-constant schedules come from
`keras.optimizers.schedules`; wrap any of them in `Warmup`, chain them with `Join`.
"""

from kerasplus.schedules.cosine_restarts import CosineRestarts, cosine_restarts
from kerasplus.schedules.cyclic import CyclicLR, cyclic
from kerasplus.schedules.exponential_sweep import ExponentialSweep
from kerasplus.schedules.finite_horizon import FiniteHorizonSchedule
from kerasplus.schedules.join import Join, join
from kerasplus.schedules.one_cycle import (
    OneCycle,
    OneCycleMomentum,
    one_cycle,
    one_cycle_momentum,
)
from kerasplus.schedules.swa_lr import SWALR
from kerasplus.schedules.warmup import Warmup, warmup

__all__ = [
    "CosineRestarts",
    "CyclicLR",
    "ExponentialSweep",
    "FiniteHorizonSchedule",
    "Join",
    "OneCycle",
    "OneCycleMomentum",
    "SWALR",
    "Warmup",
    "cosine_restarts",
    "cyclic",
    "join",
    "one_cycle",
    "one_cycle_momentum",
    "warmup",
]
