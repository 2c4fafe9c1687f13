"""Every private-API entry still finds what it relies on; a failure names the feature affected."""

import inspect

import keras
import pytest

from kerasplus._internals import keras as internal_keras
from kerasplus._internals import keras_tuner as internal_keras_tuner
from kerasplus._internals import registry
from kerasplus._internals import tensorflow as internal_tensorflow

MODULES = (internal_keras, internal_tensorflow, internal_keras_tuner)


def _versions() -> str:
    import keras_tuner
    import tensorflow as tf

    return f"Keras {keras.__version__}, TensorFlow {tf.__version__}, KerasTuner {keras_tuner.__version__}"


def canary_failure(entry: registry.PrivateUse) -> str | None:
    """None when the entry's canary passes, else the message the test fails with."""
    try:
        entry.canary()
    except Exception as error:  # any failure of the canary is the signal
        return (
            f"{entry.name} no longer works with {_versions()}: {type(error).__name__}: {error}\n"
            f"kerasplus feature affected: {entry.feature}\n"
            f"why it uses a private API: {entry.reason}\n"
            f"public route it waits for: {entry.waits_for}"
        )
    return None


@pytest.mark.parametrize("name", sorted(registry.ENTRIES))
def test_canary(name):
    failure = canary_failure(registry.ENTRIES[name])
    assert failure is None, failure


def test_every_function_of_the_fenced_modules_is_registered():
    unregistered = [
        f"{module.__name__}.{name}"
        for module in MODULES
        for name, value in vars(module).items()
        if (inspect.isfunction(value) or inspect.isclass(value))
        and value.__module__ == module.__name__
        and not hasattr(value, "__kerasplus_fenced__")
        and not name.startswith("_canary")
    ]
    assert not unregistered, f"register these with fenced(...): {unregistered}"


def test_a_failing_canary_names_the_versions_and_the_feature():
    def canary():
        registry.require(hasattr(keras.optimizers.Optimizer, "_no_such_attribute"), "Optimizer._no_such_attribute")

    entry = registry.PrivateUse("m.f", "a reason", "a public route", "OneCycleLR momentum cycling", canary)
    message = canary_failure(entry)
    assert message is not None
    assert f"Keras {keras.__version__}" in message and "TensorFlow" in message
    assert "OneCycleLR momentum cycling" in message
    assert "Optimizer._no_such_attribute" in message and "a public route" in message


@pytest.mark.parametrize("argument", ["reason", "waits_for", "feature"])
def test_an_entry_without_its_explanation_is_refused(argument):
    arguments = {"reason": "r", "waits_for": "w", "feature": "f", "canary": lambda: None, argument: " "}
    with pytest.raises(ValueError, match=argument):
        registry.fenced(**arguments)
