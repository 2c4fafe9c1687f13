import keras
import numpy as np
import pytest

from kerasplus.schedules import CyclicLR, cyclic
from tests.helpers import torch_curve, values


@pytest.mark.parametrize("mode", ["triangular", "triangular2", "exp_range"])
@pytest.mark.parametrize("step_size_up, step_size_down", [(7, None), (5, 11), (2000, None)])
def test_cyclic_matches_torch_at_every_step(mode, step_size_up, step_size_down):
    kwargs = dict(
        base_lr=0.001,
        max_lr=0.1,
        step_size_up=step_size_up,
        step_size_down=step_size_down,
        mode=mode,
        gamma=0.9995,
    )
    num_steps = 10_000
    rates, momenta = torch_curve("CyclicLR", num_steps, base_momentum=0.8, max_momentum=0.9, **kwargs)
    steps = np.arange(num_steps + 1)
    np.testing.assert_allclose(values(cyclic, steps, **kwargs), rates, rtol=1e-6, atol=0)
    np.testing.assert_allclose(values(CyclicLR(**kwargs), steps), rates, rtol=1e-6, atol=0)
    # Swapping the bounds gives torch's momentum curve (what the callback cycles).
    kwargs.update(base_lr=0.9, max_lr=0.8)
    np.testing.assert_allclose(values(cyclic, steps, **kwargs), momenta, rtol=1e-6, atol=0)


@pytest.mark.parametrize(
    "kwargs, error, message",
    [
        (dict(max_lr=0.0), ValueError, "`max_lr` must be > 0"),
        (dict(base_lr=-0.1), ValueError, "`base_lr` must be >= 0"),
        (dict(base_lr=0.2, max_lr=0.1), ValueError, "`base_lr` must be < `max_lr`"),
        (dict(step_size_up=0), ValueError, "`step_size_up` must be an integer >= 1"),
        (dict(step_size_down=0), ValueError, "`step_size_down` must be an integer >= 1"),
        (dict(mode="cosine"), ValueError, "`mode` must be one of 'triangular', 'triangular2', 'exp_range'"),
        (dict(gamma=0.0), ValueError, r"`gamma` must be in \(0.0, 1.0\]"),
        (dict(gamma=1.5), ValueError, r"`gamma` must be in \(0.0, 1.0\]"),
        (dict(step_size_up=2.5), TypeError, "`step_size_up` must be an integer"),
    ],
)
def test_cyclic_rejects_bad_arguments(kwargs, error, message):
    arguments = dict(base_lr=0.01, max_lr=0.1)
    arguments.update(kwargs)
    with pytest.raises(error, match=message):
        CyclicLR(**arguments)


def test_cyclic_round_trips_through_keras_file(tmp_path):
    schedule = CyclicLR(0.001, 0.05, step_size_up=3, step_size_down=5, mode="exp_range", gamma=0.99)
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2)])
    model.compile(keras.optimizers.Adam(learning_rate=schedule), "mse")
    path = tmp_path / "model.keras"
    model.save(path)
    restored = keras.models.load_model(path, safe_mode=True).optimizer._learning_rate
    assert isinstance(restored, CyclicLR)
    steps = np.arange(40)
    np.testing.assert_array_equal(values(restored, steps), values(schedule, steps))


@keras.saving.register_keras_serializable(package="kerasplus_tests")
def inverse_sqrt_scale(x):
    return 1.0 / keras.ops.sqrt(x + 1.0)


@pytest.mark.parametrize("scale_mode", ["cycle", "iterations"])
def test_scale_fn_matches_torch_at_every_step(scale_mode):
    kwargs = dict(base_lr=0.001, max_lr=0.1, step_size_up=7, step_size_down=5)
    rates, _ = torch_curve("CyclicLR", 300, scale_fn=lambda x: 1.0 / (x + 1.0) ** 0.5, scale_mode=scale_mode, **kwargs)
    steps = np.arange(301)
    schedule = CyclicLR(scale_fn=inverse_sqrt_scale, scale_mode=scale_mode, mode="exp_range", gamma=0.5, **kwargs)
    np.testing.assert_allclose(values(schedule, steps), rates, rtol=1e-6, atol=0)
    compiled = keras.ops.convert_to_numpy(__import__("tensorflow").function(schedule, jit_compile=True)(steps))
    np.testing.assert_allclose(compiled, rates, rtol=1e-6, atol=0)


def test_scale_fn_round_trips_when_registered_and_refuses_a_lambda(tmp_path):
    schedule = CyclicLR(0.001, 0.05, step_size_up=3, scale_fn=inverse_sqrt_scale, scale_mode="iterations")
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2)])
    model.compile(keras.optimizers.SGD(learning_rate=schedule), "mse")
    path = tmp_path / "model.keras"
    model.save(path)
    restored = keras.models.load_model(path, safe_mode=True).optimizer._learning_rate
    assert restored.scale_fn is inverse_sqrt_scale and restored.scale_mode == "iterations"
    np.testing.assert_array_equal(values(restored, np.arange(40)), values(schedule, np.arange(40)))
    again = keras.saving.deserialize_keras_object(keras.saving.serialize_keras_object(schedule), safe_mode=True)
    np.testing.assert_array_equal(values(again, np.arange(40)), values(schedule, np.arange(40)))
    with pytest.raises(ValueError, match="`scale_fn` must be registered"):
        CyclicLR(0.001, 0.05, scale_fn=lambda x: x * 0 + 1).get_config()


@pytest.mark.parametrize(
    "kwargs, error, message",
    [
        (dict(scale_fn="halve"), TypeError, "`scale_fn` must be None or a function"),
        (dict(scale_fn=lambda x: -x), ValueError, "`scale_fn` must return finite values >= 0"),
        (dict(scale_mode="epoch"), ValueError, "`scale_mode` must be one of 'cycle', 'iterations'"),
        (dict(mode=np.array(["triangular"])), TypeError, "`mode` must be one of"),
        (dict(max_lr=1e308), ValueError, "`max_lr` must be at most 3.403e\\+38"),
    ],
)
def test_scale_fn_and_float32_arguments_are_checked(kwargs, error, message):
    with pytest.raises(error, match=message):
        CyclicLR(**{"base_lr": 0.0, "max_lr": 0.1, **kwargs})


def test_cyclic_function_checks_python_numbers():
    with pytest.raises(ValueError, match="`max_lr` must be >= 0; received max_lr=-1.0"):
        cyclic(3, base_lr=0.0, max_lr=-1.0)
