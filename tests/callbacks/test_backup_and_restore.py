import io
import json
import os
import signal
import time
import warnings

import keras
import numpy as np
import pytest
import tensorflow as tf

from kerasplus.callbacks import (
    BackupAndRestore,
    CyclicLR,
    EarlyStopping,
    OneCycleLR,
    WarmupLR,
)
from tests.callbacks import _resume_script
from tests.helpers import applied_rates, rate_probe


class Interrupted(Exception):
    pass


class InterruptAt(keras.callbacks.Callback):
    """Raises once the optimizer has taken `step` steps: a crash inside fit."""

    def __init__(self, step):
        super().__init__()
        self.step = step

    def on_train_batch_end(self, batch, logs=None):
        if int(self.model.optimizer.iterations.numpy()) == self.step:
            raise Interrupted


class Steps(keras.callbacks.Callback):
    def on_train_begin(self, logs=None):
        self.seen = []

    def on_train_batch_begin(self, batch, logs=None):
        self.seen.append((self._epoch, batch))

    def on_epoch_begin(self, epoch, logs=None):
        self._epoch = epoch


def make_model(seed=1):
    keras.utils.set_random_seed(seed)
    model = keras.Sequential(
        [
            keras.Input((6,)),
            keras.layers.Dense(8, activation="relu"),
            keras.layers.Dropout(0.25),
            keras.layers.Dense(1),
        ]
    )
    model.compile(keras.optimizers.Adam(0.01), "mse", metrics=["mae"])
    return model


def data(n=40):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(n, 6)).astype("float32")
    return x, (x[:, :2].sum(axis=1, keepdims=True) ** 2).astype("float32")


def fit(model, callbacks, epochs=3, source="numpy"):
    x, y = data()
    if source == "numpy":
        kwargs = dict(x=x, y=y, batch_size=4, shuffle=True)
    else:
        kwargs = dict(x=tf.data.Dataset.from_tensor_slices((x, y)).shuffle(40, seed=5).batch(4))
    return model.fit(**kwargs, epochs=epochs, verbose=0, callbacks=callbacks)


def assert_same_weights(a, b):
    for x, y in zip(a.get_weights(), b.get_weights()):
        np.testing.assert_array_equal(x, y)


@pytest.mark.parametrize("source", ["numpy", "tfdata"])
def test_resume_mid_epoch_continues_at_the_saved_step_with_identical_weights(tmp_path, source):
    reference = make_model()
    fit(reference, [OneCycleLR(0.05)], source=source)

    backup = tmp_path / "backup"
    interrupted = make_model()
    with pytest.raises(Interrupted):  # 10 steps per epoch; saved after steps 3, 6, 9, 12; dies at 14
        fit(interrupted, [BackupAndRestore(backup, save_freq=3), OneCycleLR(0.05), InterruptAt(14)], source=source)

    resumed = make_model()
    steps = Steps()
    callback = BackupAndRestore(backup, save_freq=3)
    history = fit(resumed, [OneCycleLR(0.05), callback, steps], source=source)
    assert callback.restored_from.endswith("ckpt-00000003.npz")
    assert steps.seen[0] == (1, 2)  # global step 12 = epoch 1, step 2
    assert len(steps.seen) == 30 - 12
    assert len(history.history["loss"]) == 2
    assert_same_weights(resumed, reference)
    assert not backup.exists()  # delete_checkpoint=True once fit completed


def test_epoch_loss_of_the_resumed_epoch_counts_the_batches_before_the_kill(tmp_path):
    reference = make_model()
    expected = fit(reference, []).history
    interrupted = make_model()
    with pytest.raises(Interrupted):
        fit(interrupted, [BackupAndRestore(tmp_path, save_freq=5, delete_checkpoint=False), InterruptAt(17)])
    resumed = make_model()
    got = fit(resumed, [BackupAndRestore(tmp_path, save_freq=5)]).history
    np.testing.assert_allclose(got["loss"], expected["loss"][1:], rtol=1e-6)
    np.testing.assert_allclose(got["mae"], expected["mae"][1:], rtol=1e-6)


def snapshot(others, model):
    stop, plateau, ours = others
    return {
        "stop": (stop.wait, stop.best, stop.best_epoch),
        "best_weights": stop.best_weights,
        "plateau": (plateau.best, plateau.wait, plateau.cooldown_counter),
        "lr": float(model.optimizer.learning_rate.numpy()),
        "ours": ours.get_state(),
    }


@pytest.mark.parametrize("first", [True, False])
def test_keras_early_stopping_and_reduce_lr_state_survive_in_either_order(tmp_path, first):
    def callbacks():
        backup = BackupAndRestore(tmp_path)
        stop = keras.callbacks.EarlyStopping(monitor="loss", patience=50, restore_best_weights=True)
        plateau = keras.callbacks.ReduceLROnPlateau(monitor="loss", patience=1, factor=0.5, min_delta=1.0)
        ours = EarlyStopping(monitor="loss", criterion="up", alpha=3, strip_length=1)
        others = [stop, plateau, ours]
        return others, ([backup, *others] if first else [*others, backup])

    saved = {}

    class Record(keras.callbacks.Callback):  # last in the list: sees epoch 1 after everyone
        def on_epoch_end(self, epoch, logs=None):
            if epoch == 1:
                saved.update(snapshot(others, self.model))

    others, listed = callbacks()
    with pytest.raises(Interrupted):  # in epoch 2, after the end of epoch 1 was saved
        fit(make_model(), [*listed, Record(), InterruptAt(21)])
    # Fresh callbacks hold None/0 here (on_train_begin resets them): restoring is visible.
    assert saved["stop"][1] is not None and saved["plateau"][0] is not None and saved["lr"] < 0.01

    restored = {}

    class Probe(keras.callbacks.Callback):
        def on_epoch_begin(self, epoch, logs=None):
            restored.update(snapshot(others, self.model), epoch=epoch)
            self.model.stop_training = True

    others, listed = callbacks()
    fit(make_model(), [*listed, Probe()])
    assert restored.pop("epoch") == 2
    for a, b in zip(restored.pop("best_weights"), saved.pop("best_weights")):
        np.testing.assert_array_equal(a, b)
    assert restored == saved


def test_corrupt_latest_checkpoint_falls_back_to_the_previous_with_a_warning(tmp_path):
    first = BackupAndRestore(tmp_path, keep=3)
    with pytest.raises(Interrupted):
        fit(make_model(), [first, InterruptAt(31)], epochs=4)
    first.wait()  # fit died of an exception: the write in flight goes on
    names = sorted(os.listdir(tmp_path))
    assert names == ["ckpt-00000000.npz", "ckpt-00000001.npz", "ckpt-00000002.npz"]
    latest = tmp_path / names[-1]
    latest.write_bytes(latest.read_bytes()[:200])  # a torn write
    callback = BackupAndRestore(tmp_path, delete_checkpoint=False)
    with pytest.warns(UserWarning, match="ckpt-00000002.npz is corrupt"):
        history = fit(make_model(), [callback], epochs=4)
    assert callback.restored_from.endswith(names[1])
    assert len(history.history["loss"]) == 2  # resumed at epoch 2 of 4
    # New checkpoints get new numbers; the two newest (good) ones are kept.
    assert sorted(os.listdir(tmp_path)) == ["ckpt-00000003.npz", "ckpt-00000004.npz"]


