import keras
import numpy as np
import pytest

from kerasplus.callbacks import CyclicLR, NaNGuard, OneCycleLR, WarmupLR

TRACES = []


class Counting(keras.Sequential):
    def train_step(self, *args):  # (data), or (state, data) on JAX
        TRACES.append(1)  # Python code in a compiled step runs only while it is traced
        return super().train_step(*args)


def counting_model(optimizer=None):
    keras.utils.set_random_seed(0)
    model = Counting([keras.Input((4,)), keras.layers.Dense(1, use_bias=False, kernel_initializer="zeros")])
    model.compile(optimizer or keras.optimizers.SGD(0.1, momentum=0.9), "mse")
    return model


def data():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(16, 4)).astype("float32")
    return x, x @ np.array([[1.0], [-2.0], [0.5], [3.0]], "float32")


def stack():
    return [OneCycleLR(max_lr=0.05), WarmupLR(warmup_steps=3)]


@pytest.mark.skipif(
    keras.backend.backend() == "torch", reason="PyTorch runs train_step eagerly: its Python runs at every step"
)
def test_a_second_fit_with_the_same_or_equal_lr_callbacks_traces_nothing_new():
    x, y = data()
    model = counting_model()
    model.fit(x, y, batch_size=4, verbose=0)  # the bare step, traced
    callbacks = stack()
    model.fit(x, y, batch_size=4, verbose=0, callbacks=callbacks)
    traced = len(TRACES)
    model.fit(x, y, batch_size=4, verbose=0, callbacks=callbacks)  # the same callbacks
    model.fit(x, y, batch_size=4, verbose=0)  # bare again: the function fit started with
    model.fit(x, y, batch_size=4, verbose=0, callbacks=stack())  # new ones, same arguments
    model.fit(x, y, batch_size=4, verbose=0, callbacks=[NaNGuard(), *stack()])
    guarded = len(TRACES)
    model.fit(x, y, batch_size=4, verbose=0, callbacks=[*stack(), NaNGuard()])
    assert len(TRACES) == guarded == traced + 1 > 0


@pytest.mark.skipif(
    keras.backend.backend() == "torch", reason="PyTorch runs train_step eagerly: its Python runs at every step"
)
def test_a_new_cyclic_lr_with_cycled_momentum_traces_nothing_new():
    """Its momentum curve (a partial of the pure function) is fingerprinted by its arguments, not its identity."""
    x, y = data()
    model = counting_model()
    model.fit(x, y, batch_size=4, verbose=0, callbacks=[CyclicLR(0.01, 0.05, step_size_up=3)])
    traced = len(TRACES)
    model.fit(x, y, batch_size=4, verbose=0, callbacks=[CyclicLR(0.01, 0.05, step_size_up=3)])
    model.fit(x, y, batch_size=4, verbose=0, callbacks=[CyclicLR(0.01, 0.05, step_size_up=3)])
    assert len(TRACES) == traced > 0
    # The test can fail: other momentum bounds are another curve, traced anew.
    model.fit(x, y, batch_size=4, verbose=0, callbacks=[CyclicLR(0.01, 0.05, step_size_up=3, base_momentum=0.7)])
    assert len(TRACES) == traced + 1


def test_reused_functions_apply_each_fits_own_rate():
    """A reused trace still follows the new fit's curve (its start moved) and a bare fit the optimizer's own rate."""
    x, y = data()
    model = counting_model(keras.optimizers.SGD(0.1))
    reference = counting_model(keras.optimizers.SGD(0.1))
    cyclic = CyclicLR(base_lr=0.01, max_lr=0.05, step_size_up=3, cycle_momentum=False)
    for callbacks in (
        [],
        [cyclic],
        [],
        [cyclic],
        [CyclicLR(base_lr=0.01, max_lr=0.05, step_size_up=3, cycle_momentum=False)],
    ):
        model.fit(x, y, batch_size=4, epochs=2, shuffle=False, verbose=0, callbacks=callbacks)
        # the same curve by hand: a fresh function every fit, the rate set from Python before each step
        rates = [0.1] * 8 if not callbacks else [0.01 + 0.04 * (1 - abs(k / 3 % 2 - 1)) for k in range(8)]
        for k, rate in enumerate(rates):
            reference.optimizer.learning_rate.assign(rate)
            reference.train_on_batch(x[4 * (k % 4) : 4 * (k % 4) + 4], y[4 * (k % 4) : 4 * (k % 4) + 4])
        reference.optimizer.learning_rate.assign(0.1)
        np.testing.assert_allclose(model.get_weights()[0], reference.get_weights()[0], rtol=1e-5, atol=1e-6)
    assert float(model.optimizer.learning_rate) == pytest.approx(0.1)


def test_a_recompiled_model_does_not_reuse_a_function_traced_before_compile():
    x, y = data()
    model = counting_model(keras.optimizers.SGD(0.1))
    callbacks = [OneCycleLR(max_lr=0.05, cycle_momentum=False)]
    model.fit(x, y, batch_size=4, verbose=0, callbacks=callbacks)
    model.compile(model.optimizer, "mae")  # same optimizer, new loss
    before = len(TRACES)
    model.fit(x, y, batch_size=4, verbose=0, callbacks=callbacks)
    assert len(TRACES) > before


@pytest.mark.skipif(keras.backend.backend() != "jax", reason="JAX bakes a trace's Python values; the others read them")
def test_a_start_read_as_a_constant_keys_the_trace_and_one_read_as_an_input_does_not():
    import jax

    from kerasplus.callbacks import _train_functions
    from kerasplus.callbacks._schedule_callback import StartedSchedule
    from kerasplus.schedules import OneCycle

    model = counting_model()
    baked, fed = StartedSchedule(OneCycle(0.1, 20), first_step=5), StartedSchedule(OneCycle(0.1, 20), first_step=5)
    assert baked.trace_key is None and fed.trace_key is None
    jax.jit(baked)(7)  # read outside a train function of the register: the start is a constant of the trace
    assert baked.trace_key == 5
    _train_functions.trace_input(model, fed)
    _train_functions._READING.values = {id(fed): fed.trace_input_value()}
    try:
        assert float(jax.jit(fed)(7)) == pytest.approx(float(OneCycle(0.1, 20)(2)))
    finally:
        _train_functions._READING.values = None
    assert fed.trace_key is None


def test_the_installed_schedule_is_registered_and_round_trips_through_serialization():
    from kerasplus.callbacks._schedule_callback import StartedSchedule
    from kerasplus.schedules import OneCycle

    assert keras.saving.get_registered_name(StartedSchedule) == "kerasplus>StartedSchedule"
    started = StartedSchedule(OneCycle(0.1, 20), first_step=5)
    config = keras.saving.serialize_keras_object(started)
    back = keras.saving.deserialize_keras_object(config, safe_mode=True)
    assert isinstance(back, StartedSchedule) and back.first_step == 5
    assert float(back(9)) == pytest.approx(float(started(9)))
