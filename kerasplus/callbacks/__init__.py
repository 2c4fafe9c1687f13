"""Fit-time callbacks: learning-rate schedules, the LR range test, early stopping, resume, NaN guard, time budget, weight averaging."""

from kerasplus.callbacks._preemption import Preempted
from kerasplus.callbacks.backup_and_restore import BackupAndRestore
from kerasplus.callbacks.cyclic_lr import CyclicLR
from kerasplus.callbacks.early_stopping import EarlyStopping
from kerasplus.callbacks.lr_finder import LRFinder, LRFinderResult, lr_find
from kerasplus.callbacks.nan_guard import NaNGuard
from kerasplus.callbacks.one_cycle_lr import OneCycleLR
from kerasplus.callbacks.stochastic_weight_averaging import StochasticWeightAveraging
from kerasplus.callbacks.timer import Timer
from kerasplus.callbacks.update_bn import update_bn
from kerasplus.callbacks.warmup_lr import WarmupLR

__all__ = [
    "BackupAndRestore",
    "CyclicLR",
    "EarlyStopping",
    "LRFinder",
    "LRFinderResult",
    "NaNGuard",
    "OneCycleLR",
    "Preempted",
    "StochasticWeightAveraging",
    "Timer",
    "WarmupLR",
    "lr_find",
    "update_bn",
]
