import keras
import numpy as np
import pytest

from kerasplus.callbacks import EarlyStopping

# --- Prechelt (1998), section 2.2, transcribed with whole arrays (epochs t = 1..n) ---


def generalization_loss(va):
    return 100.0 * (va / np.minimum.accumulate(va) - 1.0)


def first(indices):
    indices = np.flatnonzero(indices)
    return int(indices[0]) if indices.size else None


def gl_stop(va, alpha):
    return first(generalization_loss(va) > alpha)


def pq_stop(va, tr, alpha, k):
    gl = generalization_loss(va)
    for t in range(k, len(va) + 1, k):
        strip = tr[t - k : t]
        progress = 1000.0 * (strip.sum() / (k * strip.min()) - 1.0)
        if gl[t - 1] / progress > alpha:
            return t - 1
    return None


def up_stop(va, s, k):
    ends = np.arange(k, len(va) + 1, k) - 1
    went_up = va[ends[1:]] > va[ends[:-1]]
    run = 0
    for i, up in enumerate(went_up):
        run = run + 1 if up else 0
        if run >= s:
            return int(ends[i + 1])
    return None


def ema(x, b):
    out = np.empty_like(x)
    out[0] = x[0]
    for i in range(1, len(x)):
        out[i] = b * out[i - 1] + (1 - b) * x[i]
    return out


def curves(seed, n=60):
    """A validation curve that falls, then rises slowly, with noise; a training curve that keeps falling."""
    rng = np.random.default_rng(seed)
    t = np.arange(n, dtype=np.float64)
    va = 1.0 / (1.0 + 0.3 * t) + 0.004 * t + rng.normal(0, 0.01, n) + 0.2
    tr = np.exp(-0.2 * t) + rng.uniform(0, 0.002, n) + 0.05
    return va, tr


def feed(callback, va, tr=None):
    """Calls the callback as fit would, one epoch at a time; returns the epoch where it stopped."""
    model = keras.Sequential([keras.Input((1,)), keras.layers.Dense(1)])
    model.compile("sgd", "mse")
    callback.set_model(model)
    callback.on_train_begin()
    for epoch, value in enumerate(va):
        logs = {"val_loss": float(value)}
        if tr is not None:
            logs["loss"] = float(tr[epoch])
        callback.on_epoch_end(epoch, logs)
        if model.stop_training:
            return epoch
    return None


@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize("alpha", [1.0, 5.0, 10.0])
def test_gl_stops_at_the_epoch_of_the_papers_definition(seed, alpha):
    va, _ = curves(seed)
    expected = gl_stop(va, alpha)
    assert expected is not None
    assert feed(EarlyStopping(criterion="gl", alpha=alpha), va) == expected


def test_gl_on_a_hand_made_curve():
    # E_opt = 1.0 at epoch 1; epoch 3 has GL = 100 * (1.06 / 1.0 - 1) = 6 > 5.
    va = np.array([2.0, 1.0, 1.04, 1.06, 0.9])
    assert feed(EarlyStopping(criterion="gl", alpha=5.0), va) == 3


@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize("alpha,k", [(0.5, 5), (2.0, 5), (1.0, 3)])
def test_pq_stops_at_the_end_of_the_strip_of_the_papers_definition(seed, alpha, k):
    va, tr = curves(seed, n=80)
    expected = pq_stop(va, tr, alpha, k)
    assert expected is not None and (expected + 1) % k == 0
    assert feed(EarlyStopping(criterion="pq", alpha=alpha, strip_length=k), va, tr) == expected


@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize("s,k", [(1, 5), (2, 4), (3, 3)])
def test_up_stops_after_s_successive_rising_strips(seed, s, k):
    va, _ = curves(seed, n=90)
    expected = up_stop(va, s, k)
    assert expected is not None
    assert feed(EarlyStopping(criterion="up", alpha=s, strip_length=k), va) == expected