def test_checkpoint_of_a_different_model_names_the_variable(tmp_path):
    with pytest.raises(Interrupted):
        fit(make_model(), [BackupAndRestore(tmp_path), InterruptAt(12)])
    keras.utils.set_random_seed(1)
    other = keras.Sequential(
        [keras.Input((6,)), keras.layers.Dense(9, activation="relu"), keras.layers.Dropout(0.25), keras.layers.Dense(1)]
    )
    other.compile(keras.optimizers.Adam(0.01), "mse", metrics=["mae"])
    with pytest.raises(
        ValueError, match=r"different model: model variable #0 is .*kernel \(6, 8\) there and .*kernel \(6, 9\) here"
    ):
        fit(other, [BackupAndRestore(tmp_path)])
    assert sorted(os.listdir(tmp_path)) == ["ckpt-00000000.npz"]  # nothing overwritten


def test_unwritable_directory_is_rejected_at_construction(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    with pytest.raises(ValueError, match="backup_dir"):
        BackupAndRestore(blocker / "backup")


def test_only_the_last_n_checkpoints_are_kept_and_no_temporary_files(tmp_path):
    fit(make_model(), [BackupAndRestore(tmp_path, save_freq=2, keep=2, delete_checkpoint=False)])
    assert sorted(os.listdir(tmp_path)) == ["ckpt-00000013.npz", "ckpt-00000014.npz"]


def test_no_checkpoint_is_written_with_non_finite_weights(tmp_path):
    class Poison(keras.callbacks.Callback):
        def on_train_batch_end(self, batch, logs=None):
            if int(self.model.optimizer.iterations.numpy()) == 4:
                kernel = self.model.layers[0].kernel
                kernel.assign(np.full(kernel.shape, np.nan, "float32"))

    with pytest.warns(UserWarning, match="not saving .* NaN or inf"):
        fit(
            make_model(),
            [Poison(), BackupAndRestore(tmp_path, save_freq=2, keep=50, delete_checkpoint=False)],
            epochs=1,
        )
    names = sorted(os.listdir(tmp_path))
    assert names == ["ckpt-00000000.npz"]  # saved at step 2; steps 4, 6, 8, 10 had NaN weights
    with np.load(tmp_path / names[0]) as saved:
        assert all(np.all(np.isfinite(saved[k])) for k in saved.files if k.startswith("model/"))


@pytest.mark.parametrize(
    "kwargs,error,name",
    [
        (dict(save_freq=0), ValueError, "save_freq"),
        (dict(save_freq="batch"), ValueError, "save_freq"),
        (dict(save_freq=2.5), TypeError, "save_freq"),
        (dict(keep=0), ValueError, "keep"),
        (dict(delete_checkpoint="yes"), TypeError, "delete_checkpoint"),
        (dict(async_save=1), TypeError, "async_save"),
    ],
)
def test_bad_arguments_are_rejected_by_name(tmp_path, kwargs, error, name):
    with pytest.raises(error, match=name):
        BackupAndRestore(tmp_path, **kwargs)
    with pytest.raises(ValueError, match="backup_dir"):
        BackupAndRestore("")


def test_get_config_returns_the_constructor_arguments(tmp_path):
    config = dict(
        backup_dir=str(tmp_path),
        save_freq=7,
        double_checkpoint=True,
        delete_checkpoint=False,
        keep=3,
        save_on_signals=[int(signal.SIGINT)],
        async_save=False,
    )
    assert BackupAndRestore(**config).get_config() == config


def test_generator_input_is_checkpointed_at_epoch_ends_with_a_warning(tmp_path):
    x, y = data()

    def batches():
        while True:
            for i in range(0, 40, 4):
                yield x[i : i + 4], y[i : i + 4]

    model = make_model()
    with pytest.warns(UserWarning, match="epoch ends only"):
        model.fit(
            batches(),
            steps_per_epoch=10,
            epochs=2,
            verbose=0,
            callbacks=[BackupAndRestore(tmp_path, save_freq=3, delete_checkpoint=False)],
        )
    assert sorted(os.listdir(tmp_path)) == ["ckpt-00000000.npz", "ckpt-00000001.npz"]


@pytest.mark.slow
def test_sigkilled_training_resumes_bit_identical(tmp_path):
    rng = np.random.default_rng()
    kills = sorted(rng.choice(np.arange(2, 32), size=3, replace=False).tolist())  # 3 epochs x 11 steps
    reference = _resume_script.start(tmp_path / "reference", backup="none")
    try:
        weights, landed, crashes = _resume_script.run_with_kills(tmp_path / "killed", kills, backup="ours", timeout=600)
        _resume_script.finish(reference, timeout=300)
    finally:
        if reference.poll() is None:
            reference.kill()
            reference.wait(timeout=10)
    assert (landed, crashes) == (3, 0), f"kill steps {kills}"
    expected = _resume_script.final_weights(tmp_path / "reference")
    for got, want in zip(weights, expected):
        assert np.array_equal(got, want), f"kill steps {kills}"


@pytest.mark.parametrize(
    "make_callback",
    [
        lambda: OneCycleLR(0.4, cycle_momentum=False),
        lambda: CyclicLR(0.01, 0.3, step_size_up=5, cycle_momentum=False),
        lambda: WarmupLR(warmup_steps=12),
    ],
    ids=["OneCycleLR", "CyclicLR", "WarmupLR"],
)
def test_schedule_callbacks_continue_their_curve_after_a_mid_epoch_resume(tmp_path, make_callback):
    steps = 8
    reference, x, y = rate_probe(steps)
    reference.fit(x, y, batch_size=1, epochs=3, shuffle=False, verbose=0, callbacks=[make_callback()])

    interrupted, _, _ = rate_probe(steps)
    with pytest.raises(Interrupted):  # saved after global step 9 = epoch 1, step 1
        interrupted.fit(
            x,
            y,
            batch_size=1,
            epochs=3,
            shuffle=False,
            verbose=0,
            callbacks=[make_callback(), BackupAndRestore(tmp_path, save_freq=3), InterruptAt(11)],
        )
    resumed, _, _ = rate_probe(steps)
    callback = make_callback()
    resumed.fit(
        x, y, batch_size=1, epochs=3, shuffle=False, verbose=0, callbacks=[BackupAndRestore(tmp_path), callback]
    )
    assert callback.get_state()["first_step"] == 0
    np.testing.assert_allclose(applied_rates(resumed), applied_rates(reference), rtol=1e-6)


def test_the_same_callback_serves_a_second_fit(tmp_path):
    # The first fit deletes its checkpoints and the directory when it ends;
    # the second writes there again (it crashed here before: no directory).
    backup = BackupAndRestore(tmp_path / "backup", save_freq=3)
    model = make_model()
    fit(model, [backup], epochs=1)
    assert not (tmp_path / "backup").exists()
    with pytest.raises(Interrupted):
        fit(model, [backup, InterruptAt(10 + 4)], epochs=1)
    backup.wait()
    assert sorted(p.name for p in (tmp_path / "backup").iterdir()) == ["ckpt-00000000.npz"]


class FakeTwoWorkers:
    """`agree`'s view of a strategy: this worker and one other, one replica each."""

    num_replicas_in_sync = 2

    def __init__(self, other_keys, other_failed=False):
        from kerasplus.callbacks._worker_agreement import pack

        self.other = tf.constant(pack(other_keys, other_failed), tf.int64)

    def experimental_distribute_values_from_function(self, function):
        return function(None)

    def gather(self, value, axis):
        return tf.concat([value, self.other], axis=axis)


@pytest.mark.parametrize(
    "mine, theirs, common",
    [
        ([7, 5, 3], [5, 3], {5, 3}),
        ([7], [5], set()),
        ([], [5], set()),
        ([5, 5], [], set()),  # a key twice on one worker is not "on every worker"
    ],
)
def test_workers_agree_on_the_keys_all_of_them_hold(mine, theirs, common):
    from kerasplus.callbacks._worker_agreement import agree

    assert agree(FakeTwoWorkers(theirs), mine, failed=False) == (common, False)


@pytest.mark.parametrize("mine_failed, theirs_failed", [(True, False), (False, True), (True, True)])
def test_a_failure_on_any_worker_reaches_every_worker(mine_failed, theirs_failed):
    from kerasplus.callbacks._worker_agreement import agree

    assert agree(FakeTwoWorkers([3], theirs_failed), [3], failed=mine_failed)[1] is True


def test_multi_worker_is_only_a_multi_worker_strategy():
    from kerasplus.callbacks._worker_agreement import multi_worker_task

    assert multi_worker_task(None) is None
    assert multi_worker_task(tf.distribute.get_strategy()) is None
    assert multi_worker_task(tf.distribute.OneDeviceStrategy("/cpu:0")) is None


def test_stores_of_two_workers_sharing_a_directory_clean_up_in_any_order(tmp_path):
    from kerasplus.callbacks._checkpoint_store import CheckpointStore

    parent = CheckpointStore(tmp_path / "shared", keep=2)
    a, b = (CheckpointStore(tmp_path / "shared" / name, keep=2) for name in ("worker-0", "worker-1"))
    for store in (a, b):
        store.write({"x": np.zeros(1)}, {"epoch": 0, "step": 1})
    a.delete_all()
    parent.remove_if_empty()  # worker-1's folder is still there: kept
    assert (tmp_path / "shared").exists()
    b.delete_all()
    parent.remove_if_empty()
    assert not (tmp_path / "shared").exists()
    a.delete_all()  # late: the directory is gone, nothing to do
    parent.remove_if_empty()
    assert a.latest() is None


def test_discarding_a_timeline_that_was_not_resumed(tmp_path):
    from kerasplus.callbacks._checkpoint_store import CheckpointStore

    store = CheckpointStore(tmp_path, keep=3)
    paths = [store.write({"x": np.full(1, i)}, {"epoch": 0, "step": i}) for i in range(3)]
    store.discard_newer_than(paths[0])
    assert store.checkpoint_names() == ["ckpt-00000000.npz"]
    assert os.path.basename(store.write({"x": np.zeros(1)}, {"epoch": 0, "step": 9})) == "ckpt-00000001.npz"


@pytest.mark.skipif(not hasattr(os, "posix_fadvise"), reason="posix_fadvise is POSIX-only (Linux CI has it)")
def test_a_written_checkpoint_is_dropped_from_the_page_cache_after_its_fsync(tmp_path, monkeypatch):
    from kerasplus.callbacks._checkpoint_store import CheckpointStore

    calls, real_fsync = [], os.fsync

    def fsync(fd):
        calls.append(("fsync", os.fstat(fd).st_size))
        real_fsync(fd)

    monkeypatch.setattr(os, "fsync", fsync)
    monkeypatch.setattr(os, "posix_fadvise", lambda fd, *args: calls.append(("fadvise", os.fstat(fd).st_size, args)))
    path = CheckpointStore(tmp_path, keep=2).write({"x": np.arange(1000.0)}, {"epoch": 0, "step": 1})
    size = os.path.getsize(path)
    assert calls[:2] == [("fsync", size), ("fadvise", size, (0, 0, os.POSIX_FADV_DONTNEED))]


def test_a_single_process_run_says_it_does_not_resume_a_multi_worker_runs_checkpoints(tmp_path):
    from kerasplus.callbacks._checkpoint_store import CheckpointStore

    CheckpointStore(tmp_path / "backup" / "worker-0", keep=2).write({"x": np.zeros(1)}, {"epoch": 1, "step": 0})
    model = make_model()
    with pytest.warns(UserWarning, match=r"holds checkpoints of a multi-worker run \(worker-0\)"):
        fit(model, [BackupAndRestore(tmp_path / "backup")], epochs=1)
    assert (tmp_path / "backup" / "worker-0" / "ckpt-00000000.npz").exists()  # left alone


def test_a_zero_dimensional_array_in_a_callback_state_round_trips_with_its_dtype():
    from kerasplus.callbacks import _callback_state

    arrays = {}
    encoded = _callback_state.encode({"count": np.asarray(np.int64(7)), "scale": np.float32(0.5)}, "c", arrays)
    decoded = _callback_state.decode(encoded, arrays)
    assert decoded["count"].shape == () and decoded["count"].dtype == np.int64 and int(decoded["count"]) == 7
    assert decoded["scale"] == 0.5


def test_a_model_with_a_normalization_layer_resumes_with_its_best_weights(tmp_path):
    # Normalization's `count` weight is a 0-d array: the encoder recursed on it forever.
    x, y = data()

    def normalized_model():
        keras.utils.set_random_seed(1)
        norm = keras.layers.Normalization()
        norm.adapt(x)
        model = keras.Sequential(
            [keras.Input((6,)), norm, keras.layers.Dense(4, activation="relu"), keras.layers.Dense(1)]
        )
        model.compile(keras.optimizers.Adam(0.01), "mse")
        return model

    def callbacks():
        stop = keras.callbacks.EarlyStopping(monitor="loss", patience=50, restore_best_weights=True)
        return stop, [BackupAndRestore(tmp_path), stop]

    saved = {}

    class Record(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            if epoch == 1:
                saved["best_weights"] = [np.array(w) for w in stop.best_weights]

    stop, listed = callbacks()
    with pytest.raises(Interrupted):  # in epoch 2, after the end of epoch 1 was saved
        normalized_model().fit(x, y, batch_size=4, epochs=3, verbose=0, callbacks=[*listed, Record(), InterruptAt(21)])
    assert any(w.shape == () for w in saved["best_weights"])

    restored = {}

    class Probe(keras.callbacks.Callback):
        def on_epoch_begin(self, epoch, logs=None):
            restored["epoch"] = epoch
            restored["best_weights"] = [np.array(w) for w in stop.best_weights]
            self.model.stop_training = True

    stop, listed = callbacks()
    normalized_model().fit(x, y, batch_size=4, epochs=3, verbose=0, callbacks=[*listed, Probe()])
    assert restored["epoch"] == 2
    assert len(restored["best_weights"]) == len(saved["best_weights"])
    for got, want in zip(restored["best_weights"], saved["best_weights"]):
        assert got.shape == want.shape and got.dtype == want.dtype
        np.testing.assert_array_equal(got, want)


def test_multi_worker_restore_reads_each_checkpoint_file_once(tmp_path, monkeypatch):
    from kerasplus.callbacks import _worker_agreement
    from kerasplus.callbacks._checkpoint_store import CheckpointStore

    # This process plays worker 0 of two; the other worker is FakeTwoWorkers.
    other_keys = []
    real_agree = _worker_agreement.agree
    monkeypatch.setattr(_worker_agreement, "multi_worker_task", lambda strategy: ("worker", 0))
    monkeypatch.setattr(
        _worker_agreement, "agree", lambda strategy, keys, failed: real_agree(FakeTwoWorkers(other_keys), keys, failed)
    )
    first = BackupAndRestore(tmp_path, save_freq=3, keep=3)
    with pytest.raises(Interrupted):  # 10 steps per epoch: saved after steps 3, 6, 9, 12 (3 kept); dies at 14
        fit(make_model(), [first, InterruptAt(14)])
    first.wait()
    folder = tmp_path / "worker-0"
    names = sorted(os.listdir(folder))
    assert names == ["ckpt-00000001.npz", "ckpt-00000002.npz", "ckpt-00000003.npz"]
    # The other worker has the two older ones only: worker 0 resumes from ckpt-2 and drops ckpt-3.
    other_keys[:] = [_worker_agreement.checkpoint_key(CheckpointStore.read(str(folder / n)).meta) for n in names[:2]]

    from kerasplus.callbacks import _checkpoint_store

    opened = []
    real_read = _checkpoint_store._read_verified

    def counting_read(path, *args, **kwargs):
        opened.append(os.path.basename(os.fspath(path)))
        return real_read(path, *args, **kwargs)

    monkeypatch.setattr(_checkpoint_store, "_read_verified", counting_read)
    callback = BackupAndRestore(tmp_path, save_freq=3, keep=3)
    with warnings.catch_warnings(record=True) as caught, pytest.raises(Interrupted):
        warnings.simplefilter("always")
        fit(make_model(), [callback, InterruptAt(10)])  # resumed at step 9: stops after one step
    assert any("the newest checkpoint every worker has" in str(w.message) for w in caught)
    assert callback.restored_from == str(folder / "ckpt-00000002.npz")
    assert sorted(opened) == names  # each candidate read once, the chosen one not again


# ---------------------------------------------------------------- a restore that trusts nothing


def tiny_checkpoints(directory):
    """Two epoch-end checkpoints of a 3 -> 2 Dense model (a few KB each): (model, older path, newest path)."""
    keras.utils.set_random_seed(2)
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2)])
    model.compile(keras.optimizers.SGD(0.1), "mse")
    x = np.random.default_rng(0).normal(size=(8, 3)).astype("float32")
    model.fit(
        x, x[:, :2], batch_size=4, epochs=2, verbose=0, callbacks=[BackupAndRestore(directory, delete_checkpoint=False)]
    )
    older, newest = (str(directory / name) for name in sorted(os.listdir(directory)))
    return model, older, newest


