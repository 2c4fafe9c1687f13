import csv

import keras
import numpy as np
import pytest
import tensorflow as tf

from kerasplus.callbacks import OneCycleLR
from kerasplus.schedules import OneCycle, OneCycleMomentum, one_cycle
from tests.helpers import applied_rates, rate_probe, torch_curve, values


def fit_probe(model, x, y, callback, epochs, **kwargs):
    return model.fit(x, y, batch_size=1, epochs=epochs, shuffle=False, verbose=0, callbacks=[callback], **kwargs)


@pytest.mark.parametrize("anneal_strategy", ["cos", "linear"])
def test_rate_applied_at_every_step_under_xla_and_steps_per_execution(anneal_strategy):
    steps = 32
    model, x, y = rate_probe(steps, jit_compile=True, steps_per_execution=8)
    callback = OneCycleLR(max_lr=0.5, anneal_strategy=anneal_strategy, cycle_momentum=False)
    fit_probe(model, x, y, callback, epochs=2)  # the second epoch repeats rows: use the sum
    expected = values(
        one_cycle, np.arange(2 * steps), max_lr=0.5, total_steps=2 * steps, anneal_strategy=anneal_strategy
    )
    np.testing.assert_allclose(applied_rates(model), expected[:steps] + expected[steps:], rtol=1e-6)


def test_total_steps_comes_from_fit_and_matches_torch_step_for_step():
    steps = 40
    model, x, y = rate_probe(steps)
    fit_probe(model, x, y, OneCycleLR(max_lr=0.3, cycle_momentum=False), epochs=1)
    torch_rates, _ = torch_curve("OneCycleLR", steps, max_lr=0.3, total_steps=steps)
    np.testing.assert_allclose(applied_rates(model), torch_rates[:steps], rtol=1e-6)


def test_new_schedule_takes_effect_after_a_train_function_was_traced():
    steps = 16
    model, x, y = rate_probe(steps)
    # First fit: zero inputs, so no weight moves, but the train function is traced
    # and the optimizer has taken `steps` steps.
    model.fit(np.zeros_like(x), y, batch_size=1, epochs=1, verbose=0)
    assert model.train_function is not None
    fit_probe(model, x, y, OneCycleLR(max_lr=0.2, cycle_momentum=False), epochs=1)
    expected = values(one_cycle, np.arange(steps), max_lr=0.2, total_steps=steps)
    np.testing.assert_allclose(applied_rates(model), expected, rtol=1e-6)


def test_each_fit_runs_a_new_cycle_and_the_optimizer_gets_its_rate_back():
    steps = 12
    model, x, y = rate_probe(steps)
    fit_probe(model, x, y, OneCycleLR(max_lr=0.2, cycle_momentum=False), epochs=1)
    assert isinstance(model.optimizer._learning_rate, keras.Variable)
    assert float(model.optimizer.learning_rate) == 1.0
    fit_probe(model, x, y, OneCycleLR(max_lr=0.2, cycle_momentum=False), epochs=1)
    expected = values(one_cycle, np.arange(steps), max_lr=0.2, total_steps=steps)
    np.testing.assert_allclose(applied_rates(model), 2 * expected, rtol=1e-6)


def test_resumed_training_continues_the_curve(tmp_path):
    steps = 8
    uninterrupted, x, y = rate_probe(steps)
    fit_probe(uninterrupted, x, y, OneCycleLR(max_lr=0.4, cycle_momentum=False), epochs=4)

    first, _, _ = rate_probe(steps)
    fit_probe(first, x, y, OneCycleLR(max_lr=0.4, cycle_momentum=False, epochs=4), epochs=2)
    path = tmp_path / "checkpoint.keras"
    first.save(path)
    resumed = keras.models.load_model(path, safe_mode=True)
    assert int(resumed.optimizer.iterations) == 2 * steps
    fit_probe(resumed, x, y, OneCycleLR(max_lr=0.4, cycle_momentum=False), epochs=4, initial_epoch=2)
    np.testing.assert_allclose(applied_rates(resumed), applied_rates(uninterrupted), rtol=1e-6)
    expected = values(one_cycle, np.arange(4 * steps), max_lr=0.4, total_steps=4 * steps)
    np.testing.assert_allclose(applied_rates(resumed), expected.reshape(4, steps).sum(axis=0), rtol=1e-6)


def sgd_momentum_by_hand(gradients, rates, momenta):
    """Keras SGD: m <- mu * m - lr * g; w <- w + m (float64)."""
    w, m = 0.0, 0.0
    for g, lr, mu in zip(gradients, rates, momenta):
        m = mu * m - lr * g
        w = w + m
    return w


