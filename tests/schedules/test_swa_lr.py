import keras
import numpy as np
import pytest

from kerasplus.schedules import SWALR, Warmup


def torch_swalr_rates(lr0, swa_lr, anneal_epochs, strategy, epochs):
    """torch's SWALR created at the first averaged epoch and stepped at each epoch end: the rate of each epoch."""
    import torch

    parameter = torch.nn.Parameter(torch.zeros(1))
    optimizer = torch.optim.SGD([parameter], lr=lr0)
    scheduler = torch.optim.swa_utils.SWALR(
        optimizer, swa_lr=swa_lr, anneal_epochs=anneal_epochs, anneal_strategy=strategy
    )
    rates = []
    for _ in range(epochs):
        rates.append(optimizer.param_groups[0]["lr"])
        optimizer.step()
        scheduler.step()
    return np.array(rates)


@pytest.mark.parametrize("strategy", ["cos", "linear"])
@pytest.mark.parametrize("anneal_epochs", [0, 1, 3])
def test_swalr_matches_torch_epoch_by_epoch_after_a_constant(strategy, anneal_epochs):
    start, per_epoch, epochs = 6, 4, 6
    schedule = SWALR(0.1, start, per_epoch, 0.02, anneal_epochs=anneal_epochs, anneal_strategy=strategy)
    steps = np.arange(start + per_epoch * epochs)
    got = keras.ops.convert_to_numpy(schedule(steps))
    want = np.concatenate(
        [np.full(start, 0.1), np.repeat(torch_swalr_rates(0.1, 0.02, anneal_epochs, strategy, epochs), per_epoch)]
    )
    np.testing.assert_allclose(got, want, rtol=1e-6)


def test_swalr_anneals_from_a_schedule_value_at_the_start():
    before = Warmup(0.1, warmup_steps=10)
    schedule = SWALR(before, 5, 2, 0.01, anneal_epochs=2, anneal_strategy="linear")
    lr0 = float(keras.ops.convert_to_numpy(before(5)))
    got = keras.ops.convert_to_numpy(schedule(np.arange(13)))
    want = np.concatenate(
        [keras.ops.convert_to_numpy(before(np.arange(5))), np.repeat(torch_swalr_rates(lr0, 0.01, 2, "linear", 4), 2)]
    )
    np.testing.assert_allclose(got, want, rtol=1e-6)


def test_swalr_round_trips_through_its_config_and_a_keras_file(tmp_path):
    schedule = SWALR(Warmup(0.1, warmup_steps=3), 4, 3, 0.02, anneal_epochs=2)
    copy = SWALR.from_config(schedule.get_config())
    steps = np.arange(20)
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(copy(steps)), keras.ops.convert_to_numpy(schedule(steps)))
    model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
    model.compile(keras.optimizers.SGD(schedule), "mse")
    path = tmp_path / "m.keras"
    model.save(path)
    loaded = keras.models.load_model(path, safe_mode=True)
    rate = loaded.optimizer._learning_rate
    assert isinstance(rate, SWALR)
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(rate(steps)), keras.ops.convert_to_numpy(schedule(steps)))


@pytest.mark.parametrize(
    "kwargs, error, message",
    [
        ({"before": "0.1"}, TypeError, "before"),
        ({"before": -0.1}, ValueError, "before"),
        ({"start_step": -1}, ValueError, "start_step"),
        ({"steps_per_epoch": 0}, ValueError, "steps_per_epoch"),
        ({"swa_lr": 0.0}, ValueError, "swa_lr"),
        ({"anneal_epochs": -1}, ValueError, "anneal_epochs"),
        ({"anneal_strategy": "exp"}, ValueError, "anneal_strategy"),
    ],
)
def test_swalr_rejects_bad_arguments(kwargs, error, message):
    arguments = {"before": 0.1, "start_step": 2, "steps_per_epoch": 2, "swa_lr": 0.01, **kwargs}
    with pytest.raises(error, match=message):
        SWALR(**arguments)
