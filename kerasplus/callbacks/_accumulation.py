"""Gradient accumulation (``gradient_accumulation_steps``) as the callbacks see it."""

from __future__ import annotations


def refuse_unsupported(model, who: str) -> None:
    """Raises before training where Keras cannot run the model's accumulating optimizer (a tf.distribute strategy)."""
    from kerasplus.diagnostics import linter

    finding = linter.accumulation_under_distribution(model)
    if finding is not None:
        raise ValueError(f"{who}: {finding}")
