"""Fit-time callbacks: learning-rate schedules for an existing `model.fit`, and the LR range test."""

from kerasplus.callbacks.cyclic_lr import CyclicLR
from kerasplus.callbacks.lr_finder import LRFinder, LRFinderResult, lr_find
from kerasplus.callbacks.one_cycle_lr import OneCycleLR
from kerasplus.callbacks.warmup_lr import WarmupLR

__all__ = ["CyclicLR", "LRFinder", "LRFinderResult", "OneCycleLR", "WarmupLR", "lr_find"]
