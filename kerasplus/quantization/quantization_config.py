"""`QuantizationConfig`: what `quantize_model` leaves in float, and how fast ranges move."""

from __future__ import annotations

from collections.abc import Iterable

from kerasplus import _validation as v


class QuantizationConfig:
    """Options of `kerasplus.quantization.quantize_model`.

    Args:
        keep_float: names of layers to leave in float. Their weights are not
            quantized and their outputs get no int8 range; the TFLite file then
            dequantizes before them and quantizes again after them. Also the
            way to get past a layer `quantize_model` has no int8 rule for.
        ema_decay: decay of the moving-average activation ranges, in
            ``[0, 1)``. The first training batch sets each range; with the
            default 0.99 a range then follows roughly the last hundred batches
            (tfmot uses 0.999, which suits long fine-tunes better than short
            ones).
        preserve_sparsity: keep the zeros of the weights (e.g. of a model
            pruned with `kerasplus.pruning` and stripped): each quantized
            kernel gets a fixed mask of its nonzero entries, taken when
            `quantize_model` runs (after BatchNormalization folding), so QAT
            fine-tuning cannot regrow them and the int8 TFLite weights keep
            them (a zero quantizes to int8 0). For a `tf_keras` model, tfmot's
            ``Default8BitPrunePreserveQuantizeScheme`` does the same.

    Example:

    >>> from kerasplus.quantization import QuantizationConfig
    >>> QuantizationConfig(keep_float=["head"]).get_config()
    {'keep_float': ('head',), 'ema_decay': 0.99, 'preserve_sparsity': False}
    """

    def __init__(
        self, keep_float: Iterable[str] = (), ema_decay: float = 0.99, preserve_sparsity: bool = False
    ) -> None:
        if (
            isinstance(keep_float, str)
            or not hasattr(keep_float, "__iter__")
            or not all(isinstance(name, str) for name in keep_float)
        ):
            raise TypeError(
                f"`keep_float` must be a list of layer names (strings); received keep_float={keep_float!r}."
            )
        self.keep_float = tuple(keep_float)
        self.ema_decay = v.check_range("ema_decay", ema_decay, 0.0, 1.0, high_inclusive=False)
        self.preserve_sparsity = v.check_bool("preserve_sparsity", preserve_sparsity)

    def get_config(self) -> dict:
        return {"keep_float": self.keep_float, "ema_decay": self.ema_decay, "preserve_sparsity": self.preserve_sparsity}

    @classmethod
    def from_config(cls, config: dict) -> QuantizationConfig:
        return cls(**config)

    def __repr__(self):
        return (
            f"QuantizationConfig(keep_float={list(self.keep_float)!r}, ema_decay={self.ema_decay!r}, "
            f"preserve_sparsity={self.preserve_sparsity!r})"
        )
