"""Initializers: the right Keras initializer for an activation, model-wide
re-initialization, and LSUV. Keras's own Glorot/He/LeCun classes are used as they are.
"""

from kerasplus.initializers.by_activation import for_activation
from kerasplus.initializers.lsuv import lsuv
from kerasplus.initializers.reinitialize import reinitialize

__all__ = ["for_activation", "lsuv", "reinitialize"]