def restore_outcome(store, verifier, expected):
    """Which checkpoint the store hands to a restore, checked against what was saved: 'newest' or 'older'."""
    from kerasplus.callbacks._checkpoint_store import CheckpointStore

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        checkpoint = store.latest(verifier)
    name = os.path.basename(checkpoint.path)
    saved = CheckpointStore.read(expected[name]) if isinstance(expected[name], str) else expected[name]
    assert checkpoint.meta == saved.meta, f"{name}: header differs from what was saved"
    assert set(checkpoint.arrays) == set(saved.arrays)
    for key, value in saved.arrays.items():
        got = checkpoint.arrays[key]
        assert got.dtype == value.dtype and got.shape == value.shape and np.array_equal(got, value, equal_nan=True), key
    return name


def test_every_bit_flip_of_a_checkpoint_is_caught_or_harmless(tmp_path):
    """Flips bits of a checkpoint of a tiny model (a 13 KB file, 10 members) and reads it back verified.

    Flipped: every bit of the zip central directory and end record (the last
    ~700 bytes), every bit of the first member's zip and npy headers (200
    bytes), one bit (rotating) of each byte of the other members' headers
    (200 bytes each), one bit of every 11th byte of the rest (data, the JSON
    header): about 10,000 flips (the count is asserted). Each must be refused
    (`CheckpointRejected`, so the restore falls back to the one before: see
    the hand-made cases below) or read back exactly what was saved; no other
    error escapes.
    """
    import zipfile

    from kerasplus.callbacks import _training_state
    from kerasplus.callbacks._checkpoint_store import CheckpointRejected, CheckpointStore

    model, _, newest = tiny_checkpoints(tmp_path / "made")
    original = open(newest, "rb").read()
    saved = CheckpointStore.read(newest)
    with zipfile.ZipFile(newest) as archive:
        starts = sorted(info.header_offset for info in archive.infolist())
        directory = archive.start_dir
    size = len(original)
    flips = {(i, b) for i in range(directory, size) for b in range(8)}
    flips |= {(i, b) for i in range(starts[0], starts[0] + 200) for b in range(8)}
    flips |= {(i, i % 8) for start in starts[1:] for i in range(start, start + 200)}
    flips |= {(i, i % 8) for i in range(0, directory, 11)}
    verifier = _training_state.Verifier(model, epochs=2)
    target = tmp_path / "ckpt-00000001.npz"
    refused = 0
    for index, bit in sorted(flips):
        flipped = bytearray(original)
        flipped[index] ^= 1 << bit
        target.write_bytes(flipped)
        where = f"byte {index} bit {bit}"
        try:
            checkpoint = CheckpointStore.read(target, verifier.headers)
            verifier.content(checkpoint)
        except CheckpointRejected:
            refused += 1
            continue
        except Exception as error:
            raise AssertionError(f"{where}: uncaught {type(error).__name__}: {error}") from None
        assert checkpoint.meta == saved.meta, f"{where}: wrong restore (header)"
        assert set(checkpoint.arrays) == set(saved.arrays), f"{where}: wrong restore (arrays)"
        for key, value in saved.arrays.items():
            got = checkpoint.arrays[key]
            assert got.dtype == value.dtype and got.shape == value.shape, f"{where}: wrong restore ({key})"
            assert np.array_equal(got, value), f"{where}: wrong restore ({key})"
    assert len(flips) > 8000, len(flips)
    assert refused > 0.7 * len(flips)  # the rest flipped what zip readers ignore (times, versions, attributes)


