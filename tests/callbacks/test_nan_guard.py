import keras
import numpy as np
import pytest

from kerasplus.callbacks import BackupAndRestore, NaNGuard


def make_model():
    keras.utils.set_random_seed(3)
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(8, activation="tanh"), keras.layers.Dense(1)])
    model.compile(keras.optimizers.Adam(0.01), "mse", metrics=["mae"])
    return model


def data():
    rng = np.random.default_rng(1)
    x = rng.normal(size=(32, 4)).astype("float32")
    return x, x[:, :1] * 2.0 - x[:, 1:2]


def test_a_nan_batch_is_undone_as_if_it_had_been_skipped():
    x, y = data()
    poisoned = x.copy()
    poisoned[13] = np.nan  # batch 3 of 8 (batch size 4)
    guard = NaNGuard()
    model = make_model()
    history = model.fit(poisoned, y, batch_size=4, epochs=2, shuffle=False, verbose=0, callbacks=[guard])
    assert guard.failures == 2 and guard.stopped_reason is None
    assert int(model.optimizer.iterations.numpy()) == 14

    keep = np.r_[0:12, 16:32]  # the same data without batch 3
    reference = make_model()
    expected = reference.fit(x[keep], y[keep], batch_size=4, epochs=2, shuffle=False, verbose=0)
    for got, want in zip(model.get_weights(), reference.get_weights()):
        np.testing.assert_array_equal(got, want)
    assert np.all(np.isfinite(history.history["loss"]))
    np.testing.assert_allclose(history.history["loss"], expected.history["loss"], rtol=1e-6)


def test_lr_factor_lowers_the_rate_once_per_failure():
    x, y = data()
    x[[1, 21]] = np.inf
    model = make_model()
    guard = NaNGuard(lr_factor=0.5)
    model.fit(x, y, batch_size=4, epochs=1, shuffle=False, verbose=0, callbacks=[guard])
    assert guard.failures == 2
    assert float(model.optimizer.learning_rate) == pytest.approx(0.01 * 0.25)


class PoisonsItsUpdate(keras.Sequential):
    """A train step whose update makes the first kernel infinite on a batch holding 1234 (its loss stays finite)."""

    def train_step(self, data):
        logs = super().train_step(data)
        kernel = self.layers[0].kernel
        poisoned = keras.ops.any(keras.ops.equal(data[0], 1234.0))
        kernel.assign(keras.ops.where(poisoned, keras.ops.full(kernel.shape, np.inf), kernel))
        return logs


def test_a_step_that_makes_the_weights_non_finite_with_a_finite_loss_is_undone():
    x, y = data()
    marked = x.copy()
    marked[9, 0] = 1234.0  # batch 2 of 8; a large but finite loss
    keras.utils.set_random_seed(3)
    model = PoisonsItsUpdate([keras.Input((4,)), keras.layers.Dense(8, activation="tanh"), keras.layers.Dense(1)])
    model.compile(keras.optimizers.Adam(0.01), "mse", metrics=["mae"])
    guard = NaNGuard()
    history = model.fit(marked, y, batch_size=4, epochs=1, shuffle=False, verbose=0, callbacks=[guard])
    assert guard.failures == 1 and np.isfinite(history.history["loss"][0])
    assert int(model.optimizer.iterations.numpy()) == 7

    keep = np.r_[0:8, 12:32]
    reference = make_model()
    reference.fit(x[keep], y[keep], batch_size=4, epochs=1, shuffle=False, verbose=0)
    for got, want in zip(model.get_weights(), reference.get_weights()):
        np.testing.assert_array_equal(got, want)


def test_weights_made_non_finite_outside_the_step_stop_training_after_max_consecutive():
    x, y = data()

    class Poison(keras.callbacks.Callback):
        def on_train_batch_end(self, batch, logs=None):
            if batch == 2:
                kernel = self.model.layers[1].kernel
                kernel.assign(np.full(kernel.shape, np.inf, "float32"))

    model = make_model()
    guard = NaNGuard(max_consecutive=2)
    with pytest.warns(RuntimeWarning, match="2 consecutive steps"):
        model.fit(x, y, batch_size=4, epochs=1, shuffle=False, verbose=0, callbacks=[Poison(), guard])
    assert guard.failures == 2 and int(model.optimizer.iterations.numpy()) == 3


