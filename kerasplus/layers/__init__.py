"""Augmentation layers: Cutout, Mixup, CutMix, timm's Mixup-or-CutMix, and their base MixingLayer.

Flips, rotations and zooms come from Keras (`keras.layers.RandomFlip`, ...).
"""

from kerasplus.layers._mixing_layer import MixingLayer
from kerasplus.layers.cutmix import CutMix
from kerasplus.layers.cutout import Cutout
from kerasplus.layers.mixup import Mixup
from kerasplus.layers.mixup_or_cutmix import MixupOrCutMix

__all__ = ["CutMix", "Cutout", "MixingLayer", "Mixup", "MixupOrCutMix"]
