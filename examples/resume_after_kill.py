"""Training that survives being killed: SIGKILL a run, start it again, get the same weights.

The parent process starts a training script (a digits MLP with Dropout, AdamW,
OneCycleLR and `kerasplus.callbacks.BackupAndRestore(save_freq=10)`), kills it
with SIGKILL at random steps, restarts it until it finishes, then trains the
same thing once without interruption and compares the final weights bit for bit.

Run:  python examples/resume_after_kill.py      (about a minute on 2 CPU cores; 3 kills)
Fast: KERASPLUS_FAST=1 python examples/resume_after_kill.py   (1 kill)
"""

import os
import pathlib
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time

FAST = os.environ.get("KERASPLUS_FAST") == "1"
KILLS = 1 if FAST else 3
EPOCHS = 2 if FAST else 4


def train(workdir, epochs):
    """The training script: run with ``--train WORKDIR``; resumes from WORKDIR/backup if present."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    import keras
    import numpy as np
    import tensorflow as tf

    import kerasplus

    keras.utils.set_random_seed(0)
    tf.config.experimental.enable_op_determinism()
    x, y = kerasplus.data.load("digits")
    x, y = x[:640], y[:640]
    model = keras.Sequential(
        [
            keras.Input((8, 8, 1)),
            keras.layers.Flatten(),
            keras.layers.Dense(64, activation="relu"),
            keras.layers.Dropout(0.2),
            keras.layers.Dense(10),
        ]
    )
    model.compile(keras.optimizers.AdamW(1e-3), keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    progress = pathlib.Path(workdir) / "progress"

    class Progress(keras.callbacks.Callback):
        def on_train_batch_end(self, batch, logs=None):
            progress.write_text(str(int(self.model.optimizer.iterations.numpy())))
            time.sleep(0.05)  # slow enough for the parent to kill it mid-run

    model.fit(
        x,
        y,
        batch_size=32,
        epochs=epochs,
        verbose=0,
        callbacks=[
            kerasplus.callbacks.OneCycleLR(max_lr=1e-2),
            Progress(),
            kerasplus.callbacks.BackupAndRestore(pathlib.Path(workdir) / "backup", save_freq=10),
        ],
    )
    np.savez(pathlib.Path(workdir) / "final.npz", *model.get_weights())


def run(workdir, kill_at=()):
    """Runs the script, SIGKILLing it when its progress reaches each step in `kill_at`; returns the restarts."""
    command = [sys.executable, __file__, "--train", str(workdir)]
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
    progress = pathlib.Path(workdir) / "progress"
    restarts = 0
    for step in [*kill_at, None]:
        process = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            deadline = time.monotonic() + 300
            while step is not None and process.poll() is None and time.monotonic() < deadline:
                text = progress.read_text().strip() if progress.exists() else ""
                if text and int(text) >= step:
                    os.kill(process.pid, signal.SIGKILL)
                    print(f"  killed after step {text}")
                    restarts += 1
                    break
                time.sleep(0.02)
            process.wait(timeout=300)
        finally:
            if process.poll() is None:
                process.kill()
    return restarts


def main():
    import numpy as np

    steps = EPOCHS * 20
    kill_at = sorted(random.Random(0).sample(range(5, steps - 5), KILLS))
    root = pathlib.Path(tempfile.mkdtemp(prefix="kerasplus_resume_"))
    try:
        killed, clean = root / "killed", root / "clean"
        killed.mkdir(), clean.mkdir()
        print(f"training {steps} steps, SIGKILL at steps {kill_at} ...")
        restarts = run(killed, kill_at)
        print("training again without interruption ...")
        run(clean)
        a, b = np.load(killed / "final.npz"), np.load(clean / "final.npz")
        same = all(np.array_equal(a[k], b[k]) for k in a.files)
        difference = max(float(np.max(np.abs(a[k] - b[k]))) for k in a.files)
        print(
            f"{restarts} kill(s); final weights bit-identical to the uninterrupted run: {same} "
            f"(max difference {difference:g})"
        )
    finally:
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "--train":
        train(sys.argv[2], EPOCHS)
    else:
        main()
