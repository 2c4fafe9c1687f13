import datetime
import warnings

import keras
import numpy as np
import pytest

from kerasplus.callbacks import BackupAndRestore, Timer
from kerasplus.callbacks import timer as timer_module


class FakeClock(keras.callbacks.Callback):
    """A clock that advances `tick` seconds at every batch end (put it before the Timer)."""

    def __init__(self, monkeypatch, tick=1.0):
        super().__init__()
        self.now, self.tick = 1000.0, tick
        monkeypatch.setattr(timer_module, "monotonic", lambda: self.now)

    def on_train_batch_end(self, batch, logs=None):
        self.now += self.tick


class Batches(keras.callbacks.Callback):
    def on_train_begin(self, logs=None):
        self.seen = []

    def on_epoch_begin(self, epoch, logs=None):
        self.epoch = epoch

    def on_train_batch_end(self, batch, logs=None):
        self.seen.append((self.epoch, batch))


def make_model():
    keras.utils.set_random_seed(3)
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(6, activation="relu"), keras.layers.Dense(1)])
    model.compile(keras.optimizers.Adam(0.01), "mse")
    return model


def data():
    rng = np.random.default_rng(0)
    return rng.normal(size=(40, 4)).astype("float32"), rng.normal(size=(40, 1)).astype("float32")


def test_timer_stops_fit_at_the_batch_where_the_budget_is_spent(monkeypatch):
    x, y = data()
    clock, seen = FakeClock(monkeypatch), Batches()
    timer = Timer(duration=13.5, verbose=False)
    model = make_model()
    history = model.fit(x, y, batch_size=4, epochs=5, shuffle=False, verbose=0, callbacks=[clock, timer, seen])
    # 10 batches per epoch, 1 s each: 13.5 s are spent at the end of the 14th batch (epoch 1, batch 3)
    assert seen.seen[-1] == (1, 3) and len(seen.seen) == 14
    assert timer.expired and model.optimizer.iterations.numpy() == 14
    assert history.history["time_remaining"] == [3.5, 0.0]
    assert timer.time_remaining() == 0.0 and timer.time_elapsed() == 14.0


def test_timer_with_epoch_interval_stops_at_the_epoch_end(monkeypatch):
    x, y = data()
    clock, seen = FakeClock(monkeypatch), Batches()
    model = make_model()
    model.fit(
        x, y, batch_size=4, epochs=5, verbose=0, callbacks=[clock, Timer(13.5, interval="epoch", verbose=False), seen]
    )
    assert len(seen.seen) == 20 and seen.seen[-1] == (1, 9)


def test_a_budget_not_spent_does_not_stop_fit(monkeypatch):
    x, y = data()
    clock, timer = FakeClock(monkeypatch), Timer(datetime.timedelta(minutes=1), verbose=False)
    history = make_model().fit(x, y, batch_size=4, epochs=3, verbose=0, callbacks=[clock, timer])
    assert not timer.expired and len(history.history["loss"]) == 3
    assert history.history["time_remaining"] == [50.0, 40.0, 30.0]


@pytest.mark.parametrize("save_freq", ["epoch", 4])
def test_timer_stop_with_backup_and_restore_resumes_at_that_batch_bit_exactly(monkeypatch, tmp_path, save_freq):
    x, y = data()
    straight = make_model()
    straight.fit(x, y, batch_size=4, epochs=3, shuffle=False, verbose=0)

    first = make_model()
    backup = BackupAndRestore(str(tmp_path), save_freq=save_freq, async_save=False)  # delete_checkpoint=True
    clock = FakeClock(monkeypatch)
    first.fit(
        x, y, batch_size=4, epochs=3, shuffle=False, verbose=0, callbacks=[clock, Timer(15.0, verbose=False), backup]
    )
    assert first.optimizer.iterations.numpy() == 15
    assert list(tmp_path.iterdir()), "the checkpoints of a paused fit must be kept"

    resumed, seen = make_model(), Batches()
    callbacks = [Timer(3600.0), BackupAndRestore(str(tmp_path)), seen]  # the same script, run again
    resumed.fit(x, y, batch_size=4, epochs=3, shuffle=False, verbose=0, callbacks=callbacks)
    assert seen.seen[0] == (1, 5), "the rerun resumes at the batch after the timer's stop"
    for a, b in zip(straight.get_weights(), resumed.get_weights()):
        np.testing.assert_array_equal(a, b)
    assert not tmp_path.exists(), "a fit that ran to its end deletes its checkpoints"


