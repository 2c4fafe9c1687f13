"""Every `Example:` in a docstring runs and prints what it shows.

The modules are found, not listed: every kerasplus module whose source holds a
doctest (`>>>`) is run, and every public namespace's classes and functions with
a docstring must show an example.
"""

import doctest
import importlib
import inspect
import pathlib

import pytest

PACKAGE = pathlib.Path(__file__).resolve().parents[1] / "kerasplus"


def _module_name(path: pathlib.Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


MODULES = sorted(_module_name(p) for p in PACKAGE.rglob("*.py") if ">>>" in p.read_text())
NAMESPACES = sorted(p.parent.name for p in PACKAGE.glob("*/__init__.py") if not p.parent.name.startswith("_"))


def test_examples_are_found():
    assert len(MODULES) >= 30, MODULES


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples_run(name):
    module = importlib.import_module(name)
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    assert result.failed == 0
    assert result.attempted > 0, f"{name} holds '>>>' outside a docstring doctest can find"


@pytest.mark.parametrize("namespace", NAMESPACES)
def test_every_public_component_of_a_namespace_shows_an_example(namespace):
    """Components (Keras layers, losses, callbacks, schedules, initializers); result records are exempt."""
    import keras

    components = (
        keras.layers.Layer,
        keras.losses.Loss,
        keras.callbacks.Callback,
        keras.optimizers.schedules.LearningRateSchedule,
        keras.initializers.Initializer,
    )
    module = importlib.import_module(f"kerasplus.{namespace}")
    missing = []
    for name in getattr(module, "__all__", [n for n in vars(module) if not n.startswith("_")]):
        value = getattr(module, name)
        if inspect.isclass(value) and issubclass(value, components) and value.__module__.startswith("kerasplus"):
            if ">>>" not in (value.__doc__ or ""):
                missing.append(name)
    assert not missing, f"kerasplus.{namespace}: components without a runnable Example: {missing}"
