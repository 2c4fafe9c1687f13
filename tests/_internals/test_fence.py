"""Private imports and underscore access appear only in kerasplus/_internals."""

import textwrap

import pytest

from tests._internals import fence


def test_no_private_api_outside_the_fenced_modules():
    found = fence.findings()
    assert not found, (
        "Private APIs used outside kerasplus/_internals (move each into the module of its dependency "
        "there, registered with fenced(...)):\n" + "\n".join(found)
    )


@pytest.mark.parametrize(
    "source, expected",
    [
        ("from keras.src.utils import io_utils", "private module keras.src.utils"),
        ("import tensorflow.python.eager.context", "private module tensorflow.python.eager.context"),
        ("from keras_tuner.src import errors", "private module keras_tuner.src"),
        ("from keras.backend import _private_name", "private name _private_name"),
        ("import sys\nframe = sys._getframe(1)", "frame inspection sys._getframe"),
        ("import inspect\nframe = inspect.currentframe()", "frame inspection inspect.currentframe"),
        ("def f(optimizer):\n    return optimizer._learning_rate", "underscore access ._learning_rate"),
        ("def f(model):\n    model._initial_epoch = 3", "underscore access ._initial_epoch"),
        ("def f(t):\n    return getattr(t, '_keras_history', None)", "'_keras_history'"),
        ("def f(t):\n    setattr(t, '_x', 1)", "'_x'"),
        ("class A(B):\n    def f(self):\n        return super()._build_hypermodel(1)", "._build_hypermodel"),
        ("import importlib", "importlib"),
        ("from kerasplus.layers._mixing_layer import MixingLayer", "private to kerasplus.layers"),
    ],
)
def test_the_fence_catches(source, expected):
    found = fence.findings_in_source(textwrap.dedent(source), "kerasplus/data/example.py")
    assert any(expected in line for line in found), found


def test_the_fence_catches_private_names_of_a_foreign_base_class():
    source = textwrap.dedent(
        """
        class Tuner(keras_tuner.RandomSearch):
            def _build_and_fit_model(self, trial):
                return self._display
        """
    )
    foreign = {"Tuner": {"_build_and_fit_model", "_display"}}
    found = fence.findings_in_source(source, "kerasplus/tuning/x.py", foreign)
    assert any("overrides private method _build_and_fit_model" in line for line in found), found
    assert any("self._display is a private attribute" in line for line in found), found


@pytest.mark.parametrize(
    "source",
    [
        "class A:\n    def f(self):\n        return self._mine",
        "from kerasplus.schedules._anneal import anneal",  # inside its own namespace
        "def f(x):\n    return x.__class__.__name__",
        "def f(x):\n    return getattr(x, '__name__', None)",
        "from kerasplus._validation import check_positive",
    ],
)
def test_the_fence_allows(source):
    assert fence.findings_in_source(source, "kerasplus/schedules/example.py") == []


def test_the_lazy_namespaces_of_the_package_may_use_importlib():
    assert fence.findings_in_source("import importlib", "kerasplus/__init__.py") == []
