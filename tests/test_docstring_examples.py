"""Every `Example:` in a public docstring runs and prints what it shows."""

import doctest
import importlib

import pytest

MODULES = [
    "kerasplus.schedules.one_cycle",
    "kerasplus.schedules.cyclic",
    "kerasplus.schedules.warmup",
    "kerasplus.callbacks.one_cycle_lr",
    "kerasplus.callbacks.cyclic_lr",
    "kerasplus.callbacks.warmup_lr",
    "kerasplus.callbacks.lr_finder",
    "kerasplus.callbacks.early_stopping",
    "kerasplus.callbacks.backup_and_restore",
    "kerasplus.callbacks.nan_guard",
    "kerasplus.losses.sparse_categorical_crossentropy",
    "kerasplus.losses.focal_crossentropy",
    "kerasplus.losses.binary_focal_crossentropy",
    "kerasplus.losses.poly_loss",
    "kerasplus.losses.quantile",
    "kerasplus.initializers.by_activation",
    "kerasplus.data.datasets",
    "kerasplus.data.split",
    "kerasplus.data.kfold",
    "kerasplus.data.pipeline",
    "kerasplus.layers.cutout",
    "kerasplus.layers.mixup",
    "kerasplus.layers.cutmix",
    "kerasplus.tuning.cross_validate",
    "kerasplus.tuning.search",
    "kerasplus.tuning.spaces",
    "kerasplus.transfer.freeze",
    "kerasplus.transfer.fine_tune",
    "kerasplus.quantization.quantization_config",
    "kerasplus.quantization.quantize_wrapper",
    "kerasplus.quantization.quantize_output",
    "kerasplus.quantization.quantize_model",
    "kerasplus.quantization.export_tflite",
    "kerasplus.quantization.evaluate_tflite",
    "kerasplus.diagnostics.verdicts",
    "kerasplus.diagnostics.fit_diagnostics",
    "kerasplus.diagnostics.learning_curves",
    "kerasplus.diagnostics.linter",
    "kerasplus.distribute.auto_strategy",
    "kerasplus.distribute.scale",
    "kerasplus.distribute.multi_worker_fit",
]


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples_run(name):
    module = importlib.import_module(name)
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    assert result.failed == 0
    assert result.attempted > 0
