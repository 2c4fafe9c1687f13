import keras
import numpy as np
import pytest

from kerasplus.callbacks import OneCycleLR, WarmupLR
from kerasplus.schedules import OneCycle, Warmup
from tests.helpers import applied_rates, rate_probe, values


def test_warmup_lr_wraps_a_constant_rate_under_xla():
    steps = 24
    model, x, y = rate_probe(
        steps, optimizer=keras.optimizers.SGD(learning_rate=0.1), jit_compile=True, steps_per_execution=8
    )
    model.fit(x, y, batch_size=1, shuffle=False, verbose=0, callbacks=[WarmupLR(warmup_steps=10, shape="cos")])
    expected = values(Warmup(0.1, warmup_steps=10, shape="cos"), np.arange(steps))
    np.testing.assert_allclose(applied_rates(model), expected, rtol=1e-6, atol=1e-9)
    assert float(model.optimizer.learning_rate) == pytest.approx(0.1)


def test_warmup_lr_wraps_the_optimizers_own_schedule():
    steps = 30
    decay = keras.optimizers.schedules.CosineDecay(0.2, decay_steps=20)
    model, x, y = rate_probe(steps, optimizer=keras.optimizers.SGD(learning_rate=decay))
    model.fit(x, y, batch_size=1, shuffle=False, verbose=0, callbacks=[WarmupLR(warmup_steps=10)])
    expected = values(Warmup(decay, warmup_steps=10), np.arange(steps))
    # Keras's CosineDecay itself differs by ~2e-6 between graph and eager.
    np.testing.assert_allclose(applied_rates(model), expected, rtol=1e-5, atol=1e-9)
    assert model.optimizer._learning_rate is decay


def test_warmup_lr_after_one_cycle_lr_wraps_the_cycle_once_per_fit():
    steps = 20
    model, x, y = rate_probe(steps)
    callbacks = [OneCycleLR(max_lr=0.3, cycle_momentum=False), WarmupLR(warmup_steps=5, shift_schedule=False)]
    for _ in range(2):  # the second fit must not wrap a wrapped schedule
        model.fit(x, y, batch_size=1, shuffle=False, verbose=0, callbacks=callbacks)
    expected = values(Warmup(OneCycle(0.3, steps), warmup_steps=5, shift_schedule=False), np.arange(steps))
    np.testing.assert_allclose(applied_rates(model), 2 * expected, rtol=1e-6, atol=1e-9)


def test_warmup_lr_validates_at_construction():
    with pytest.raises(ValueError, match="`warmup_steps` must be an integer >= 0; received warmup_steps=-5"):
        WarmupLR(warmup_steps=-5)
    with pytest.raises(ValueError, match="`shape` must be one of"):
        WarmupLR(warmup_steps=5, shape="step")


class Interrupt(Exception):
    pass


class InterruptAt(keras.callbacks.Callback):
    def on_train_batch_end(self, batch, logs=None):
        if batch == 3:
            raise Interrupt()


def test_a_fit_cut_short_leaves_nothing_for_the_next_fit_to_wrap():
    steps = 12
    model, x, y = rate_probe(steps, optimizer=keras.optimizers.SGD(learning_rate=0.1))
    with pytest.raises(Interrupt):
        model.fit(
            np.zeros_like(x),
            y,
            batch_size=1,
            verbose=0,
            callbacks=[OneCycleLR(0.5, cycle_momentum=False), InterruptAt()],
        )
    model.fit(x, y, batch_size=1, shuffle=False, verbose=0, callbacks=[WarmupLR(warmup_steps=6)])
    expected = values(Warmup(0.1, warmup_steps=6), np.arange(steps))
    np.testing.assert_allclose(applied_rates(model), expected, rtol=1e-6, atol=1e-9)
    assert isinstance(model.optimizer._learning_rate, keras.Variable)
