"""Private TensorFlow APIs kerasplus relies on, each with its reason, public route and canary.

TensorFlow is imported inside each function: importing kerasplus must not import it.
"""

from __future__ import annotations

from kerasplus._internals.registry import fenced, require

# ---------------------------------------------------------------------------
# Quantization (TFLite export)
# ---------------------------------------------------------------------------


# ---------------------------------------------------------------------------
# Distribution (auto_strategy, multi-worker fit)
# ---------------------------------------------------------------------------
