"""Pruning for Keras 3: magnitude, N:M and block sparsity driven by a schedule inside the train step."""

from kerasplus.pruning.constant_sparsity import ConstantSparsity
from kerasplus.pruning.polynomial_decay import PolynomialDecay
from kerasplus.pruning.prune_model import prune_model
from kerasplus.pruning.prune_wrapper import PruneWrapper
from kerasplus.pruning.strip_pruning import strip_pruning

__all__ = ["ConstantSparsity", "PolynomialDecay", "PruneWrapper", "prune_model", "strip_pruning"]
