"""The register of kerasplus's private-API uses, read by the canary test."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable


@dataclasses.dataclass(frozen=True)
class PrivateUse:
    """One entry of `_internals`: a function that reaches past a dependency's public API.

    Attributes:
        name: `module.function` of the entry.
        reason: why kerasplus needs it, in one line.
        waits_for: the public route that would replace it (or what to ask upstream).
        feature: the kerasplus feature that breaks when the private API moves.
        canary: a function that raises when the attribute or signature the
            entry relies on is gone or changed.
    """

    name: str
    reason: str
    waits_for: str
    feature: str
    canary: Callable[[], None]


ENTRIES: dict[str, PrivateUse] = {}


def fenced(*, reason: str, waits_for: str, feature: str, canary: Callable[[], None]):
    """Registers the decorated function (or class) as a private-API entry."""

    for argument, value in (("reason", reason), ("waits_for", waits_for), ("feature", feature)):
        if not isinstance(value, str) or not value.strip():
            raise ValueError(f"fenced(): `{argument}` must be a non-empty string; received {value!r}.")
    if not callable(canary):
        raise TypeError(f"fenced(): `canary` must be callable; received {canary!r}.")

    def register(function):
        name = f"{function.__module__}.{function.__qualname__}"
        if name in ENTRIES:
            raise ValueError(f"fenced(): {name} is registered twice.")
        ENTRIES[name] = PrivateUse(name, reason, waits_for, feature, canary)
        function.__kerasplus_fenced__ = name
        return function

    return register


def require(condition: bool, what: str) -> None:
    """Raises `AssertionError(what)` when `condition` is false; for canaries."""
    if not condition:
        raise AssertionError(what)
