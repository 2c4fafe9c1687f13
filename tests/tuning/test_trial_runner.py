import math
import types

import keras
import pytest

from kerasplus.tuning.trial_runner import (
    METHODS,
    TrialRunner,
    check_finite,
    final_losses,
    tuner_class,
)


def objective(name="val_loss", direction="min"):
    import keras_tuner

    return keras_tuner.Objective(name, direction)


@pytest.mark.parametrize("method", sorted(METHODS))
def test_the_tuner_class_is_a_direct_subclass_of_keras_tuners(method):
    import keras_tuner

    cls = tuner_class(method)
    assert cls.__mro__[1] is getattr(keras_tuner, METHODS[method])
    assert cls.__name__ == f"Kerasplus{METHODS[method]}"
    assert tuner_class(method) is cls


def test_the_runner_is_passed_to_the_tuner_constructor(tmp_path):
    runner = TrialRunner(3, seed=1)
    tuner = tuner_class("random")(
        lambda hp: None, objective="loss", max_trials=1, directory=str(tmp_path), runner=runner
    )
    assert tuner.runner is runner and runner.cv == 3 and not runner.warm_start
    assert TrialRunner().warm_start


@pytest.mark.parametrize(
    "kwargs, error, match",
    [
        ({"cv": 1}, ValueError, "`cv`"),
        ({"stratify": "yes"}, TypeError, "`stratify`"),
        ({"seed": -1}, ValueError, "`seed`"),
    ],
)
def test_bad_arguments_are_rejected(kwargs, error, match):
    with pytest.raises(error, match=match):
        TrialRunner(**kwargs)


def test_a_non_finite_objective_or_loss_is_a_failed_trial():
    from keras_tuner.errors import FailedTrialError

    check_finite({"val_loss": 0.5, "loss": 0.4}, objective())
    with pytest.raises(FailedTrialError, match="NonFiniteObjective: val_loss = inf"):
        check_finite({"val_loss": math.inf, "loss": 0.4}, objective())
    history = keras.callbacks.History()
    history.history = {"loss": [1.0, math.nan], "val_accuracy": [0.5, 0.5]}
    with pytest.raises(FailedTrialError, match="NonFiniteLoss: loss = nan"):
        check_finite(history, objective("val_accuracy", "max"))


def test_final_losses_reads_histories_dicts_and_lists():
    history = keras.callbacks.History()
    history.history = {"loss": [3.0, 2.0], "out_loss": [1.0, 0.5], "accuracy": [0.1, 0.2]}
    assert list(final_losses(history)) == [("loss", 2.0), ("out_loss", 0.5)]
    assert list(final_losses([{"loss": 1.0, "val_accuracy": 0.3}, {"val_loss": 2.0}])) == [
        ("loss", 1.0),
        ("val_loss", 2.0),
    ]


def test_trial_ended_records_the_trials_in_order():
    runner = TrialRunner()
    for trial_id in ("03", "01"):
        runner.trial_ended(types.SimpleNamespace(trial_id=trial_id))
    assert runner.trials_run == ["03", "01"]
