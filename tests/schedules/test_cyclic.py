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
