"""kerasplus: training plugins for Keras 3.

Importing the package is cheap: each namespace (``kerasplus.callbacks``,
``kerasplus.schedules``, ...) is imported the first time it is touched, and
optional heavy dependencies (tfmot, tf_keras, keras_tuner, scikit-learn,
matplotlib) only inside the functions that use them.
"""

import importlib

__version__ = "0.1.0"

_NAMESPACES = (
    "callbacks",
    "data",
    "diagnostics",
    "distribute",
    "initializers",
    "layers",
    "losses",
    "pruning",
    "quantization",
    "schedules",
    "transfer",
    "tuning",
)

# Top-level shortcuts: name -> (module, attribute).
_SHORTCUTS = {
    "lr_find": ("kerasplus.callbacks.lr_finder", "lr_find"),
}

__all__ = ["__version__", *_NAMESPACES, *_SHORTCUTS]


def __getattr__(name):
    if name in _NAMESPACES:
        module = importlib.import_module(f"kerasplus.{name}")
        globals()[name] = module
        return module
    if name in _SHORTCUTS:
        module_name, attribute = _SHORTCUTS[name]
        value = getattr(importlib.import_module(module_name), attribute)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'kerasplus' has no attribute {name!r}")


def __dir__():
    return sorted(__all__)