def test_up_counts_only_successive_strips():
    # strip ends (k=2) at epochs 1,3,5,7,9: 5, 6 (up), 5.5 (down), 6 (up), 7 (up) -> UP_2 at epoch 9
    va = np.array([9, 5, 9, 6, 9, 5.5, 9, 6, 9, 7.0])
    assert feed(EarlyStopping(criterion="up", alpha=2, strip_length=2), va) == 9
    assert up_stop(va, 2, 2) == 9


@pytest.mark.parametrize("seed", range(4))
def test_smoothing_applies_the_criterion_to_the_moving_average(seed):
    va, _ = curves(seed)
    smooth = ema(va, 0.6)
    expected = gl_stop(smooth, 5.0)
    assert expected is not None and expected != gl_stop(va, 5.0)
    assert feed(EarlyStopping(criterion="gl", alpha=5.0, smoothing=0.6), va) == expected


@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize("patience", [0, 3, 8])
def test_patience_criterion_stops_where_keras_does(seed, patience):
    va, _ = curves(seed)
    keras_epoch = feed(keras.callbacks.EarlyStopping(patience=patience), va)
    assert feed(EarlyStopping(patience=patience), va) == keras_epoch


@pytest.mark.parametrize("seed", range(3))
@pytest.mark.parametrize(
    "kwargs",
    [
        {"baseline": 0.45, "patience": 4},
        {"baseline": 0.2, "patience": 2},
        {"restore_best_weights": True, "patience": 5},
        {"mode": "max", "patience": 3, "min_delta": 0.001},
        {"start_from_epoch": 7, "patience": 1},
    ],
)
def test_patience_counters_follow_keras_epoch_by_epoch(seed, kwargs):
    # Keras's own callback as the reference for every counter it keeps (ours decides on the host).
    va, _ = curves(seed, n=30)
    records = []
    for callback in (EarlyStopping, keras.callbacks.EarlyStopping):
        stop = callback(monitor="val_loss", **kwargs)
        model = keras.Sequential([keras.Input((1,)), keras.layers.Dense(1)])
        model.compile("sgd", "mse")
        stop.set_model(model)
        stop.on_train_begin()
        record = []
        for epoch, value in enumerate(va):
            model.layers[0].kernel.assign([[float(epoch)]])
            stop.on_epoch_end(epoch, {"val_loss": float(value)})
            best_weights = None if stop.best_weights is None else float(stop.best_weights[0][0, 0])
            record.append((stop.wait, stop.best, stop.best_epoch, stop.stopped_epoch, best_weights))
            if model.stop_training:
                break
        records.append(record)
    assert records[0] == records[1]


@pytest.mark.parametrize("mode, min_delta", [("min", 0.0), ("max", 0.0), ("min", 0.01), ("max", 1e-9)])
def test_improvements_at_float32_ties_are_decided_as_keras_decides(mode, min_delta):
    # Steps below float32's resolution at 0.3 (and one of 0.02): Keras's ops.less/greater see
    # those in float32, so a comparison of the Python floats (a tempting shortcut: no backend op
    # per epoch) would disagree with it at the ties.
    ulp = float(np.spacing(np.float32(0.3)))
    sign = -1.0 if mode == "min" else 1.0
    values = 0.3 + sign * np.array([0.0, 1e-9, ulp / 4, ulp, 2 * ulp, 0.02, 0.02 + 1e-9, 0.03, 0.03, 0.031])
    ours, theirs = [], []
    for callback, record in ((EarlyStopping, ours), (keras.callbacks.EarlyStopping, theirs)):
        stop = callback(monitor="val_loss", mode=mode, min_delta=min_delta, patience=2)
        model = keras.Sequential([keras.Input((1,)), keras.layers.Dense(1)])
        model.compile("sgd", "mse")
        stop.set_model(model)
        stop.on_train_begin()
        for epoch, value in enumerate(values):
            stop.on_epoch_end(epoch, {"val_loss": float(value)})
            record.append((stop.wait, float(stop.best)))
    assert ours == theirs


