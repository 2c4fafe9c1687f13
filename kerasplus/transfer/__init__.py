"""Transfer learning: freeze a pretrained base, unfreeze its top, fine-tune in two phases."""

from kerasplus.transfer.fine_tune import fine_tune
from kerasplus.transfer.freeze import freeze, unfreeze

__all__ = ["fine_tune", "freeze", "unfreeze"]
