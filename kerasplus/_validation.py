"""Argument checks shared by every kerasplus component.

Each check raises at construction time with a message that names the
argument, the value received and what is allowed, e.g.::

    ValueError: `max_lr` must be > 0; received max_lr=-1.0.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Iterable
from typing import Any


def _received(name: str, value: Any) -> str:
    return f"received {name}={value!r}"


def check_number(name: str, value: Any) -> float:
    """Returns `value` as a float; `TypeError` for non-numbers, `ValueError` for NaN/inf."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"`{name}` must be a real number; {_received(name, value)} of type {type(value).__name__}.")
    try:
        value = float(value)
    except OverflowError:  # an int beyond float's range, e.g. 10**400
        value = math.inf if value > 0 else -math.inf
    if not math.isfinite(value):
        raise ValueError(f"`{name}` must be finite; {_received(name, value)}.")
    return value


def check_axis(
    name: str, axis: int, rank: int, *, of: str = "y_pred", shape: Any = None, meaning: str = "the class axis"
) -> int:
    """An axis of a tensor of `rank` dimensions, checked when the tensor is first seen; returns it >= 0."""
    if not -rank <= axis < rank:
        seen = f"shape {tuple(shape)}" if shape is not None else f"rank {rank}"
        raise ValueError(
            f"`{name}` is out of range for {of} of {seen}: allowed {-rank} to {rank - 1}; "
            f"{_received(name, axis)}. Pass {meaning} of {of} (usually -1)."
        )
    return axis % rank


def check_positive(name: str, value: Any) -> float:
    """A finite number > 0."""
    value = check_number(name, value)
    if value <= 0:
        raise ValueError(f"`{name}` must be > 0; {_received(name, value)}.")
    return value


def check_non_negative(name: str, value: Any) -> float:
    """A finite number >= 0."""
    value = check_number(name, value)
    if value < 0:
        raise ValueError(f"`{name}` must be >= 0; {_received(name, value)}.")
    return value


def check_range(
    name: str,
    value: Any,
    low: float,
    high: float,
    *,
    low_inclusive: bool = True,
    high_inclusive: bool = True,
) -> float:
    """A finite number inside an interval, e.g. ``(0, 1)`` or ``[0, 1]``."""
    value = check_number(name, value)
    above = value >= low if low_inclusive else value > low
    below = value <= high if high_inclusive else value < high
    if not (above and below):
        interval = ("[" if low_inclusive else "(") + f"{low}, {high}" + ("]" if high_inclusive else ")")
        raise ValueError(f"`{name}` must be in {interval}; {_received(name, value)}.")
    return value