def test_state_round_trip_continues_the_same_run():
    va, tr = curves(3)
    expected = pq_stop(va, tr, 0.5, 5)
    first = EarlyStopping(criterion="pq", alpha=0.5, strip_length=5, smoothing=0.3, restore_best_weights=True)
    half = expected - 7
    assert feed(first, va[:half], tr[:half]) is None
    second = EarlyStopping(criterion="pq", alpha=0.5, strip_length=5, smoothing=0.3, restore_best_weights=True)
    model = keras.Sequential([keras.Input((1,)), keras.layers.Dense(1)])
    model.compile("sgd", "mse")
    second.set_model(model)
    second.on_train_begin()
    second.set_state(first.get_state())
    stopped = None
    for epoch in range(half, len(va)):
        second.on_epoch_end(epoch, {"val_loss": float(va[epoch]), "loss": float(tr[epoch])})
        if model.stop_training:
            stopped = epoch
            break
    uninterrupted = EarlyStopping(criterion="pq", alpha=0.5, strip_length=5, smoothing=0.3)
    assert stopped == feed(uninterrupted, va, tr)
    assert second.best == pytest.approx(uninterrupted.best)


class WeightsPerEpoch(keras.callbacks.Callback):
    def on_train_begin(self, logs=None):
        self.weights, self.val_loss = [], []

    def on_epoch_end(self, epoch, logs=None):
        self.weights.append(self.model.get_weights())
        self.val_loss.append(logs["val_loss"])


@pytest.mark.parametrize("criterion", ["patience", "gl"])
def test_best_weights_are_restored_when_fit_runs_all_its_epochs(criterion):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(32, 4)).astype("float32")
    w = rng.normal(size=(4, 1)).astype("float32")
    y = x @ w
    xv = rng.normal(size=(16, 4)).astype("float32")
    yv = 0.5 * np.abs(xv @ w)  # partly agrees with the training task: val_loss falls, then rises
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(16, activation="relu"), keras.layers.Dense(1)])
    model.compile(keras.optimizers.Adam(0.05), "mse", jit_compile=criterion == "gl")
    record = WeightsPerEpoch()
    stop = EarlyStopping(
        criterion=criterion, alpha=1e6 if criterion == "gl" else None, patience=100, restore_best_weights=True
    )
    model.fit(x, y, validation_data=(xv, yv), epochs=12, batch_size=8, verbose=0, callbacks=[record, stop])
    assert len(record.val_loss) == 12  # ran to the end
    best = int(np.argmin(record.val_loss))
    assert best != 11  # otherwise restoring would be invisible
    for got, want in zip(model.get_weights(), record.weights[best]):
        np.testing.assert_array_equal(got, want)


def test_get_config_returns_the_constructor_arguments():
    config = dict(
        monitor="val_mae",
        min_delta=0.01,
        patience=2,
        verbose=0,
        mode="min",
        baseline=None,
        restore_best_weights=True,
        start_from_epoch=1,
        criterion="up",
        alpha=2,
        strip_length=3,
        smoothing=0.5,
        train_monitor="mae",
    )
    callback = EarlyStopping(**config)
    assert callback.get_config() == config
    assert EarlyStopping(**callback.get_config()).get_config() == config


@pytest.mark.parametrize(
    "kwargs,error,name",
    [
        (dict(criterion="median"), ValueError, "criterion"),
        (dict(criterion="gl", alpha=0.0), ValueError, "alpha"),
        (dict(criterion="pq", alpha=-1.0), ValueError, "alpha"),
        (dict(criterion="up", alpha=1.5), TypeError, "alpha"),
        (dict(criterion="up", alpha=0), ValueError, "alpha"),
        (dict(strip_length=0), ValueError, "strip_length"),
        (dict(smoothing=1.0), ValueError, "smoothing"),
        (dict(patience=-1), ValueError, "patience"),
        (dict(mode="up"), ValueError, "mode"),
        (dict(criterion="gl", mode="max"), ValueError, "mode='max'"),
        (dict(monitor=""), ValueError, "monitor"),
    ],
)
def test_bad_arguments_are_rejected_by_name(kwargs, error, name):
    with pytest.raises(error, match=name):
        EarlyStopping(**kwargs)


