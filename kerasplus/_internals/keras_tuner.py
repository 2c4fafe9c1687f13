"""Private KerasTuner APIs kerasplus relies on, each with its reason, public route and canary.

KerasTuner is imported inside each function: importing kerasplus must not import it.
"""

from __future__ import annotations

from kerasplus._internals.registry import fenced, require