def check_int(name: str, value: Any, *, minimum: int | None = None, maximum: int | None = None) -> int:
    """An integer (Python or numpy), optionally >= `minimum` and <= `maximum`."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"`{name}` must be an integer; {_received(name, value)} of type {type(value).__name__}.")
    value = int(value)
    if minimum is not None and value < minimum:
        raise ValueError(f"`{name}` must be an integer >= {minimum}; {_received(name, value)}.")
    if maximum is not None and value > maximum:
        raise ValueError(f"`{name}` must be an integer <= {maximum}; {_received(name, value)}.")
    return value


def check_numpy_seed(name: str, value: Any) -> int:
    """A seed numpy and scikit-learn accept: an integer in [0, 2**32 - 1]."""
    value = check_int(name, value, minimum=0)
    if value > 2**32 - 1:
        raise ValueError(f"`{name}` must be an integer in [0, 2**32 - 1]; {_received(name, value)}.")
    return value


def check_optional_int(name: str, value: Any, *, minimum: int | None = None, maximum: int | None = None):
    """`None` or an integer >= `minimum` (and <= `maximum`)."""
    if value is None:
        return None
    return check_int(name, value, minimum=minimum, maximum=maximum)


def check_choice(name: str, value: Any, choices: Iterable[Any]) -> Any:
    """One of a fixed set of values (usually strings)."""
    choices = tuple(choices)
    allowed = ", ".join(repr(c) for c in choices)
    try:
        hash(value)
    except TypeError:
        # An array or a list: `value in choices` would compare element-wise.
        raise TypeError(
            f"`{name}` must be one of {allowed}; {_received(name, value)} of type {type(value).__name__}."
        ) from None
    if value not in choices:
        raise ValueError(f"`{name}` must be one of {allowed}; {_received(name, value)}.")
    return value


def check_bool(name: str, value: Any) -> bool:
    if not isinstance(value, bool):
        raise TypeError(f"`{name}` must be True or False; {_received(name, value)}.")
    return value


def check_name(name: str, value: Any) -> str:
    """A non-empty string (a logs key, an attribute name)."""
    if not isinstance(value, str) or not value:
        raise TypeError(f"`{name}` must be a non-empty string; {_received(name, value)}.")
    return value


def check_less(name_a: str, a: float, name_b: str, b: float) -> None:
    """`a < b` for two already-checked numbers."""
    if not a < b:
        raise ValueError(f"`{name_a}` must be < `{name_b}`; received {name_a}={a!r}, {name_b}={b!r}.")


def check_momentum_range(base_momentum: Any, max_momentum: Any) -> tuple[float, float]:
    """A momentum (or `beta_1`) range for the cycling schedules: 0 <= base <= max < 1."""
    base = check_range("base_momentum", base_momentum, 0.0, 1.0, high_inclusive=False)
    top = check_range("max_momentum", max_momentum, 0.0, 1.0, high_inclusive=False)
    if base > top:
        raise ValueError(
            f"`base_momentum` must be <= `max_momentum`; received base_momentum={base!r}, max_momentum={top!r}."
        )
    return base, top


def check_callable(name: str, value: Any) -> Any:
    """A callable (a function, a class, an object with `__call__`)."""
    if not callable(value):
        raise TypeError(f"`{name}` must be callable; received {value!r}.")
    return value


# Learning rates and other scalars are applied in float32.
FLOAT32_MAX = 3.4028234663852886e38
# Smallest normal float32: a positive value below it is 0 (or lost to flushing) in float32.
FLOAT32_TINY = 1.1754943508222875e-38
# Step counts are cast to int32 (the schedule tables) and float32.
MAX_STEPS = 2**31 - 1


def check_float32(name: str, value: float, *, computed: float | None = None, what: str | None = None) -> float:
    """A checked number that float32 holds (|value| <= 3.4e38); returns `value`.

    With `computed` (a quantity derived from the argument, described by `what`,
    e.g. ``"max_lr / div_factor"``) that quantity is checked instead, and the
    message still names the argument and the value received.
    """
    quantity = value if computed is None else computed
    if abs(quantity) <= FLOAT32_MAX:
        return value
    if computed is None:
        raise ValueError(
            f"`{name}` must be at most {FLOAT32_MAX:.4g} in magnitude (float32's range); {_received(name, value)}."
        )
    raise ValueError(
        f"`{name}` gives {what} = {computed!r}, beyond float32's {FLOAT32_MAX:.4g}; {_received(name, value)}."
    )


def check_float32_positive(name: str, value: Any) -> float:
    """A number > 0 that float32 holds."""
    return check_float32(name, check_positive(name, value))


def check_float32_normal(name: str, value: Any) -> float:
    """A number > 0 whose float32 value is a normal number (neither 0 nor inf); e.g. an end of a geometric curve."""
    value = check_float32_positive(name, value)
    if value < FLOAT32_TINY:
        raise ValueError(
            f"`{name}` must be >= {FLOAT32_TINY:.4g} (smaller is 0 in float32, where a geometric curve "
            f"cannot start); {_received(name, value)}."
        )
    return value


def check_float32_non_negative(name: str, value: Any) -> float:
    """A number >= 0 that float32 holds."""
    return check_float32(name, check_non_negative(name, value))


def check_seed(seed: Any) -> int | None:
    """None or an integer seed that `keras.random.SeedGenerator` takes (|seed| <= 2**62)."""
    return check_optional_int("seed", seed, minimum=-(2**62), maximum=2**62)