def _forge(path, mutate):
    """Rewrites checkpoint `path` changed by ``mutate(arrays, meta)``, with valid checksums (a hand-made file)."""
    import copy

    from kerasplus.callbacks._checkpoint_store import CheckpointStore

    saved = CheckpointStore.read(path)
    arrays, meta = dict(saved.arrays), copy.deepcopy(saved.meta)
    del meta["arrays"]
    mutate(arrays, meta)
    CheckpointStore(os.path.dirname(path), keep=2).write(arrays, meta, replace=path)


def _raw(path, members):
    """Writes `members` as an uncompressed zip, with a valid checksum of ``__meta__`` (bytes: the JSON).

    A bytearray member is written as is (a hand-made npy header); an array through numpy.
    """
    import hashlib
    import io
    import zipfile

    meta = members["__meta__"]
    members = dict(members, __digest__=np.frombuffer(hashlib.sha256(meta).digest(), np.uint8))
    with zipfile.ZipFile(path, "w", zipfile.ZIP_STORED) as archive:
        for name, value in members.items():
            buffer = io.BytesIO()
            if isinstance(value, bytes):
                value = np.frombuffer(value, np.uint8)
            value = bytes(value) if isinstance(value, bytearray) else value
            if isinstance(value, np.ndarray):
                np.lib.format.write_array(buffer, value)
                value = buffer.getvalue()
            archive.writestr(name + ".npy", value)


