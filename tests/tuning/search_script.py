"""A search run as its own process by test_search.py (resume after SIGKILL, distributed).

Usage: python search_script.py DIRECTORY LOG MAX_TRIALS EPOCH_SLEEP

Each fit appends ``begin <tuner_id> <hp>`` and ``end <tuner_id> <hp>`` lines to LOG;
the chief (or a lone process) writes its summary to ``DIRECTORY/summary.json``.
"""

import json
import os
import sys
import time

import keras
import numpy as np

from kerasplus.tuning import search

directory, log_path, max_trials, epoch_sleep = sys.argv[1], sys.argv[2], int(sys.argv[3]), float(sys.argv[4])
tuner_id = os.environ.get("KERASTUNER_TUNER_ID", "alone")
current = {}


def log(event):
    with open(log_path, "a") as f:
        f.write(f"{event} {tuner_id} {current['hp']}\n")
        f.flush()
        os.fsync(f.fileno())


class Logging(keras.callbacks.Callback):
    def on_train_begin(self, logs=None):
        log("begin")

    def on_epoch_end(self, epoch, logs=None):
        time.sleep(epoch_sleep)

    def on_train_end(self, logs=None):
        log("end")


def build(hp):
    units = hp.Int("units", 1, 64)
    rate = hp.Float("learning_rate", 1e-3, 1e-1, sampling="log")
    current["hp"] = json.dumps({"units": units, "learning_rate": rate}, sort_keys=True).replace(" ", "")
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(units, activation="relu"), keras.layers.Dense(1)])
    model.compile(keras.optimizers.SGD(rate), "mse")
    return model


rng = np.random.default_rng(0)
x = rng.normal(size=(64, 4)).astype("float32")
y = x.sum(axis=1, keepdims=True)
tuner, summary = search(
    build, x, y, method="random", objective="loss", max_trials=max_trials, directory=directory,
    project_name="p", epochs=3, batch_size=32, verbose=0, callbacks=[Logging()],
)
if tuner_id in ("alone", "chief"):
    with open(os.path.join(directory, "summary.json"), "w") as f:
        json.dump({"completed": summary.completed, "failed": summary.failed,
                   "trials": [t.trial_id for t in summary.trials]}, f)