def test_timer_state_is_saved_and_counts_previous_runs_only_when_asked(monkeypatch, tmp_path):
    x, y = data()
    clock = FakeClock(monkeypatch)

    def run(timer):
        seen = Batches()
        make_model().fit(
            x, y, batch_size=4, epochs=3, verbose=0,
            callbacks=[clock, timer, BackupAndRestore(str(tmp_path), async_save=False), seen],
        )  # fmt: skip
        return seen.seen

    assert len(run(Timer(12.0, verbose=False))) == 12
    # the whole budget across restarts (Lightning's): 12 s were spent, 3 s are left
    total = Timer(15.0, count_previous_runs=True, verbose=False)
    assert run(total) == [(1, 2), (1, 3), (1, 4)] and total.time_elapsed() == 15.0
    # a session budget (the default): this run gets all of its 4 s, whatever the runs before spent
    session = Timer(4.0, verbose=False)
    assert run(session) == [(1, 5), (1, 6), (1, 7), (1, 8)] and session.time_elapsed() == 4.0
    assert session.get_state() == {"elapsed": 19.0}


def test_timer_stop_with_an_input_that_cannot_be_put_back_keeps_the_epoch_checkpoint(monkeypatch, tmp_path):
    x, y = data()

    def batches():
        while True:
            for start in range(0, 40, 4):
                yield x[start : start + 4], y[start : start + 4]

    clock = FakeClock(monkeypatch)
    backup = BackupAndRestore(str(tmp_path), async_save=False)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        make_model().fit(
            batches(), steps_per_epoch=10, epochs=3, verbose=0, callbacks=[clock, Timer(15.0, verbose=False), backup]
        )
    assert any("rerun repeats this epoch" in str(w.message) for w in caught)
    seen = Batches()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        make_model().fit(
            batches(), steps_per_epoch=10, epochs=3, verbose=0, callbacks=[BackupAndRestore(str(tmp_path)), seen]
        )
    assert seen.seen[0] == (1, 0)


def test_timer_round_trips_its_config():
    timer = Timer("00:01:30:00", interval="epoch", count_previous_runs=True, verbose=False)
    again = Timer(**timer.get_config())
    assert again.get_config() == timer.get_config() and again.time_remaining() == 5400.0
    assert Timer({"hours": 1, "minutes": 30}).time_remaining() == 5400.0
    assert Timer(datetime.timedelta(seconds=90)).get_config()["duration"] == 90.0


@pytest.mark.parametrize(
    "kwargs, error, message",
    [
        (dict(duration=0), ValueError, "`duration` must be a time budget > 0; received duration=0"),
        (dict(duration=-5.0), ValueError, "`duration` must be a time budget > 0"),
        (dict(duration=float("inf")), ValueError, "`duration` must be finite"),
        (dict(duration=datetime.timedelta(0)), ValueError, "`duration` must be a time budget > 0"),
        (dict(duration="1:00"), ValueError, '`duration` as a string must be "DD:HH:MM:SS"'),
        (dict(duration={"hour": 1}), TypeError, "`duration` as a dict must hold datetime.timedelta fields"),
        (dict(duration=None), TypeError, "`duration` must be a number of seconds"),
        (dict(duration=True), TypeError, "`duration` must be a number of seconds"),
        (dict(interval="batch"), ValueError, "`interval` must be one of 'step', 'epoch'"),
        (dict(count_previous_runs=1), TypeError, "`count_previous_runs` must be True or False"),
        (dict(verbose="yes"), TypeError, "`verbose` must be True or False"),
    ],
)
def test_timer_rejects_bad_arguments(kwargs, error, message):
    arguments = dict(duration=60.0)
    arguments.update(kwargs)
    with pytest.raises(error, match=message):
        Timer(**arguments)