def test_batch_normalization_statistics_of_a_skipped_step_are_kept():
    x, y = data()
    poisoned = x.copy()
    poisoned[5] = np.nan  # batch 1 of 8

    def bn_model():
        keras.utils.set_random_seed(3)
        model = keras.Sequential(
            [keras.Input((4,)), keras.layers.Dense(8), keras.layers.BatchNormalization(), keras.layers.Dense(1)]
        )
        model.compile(keras.optimizers.SGD(0.05, momentum=0.9), "mse")
        return model

    model = bn_model()
    guard = NaNGuard()
    model.fit(poisoned, y, batch_size=4, epochs=1, shuffle=False, verbose=0, callbacks=[guard])
    reference = bn_model()
    keep = np.r_[0:4, 8:32]
    reference.fit(x[keep], y[keep], batch_size=4, epochs=1, shuffle=False, verbose=0)
    assert guard.failures == 1
    for got, want in zip(model.get_weights(), reference.get_weights()):  # moving mean and variance included
        np.testing.assert_array_equal(got, want)


def test_a_second_fit_traces_no_new_train_step_and_a_bare_fit_after_it_neither():
    traces = []

    class Counting(keras.Sequential):
        def train_step(self, data):
            traces.append(1)  # Python code in a compiled step runs while it is traced
            return super().train_step(data)

    x, y = data()
    model = Counting([keras.Input((4,)), keras.layers.Dense(1)])
    model.compile(keras.optimizers.SGD(0.01), "mse")
    model.fit(x, y, batch_size=8, verbose=0)
    bare = len(traces)
    guard = NaNGuard()
    model.fit(x, y, batch_size=8, verbose=0, callbacks=[guard])
    first = len(traces)
    assert first > bare
    model.fit(x, y, batch_size=8, verbose=0, callbacks=[guard])
    model.fit(x, y, batch_size=8, verbose=0)
    model.fit(x, y, batch_size=8, verbose=0, callbacks=[guard])
    assert len(traces) == first
    assert "train_step" not in vars(model)  # the model trains with its own step again


def test_stops_after_max_consecutive_failures_with_a_clear_message(tmp_path):
    x, y = data()
    x[12:] = np.nan  # batches 3.. are all bad
    model = make_model()
    guard = NaNGuard(max_consecutive=3)
    backup = BackupAndRestore(tmp_path, save_freq=1, keep=100, delete_checkpoint=False)
    with pytest.warns(RuntimeWarning, match="3 consecutive steps gave a non-finite loss"):
        history = model.fit(x, y, batch_size=4, epochs=5, shuffle=False, verbose=0, callbacks=[guard, backup])
    assert guard.failures == 3 and "Lower the learning rate" in guard.stopped_reason
    assert len(history.history["loss"]) == 1
    assert int(model.optimizer.iterations.numpy()) == 3
    assert all(np.all(np.isfinite(w)) for w in model.get_weights())
    for name in tmp_path.iterdir():
        with np.load(name) as saved:
            assert all(np.all(np.isfinite(saved[k])) for k in saved.files if k.startswith("model/"))


@pytest.mark.parametrize(
    "kwargs,error,name",
    [
        (dict(max_consecutive=0), ValueError, "max_consecutive"),
        (dict(lr_factor=0.0), ValueError, "lr_factor"),
        (dict(lr_factor=1.5), ValueError, "lr_factor"),
        (dict(check_weights=1), TypeError, "check_weights"),
    ],
)
def test_bad_arguments_are_rejected_by_name(kwargs, error, name):
    with pytest.raises(error, match=name):
        NaNGuard(**kwargs)


def test_get_config_and_state():
    config = dict(max_consecutive=5, lr_factor=0.1, check_weights=False, optimizer="g_optimizer")
    guard = NaNGuard(**config)
    assert guard.get_config() == config
    guard.set_state({"failures": 4, "consecutive": 2})
    assert guard.get_state() == {"failures": 4, "consecutive": 2}


def test_an_epoch_whose_every_step_was_undone_reports_nan_not_zero():
    x, y = data()
    guard = NaNGuard(max_consecutive=100)
    model = make_model()
    with pytest.warns(RuntimeWarning, match="every step of epoch 0 was undone"):
        history = model.fit(
            np.full_like(x, np.inf), y, batch_size=4, epochs=1, verbose=0, validation_data=(x, y), callbacks=[guard]
        )
    assert guard.failures == 8
    assert np.isnan(history.history["loss"][0]) and np.isnan(history.history["mae"][0])  # was 0.0
    assert np.isfinite(history.history["val_loss"][0])


def test_an_epoch_whose_every_step_was_undone_under_mixed_float16_reports_nan():
    keras.mixed_precision.set_global_policy("mixed_float16")
    try:
        x, y = data()
        model = make_model()
        history = model.fit(
            np.full_like(x, 1e30), y, batch_size=4, epochs=1, verbose=0, callbacks=[NaNGuard(max_consecutive=100)]
        )
    finally:
        keras.mixed_precision.set_global_policy("float32")
    assert np.isnan(history.history["loss"][0])


