"""A search run as its own process by test_search.py (resume after SIGKILL, distributed).

Usage: python search_script.py DIRECTORY LOG MAX_TRIALS EPOCH_SLEEP [METHOD] [plain]

METHOD is ``random`` (default), ``grid`` (a 3 x 4 grid: MAX_TRIALS is ignored), ``bayesian`` or
``hyperband`` (factor 2, MAX_TRIALS is max_epochs: 2 plans 5 trials, 4 plans 15). ``plain`` runs KerasTuner's own
tuner class with the same arguments instead of `kerasplus.tuning.search` (to show KerasTuner's own behaviour).

Each fit appends ``begin <tuner_id> <hp>`` and ``end <tuner_id> <hp>`` lines to LOG, ``<hp>`` being the
trial's hyperparameter values as compact sorted JSON (Hyperband's ``tuner/...`` values included, so it names
one trial). With ``KP_SAVE_PAUSE=<seconds>`` every KerasTuner state file is written in two halves with a pause
between them, and ``save <file name>`` is logged before the pause (a test kills the process there: "killed
while the oracle saves"). The chief (or a lone process) writes its summary to ``DIRECTORY/summary.json``.
"""

import json
import os
import sys
import time
import warnings

import keras
import numpy as np

directory, log_path, max_trials, epoch_sleep = sys.argv[1], sys.argv[2], int(sys.argv[3]), float(sys.argv[4])
method = sys.argv[5] if len(sys.argv) > 5 else "random"
plain = "plain" in sys.argv[6:]
tuner_id = os.environ.get("KERASTUNER_TUNER_ID", "alone")
current = {}


def write_log(line):
    with open(log_path, "a") as f:
        f.write(line + "\n")
        f.flush()
        os.fsync(f.fileno())


def log(event):
    write_log(f"{event} {tuner_id} {current['hp']}")


if os.environ.get("KP_SAVE_PAUSE"):
    # Test instrumentation: widen the window in which a state file is half written.
    import builtins

    pause = float(os.environ["KP_SAVE_PAUSE"])
    real_open = builtins.open

    class SlowFile:
        def __init__(self, f, name):
            self.f, self.name = f, name

        def write(self, text):
            half = len(text) // 2
            self.f.write(text[:half])
            self.f.flush()
            write_log(f"save {tuner_id} {self.name}")
            time.sleep(pause)
            return self.f.write(text[half:])

        def __getattr__(self, name):
            return getattr(self.f, name)

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            return self.f.__exit__(*exc)

    def slow_open(file, mode="r", *args, **kwargs):
        f = real_open(file, mode, *args, **kwargs)
        name = os.path.basename(str(file))
        if "w" in mode and str(file).startswith(directory) and ".json" in name and "summary" not in name:
            return SlowFile(f, name)
        return f

    builtins.open = slow_open


class Logging(keras.callbacks.Callback):
    def on_train_begin(self, logs=None):
        log("begin")

    def on_epoch_end(self, epoch, logs=None):
        time.sleep(epoch_sleep)

    def on_train_end(self, logs=None):
        log("end")


def build(hp):
    if method == "grid":
        units = hp.Choice("units", [4, 8, 16])
        rate = hp.Choice("learning_rate", [0.003, 0.01, 0.03, 0.1])
    else:
        units = hp.Int("units", 1, 64)
        rate = hp.Float("learning_rate", 1e-3, 1e-1, sampling="log")
    current["hp"] = json.dumps(hp.values, sort_keys=True).replace(" ", "")
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(units, activation="relu"), keras.layers.Dense(1)])
    model.compile(keras.optimizers.SGD(rate), "mse")
    return model


rng = np.random.default_rng(0)
x = rng.normal(size=(64, 4)).astype("float32")
y = x.sum(axis=1, keepdims=True)
options = {"max_trials": None if method == "grid" else max_trials}
if method == "hyperband":
    options = {"max_epochs": max_trials, "tuner_kwargs": {"factor": 2, "hyperband_iterations": 1}}
fit = {"epochs": 3, "batch_size": 32, "verbose": 0, "callbacks": [Logging()]}
with warnings.catch_warnings(record=True) as caught:
    warnings.simplefilter("always")
    if plain:
        import keras_tuner

        from kerasplus.tuning.trial_runner import METHODS

        kwargs = dict(options.pop("tuner_kwargs", {}), **options)
        tuner = getattr(keras_tuner, METHODS[method])(
            build, objective="loss", directory=directory, project_name="p", seed=0, **kwargs
        )
        tuner.search(x, y, **fit)
        trials = tuner.oracle.trials.values()
        completed = sum(t.status == "COMPLETED" for t in trials)
        failed = sum(t.status == "FAILED" for t in trials)
    else:
        from kerasplus.tuning import search

        tuner, summary = search(
            build, x, y, method=method, objective="loss", directory=directory, project_name="p", **options, **fit
        )
        completed, failed = summary.completed, summary.failed
if tuner_id in ("alone", "chief"):  # a worker's OracleClient has no trials
    trials = tuner.oracle.trials.values()
    with open(os.path.join(directory, "summary.json"), "w") as f:
        json.dump(
            {
                "completed": completed,
                "failed": failed,
                "trials": sorted(t.trial_id for t in trials),
                "statuses": {t.trial_id: t.status for t in trials},
                "hps": {
                    t.trial_id: json.dumps(t.hyperparameters.values, sort_keys=True).replace(" ", "") for t in trials
                },
                "warnings": [str(w.message) for w in caught if issubclass(w.category, UserWarning)],
            },
            f,
        )
