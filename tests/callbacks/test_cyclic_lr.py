import keras
import numpy as np
import pytest

from kerasplus.callbacks import CyclicLR
from kerasplus.schedules import cyclic
from tests.callbacks.test_one_cycle_lr import scalar_model, sgd_momentum_by_hand
from tests.helpers import applied_rates, rate_probe, torch_curve, values


@pytest.mark.parametrize("mode", ["triangular", "triangular2", "exp_range"])
def test_rate_applied_at_every_step_under_xla_and_steps_per_execution(mode):
    steps = 40
    model, x, y = rate_probe(steps, jit_compile=True, steps_per_execution=8)
    kwargs = dict(base_lr=0.01, max_lr=0.2, step_size_up=4, step_size_down=6, mode=mode, gamma=0.97)
    model.fit(x, y, batch_size=1, shuffle=False, verbose=0, callbacks=[CyclicLR(cycle_momentum=False, **kwargs)])
    np.testing.assert_allclose(applied_rates(model), values(cyclic, np.arange(steps), **kwargs), rtol=1e-6)


def test_momentum_cycles_inversely_as_torch():
    steps = 20
    gradients = np.random.default_rng(1).uniform(0.5, 2.0, size=(steps, 1)).astype("float32")
    rates, momenta = torch_curve("CyclicLR", steps, base_lr=0.01, max_lr=0.05, step_size_up=3)
    model = scalar_model(keras.optimizers.SGD(learning_rate=0.01, momentum=0.9))
    history = model.fit(
        gradients,
        np.zeros_like(gradients),
        batch_size=1,
        shuffle=False,
        verbose=0,
        callbacks=[CyclicLR(base_lr=0.01, max_lr=0.05, step_size_up=3)],
    )
    expected = sgd_momentum_by_hand(gradients[:, 0].astype(np.float64), rates, momenta)
    assert float(model.get_weights()[0][0, 0]) == pytest.approx(expected, rel=1e-5)
    assert set(history.history) == {"loss", "learning_rate", "momentum"}


def test_cyclic_lr_callback_rejects_bad_arguments():
    with pytest.raises(ValueError, match="`base_lr` must be < `max_lr`"):
        CyclicLR(base_lr=0.1, max_lr=0.01)
    with pytest.raises(ValueError, match="`mode` must be one of"):
        CyclicLR(base_lr=0.01, max_lr=0.1, mode="sine")
    with pytest.raises(ValueError, match="`base_momentum` must be <= `max_momentum`"):
        CyclicLR(base_lr=0.01, max_lr=0.1, base_momentum=0.95, max_momentum=0.9)


@pytest.mark.parametrize("scale_mode", ["cycle", "iterations"])
def test_scale_fn_rate_applied_in_the_compiled_step_as_torch(scale_mode):
    steps = 40
    model, x, y = rate_probe(steps, jit_compile=True, steps_per_execution=8)
    kwargs = dict(base_lr=0.01, max_lr=0.2, step_size_up=4, step_size_down=6)
    callback = CyclicLR(cycle_momentum=False, scale_fn=lambda x: 0.9**x, scale_mode=scale_mode, **kwargs)
    model.fit(x, y, batch_size=1, shuffle=False, verbose=0, callbacks=[callback])
    rates, _ = torch_curve("CyclicLR", steps, scale_fn=lambda x: 0.9**x, scale_mode=scale_mode, **kwargs)
    np.testing.assert_allclose(applied_rates(model), rates[:steps], rtol=1e-5)