def _huge_header(path):
    header = {"descr": "<f4", "fortran_order": False, "shape": (10**10,)}
    buffer = io.BytesIO()
    np.lib.format.write_array_header_1_0(buffer, header)
    meta = json.dumps({"format": 2, "arrays": {"model/0": [[10**10], "<f4", "0" * 64]}}).encode()
    _raw(path, {"__meta__": meta, "model/0": bytearray(buffer.getvalue() + b"\0" * 64)})


def _set(key, value):
    return lambda arrays, meta: meta.__setitem__(key, value)


MALFORMED = {
    "no variables": (lambda arrays, meta: meta.pop("variables"), "no variables"),
    "an array missing": (lambda arrays, meta: arrays.pop("model/1"), "array is missing"),
    "a bad RNG state": (lambda arrays, meta: meta["python_rng"][1].__setitem__(3, "x"), "random state"),
    "a bad NumPy RNG key": (lambda arrays, meta: arrays.__setitem__("rng/numpy", arrays["rng/numpy"][:5]), "random"),
    "string weights": (lambda arrays, meta: arrays.__setitem__("model/0", arrays["model/0"].astype("U8")), "numeric"),
    "a shape unlike the model's": (
        lambda arrays, meta: arrays.__setitem__("model/0", arrays["model/0"].T.copy()),
        r"\(2, 3\) in the file",
    ),
    "NaN weights": (lambda arrays, meta: arrays["model/0"].__setitem__((0, 0), np.nan), "NaN"),
    "epoch=1e12 (a float)": (_set("epoch", 1e12), "not counts"),
    "epoch 10**12": (_set("epoch", 10**12), "this fit has 2 epochs"),
    "a step beyond the epoch": (lambda arrays, meta: meta.update(epoch=1, step=2), "step 2 of an epoch of 2 steps"),
    "format 1": (_set("format", 1), "format 1"),
    "a callback state without its array": (
        lambda arrays, meta: meta["callbacks"].append({"key": "k", "class": "K", "state": {"__array__": "gone"}}),
        "missing array",
    ),
}


@pytest.mark.parametrize("case", [*MALFORMED, "a JSON list as header", "1e10 elements claimed"])
def test_a_hand_made_checkpoint_is_skipped_with_the_file_and_the_reason(tmp_path, case):
    import hashlib

    from kerasplus.callbacks import _training_state
    from kerasplus.callbacks._checkpoint_store import CheckpointStore

    model, older, newest = tiny_checkpoints(tmp_path)
    if case == "a JSON list as header":
        _raw(newest, {"__meta__": b"[1, 2, 3]"})
        reason = "not an object"
    elif case == "1e10 elements claimed":
        _huge_header(newest)
        reason = "claims shape"
    else:
        mutate, reason = MALFORMED[case]
        _forge(newest, mutate)
    expected = CheckpointStore.read(older)
    with pytest.warns(UserWarning, match=rf"ckpt-00000001.npz is corrupt or unusable \(.*{reason}"):
        checkpoint = CheckpointStore(tmp_path, keep=2).latest(_training_state.Verifier(model, epochs=2))
    assert checkpoint.path == older
    for key, value in expected.arrays.items():
        assert np.array_equal(checkpoint.arrays[key], value)
    assert hashlib.sha256  # the forged files pass the checksums: only the checks above refuse them


def test_fit_resumes_from_the_previous_checkpoint_when_the_newest_is_hand_made(tmp_path):
    first = BackupAndRestore(tmp_path, keep=3)
    with pytest.raises(Interrupted):
        fit(make_model(), [first, InterruptAt(21)])  # epoch ends 1 and 2 saved
    first.wait()
    _forge(str(tmp_path / "ckpt-00000001.npz"), _set("epoch", 10**12))
    callback = BackupAndRestore(tmp_path)
    with pytest.warns(UserWarning, match="ckpt-00000001.npz is corrupt or unusable"):
        history = fit(make_model(), [callback])
    assert callback.restored_from.endswith("ckpt-00000000.npz")
    assert len(history.history["loss"]) == 2


# ---------------------------------------------------------------- termination signals


def _sigterm_run(tmp_path, kills):
    reference = _resume_script.start(tmp_path / "reference", backup="none")
    lost = []
    try:
        weights, landed, _ = _resume_script.run_with_kills(
            tmp_path / "killed", kills, backup="ours", timeout=600, sig=signal.SIGTERM, lost=lost
        )
        _resume_script.finish(reference, timeout=300)
    finally:
        if reference.poll() is None:
            reference.kill()
            reference.wait(timeout=10)
    expected = _resume_script.final_weights(tmp_path / "reference")
    assert landed == len(kills) and lost == [0] * landed, f"signal steps {kills}: lost {lost}"
    for got, want in zip(weights, expected):
        assert np.array_equal(got, want), f"signal steps {kills}"


def test_sigterm_twice_saves_at_the_next_step_and_resumes_bit_identical(tmp_path):
    _sigterm_run(tmp_path, [5, 16])  # 3 epochs x 11 steps; save_freq=4: neither is a regular save


@pytest.mark.slow
def test_sigterm_at_ten_random_steps_loses_no_step_and_resumes_bit_identical(tmp_path):
    kills = sorted(np.random.default_rng().choice(np.arange(1, 32), size=10, replace=False).tolist())
    _sigterm_run(tmp_path, kills)


class SignalAt(keras.callbacks.Callback):
    def __init__(self, step, signum=signal.SIGTERM):
        super().__init__()
        self.step, self.signum = step, signum

    def on_train_batch_end(self, batch, logs=None):
        if int(self.model.optimizer.iterations.numpy()) == self.step:
            os.kill(os.getpid(), self.signum)


@pytest.mark.parametrize("step, saved_at", [(13, (1, 3)), (10, (1, 0))])  # mid-epoch; last step: after validation
def test_a_signal_saves_at_the_batch_boundary_and_raises_preempted(tmp_path, step, saved_at):
    from kerasplus.callbacks import Preempted
    from kerasplus.callbacks._checkpoint_store import CheckpointStore

    before = signal.getsignal(signal.SIGTERM)
    with pytest.raises(Preempted) as raised:
        fit(make_model(), [BackupAndRestore(tmp_path, save_freq=4), SignalAt(step)])
    assert isinstance(raised.value, SystemExit) and raised.value.code == 143
    meta = CheckpointStore.read(raised.value.checkpoint).meta
    assert (meta["epoch"], meta["step"]) == saved_at
    assert signal.getsignal(signal.SIGTERM) is before  # put back


