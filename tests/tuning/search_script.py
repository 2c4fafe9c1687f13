"""A search run as its own process by test_search.py (resume after SIGKILL, distributed).

Usage: python search_script.py DIRECTORY LOG MAX_TRIALS EPOCH_SLEEP [METHOD] [plain]
       python search_script.py --serve

METHOD is ``random`` (default), ``grid`` (MAX_TRIALS // 4 unit counts x 4 learning rates: 12 is a 3 x 4 grid),
``bayesian`` or ``hyperband`` (factor 2, MAX_TRIALS is max_epochs: 2 plans 5 trials, 4 plans 15). ``plain`` runs
KerasTuner's own tuner class with the same arguments instead of `kerasplus.tuning.search` (to show KerasTuner's own
behaviour).

Each fit appends ``begin <tuner_id> <hp>`` and ``end <tuner_id> <hp>`` lines to LOG, ``<hp>`` being the
trial's hyperparameter values as compact sorted JSON (Hyperband's ``tuner/...`` values included, so it names
one trial). With ``KP_SAVE_PAUSE=<seconds>`` every KerasTuner state file (``oracle.json``, ``trial.json``,
``tuner0.json``, through `open` or `tf.io.gfile.GFile`) is written in two halves with a pause
between them, and ``save <tuner_id> <file name>`` is logged before the pause (a test kills the process there:
"killed while the oracle saves"); ``KP_SAVE_PAUSE=0`` logs the saves without pausing. The chief (or a lone
process) writes its summary to ``DIRECTORY/summary.json``.

``--serve`` is a fork server for the kill tests: it imports Keras, KerasTuner and kerasplus once, then for each
JSON line ``{"argv": [...], "env": {...}, "stderr": PATH}`` on its standard input forks a child that runs the
search as the usage line above would (a fresh process as far as the search is concerned: nothing was built or
run before the fork), prints ``pid <pid>``, waits for it and prints ``exit <pid> <code>`` (a negative code is
the signal that ended it). Restarting a search then costs no imports, so a test can kill one many times.
"""

import json
import os
import sys
import time
import warnings

import keras
import numpy as np


def main(argv):
    directory, log_path, max_trials, epoch_sleep = argv[0], argv[1], int(argv[2]), float(argv[3])
    method = argv[4] if len(argv) > 4 else "random"
    plain = "plain" in argv[5:]
    tuner_id = os.environ.get("KERASTUNER_TUNER_ID", "alone")
    current = {}

    def write_log(line):
        with open(log_path, "a") as f:
            f.write(line + "\n")
            f.flush()
            os.fsync(f.fileno())

    def log(event):
        write_log(f"{event} {tuner_id} {current['hp']}")

    if os.environ.get("KP_SAVE_PAUSE") is not None:
        # Test instrumentation: log every state-file write and widen the window in which it is half written.
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
                if pause:
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
        if keras.backend.backend() == "tensorflow":  # KerasTuner writes through tf.io.gfile there
            import tensorflow as tf

            real_gfile = tf.io.gfile.GFile

            def slow_gfile(name, mode="r"):
                f = real_gfile(name, mode)
                base = os.path.basename(str(name))
                if "w" in mode and str(name).startswith(directory) and ".json" in base and "summary" not in base:
                    return SlowFile(f, base)
                return f

            tf.io.gfile.GFile = slow_gfile

    class Logging(keras.callbacks.Callback):
        def on_train_begin(self, logs=None):
            log("begin")

        def on_epoch_end(self, epoch, logs=None):
            time.sleep(epoch_sleep)

        def on_train_end(self, logs=None):
            log("end")

    def build(hp):
        if method == "grid":
            units = hp.Choice("units", [4, 8, 16, 32, 64][: max(max_trials // 4, 1)])
            rate = hp.Choice("learning_rate", [0.003, 0.01, 0.03, 0.1])
        else:
            units = hp.Int("units", 1, 64)
            rate = hp.Float("learning_rate", 1e-3, 1e-1, sampling="log")
        current["hp"] = json.dumps(hp.values, sort_keys=True).replace(" ", "")
        model = keras.Sequential(
            [keras.Input((4,)), keras.layers.Dense(units, activation="relu"), keras.layers.Dense(1)]
        )
        model.compile(keras.optimizers.SGD(rate), "mse", run_eagerly=True)  # 6 steps: tracing would dominate
        return model

    rng = np.random.default_rng(0)
    x = rng.normal(size=(64, 4)).astype("float32")
    y = x.sum(axis=1, keepdims=True)
    options = {"max_trials": None if method == "grid" else max_trials}
    if method == "hyperband":
        options = {"max_epochs": max_trials, "tuner_kwargs": {"factor": 2, "hyperband_iterations": 1}}
    fit = {"epochs": 3, "batch_size": 64, "verbose": 0, "callbacks": [Logging()]}
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
                        t.trial_id: json.dumps(t.hyperparameters.values, sort_keys=True).replace(" ", "")
                        for t in trials
                    },
                    "warnings": [str(w.message) for w in caught if issubclass(w.category, UserWarning)],
                },
                f,
            )


def serve():
    """The fork server (see the module docstring)."""
    import gc

    import keras_tuner  # noqa: F401 - imported once, before any fork

    import kerasplus.tuning  # noqa: F401

    gc.freeze()  # the imported modules' objects: a child's gc.collect (clear_session runs it) then skips them
    out = sys.stdout
    print("ready", file=out, flush=True)
    for line in sys.stdin:
        request = json.loads(line)
        pid = os.fork()
        if pid == 0:
            code = 1
            try:
                with open(request["stderr"], "w") as err, open(os.devnull, "w") as null:
                    os.dup2(null.fileno(), 1)
                    os.dup2(err.fileno(), 2)
                    sys.stdout, sys.stderr = null, err
                    os.environ.update(request["env"])
                    try:
                        main(request["argv"])
                        code = 0
                    except BaseException:
                        import traceback

                        traceback.print_exc()
                        err.flush()
            finally:
                os._exit(code)
        print(f"pid {pid}", file=out, flush=True)
        _, status = os.waitpid(pid, 0)
        code = -os.WTERMSIG(status) if os.WIFSIGNALED(status) else os.WEXITSTATUS(status)
        print(f"exit {pid} {code}", file=out, flush=True)


if __name__ == "__main__":
    if sys.argv[1:] == ["--serve"]:
        serve()
    else:
        main(sys.argv[1:])
