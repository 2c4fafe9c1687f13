import json

import keras
import numpy as np
import pytest
import tensorflow as tf

from kerasplus.callbacks import lr_finder
from kerasplus.schedules import ExponentialSweep
from tests.helpers import values


def test_sweep_is_geometric_from_start_to_end():
    sweep = ExponentialSweep(1e-5, 1.0, 50)
    np.testing.assert_allclose(values(sweep, np.arange(50)), np.geomspace(1e-5, 1.0, 50), rtol=1e-6)


def test_sweep_accepts_int64_optimizer_steps_under_xla():
    sweep = ExponentialSweep(1e-4, 1.0, 20)
    compiled = tf.function(lambda step: sweep(step), jit_compile=True)
    assert float(compiled(tf.Variable(7, dtype=tf.int64))) == pytest.approx(float(sweep(7)), rel=1e-6)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(start_lr=1.0, end_lr=1.0), "`start_lr` must be < `end_lr`; received start_lr=1.0, end_lr=1.0"),
        (dict(start_lr=0.0), "`start_lr` must be > 0"),
        (dict(end_lr=-1.0), "`end_lr` must be > 0"),
        (dict(num_steps=1), "`num_steps` must be an integer >= 2"),
    ],
)
def test_sweep_rejects_bad_arguments(kwargs, message):
    arguments = dict(start_lr=1e-5, end_lr=1.0, num_steps=50)
    arguments.update(kwargs)
    with pytest.raises(ValueError, match=message):
        ExponentialSweep(**arguments)


def test_sweep_schedule_round_trips_through_keras_file(tmp_path):
    model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
    model.compile(keras.optimizers.SGD(ExponentialSweep(1e-5, 1.0, 50)), "mse")
    model.save(tmp_path / "m.keras")
    restored = keras.models.load_model(tmp_path / "m.keras", safe_mode=True).optimizer._learning_rate
    assert isinstance(restored, ExponentialSweep)
    assert restored.get_config() == {"start_lr": 1e-5, "end_lr": 1.0, "num_steps": 50}


def test_sweep_keeps_the_registered_name_it_had_in_lr_finder():
    # Files saved when the class lived in kerasplus.callbacks.lr_finder name it so.
    assert keras.saving.get_registered_name(ExponentialSweep) == "kerasplus>ExponentialSweep"
    saved = {
        "module": None,
        "class_name": "ExponentialSweep",
        "config": {"start_lr": 1e-5, "end_lr": 1.0, "num_steps": 50},
        "registered_name": "kerasplus>ExponentialSweep",
    }
    restored = keras.saving.deserialize_keras_object(json.loads(json.dumps(saved)), safe_mode=True)
    assert isinstance(restored, ExponentialSweep) and restored.num_steps == 50
    assert lr_finder.ExponentialSweep is ExponentialSweep  # the old import path still works
