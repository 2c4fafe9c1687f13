"""What the diagnostics need to know about a loss: its family, `from_logits`, label smoothing."""

from __future__ import annotations

import dataclasses

import keras

# Keras functions and class names -> family. "binary": one sigmoid probability per
# output unit; "categorical": a distribution over the last axis with dense
# (one-hot or soft) targets; "sparse": the same with class-index targets.
_FAMILIES = {
    "binary_crossentropy": "binary",
    "binary_focal_crossentropy": "binary",
    "BinaryCrossentropy": "binary",
    "BinaryFocalCrossentropy": "binary",
    "categorical_crossentropy": "categorical",
    "categorical_focal_crossentropy": "categorical",
    "CategoricalCrossentropy": "categorical",
    "CategoricalFocalCrossentropy": "categorical",
    "sparse_categorical_crossentropy": "sparse",
    "SparseCategoricalCrossentropy": "sparse",
    "mean_squared_error": "mse",
    "mse": "mse",
    "MeanSquaredError": "mse",
}


@dataclasses.dataclass(frozen=True)
class LossInfo:
    name: str
    family: str | None  # "binary", "categorical", "sparse", "mse" or None (anything else)
    from_logits: bool
    label_smoothing: float

    @property
    def is_crossentropy(self) -> bool:
        return self.family in ("binary", "categorical", "sparse")


def describe_loss(loss) -> LossInfo | None:
    """A `LossInfo` for a loss name, function or `keras.losses.Loss`; None for None."""
    if loss is None:
        return None
    if isinstance(loss, str):
        function = keras.losses.get(loss)
        name = getattr(function, "__name__", loss)
        return LossInfo(name, _FAMILIES.get(name, _FAMILIES.get(loss)), False, 0.0)
    if isinstance(loss, keras.losses.Loss):
        config = {}
        try:
            config = loss.get_config() or {}
        except (NotImplementedError, TypeError):
            pass
        name = type(loss).__name__
        family = _FAMILIES.get(name)
        if family is None and "sparse" in config:  # kerasplus FocalCrossentropy, PolyLoss
            family = "sparse" if config["sparse"] else "categorical"
        if family is None and "from_logits" in config and "Binary" in name:
            family = "binary"
        from_logits = bool(config.get("from_logits", getattr(loss, "from_logits", False)))
        smoothing = float(config.get("label_smoothing", getattr(loss, "label_smoothing", 0.0)) or 0.0)
        return LossInfo(name, family, from_logits, smoothing)
    name = getattr(loss, "__name__", type(loss).__name__)
    return LossInfo(name, _FAMILIES.get(name), False, 0.0)


def single_loss(loss):
    """The one loss of a single-output setup; None for a dict/list of several."""
    if isinstance(loss, dict):
        return next(iter(loss.values())) if len(loss) == 1 else None
    if isinstance(loss, (list, tuple)):
        return loss[0] if len(loss) == 1 else None
    return loss


def losses_per_output(loss, output_names: list) -> list:
    """One loss (or None) per model output; a single loss applies to every output."""
    if isinstance(loss, dict):
        return [loss.get(name) for name in output_names]
    if isinstance(loss, (list, tuple)):
        return list(loss) if len(loss) == len(output_names) else [None] * len(output_names)
    return [loss] * len(output_names)
