"""A training run that can be SIGKILLed and restarted, and the harness that does it.

Run as a script it trains a small MLP (Dropout, Adam, OneCycleLR, EarlyStopping
with best weights) on made-up data, deterministically, with a backup callback
(``--backup ours|keras|none``), writes the optimizer step after every batch to
``<workdir>/progress`` and the final weights to ``<workdir>/final.npz``.

`run_with_kills` starts it, SIGKILLs it once the progress file reaches each
kill step, restarts it until it finishes, and returns the final weights.
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import subprocess
import sys
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))

SAMPLES, FEATURES, CLASSES, BATCH = 88, 8, 3, 8  # 11 batches per epoch


def make_data(kind):
    import tensorflow as tf

    rng = np.random.default_rng(7)
    x = rng.normal(size=(SAMPLES, FEATURES)).astype("float32")
    y = (x[:, :3] @ rng.normal(size=(3, CLASSES))).argmax(axis=1).astype("int32")
    xv, yv = x[:16] + 0.1, y[:16]
    if kind == "numpy":
        return dict(x=x, y=y, batch_size=BATCH, shuffle=True), (xv, yv)
    dataset = tf.data.Dataset.from_tensor_slices((x, y)).shuffle(SAMPLES, seed=3).batch(BATCH)
    return dict(x=dataset), (xv, yv)


def train(args):
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    import keras
    import tensorflow as tf

    import kerasplus

    keras.utils.set_random_seed(1)
    tf.config.experimental.enable_op_determinism()
    tf.config.threading.set_intra_op_parallelism_threads(1)
    tf.config.threading.set_inter_op_parallelism_threads(1)
    fit_data, validation = make_data(args.data)
    model = keras.Sequential(
        [
            keras.Input((FEATURES,)),
            keras.layers.Dense(16, activation="relu"),
            keras.layers.Dropout(0.3),
            keras.layers.Dense(CLASSES),
        ]
    )
    model.compile(keras.optimizers.Adam(1e-2), keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    progress_path = os.path.join(args.workdir, "progress")

    class Progress(keras.callbacks.Callback):
        def on_train_batch_end(self, batch, logs=None):
            step = int(self.model.optimizer.iterations.numpy())
            with open(progress_path, "w") as f:
                f.write(str(step))
            time.sleep(args.sleep)
            if step == args.hold_at:  # wait for the harness's signal, so that it cannot miss the step
                signalled = os.path.join(args.workdir, "signalled")
                deadline = time.monotonic() + 10
                while not os.path.exists(signalled) and time.monotonic() < deadline:
                    time.sleep(0.002)

    save_freq = args.save_freq if args.save_freq == "epoch" else int(args.save_freq)
    backup_dir = os.path.join(args.workdir, "backup")
    callbacks = []
    if args.backup == "ours":
        callbacks.append(kerasplus.callbacks.BackupAndRestore(backup_dir, save_freq=save_freq))
    elif args.backup in ("keras", "keras-double"):
        double = args.backup == "keras-double"
        callbacks.append(keras.callbacks.BackupAndRestore(backup_dir, save_freq=save_freq, double_checkpoint=double))
    callbacks += [
        kerasplus.callbacks.OneCycleLR(max_lr=0.05, cycle_momentum=True),
        kerasplus.callbacks.EarlyStopping(patience=100, restore_best_weights=True),
        Progress(),
    ]
    model.fit(**fit_data, validation_data=validation, epochs=args.epochs, verbose=0, callbacks=callbacks)
    weights = {f"w{i}": w for i, w in enumerate(model.get_weights())}
    np.savez(os.path.join(args.workdir, "final.tmp.npz"), **weights)
    os.replace(os.path.join(args.workdir, "final.tmp.npz"), os.path.join(args.workdir, "final.npz"))


def _command(workdir, backup, data, epochs, save_freq, sleep, hold_at):
    return [
        sys.executable,
        os.path.abspath(__file__),
        "--workdir",
        str(workdir),
        "--backup",
        backup,
        "--data",
        data,
        "--epochs",
        str(epochs),
        "--save-freq",
        str(save_freq),
        "--sleep",
        str(sleep),
        "--hold-at",
        str(hold_at),
    ]


def _progress(workdir):
    try:
        with open(os.path.join(workdir, "progress")) as f:
            return int(f.read() or -1)
    except (OSError, ValueError):
        return -1


def start(workdir, backup="ours", data="numpy", epochs=3, save_freq=4, sleep=0.0, hold_at=-1):
    """Starts the training script; at step `hold_at` it waits (up to 10 s) until `<workdir>/signalled` exists."""
    os.makedirs(workdir, exist_ok=True)
    for stale in ("progress", "signalled"):  # the new process reports its own steps
        if os.path.exists(os.path.join(workdir, stale)):
            os.remove(os.path.join(workdir, stale))
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3", PYTHONPATH=ROOT)
    return subprocess.Popen(
        _command(workdir, backup, data, epochs, save_freq, sleep, hold_at),
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )


def finish(process, timeout):
    try:
        _, err = process.communicate(timeout=timeout)
    finally:
        if process.poll() is None:
            os.kill(process.pid, signal.SIGKILL)
            process.wait(timeout=10)
    if process.returncode != 0:
        raise RuntimeError(f"training process failed ({process.returncode}):\n{err.decode()[-3000:]}")


def final_weights(workdir):
    with np.load(os.path.join(workdir, "final.npz")) as data:
        return [data[f"w{i}"] for i in range(len(data.files))]


def saved_step(workdir, steps_per_epoch=SAMPLES // BATCH):
    """The global step of the newest checkpoint in ``<workdir>/backup`` (reads its header only)."""
    import json
    import zipfile

    folder = os.path.join(workdir, "backup")
    newest = sorted(name for name in os.listdir(folder) if name.startswith("ckpt-"))[-1]
    with zipfile.ZipFile(os.path.join(folder, newest)) as archive:
        with archive.open("__meta__.npy") as f:
            meta = json.loads(np.lib.format.read_array(f).tobytes())
    return meta["epoch"] * steps_per_epoch + meta["step"]


def run_with_kills(
    workdir,
    kill_steps,
    backup="ours",
    timeout=120.0,
    restart_after_crash=False,
    sig=signal.SIGKILL,
    lost=None,
    **kwargs,
):
    """Kills the run when its optimizer step reaches each of `kill_steps`; restarts until done.

    `sig` is the signal sent (SIGKILL; SIGTERM: the process must end with
    status 143, `Preempted`, and for each the steps done after the newest
    checkpoint are appended to `lost`). A restart that fails raises, or with
    `restart_after_crash` deletes the backup directory (what is left to a user whose checkpoint does not load)
    and starts over. Returns ``(final weights, kills that landed, crashes)``.
    """
    landed = crashes = 0
    deadline = time.monotonic() + timeout
    for target in sorted(kill_steps):
        process = start(workdir, backup, hold_at=target, **kwargs)
        try:
            while process.poll() is None and _progress(workdir) < target:
                if time.monotonic() > deadline:
                    raise TimeoutError(f"no progress to step {target} within {timeout} s")
                time.sleep(0.005)
            if process.poll() is None:
                os.kill(process.pid, sig)
                open(os.path.join(workdir, "signalled"), "w").close()  # after the signal: ends the hold
                landed += 1
            process.wait(timeout=60)
            expected_codes = (0, -signal.SIGKILL) if sig == signal.SIGKILL else (0, 128 + sig)
            if process.returncode == 128 + sig and lost is not None:
                lost.append(_progress(workdir) - saved_step(workdir))
            if process.returncode not in expected_codes and restart_after_crash:
                crashes += 1
                shutil.rmtree(os.path.join(workdir, "backup"), ignore_errors=True)
            elif process.returncode not in expected_codes:
                raise RuntimeError(
                    f"training process failed ({process.returncode}):\n{process.stderr.read().decode()[-3000:]}"
                )
        finally:
            if process.poll() is None:
                os.kill(process.pid, signal.SIGKILL)
                process.wait(timeout=10)
            process.stderr.close()
        if os.path.exists(os.path.join(workdir, "final.npz")):
            break  # finished before the kill
    while not os.path.exists(os.path.join(workdir, "final.npz")):
        try:
            finish(start(workdir, backup, **kwargs), max(1.0, deadline - time.monotonic()))
        except RuntimeError:
            if not restart_after_crash or time.monotonic() > deadline:
                raise
            crashes += 1
            shutil.rmtree(os.path.join(workdir, "backup"), ignore_errors=True)
    return final_weights(workdir), landed, crashes


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--workdir", required=True)
    parser.add_argument("--backup", choices=["ours", "keras", "keras-double", "none"], default="ours")
    parser.add_argument("--data", choices=["numpy", "tfdata"], default="numpy")
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--save-freq", default="4")
    parser.add_argument("--sleep", type=float, default=0.0)
    parser.add_argument("--hold-at", type=int, default=-1)
    train(parser.parse_args())