def adam_by_hand(gradients, rates, beta_1s, beta_2=0.999, epsilon=1e-7):
    """Keras Adam with the beta_1 of each step in the update and bias correction."""
    w, m, v = 0.0, 0.0, 0.0
    for t, (g, lr, b1) in enumerate(zip(gradients, rates, beta_1s), start=1):
        m = m + (g - m) * (1 - b1)
        v = v + (g * g - v) * (1 - beta_2)
        alpha = lr * np.sqrt(1 - beta_2**t) / (1 - b1**t)
        w = w - alpha * m / (np.sqrt(v) + epsilon)
    return w


def scalar_model(optimizer, **compile_kwargs):
    from tests.helpers import sum_loss

    model = keras.Sequential([keras.Input((1,)), keras.layers.Dense(1, use_bias=False, kernel_initializer="zeros")])
    model.compile(optimizer, loss=sum_loss, **compile_kwargs)
    return model


@pytest.mark.parametrize("compile_kwargs", [{}, dict(jit_compile=True, steps_per_execution=8)])
@pytest.mark.parametrize("optimizer_name", ["sgd", "adam"])
def test_momentum_cycling_changes_the_compiled_update_as_computed_by_hand(optimizer_name, compile_kwargs):
    steps = 24
    gradients = np.random.default_rng(0).uniform(0.5, 2.0, size=(steps, 1)).astype("float32")
    rates, momenta = torch_curve(
        "OneCycleLR", steps, total_steps=steps, max_lr=0.05, base_momentum=0.6, max_momentum=0.95
    )

    def train(cycle_momentum):
        optimizer = (
            keras.optimizers.SGD(learning_rate=0.01, momentum=0.9)
            if optimizer_name == "sgd"
            else keras.optimizers.Adam(learning_rate=0.01, beta_1=0.9)
        )
        model = scalar_model(optimizer, **compile_kwargs)
        callback = OneCycleLR(max_lr=0.05, cycle_momentum=cycle_momentum, base_momentum=0.6, max_momentum=0.95)
        model.fit(gradients, np.zeros_like(gradients), batch_size=1, shuffle=False, verbose=0, callbacks=[callback])
        return float(model.get_weights()[0][0, 0])

    g = gradients[:, 0].astype(np.float64)
    if optimizer_name == "sgd":
        cycled = sgd_momentum_by_hand(g, rates, momenta)
        fixed = sgd_momentum_by_hand(g, rates, np.full(steps, 0.9))
    else:
        cycled = adam_by_hand(g, rates, momenta)
        fixed = adam_by_hand(g, rates, np.full(steps, 0.9))
    assert abs(cycled - fixed) > 1e-3 * abs(fixed)  # the test can tell them apart
    assert train(cycle_momentum=True) == pytest.approx(cycled, rel=1e-5)
    assert train(cycle_momentum=False) == pytest.approx(fixed, rel=1e-5)


def test_learning_rate_and_momentum_reach_history_and_csv_logger(tmp_path):
    model = scalar_model(keras.optimizers.SGD(learning_rate=0.01, momentum=0.9))
    x = np.ones((10, 1), "float32")
    log = tmp_path / "log.csv"
    history = model.fit(
        x,
        x,
        batch_size=2,
        epochs=3,
        verbose=0,
        callbacks=[OneCycleLR(max_lr=0.1), keras.callbacks.CSVLogger(str(log))],
    )
    rates, momenta = torch_curve("OneCycleLR", 15, total_steps=15, max_lr=0.1)
    # Logged at epoch end: the values for the optimizer's next step.
    expected_rates = values(one_cycle, [5, 10, 15], max_lr=0.1, total_steps=15)
    np.testing.assert_allclose(history.history["learning_rate"], expected_rates, rtol=1e-6)
    np.testing.assert_allclose(history.history["momentum"][:2], momenta[[5, 10]], rtol=1e-6)
    with open(log) as f:
        rows = list(csv.DictReader(f))
    np.testing.assert_allclose([float(r["learning_rate"]) for r in rows], expected_rates, rtol=1e-6)
    assert model.optimizer.momentum == 0.9 and type(model.optimizer.momentum) is float


def test_works_with_a_loss_scale_optimizer_under_mixed_precision():
    keras.config.set_dtype_policy("mixed_float16")
    model = scalar_model(keras.optimizers.SGD(learning_rate=0.01, momentum=0.9))
    assert isinstance(model.optimizer, keras.optimizers.LossScaleOptimizer)
    x = np.ones((8, 1), "float32")
    history = model.fit(x, x, batch_size=2, epochs=2, verbose=0, callbacks=[OneCycleLR(max_lr=0.1)])
    # Dynamic loss scaling skips steps whose gradients overflow; the optimizer
    # does not count them, so the schedule (like any Keras schedule) follows
    # the optimizer's own step count.
    applied_steps = int(model.optimizer.iterations)
    assert 0 < applied_steps <= 8
    expected = values(one_cycle, [applied_steps], max_lr=0.1, total_steps=8)
    np.testing.assert_allclose(history.history["learning_rate"][-1], expected[0], rtol=1e-6)
    assert type(model.optimizer.inner_optimizer.momentum) is float
    assert np.isfinite(model.get_weights()[0]).all()


