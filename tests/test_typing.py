"""Every public signature carries type hints (the package ships ``py.typed``).

For every name each public namespace exports (its ``__all__``): a function's
parameters and return, a class's ``__init__`` and the public methods it
defines itself (inherited Keras methods are Keras's business). Keras's own
re-exports (``kerasplus.losses.Huber``) are skipped; a re-exported module
(``kerasplus.tuning.spaces``) is checked through the functions it defines.
Nothing else is skipped: the test lists every missing annotation.
"""

from __future__ import annotations

import importlib
import importlib.resources
import inspect
import types

import kerasplus

NAMESPACES = [name for name in kerasplus.__all__ if name != "__version__" and name not in kerasplus._SHORTCUTS]


def _missing_in_function(qualname, function, *, method=False):
    try:
        signature = inspect.signature(function)
    except (TypeError, ValueError):  # pragma: no cover - builtins
        return []
    missing = []
    for index, parameter in enumerate(signature.parameters.values()):
        if method and index == 0 and parameter.name in ("self", "cls"):
            continue
        if parameter.kind in (parameter.VAR_POSITIONAL, parameter.VAR_KEYWORD):
            continue
        if parameter.annotation is parameter.empty:
            missing.append(f"{qualname}: parameter `{parameter.name}`")
    if signature.return_annotation is signature.empty:
        missing.append(f"{qualname}: return")
    return missing


def _missing_in_class(qualname, cls):
    missing = []
    for name, attribute in vars(cls).items():
        if name.startswith("_") and name not in ("__init__", "__call__"):
            continue
        where = f"{qualname}.{name}"
        if isinstance(attribute, staticmethod):
            missing += _missing_in_function(where, attribute.__func__)
        elif isinstance(attribute, classmethod):
            missing += _missing_in_function(where, attribute.__func__, method=True)
        elif isinstance(attribute, property):
            if attribute.fget is not None:
                missing += _missing_in_function(where, attribute.fget, method=True)
        elif inspect.isfunction(attribute):
            missing += _missing_in_function(where, attribute, method=True)
    return missing


def _own(value):
    return getattr(value, "__module__", "").split(".")[0] == "kerasplus"


def _missing_in(qualname, value):
    if inspect.isclass(value):
        return _missing_in_class(qualname, value) if _own(value) else []
    if callable(value) and _own(value):
        return _missing_in_function(qualname, value)
    return []


def _public_objects():
    for namespace in NAMESPACES:
        module = importlib.import_module(f"kerasplus.{namespace}")
        for name in module.__all__:
            value = getattr(module, name)
            qualname = f"kerasplus.{namespace}.{name}"
            if isinstance(value, types.ModuleType):
                names = getattr(value, "__all__", None) or [n for n in vars(value) if not n.startswith("_")]
                for inner in names:
                    member = getattr(value, inner)
                    if getattr(member, "__module__", None) == value.__name__:
                        yield f"{qualname}.{inner}", member
            else:
                yield qualname, value


def test_namespaces_export_something():
    objects = dict(_public_objects())
    assert len(objects) > 50
    assert "kerasplus.tuning.spaces.dropout" in objects
    assert "kerasplus.callbacks.BackupAndRestore" in objects


def test_every_public_signature_is_annotated():
    missing = [entry for qualname, value in _public_objects() for entry in _missing_in(qualname, value)]
    assert not missing, "missing type hints:\n" + "\n".join(missing)


def test_py_typed_is_shipped():
    assert (importlib.resources.files("kerasplus") / "py.typed").is_file()