def test_signal_handlers_are_put_back_after_fit_and_not_installed_off_the_main_thread(tmp_path):
    import threading

    before = signal.getsignal(signal.SIGUSR1)
    seen = []

    class Look(keras.callbacks.Callback):
        def on_epoch_begin(self, epoch, logs=None):
            seen.append(signal.getsignal(signal.SIGUSR1))

    fit(make_model(), [BackupAndRestore(tmp_path, save_on_signals=(signal.SIGUSR1,)), Look()], epochs=1)
    assert seen[0] is not before and signal.getsignal(signal.SIGUSR1) is before
    caught = []

    def in_a_thread():
        with warnings.catch_warnings(record=True) as found:
            warnings.simplefilter("always")
            fit(make_model(), [BackupAndRestore(tmp_path / "t", save_on_signals=(signal.SIGUSR1,)), Look()], epochs=1)
        caught.extend(str(w.message) for w in found)

    thread = threading.Thread(target=in_a_thread)
    thread.start()
    thread.join(timeout=120)
    assert seen[-1] is before and any("outside the main thread" in m for m in caught)


@pytest.mark.parametrize(
    "value, error", [((signal.SIGKILL,), ValueError), ((99999,), ValueError), (("TERM",), TypeError), (15, TypeError)]
)
def test_bad_save_on_signals_is_rejected_by_name(tmp_path, value, error):
    with pytest.raises(error, match="save_on_signals"):
        BackupAndRestore(tmp_path, save_on_signals=value)


def test_a_c_level_handler_that_python_cannot_see_is_put_back_after_fit(tmp_path):
    # TensorFlow installs such a SIGTERM handler with MultiWorkerMirroredStrategy; faulthandler is another.
    import faulthandler

    from kerasplus.callbacks._preemption import _raw_sigaction

    with open(tmp_path / "dump", "w+") as dump:
        faulthandler.register(signal.SIGUSR2, file=dump, chain=False)
        try:

            def handler():  # the function pointer: the head of struct sigaction (the rest of its mask is unset)
                return _raw_sigaction(signal.SIGUSR2)[:8]

            before = handler()
            assert signal.getsignal(signal.SIGUSR2) == signal.SIG_DFL  # Python does not see it
            seen = []

            class Look(keras.callbacks.Callback):
                def on_epoch_begin(self, epoch, logs=None):
                    seen.append(handler())

            backup = BackupAndRestore(tmp_path / "b", save_on_signals=(signal.SIGUSR2,))
            fit(make_model(), [backup, Look()], epochs=1)
            assert seen[0] != before and handler() == before
            os.kill(os.getpid(), signal.SIGUSR2)  # reaches faulthandler again: it writes the traceback
            time.sleep(0.05)
            dump.seek(0)
            assert "test_backup_and_restore.py" in dump.read()
        finally:
            faulthandler.unregister(signal.SIGUSR2)


class _Store:
    """An in-memory stand-in for the coordination service's key-value store."""

    def __init__(self):
        import threading

        self.values = {}
        self.changed = threading.Condition()

    def insert(self, key, value):
        with self.changed:
            if key in self.values:
                return False
            self.values[key] = value
            self.changed.notify_all()
            return True

    def get(self, key, timeout_s):
        with self.changed:
            self.changed.wait_for(lambda: key in self.values, timeout=timeout_s)
            return self.values.get(key)