def test_endless_data_without_steps_says_what_to_pass():
    model = scalar_model(keras.optimizers.SGD(learning_rate=0.01, momentum=0.9))
    data = tf.data.Dataset.from_tensor_slices((np.ones((8, 1)), np.ones((8, 1)))).filter(lambda a, b: True).batch(2)
    with pytest.raises(ValueError, match=r"cannot tell how many steps an epoch has.*total_steps=\.\.\."):
        model.fit(data, epochs=1, verbose=0, callbacks=[OneCycleLR(max_lr=0.1)])
    model.fit(data, epochs=1, verbose=0, callbacks=[OneCycleLR(max_lr=0.1, total_steps=4)])


def test_warns_when_fit_runs_past_total_steps():
    model, x, y = rate_probe(10)
    with pytest.warns(UserWarning, match="fit runs 10 optimizer steps but the cycle has total_steps=6"):
        fit_probe(model, x, y, OneCycleLR(max_lr=0.1, total_steps=6, cycle_momentum=False), epochs=1)


def test_cycle_momentum_needs_an_optimizer_with_momentum():
    model, x, y = rate_probe(4)  # plain SGD, momentum 0
    with pytest.raises(ValueError, match="cycle_momentum=True needs an optimizer with momentum.*momentum=0"):
        fit_probe(model, x, y, OneCycleLR(max_lr=0.1), epochs=1)
    assert isinstance(model.optimizer._learning_rate, keras.Variable)  # nothing was changed


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(max_lr=0), "`max_lr` must be > 0"),
        (dict(total_steps=0), "`total_steps` must be an integer >= 1"),
        (dict(epochs=0), "`epochs` must be an integer >= 1"),
        (dict(steps_per_epoch=-3), "`steps_per_epoch` must be an integer >= 1"),
        (dict(pct_start=1.5), r"`pct_start` must be in \(0.0, 1.0\)"),
        (dict(div_factor=0), "`div_factor` must be > 0"),
        (dict(anneal_strategy="step"), "`anneal_strategy` must be one of"),
        (dict(base_momentum=0.99), "`base_momentum` must be <= `max_momentum`"),
        (dict(max_momentum=1.0), r"`max_momentum` must be in \[0.0, 1.0\)"),
    ],
)
def test_one_cycle_lr_rejects_bad_arguments(kwargs, message):
    arguments = dict(max_lr=0.1)
    arguments.update(kwargs)
    with pytest.raises(ValueError, match=message):
        OneCycleLR(**arguments)


def test_checkpoints_saved_during_fit_reload_as_compiled_and_resume_the_curve(tmp_path):
    steps = 8
    uninterrupted, x, y = rate_probe(steps, optimizer=keras.optimizers.SGD(learning_rate=0.01, momentum=0.5))
    fit_probe(uninterrupted, x, y, OneCycleLR(max_lr=0.4), epochs=4)

    model, _, _ = rate_probe(steps, optimizer=keras.optimizers.SGD(learning_rate=0.01, momentum=0.5))
    path = tmp_path / "epoch{epoch}.keras"
    model.fit(
        x,
        y,
        batch_size=1,
        epochs=2,
        shuffle=False,
        verbose=0,
        callbacks=[OneCycleLR(max_lr=0.4, epochs=4), keras.callbacks.ModelCheckpoint(str(path))],
    )
    loaded = keras.models.load_model(tmp_path / "epoch2.keras", safe_mode=True)
    # Saved while the schedule was installed, it reloads as compiled, with its state.
    assert isinstance(loaded.optimizer._learning_rate, keras.Variable)
    assert float(loaded.optimizer.learning_rate) == pytest.approx(0.01)
    assert type(loaded.optimizer.momentum) is float and loaded.optimizer.momentum == 0.5
    assert int(loaded.optimizer.iterations) == 2 * steps
    fit_probe(loaded, x, y, OneCycleLR(max_lr=0.4), epochs=4, initial_epoch=2)
    np.testing.assert_allclose(loaded.get_weights()[0], uninterrupted.get_weights()[0], rtol=1e-5, atol=1e-7)


