"""Two workers of a MultiWorkerMirroredStrategy on 127.0.0.1, SIGTERMed at chosen steps, and the harness.

Run as a script (``TF_CONFIG`` set by the harness) each worker trains a small
MLP (Adam, a seeded shuffled `tf.data` input, sharded by data) with
kerasplus's `BackupAndRestore` for `EPOCHS` epochs of `STEPS` steps (with
``--reference``, first the same run without it, uninterrupted: the weights go
to ``<workdir>/reference-<index>.npz``; it costs no extra launch); it writes
its optimizer step after every batch to ``<workdir>/progress-<index>``. At each
step of ``--holds`` it waits (up to 10 s) for ``<workdir>/signalled-<step>``,
which the harness creates after sending its signal. Every `Preempted` is
logged to ``<workdir>/stops-<index>.jsonl`` (the step reached, the step of the
checkpoint written, the signal); `fit` then runs again in the same process
while holds are left (a rerun restores from disk, as a new process would),
and after the last one the process exits with `Preempted`'s status, unless
``--finish``. The final weights go to ``<workdir>/final-<index>.npz``.

`run` starts the two workers for each group of holds, signals the chosen
workers at each, and restarts them until they finish.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))

SAMPLES, FEATURES, CLASSES, BATCH = 64, 8, 3, 8  # global batch: 8 steps per epoch
STEPS, EPOCHS = SAMPLES // BATCH, 3
WORKERS = 2


def _write(path, text):
    with open(path + ".tmp", "w") as f:
        f.write(text)
    os.replace(path + ".tmp", path)


def _checkpoint_step(path):
    import zipfile

    with zipfile.ZipFile(path) as archive:
        with archive.open("__meta__.npy") as f:
            meta = json.loads(np.lib.format.read_array(f).tobytes())
    return meta["epoch"] * STEPS + meta["step"]


def train(args):
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    import keras
    import tensorflow as tf

    import kerasplus
    from kerasplus.callbacks import Preempted

    index = json.loads(os.environ["TF_CONFIG"])["task"]["index"]
    tf.config.experimental.enable_op_determinism()
    strategy = kerasplus.distribute.auto_strategy(cluster_timeout=60, communication_timeout=60)
    rng = np.random.default_rng(7)
    x = rng.normal(size=(SAMPLES, FEATURES)).astype("float32")
    y = (x[:, :3] @ rng.normal(size=(3, CLASSES))).argmax(axis=1).astype("int32")
    options = tf.data.Options()
    options.deterministic = True
    options.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.DATA
    progress_path = os.path.join(args.workdir, f"progress-{index}")
    holds = [int(h) for h in args.holds.split(",") if h]

    class Progress(keras.callbacks.Callback):
        def __init__(self, hold_at):
            super().__init__()
            self.hold_at = hold_at

        def on_train_batch_end(self, batch, logs=None):
            step = int(self.model.optimizer.iterations.numpy())
            _write(progress_path, str(step))
            if step == self.hold_at:
                signalled = os.path.join(args.workdir, f"signalled-{step}")
                deadline = time.monotonic() + 10
                while not os.path.exists(signalled) and time.monotonic() < deadline:
                    time.sleep(0.002)

    def make_dataset():  # one per fit, as in a new process (a seeded shuffle's state lives in the dataset)
        return tf.data.Dataset.from_tensor_slices((x, y)).shuffle(SAMPLES, seed=3).batch(BATCH).with_options(options)

    def make_model():
        keras.utils.set_random_seed(1)  # as a new process does
        with strategy.scope():
            model = keras.Sequential(
                [keras.Input((FEATURES,)), keras.layers.Dense(16, activation="relu"), keras.layers.Dense(CLASSES)]
            )
            model.compile(keras.optimizers.Adam(1e-2), keras.losses.SparseCategoricalCrossentropy(from_logits=True))
        return model

    if args.reference:  # the uninterrupted two-worker run, first, in the same processes
        model = make_model()
        model.fit(make_dataset(), epochs=EPOCHS, verbose=0)
        _save_weights(model, os.path.join(args.workdir, f"reference-{index}.npz"))
    model = make_model()
    # A rerun in this process fits the same model (its train function is traced once): the checkpoint
    # restored replaces every variable, the optimizer's, the metrics' and the random states, as in a new process.
    while True:
        hold_at = holds.pop(0) if holds else -1
        callbacks = [Progress(hold_at)]
        backup_dir = os.path.join(args.workdir, "backup")
        callbacks.insert(0, kerasplus.callbacks.BackupAndRestore(backup_dir, save_freq=args.save_freq))
        try:
            model.fit(make_dataset(), epochs=EPOCHS, verbose=0, callbacks=callbacks)
        except Preempted as stop:
            with open(progress_path) as f:
                reached = int(f.read())
            record = {"hold": hold_at, "reached": reached, "saved": _checkpoint_step(stop.checkpoint)}
            with open(os.path.join(args.workdir, f"stops-{index}.jsonl"), "a") as f:
                f.write(json.dumps({**record, "signal": stop.signal}) + "\n")
            if holds or args.finish:
                continue
            raise
        break
    _save_weights(model, os.path.join(args.workdir, f"final-{index}.npz"))


def _save_weights(model, path):
    np.savez(path + ".tmp.npz", **{f"w{i}": w for i, w in enumerate(model.get_weights())})
    os.replace(path + ".tmp.npz", path)


# ---------------------------------------------------------------- harness


def start(workdir, holds=(), finish=False, reference=False, save_freq="epoch"):
    """Starts both workers (fresh ports); returns their processes."""
    from tests.helpers import free_ports  # here: the workers import this script before TensorFlow is configured

    os.makedirs(workdir, exist_ok=True)
    for index in range(WORKERS):
        stale = os.path.join(workdir, f"progress-{index}")  # the new processes report their own steps
        if os.path.exists(stale):
            os.remove(stale)
    cluster = {"worker": [f"127.0.0.1:{port}" for port in free_ports(WORKERS)]}
    command = [sys.executable, os.path.abspath(__file__), "--workdir", str(workdir), "--save-freq", str(save_freq)]
    command += ["--holds", ",".join(str(h) for h in holds)]
    command += (["--finish"] if finish else []) + (["--reference"] if reference else [])
    processes = []
    for index in range(WORKERS):
        config = {"cluster": cluster, "task": {"type": "worker", "index": index}}
        env = {k: v for k, v in os.environ.items() if k not in ("TF_CONFIG", "KERAS_BACKEND")}
        env.update(TF_CONFIG=json.dumps(config), TF_CPP_MIN_LOG_LEVEL="3", CUDA_VISIBLE_DEVICES="", PYTHONPATH=ROOT)
        processes.append(
            subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        )
    return processes


def _progress(workdir, index):
    try:
        with open(os.path.join(workdir, f"progress-{index}")) as f:
            return int(f.read() or -1)
    except (OSError, ValueError):
        return -1


def _failure(processes, what):
    tails = []
    for index, process in enumerate(processes):
        if process.poll() is not None:
            tails.append(f"worker {index} ({process.returncode}):\n{process.stderr.read().decode()[-2500:]}")
    return RuntimeError(f"{what}\n" + "\n".join(tails))


def wait(processes, deadline):
    """Waits for both workers (until `deadline`); returns their exit statuses. Kills both by pid on timeout."""
    try:
        for process in processes:
            process.wait(timeout=max(1.0, deadline - time.monotonic()))
    except subprocess.TimeoutExpired:
        raise _failure(processes, "workers did not finish in time") from None
    finally:
        for process in processes:
            if process.poll() is None:
                os.kill(process.pid, signal.SIGKILL)
                process.wait(timeout=10)
    return [process.returncode for process in processes]


def run(workdir, groups, targets, timeout=300.0, sig=signal.SIGTERM):
    """Signals the workers at every hold step; restarts them after each group of holds; returns the final weights.

    `groups`: lists of steps, one launch of both workers each (after its last
    hold a launch exits with status 128 + `sig`; the last launch finishes in
    process). `targets[step]`: the worker indices signalled at that step.
    The first launch trains the uninterrupted run first (`reference_weights`).
    Raises if a worker fails or any wait passes `timeout`.
    """
    deadline = time.monotonic() + timeout
    for number, group in enumerate(groups):
        last = number == len(groups) - 1
        processes = start(workdir, group, finish=last, reference=number == 0)
        try:
            for step in group:
                while min(_progress(workdir, i) for i in range(WORKERS)) < step:
                    if any(p.poll() is not None for p in processes):
                        raise _failure(processes, f"a worker ended before step {step}")
                    if time.monotonic() > deadline:
                        raise _failure(processes, f"no progress to step {step} within {timeout} s")
                    time.sleep(0.005)
                for index in targets[step]:
                    os.kill(processes[index].pid, sig)
                open(os.path.join(workdir, f"signalled-{step}"), "w").close()  # after the signal: ends the holds
            codes = wait(processes, deadline)
        finally:
            for process in processes:
                if process.poll() is None:
                    os.kill(process.pid, signal.SIGKILL)
                    process.wait(timeout=10)
                process.stderr.close()
        expected = [0] * WORKERS if last else [128 + sig] * WORKERS
        if codes != expected:
            raise RuntimeError(f"launch {number} (holds {group}): exit statuses {codes}, expected {expected}")
    return final_weights(workdir)


def stops(workdir, index):
    """What worker `index` logged at each `Preempted`: dicts of hold, reached, saved, signal."""
    with open(os.path.join(workdir, f"stops-{index}.jsonl")) as f:
        return [json.loads(line) for line in f]


def final_weights(workdir, name="final"):
    """Each worker's final weights (``name="reference"``: those of the uninterrupted run)."""
    out = []
    for index in range(WORKERS):
        with np.load(os.path.join(workdir, f"{name}-{index}.npz")) as data:
            out.append([data[f"w{i}"] for i in range(len(data.files))])
    return out


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--workdir", required=True)
    parser.add_argument("--save-freq", type=lambda v: v if v == "epoch" else int(v), default="epoch")
    parser.add_argument("--holds", default="")
    parser.add_argument("--finish", action="store_true")
    parser.add_argument("--reference", action="store_true")
    train(parser.parse_args())