def _lockstep(signals_at, boundaries=12, tasks=("worker-0", "worker-1"), fit_id=0, store=None):
    """Workers in threads, each step a barrier (the gradient all-reduce); returns each one's (boundary, signal) stop."""
    import random
    import threading

    from kerasplus.callbacks._stop_agreement import StopAgreement

    store = store or _Store()
    workers = len(signals_at)
    step = threading.Barrier(workers, timeout=30)
    stops = [None] * workers

    def worker(index):
        agreement = StopAgreement(store, tasks[index], tasks, fit_id=fit_id)
        try:
            for boundary in range(1, boundaries + 1):
                step.wait()
                time.sleep(random.random() * 0.004)  # workers reach their boundaries at different times
                at = signals_at[index]
                received = signal.SIGTERM if at is not None and boundary >= at else None
                signum = agreement.at_boundary(boundary, received)
                if signum is not None:
                    stops[index] = (boundary, signum)
                    return
        finally:
            agreement.close()

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(workers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not any(thread.is_alive() for thread in threads)
    return stops


@pytest.mark.parametrize(
    "signals_at, stop",
    [((3, None), 4), ((None, 5), 6), ((4, 4), 5), ((2, 7), 3), ((1, None), 2)],
)
def test_every_worker_stops_at_the_boundary_after_the_first_signalled_one(signals_at, stop):
    for _ in range(5):  # the threads' timings differ every time
        assert _lockstep(signals_at) == [(stop, signal.SIGTERM)] * 2


def test_a_signal_in_the_last_step_stops_no_worker_and_nothing_waits():
    started = time.monotonic()
    assert _lockstep((12, None), boundaries=12) == [None, None]
    assert time.monotonic() - started < 5  # the signalled worker did not wait for acknowledgements that never come


def test_a_worker_that_never_acknowledges_makes_the_signalled_one_stop_at_once(monkeypatch, caplog):
    from kerasplus.callbacks import _stop_agreement

    monkeypatch.setattr(_stop_agreement, "ACK_TIMEOUT_S", 0.3)
    tasks = ("worker-0", "worker-1", "worker-2")  # worker-2 is gone
    with caplog.at_level("WARNING", logger="kerasplus.callbacks"):
        assert _lockstep((3,), tasks=tasks) == [(3, signal.SIGTERM)]
    assert "worker-2 did not acknowledge" in caplog.text


def test_each_fit_agrees_under_its_own_keys():
    store = _Store()
    assert _lockstep((3, None), fit_id=0, store=store) == [(4, signal.SIGTERM)] * 2
    assert _lockstep((None, 6), fit_id=1, store=store) == [(7, signal.SIGTERM)] * 2
    assert _lockstep((None, None), fit_id=2, store=store) == [None, None]


def test_the_waiting_thread_of_a_fit_that_died_ends_when_the_worker_starts_another_fit():
    from kerasplus.callbacks._stop_agreement import StopAgreement

    store = _Store()
    stale = StopAgreement(store, "worker-0", ("worker-0",), fit_id=10)  # its fit raised: never closed
    fresh = StopAgreement(store, "worker-0", ("worker-0",), fit_id=11)
    stale._thread.join(timeout=5)
    assert not stale._thread.is_alive() and fresh._thread.is_alive()
    fresh.close()
    assert not fresh._thread.is_alive()


@pytest.mark.slow
def test_two_workers_sigtermed_at_ten_random_steps_lose_no_step_and_end_bit_identical(tmp_path):
    from tests.callbacks import _multi_worker_resume_script as script

    rng = np.random.default_rng()
    # 3 epochs of 8 steps. Every worker stops at the boundary after the signal, so the
    # steps are 2 apart at least: a_i + i for 10 sorted distinct a_i in 1..13 (1..22).
    steps = [int(a) + i for i, a in enumerate(sorted(rng.choice(np.arange(1, 14), size=10, replace=False)))]
    offset = int(rng.integers(3))  # which worker is signalled: worker 0, worker 1, both, in turn
    targets = {step: ([0], [1], [0, 1])[(i + offset) % 3] for i, step in enumerate(steps)}
    groups = [steps[:5], steps[5:]]  # 2 launches of both workers: after the 5th signal both exit (143)
    weights = script.run(tmp_path, groups, targets, timeout=600)
    expected = script.final_weights(tmp_path, "reference")  # uninterrupted, in the first launch
    for index in range(script.WORKERS):
        logged = script.stops(tmp_path, index)
        # Every worker, signalled or not, saved at the boundary after the signal: none lost a step.
        assert [(s["hold"] + 1, s["reached"], s["saved"]) for s in logged] == [(k + 1, k + 1, k + 1) for k in steps], (
            f"signal steps {steps} to workers {targets}"
        )
        assert all(s["signal"] == signal.SIGTERM for s in logged)
        for got, want in zip(weights[index], expected[index]):
            assert np.array_equal(got, want), f"worker {index}; signal steps {steps} to workers {targets}"


# ---------------------------------------------------------------- batch size, epoch end, state keys


@pytest.mark.parametrize("batch_size", [8, 2])
def test_a_different_batch_size_resumes_at_the_next_epoch_boundary_with_a_warning(tmp_path, batch_size):
    x, y = data()
    with pytest.raises(Interrupted):  # batch 4, 10 steps per epoch: saved at global step 12 = epoch 1, step 2
        make_model().fit(
            x,
            y,
            batch_size=4,
            epochs=3,
            verbose=0,
            callbacks=[BackupAndRestore(tmp_path, save_freq=3), InterruptAt(14)],
        )
    steps = Steps()
    with pytest.warns(UserWarning, match="Resuming at the start of epoch 2"):
        history = make_model().fit(
            x, y, batch_size=batch_size, epochs=3, verbose=0, callbacks=[BackupAndRestore(tmp_path, save_freq=3), steps]
        )
    assert steps.seen[0] == (2, 0) and len(steps.seen) == 40 // batch_size
    assert len(history.history["loss"]) == 1 and np.isfinite(history.history["loss"][0])


def test_a_later_callback_raising_in_on_epoch_end_reruns_from_the_next_epoch(tmp_path):
    class RaiseAtEpochEnd(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            if epoch == 1:
                raise Interrupted

    stop = keras.callbacks.EarlyStopping(monitor="loss", patience=50)
    with pytest.raises(Interrupted):
        fit(make_model(), [BackupAndRestore(tmp_path), RaiseAtEpochEnd(), stop])
    steps = Steps()
    history = fit(make_model(), [BackupAndRestore(tmp_path), steps])
    assert steps.seen[0] == (2, 0) and len(history.history["loss"]) == 1


def test_the_epoch_checkpoint_holds_the_state_of_callbacks_after_it_after_their_epoch_end(tmp_path):
    from kerasplus.callbacks._checkpoint_store import CheckpointStore

    stop = keras.callbacks.EarlyStopping(monitor="loss", patience=50)
    fit(make_model(), [BackupAndRestore(tmp_path, delete_checkpoint=False), stop], epochs=2)
    states = {e["key"]: e["state"] for e in CheckpointStore.read(str(tmp_path / "ckpt-00000001.npz")).meta["callbacks"]}
    (state,) = states.values()
    assert state["best"] == stop.best and state["wait"] == stop.wait  # after its on_epoch_end of epoch 1


def test_callback_states_follow_their_owner_when_callbacks_are_added_and_reordered(tmp_path):
    def make():
        loss = keras.callbacks.EarlyStopping(monitor="loss", patience=50)
        mae = keras.callbacks.EarlyStopping(monitor="mae", patience=50)
        plateau = keras.callbacks.ReduceLROnPlateau(monitor="loss", patience=1, factor=0.5, min_delta=1.0)
        return loss, mae, plateau

    loss, mae, plateau = make()
    with pytest.raises(Interrupted):
        fit(make_model(), [BackupAndRestore(tmp_path), loss, mae, plateau, InterruptAt(21)])
    saved = {"loss": loss.best, "mae": mae.best, "plateau": (plateau.best, plateau.wait, plateau.cooldown_counter)}
    assert saved["loss"] != saved["mae"]

    got = {}

    class Probe(keras.callbacks.Callback):
        def on_epoch_begin(self, epoch, logs=None):
            got.update(loss=loss.best, mae=mae.best, plateau=(plateau.best, plateau.wait, plateau.cooldown_counter))
            self.model.stop_training = True

    loss, mae, plateau = make()
    added = EarlyStopping(monitor="loss", criterion="up", alpha=3, strip_length=1)
    fit(make_model(), [plateau, added, mae, BackupAndRestore(tmp_path), loss, Probe()])
    assert got == saved


def test_a_saved_state_without_an_owner_is_a_warning(tmp_path):
    with pytest.raises(Interrupted):
        fit(make_model(), [BackupAndRestore(tmp_path), keras.callbacks.EarlyStopping(monitor="mae"), InterruptAt(21)])
    with pytest.warns(UserWarning, match=r"EarlyStopping\[monitor=mae.*which no callback of this fit owns"):
        fit(make_model(), [BackupAndRestore(tmp_path), keras.callbacks.EarlyStopping(monitor="loss")], epochs=3)


def _backend_resume_results(tmp_path, backend):
    import subprocess
    import sys

    script = os.path.join(os.path.dirname(__file__), "_backend_resume_script.py")
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    env = dict(os.environ, KERAS_BACKEND=backend, TF_CPP_MIN_LOG_LEVEL="3", PYTHONPATH=root)
    done = subprocess.run(
        [sys.executable, script, str(tmp_path)], cwd=root, env=env, capture_output=True, text=True, timeout=600
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize("backend", ["jax", "torch"])
def test_resume_at_an_epoch_and_mid_epoch_is_bit_exact_on_jax_and_torch(tmp_path, backend):
    pytest.importorskip(backend)
    results = _backend_resume_results(tmp_path, backend)
    exact_inputs = ["numpy", "tfdata"] + (["loader", "loader-generator"] if backend == "torch" else [])
    for kind in exact_inputs:  # numpy shuffled, tf.data shuffled, torch DataLoaders (global RNG, own generator)
        epoch, mid = results[f"{kind}-epoch"], results[f"{kind}-3"]
        assert (epoch["restored_from"], epoch["first_step"], epoch["warnings"]) == ("ckpt-00000000.npz", [1, 0], [])
        assert (mid["restored_from"], mid["first_step"], mid["warnings"]) == ("ckpt-00000003.npz", [1, 2], []), kind
        assert epoch["max_diff"] == 0.0 and mid["max_diff"] == 0.0, (kind, epoch, mid)
    if backend == "torch":  # a sampler it cannot replay: a warning, checkpoints at epoch ends, still exact
        custom = results["loader-custom-sampler-3"]
        assert custom["restored_from"] == "ckpt-00000000.npz" and custom["first_step"] == [1, 0]
        assert any("its sampler Reversed" in w for w in custom["warnings"])
        assert custom["max_diff"] == 0.0


# ---------------------------------------------------------------- asynchronous saves


class WeightsAt(keras.callbacks.Callback):
    """Records every model variable (copies) after the optimizer's steps `steps`."""

    def __init__(self, steps):
        super().__init__()
        self.steps, self.weights = set(steps), {}

    def on_train_batch_end(self, batch, logs=None):
        step = int(self.model.optimizer.iterations.numpy())
        if step in self.steps:
            self.weights[step] = [np.array(keras.ops.convert_to_numpy(v.value)) for v in self.model.variables]


def _saved_runs(tmp_path, async_save, write=None, monkeypatch=None):
    """Every checkpoint of a 2-epoch fit with save_freq=3 (keep=50), and the weights after steps 3, 6 and 9."""
    from kerasplus.callbacks._checkpoint_store import CheckpointStore

    folder = tmp_path / ("async" if async_save else "sync")
    probe = WeightsAt([3, 6, 9])
    backup = BackupAndRestore(folder, save_freq=3, keep=50, delete_checkpoint=False, async_save=async_save)
    fit(make_model(), [backup, probe], epochs=2)
    saved = [CheckpointStore.read(str(folder / name)) for name in sorted(os.listdir(folder))]
    return saved, probe.weights


def test_async_checkpoints_equal_sync_ones_and_the_weights_at_their_step(tmp_path, monkeypatch):
    from kerasplus.callbacks import _checkpoint_store

    # A slow write: training runs several steps (changing every weight) while each one is written.
    real_write = _checkpoint_store.CheckpointStore.write

    def slow_write(self, arrays, meta, replace=None):
        arrays = {name: np.asarray(value) for name, value in arrays.items()}  # host views, then training goes on
        time.sleep(0.05)
        return real_write(self, arrays, meta, replace=replace)

    sync, _ = _saved_runs(tmp_path, async_save=False)
    monkeypatch.setattr(_checkpoint_store.CheckpointStore, "write", slow_write)
    saved, weights = _saved_runs(tmp_path, async_save=True)
    assert [os.path.basename(c.path) for c in saved] == [os.path.basename(c.path) for c in sync]
    for got, want in zip(saved, sync):
        assert got.arrays.keys() == want.arrays.keys()
        for name in want.arrays:
            np.testing.assert_array_equal(got.arrays[name], want.arrays[name], err_msg=name)
    for k, step in enumerate([3, 6, 9]):  # model/<i>: model.variables[i]
        for i, w in enumerate(weights[step]):
            np.testing.assert_array_equal(saved[k].arrays[f"model/{i}"], w)


@pytest.mark.skipif(keras.backend.backend() != "tensorflow", reason="the deferred host copy is TensorFlow's")
def test_a_deferred_read_is_written_from_the_tensors_buffer_and_later_assigns_do_not_change_it():
    from kerasplus.callbacks._training_state import HostCopyLater

    variable = tf.Variable(np.arange(100_000, dtype="float32"))
    held = HostCopyLater(variable.read_value())
    first, second = np.asarray(held), np.asarray(held)
    assert np.shares_memory(first, second)  # no host copy of a CPU tensor (`.numpy()` copies)
    variable.assign_add(tf.ones_like(variable))  # copy-on-write: the read keeps its buffer
    variable.assign(tf.zeros_like(variable))
    np.testing.assert_array_equal(first, np.arange(100_000, dtype="float32"))


@pytest.mark.skipif(keras.backend.backend() != "tensorflow", reason="the deferred host copy is TensorFlow's")
def test_an_asynchronous_save_copies_the_variables_to_host_in_the_writer_thread_only(tmp_path, monkeypatch):
    import threading

    from kerasplus.callbacks import _training_state

    real_array, copied_in = _training_state.HostCopyLater.__array__, []

    def recording_array(self, dtype=None, copy=None):
        copied_in.append(threading.current_thread().name)
        return real_array(self, dtype, copy)

    monkeypatch.setattr(_training_state.HostCopyLater, "__array__", recording_array)
    model = make_model()
    fit(model, [BackupAndRestore(tmp_path, save_freq=5, delete_checkpoint=False)], epochs=1)  # 10 steps: 2 saves
    every = len(model.variables) + len(model.optimizer.variables)
    assert len(copied_in) >= 2 * every  # each save's variables (the metrics' too) ...
    assert set(copied_in) == {"kerasplus-checkpoint-write"}  # ... copied to numpy off the training thread


def test_at_most_one_write_is_in_flight(tmp_path, monkeypatch):
    import threading

    from kerasplus.callbacks import _checkpoint_store

    real_write = _checkpoint_store.CheckpointStore.write
    lock, running, most, threads = threading.Lock(), [0], [0], set()

    def counting_write(self, arrays, meta, replace=None):
        with lock:
            running[0] += 1
            most[0] = max(most[0], running[0])
        threads.add(threading.current_thread().name)
        time.sleep(0.03)
        try:
            return real_write(self, arrays, meta, replace=replace)
        finally:
            with lock:
                running[0] -= 1

    monkeypatch.setattr(_checkpoint_store.CheckpointStore, "write", counting_write)
    fit(make_model(), [BackupAndRestore(tmp_path, save_freq=1, keep=2, delete_checkpoint=False)], epochs=2)
    assert most[0] == 1
    assert threads == {"kerasplus-checkpoint-write"}  # none in the training thread
    assert sorted(os.listdir(tmp_path)) == ["ckpt-00000018.npz", "ckpt-00000019.npz"]  # 20 steps, done at the end


class DiskFull(OSError):
    pass


@pytest.mark.parametrize("failing", [1, 2])  # the save at step 4: raised at step 8's; the last one: at fit's end
def test_a_failed_background_write_raises_its_own_error_later(tmp_path, monkeypatch, failing):
    from kerasplus.callbacks import _checkpoint_store

    real_write = _checkpoint_store.CheckpointStore.write
    calls = []

    def failing_write(self, arrays, meta, replace=None):
        calls.append((meta["epoch"], meta["step"]))
        if len(calls) == failing:
            time.sleep(0.05)  # still in flight when training goes on
            raise DiskFull(28, "No space left on device")
        return real_write(self, arrays, meta, replace=replace)

    monkeypatch.setattr(_checkpoint_store.CheckpointStore, "write", failing_write)
    backup = BackupAndRestore(tmp_path, save_freq=4, delete_checkpoint=False)
    with pytest.raises(DiskFull, match="No space left") as raised:
        fit(make_model(), [backup], epochs=1)  # 10 steps: saves at steps 4 and 8
    assert any("in the background" in note for note in raised.value.__notes__)
    assert calls == [(0, 4), (0, 8)][:failing]  # the first failure: no save after it
    assert sorted(os.listdir(tmp_path)) == [f"ckpt-{i:08d}.npz" for i in range(failing - 1)]
    backup.wait()  # raised once only