@pytest.mark.parametrize("schedule", [OneCycle, OneCycleMomentum])
def test_the_callbacks_defaults_are_the_schedules(schedule):
    import inspect

    ours = inspect.signature(OneCycleLR).parameters
    for name, parameter in inspect.signature(schedule).parameters.items():
        if parameter.default is not inspect.Parameter.empty:
            assert ours[name].default == parameter.default, name


@pytest.mark.skipif(keras.backend.backend() != "torch", reason="PyTorch sets the momentum before each eager step")
def test_torch_reads_the_momentum_from_a_table_made_at_the_start_of_fit_equal_to_the_schedule():
    steps = 10
    _, momenta = torch_curve("OneCycleLR", steps, total_steps=steps, max_lr=0.05, base_momentum=0.6, max_momentum=0.95)
    seen = []

    class Record(keras.callbacks.Callback):
        def on_train_batch_begin(self, batch, logs=None):
            seen.append(float(self.model.optimizer.momentum))

    callback = OneCycleLR(max_lr=0.05, base_momentum=0.6, max_momentum=0.95)
    model = scalar_model(keras.optimizers.SGD(learning_rate=0.01, momentum=0.9))
    x = np.ones((steps, 1), "float32")
    model.fit(x, np.zeros_like(x), batch_size=1, shuffle=False, verbose=0, callbacks=[callback, Record()])
    assert callback._momentum_table is not None
    np.testing.assert_allclose(seen, momenta[:steps], rtol=1e-6)
    assert float(model.optimizer.momentum) == pytest.approx(0.9)  # given back when fit ends


class EagerRates(keras.callbacks.Callback):
    """After the schedule callback: what its rate (and momentum) evaluate to eagerly at each epoch end."""

    def __init__(self, schedule_callback):
        super().__init__()
        self.schedule_callback = schedule_callback
        self.rates, self.momenta = [], []

    def on_epoch_end(self, epoch, logs=None):
        self.rates.append(float(keras.ops.convert_to_numpy(self.model.optimizer.learning_rate)))
        if self.schedule_callback._momentum_fn is not None:
            self.momenta.append(float(keras.ops.convert_to_numpy(self.schedule_callback._momentum_fn())))


def test_epoch_end_logs_read_a_table_built_once_and_equal_the_eager_values(monkeypatch):
    from kerasplus.callbacks import _schedule_callback

    calls = {"in_epoch_end": False, "count": 0}
    original_call = _schedule_callback.StartedSchedule.__call__

    def counting_call(self, step):
        calls["count"] += calls["in_epoch_end"]
        return original_call(self, step)

    monkeypatch.setattr(_schedule_callback.StartedSchedule, "__call__", counting_call)

    class Counting(OneCycleLR):
        def on_epoch_end(self, epoch, logs=None):
            calls["in_epoch_end"] = True
            try:
                super().on_epoch_end(epoch, logs)
            finally:
                calls["in_epoch_end"] = False

    model = scalar_model(keras.optimizers.SGD(learning_rate=0.01, momentum=0.9))
    x = np.linspace(-1, 1, 12, dtype="float32")[:, None]
    callback = Counting(max_lr=0.1)
    eager = EagerRates(callback)
    history = model.fit(x, x, batch_size=3, epochs=5, verbose=0, callbacks=[callback, eager])
    assert calls["count"] == 1  # one vectorized evaluation for the fit, not one per epoch
    np.testing.assert_allclose(history.history["learning_rate"], eager.rates, rtol=1e-6)
    np.testing.assert_allclose(history.history["momentum"], eager.momenta, rtol=1e-6)
    assert len(set(history.history["learning_rate"])) == 5  # the table follows the curve


def test_a_schedule_that_takes_one_step_at_a_time_is_logged_eagerly():
    from kerasplus.callbacks import WarmupLR

    class OneStepDecay(keras.optimizers.schedules.LearningRateSchedule):
        """A user's schedule: fine in the compiled step, refuses a vector of steps."""

        def __call__(self, step):
            return 0.1 * 0.9 ** keras.ops.cast(keras.ops.reshape(step, ()), "float32")

    model = scalar_model(keras.optimizers.SGD(learning_rate=OneStepDecay()))
    x = np.linspace(-1, 1, 12, dtype="float32")[:, None]
    callback = WarmupLR(warmup_steps=6)
    eager = EagerRates(callback)
    history = model.fit(x, x, batch_size=3, epochs=4, verbose=0, callbacks=[callback, eager])
    assert callback._rate_table.values is None  # the vectorized evaluation failed: eager fallback
    np.testing.assert_allclose(history.history["learning_rate"], eager.rates, rtol=1e-6)
    assert len(set(history.history["learning_rate"])) == 4