def test_pq_without_training_values_says_which_is_missing():
    with pytest.raises(ValueError, match="'loss'"):
        feed(EarlyStopping(criterion="pq"), np.ones(3))


def _one_unit_model():
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(1, activation="sigmoid")])
    model.compile("adam", "binary_crossentropy", metrics=[keras.metrics.F1Score(threshold=0.5)])
    return model


ONE_UNIT_X = np.random.default_rng(0).normal(size=(32, 3)).astype("float32")
ONE_UNIT_Y = (ONE_UNIT_X[:, :1] > 0).astype("float32")


@pytest.mark.parametrize("criterion", ["gl", "patience"])
def test_a_val_monitor_in_a_fit_without_validation_raises_at_train_begin(criterion):
    stop = EarlyStopping(criterion=criterion)
    model = _one_unit_model()
    with pytest.raises(
        ValueError,
        match=r"monitors 'val_loss', but this fit has no validation data.*To fix: pass "
        r"validation_data=\(x_val, y_val\) or validation_split=0.2 to fit, or monitor='loss'",
    ):
        model.fit(ONE_UNIT_X, ONE_UNIT_Y, epochs=2, verbose=0, callbacks=[stop])
    model.fit(ONE_UNIT_X, ONE_UNIT_Y, epochs=1, verbose=0, validation_split=0.25, callbacks=[stop])
    model.fit(
        ONE_UNIT_X, ONE_UNIT_Y, epochs=1, verbose=0, callbacks=[EarlyStopping(monitor="loss", criterion=criterion)]
    )


def test_validation_every_few_epochs_is_not_mistaken_for_no_validation():
    history = _one_unit_model().fit(
        ONE_UNIT_X,
        ONE_UNIT_Y,
        epochs=4,
        verbose=0,
        validation_data=(ONE_UNIT_X, ONE_UNIT_Y),
        validation_freq=2,
        callbacks=[EarlyStopping(criterion="up", alpha=1, strip_length=1)],
    )
    assert len(history.history["val_loss"]) >= 1


def test_without_a_fit_frame_the_first_epoch_logs_tell():
    stop = EarlyStopping(criterion="gl")
    stop.set_model(_one_unit_model())
    stop.on_train_begin()  # called by hand: no fit to inspect
    with pytest.raises(ValueError, match="this fit has no validation data"):
        stop.on_epoch_end(0, {"loss": 0.5})


@pytest.mark.parametrize("criterion", ["patience", "up"])
def test_a_one_element_metric_is_monitored_as_keras_does(criterion):
    # F1Score on a one-unit output logs an array of shape (1,); Keras's EarlyStopping accepts it.
    kwargs = dict(monitor="val_f1_score", mode="max", patience=1, restore_best_weights=True)
    ours = EarlyStopping(criterion=criterion, **kwargs) if criterion != "patience" else EarlyStopping(**kwargs)
    model = _one_unit_model()
    history = model.fit(
        ONE_UNIT_X, ONE_UNIT_Y, validation_data=(ONE_UNIT_X, ONE_UNIT_Y), epochs=3, verbose=0, callbacks=[ours]
    )
    assert np.shape(history.history["val_f1_score"][0]) == (1,)
    assert isinstance(ours.best, float) and ours.best == pytest.approx(float(np.max(history.history["val_f1_score"])))


def test_a_per_class_metric_is_refused_by_name():
    stop = EarlyStopping(monitor="f1", mode="max")
    stop.set_model(_one_unit_model())
    with pytest.raises(ValueError, match=r"needs a single number to monitor; 'f1' has shape \(3,\)"):
        stop.on_epoch_end(0, {"f1": np.array([0.1, 0.2, 0.3])})
