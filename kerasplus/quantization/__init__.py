"""Quantization-aware training for Keras 3, the tfmot bridge for tf_keras, int8 TFLite export and evaluation."""

from kerasplus.quantization.evaluate_tflite import evaluate_tflite
from kerasplus.quantization.export_tflite import export_tflite
from kerasplus.quantization.quantization_config import QuantizationConfig
from kerasplus.quantization.quantize_model import quantize_model
from kerasplus.quantization.quantize_output import QuantizeOutput
from kerasplus.quantization.quantize_wrapper import QuantizeWrapper

__all__ = [
    "QuantizationConfig",
    "QuantizeOutput",
    "QuantizeWrapper",
    "evaluate_tflite",
    "export_tflite",
    "quantize_model",
]