class OwnStep(keras.Sequential):
    """A custom train step (Keras's own, called through super): NaNGuard takes its copy-and-restore path."""

    def train_step(self, *args):
        return super().train_step(*args)


class HugeAtStep(keras.optimizers.schedules.LearningRateSchedule):
    """0.01, except 3e38 at one step: a finite loss and gradient, an update that overflows the weights."""

    def __init__(self, step):
        self.step = step

    def __call__(self, step):
        return keras.ops.where(keras.ops.equal(step, self.step), 3e38, 0.01)


def guarded_run(cls, poison):
    keras.utils.set_random_seed(5)
    model = cls(
        [
            keras.Input((4,)),
            keras.layers.Dense(8),
            keras.layers.BatchNormalization(),
            keras.layers.Dropout(0.3),
            keras.layers.Dense(1),
        ]
    )
    rate = HugeAtStep(2) if poison == "overflow" else 0.01
    model.compile(
        keras.optimizers.Adam(rate) if poison == "nan" else keras.optimizers.SGD(rate), "mse", metrics=["mae"]
    )
    x, y = data()
    if poison == "nan":
        x = x.copy()
        x[13] = np.nan  # batch 3 of 8
    else:
        y = y * 100.0  # large gradients: at step 2 the update overflows
    guard = NaNGuard()
    history = model.fit(x, y, batch_size=4, epochs=2, shuffle=False, verbose=0, callbacks=[guard])
    state = [np.asarray(keras.ops.convert_to_numpy(v)) for v in model.variables + model.optimizer.variables]
    return guard.failures, history.history, state


@pytest.mark.skipif(keras.backend.backend() != "torch", reason="the deferred update is PyTorch's path")
@pytest.mark.parametrize("poison", ["nan", "overflow"])
def test_torch_deferred_update_matches_the_copy_and_restore_path_exactly(poison):
    """Keras's own step holds back its update until the loss and gradients are finite; same result as the copy path."""
    from kerasplus.callbacks import nan_guard

    probe = keras.Sequential([keras.Input((4,)), keras.layers.Dense(1)])
    probe.compile("sgd", "mse")
    assert nan_guard._defers_update(probe, probe.train_step)
    own = OwnStep([keras.Input((4,)), keras.layers.Dense(1)])
    own.compile("sgd", "mse")
    assert not nan_guard._defers_update(own, own.train_step)

    fast_failures, fast_history, fast_state = guarded_run(keras.Sequential, poison)
    copy_failures, copy_history, copy_state = guarded_run(OwnStep, poison)
    assert fast_failures == copy_failures >= 1
    assert fast_history == copy_history
    assert len(fast_state) == len(copy_state)
    for got, want in zip(fast_state, copy_state):
        np.testing.assert_array_equal(got, want)
    assert all(np.isfinite(s).all() for s in fast_state)


@pytest.mark.skipif(keras.backend.backend() != "tensorflow", reason="the graph check of TensorFlow")
@pytest.mark.parametrize(
    "case, expected",
    [
        ("finite", True),
        ("overflowing_sum", True),  # every value finite, their sum is not: the per-tensor check decides
        ("one_nan", False),
        ("one_inf", False),
        ("opposite_infs", False),  # +inf and -inf in two tensors of one shape: add_n gives NaN
        ("one_inf_in_float16", False),
    ],
)
@pytest.mark.parametrize("mode", ["graph", "eager"])  # eager: NaNGuard's weight check after a batch
def test_the_graph_finiteness_check_is_exact(case, expected, mode):
    import tensorflow as tf

    from kerasplus.callbacks import nan_guard

    rng = np.random.default_rng(0)
    tensors = [rng.normal(size=(3, 4)).astype("float32") for _ in range(5)] + [np.ones(7, "float32")]
    if case == "overflowing_sum":
        tensors = [np.full((3, 4), 3e38, "float32") for _ in range(4)] + [np.full(7, -3e38, "float32")]
    elif case == "one_nan":
        tensors[2][1, 1] = np.nan
    elif case == "one_inf":
        tensors[5][3] = np.inf
    elif case == "opposite_infs":
        tensors[0][0, 0], tensors[1][0, 0] = np.inf, -np.inf
    elif case == "one_inf_in_float16":
        tensors.append(np.array([1.0, np.inf], "float16"))

    def check(values):
        return nan_guard._all_finite(values)

    if mode == "graph":
        check = tf.function(check)
    assert bool(check([tf.constant(x) for x in tensors])) is expected
