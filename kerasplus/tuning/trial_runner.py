"""How `search` runs one trial: KerasTuner's fit or k folds, then the checks that make a bad run a failed trial."""

from __future__ import annotations

import json
import math
import os

from kerasplus import _validation as v
from kerasplus._internals import keras_tuner as internal_keras_tuner

METHODS = {
    "random": "RandomSearch",
    "grid": "GridSearch",
    "bayesian": "BayesianOptimization",
    "hyperband": "Hyperband",
}
CV_FILE = "cv_folds.json"
_TUNER_CLASSES = {}


class TrialRunner:
    """Runs each trial of a KerasTuner search; give it to `tuner_class(method)(..., runner=...)`.

    A trial that ends with a non-finite objective or loss raises
    `keras_tuner.errors.FailedTrialError`, so KerasTuner records it as failed.

    Args:
        cv: None (one fit, as KerasTuner runs it), or the number of folds (>= 2): the
            objective is then the mean over the folds of `kerasplus.data.kfold`, each
            fold a fresh model seeded with ``seed + fold``; per-fold values are written
            to the trial folder (`cv_fold_values` reads them).
        stratify: stratified folds when `cv` is set.
        seed: the folds' split seed.
    """

    def __init__(self, cv: int | None = None, *, stratify: bool = True, seed: int = 0):
        self.cv = v.check_optional_int("cv", cv, minimum=2)
        self.stratify = v.check_bool("stratify", stratify)
        self.seed = v.check_int("seed", seed, minimum=0)
        self.trials_run: list[str] = []  # ids of the trials this process ran, in order

    @property
    def warm_start(self) -> bool:
        """False with `cv`: folds start from scratch, since Hyperband's warm start would carry
        weights trained on another fold's validation data."""
        return self.cv is None

    def build_and_fit(self, tuner, trial, *args, **kwargs):
        """One execution of `trial`; raises `FailedTrialError` when its results are not finite."""
        if self.cv is None:
            results = tuner.build_and_fit_as_keras_tuner_does(trial, *args, **kwargs)
        else:
            results = self.fit_folds(tuner, trial, *args, **kwargs)
        check_finite(results, tuner.oracle.objective)
        return results

    def fit_folds(self, tuner, trial, x, y, **kwargs):
        """Fits a fresh model on each fold; returns the mean of each metric over the folds."""
        import keras

        from kerasplus.data.kfold import kfold

        hp = trial.hyperparameters
        kwargs["initial_epoch"] = 0
        folds = []
        callbacks = list(kwargs.pop("callbacks", []))
        tensorboards = [c for c in callbacks if type(c).__name__ == "TensorBoard"]
        log_dirs = [str(c.log_dir) for c in tensorboards]
        # TensorBoard's HParams callback records the trial once and refuses a second fit.
        hparams = [c for c in callbacks if type(c).__module__.startswith("tensorboard.plugins.hparams")]
        for index, ((x_train, y_train), validation) in enumerate(
            kfold(x, y, self.cv, stratify=self.stratify, seed=self.seed)
        ):
            for callback, log_dir in zip(tensorboards, log_dirs):
                callback.log_dir = os.path.join(log_dir, f"fold{index}")
            fold_callbacks = callbacks if index == 0 else [c for c in callbacks if c not in hparams]
            keras.utils.set_random_seed(self.seed + index)
            model = tuner.build_trial_model(hp)
            history = tuner.hypermodel.fit(
                hp, model, x_train, y_train, validation_data=validation, callbacks=fold_callbacks, **kwargs
            )
            check_finite(history, tuner.oracle.objective)
            folds.append(internal_keras_tuner.metrics_dict(history, tuner.oracle.objective))
        values = {name: [float(f[name]) for f in folds] for name in folds[0]}
        with open(os.path.join(tuner.get_trial_dir(trial.trial_id), CV_FILE), "w") as f:
            json.dump(values, f)
        return {name: sum(vals) / len(vals) for name, vals in values.items()}

    def trial_ended(self, trial):
        """Records that this process ran `trial` (a distributed worker's summary lists these)."""
        self.trials_run.append(trial.trial_id)


def tuner_class(method: str) -> type:
    """KerasTuner's tuner for `method` (``"random"``, ...), running its trials through a `TrialRunner`.

    The class is ``Kerasplus<KerasTuner class>``, a direct subclass of KerasTuner's, and
    takes ``runner=TrialRunner(...)`` besides KerasTuner's own arguments.
    """
    if method not in _TUNER_CLASSES:
        import keras_tuner

        base = getattr(keras_tuner, METHODS[method])
        _TUNER_CLASSES[method] = internal_keras_tuner.tuner_class(base, f"Kerasplus{base.__name__}")
    return _TUNER_CLASSES[method]


def planned_trials(tuner) -> int | None:
    """How many trials `tuner`'s search plans: ``max_trials`` (random, bayesian), the grid's size (capped by
    ``max_trials``), Hyperband's brackets; None when unbounded or on a distributed worker."""
    return internal_keras_tuner.planned_trials(tuner.oracle)


def check_finite(results, objective):
    """Raises `FailedTrialError` when the objective or a last-epoch loss of `results` is not finite."""
    from keras_tuner.errors import FailedTrialError

    metrics = internal_keras_tuner.metrics_dict(results, objective)
    if metrics:
        value = objective.get_value(metrics)
        if value is None or not math.isfinite(float(value)):
            raise FailedTrialError(f"NonFiniteObjective: {objective.name} = {value} (the run diverged or produced NaN)")
    # An accuracy objective stays finite when the model diverged: the losses say so.
    for name, value in final_losses(results):
        if not math.isfinite(value):
            raise FailedTrialError(f"NonFiniteLoss: {name} = {value} at the last epoch (the run diverged)")


def final_losses(results):
    """``(name, value)`` of every loss at the last epoch of `results` (History, dict or list)."""
    import keras

    if isinstance(results, (list, tuple)):
        for item in results:
            yield from final_losses(item)
    elif isinstance(results, keras.callbacks.History):
        for name, values in results.history.items():
            if (name == "loss" or name.endswith("_loss")) and len(values):
                yield name, float(values[-1])
    elif isinstance(results, dict):
        for name, value in results.items():
            if name == "loss" or name.endswith("_loss"):
                yield name, float(value)


def cv_fold_values(tuner, trial_id):
    """Per-fold objective values of a cv trial, or None."""
    path = os.path.join(tuner.get_trial_dir(trial_id), CV_FILE)
    if not os.path.exists(path):
        return None
    with open(path) as f:
        return json.load(f)
