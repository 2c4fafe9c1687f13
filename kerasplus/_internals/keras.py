"""Private Keras APIs kerasplus relies on, each with its reason, public route and canary.

Sections by kerasplus area; add an entry to the section of the feature that needs it.
"""

from __future__ import annotations

import keras  # noqa: F401  (entries below use it)

from kerasplus._internals.registry import fenced, require

# ---------------------------------------------------------------------------
# Schedules and learning-rate callbacks (callbacks/_schedule_callback.py, ...)
# ---------------------------------------------------------------------------


# ---------------------------------------------------------------------------
# Resume: BackupAndRestore, the data position inside fit
# ---------------------------------------------------------------------------


# ---------------------------------------------------------------------------
# Diagnostics, initializers, transfer, data, losses
# ---------------------------------------------------------------------------


# ---------------------------------------------------------------------------
# Quantization and distribution
# ---------------------------------------------------------------------------
