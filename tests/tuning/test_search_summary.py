import json
import math
import traceback
import types

import pytest

from kerasplus.tuning.search_summary import SearchSummary, TrialRecord, summarize
from kerasplus.tuning.trial_runner import CV_FILE, TrialRunner


def failed_trial_message(text):
    """The traceback KerasTuner stores for a trial that raised FailedTrialError(text)."""
    from keras_tuner.errors import FailedTrialError

    try:
        raise FailedTrialError(text)
    except FailedTrialError:
        return traceback.format_exc()


def trial(trial_id, status, score=None, message=None, **hp):
    return types.SimpleNamespace(
        trial_id=trial_id,
        status=status,
        score=score,
        message=message,
        hyperparameters=types.SimpleNamespace(values=hp),
    )


def fake_tuner(trials, tmp_path, direction="min", with_trials=True, runner=None):
    objective = types.SimpleNamespace(name="val_loss", direction=direction)
    by_id = {t.trial_id: t for t in trials}
    oracle = types.SimpleNamespace(objective=objective, get_trial=by_id.__getitem__)
    if with_trials:
        oracle.trials = by_id

    def get_trial_dir(trial_id):
        path = tmp_path / f"trial_{trial_id}"
        path.mkdir(exist_ok=True)
        return str(path)

    return types.SimpleNamespace(oracle=oracle, get_trial_dir=get_trial_dir, runner=runner)


def test_the_error_of_a_failed_trial_is_the_last_line_without_keras_tuners_class_path():
    message = failed_trial_message("NonFiniteLoss: loss = nan at the last epoch (the run diverged)")
    assert message.strip().splitlines()[-1].startswith("keras_tuner.src.errors.FailedTrialError: ")
    record = TrialRecord("00", "FAILED", None, {}, message=message)
    assert record.error == "NonFiniteLoss: loss = nan at the last epoch (the run diverged)"


def test_the_error_of_any_other_exception_keeps_its_type():
    record = TrialRecord("00", "FAILED", None, {}, message="Traceback ...\n  File x\nValueError: bad units\n\n")
    assert record.error == "ValueError: bad units"
    assert TrialRecord("01", "COMPLETED", 1.0, {}).error is None
    assert TrialRecord("02", "FAILED", None, {}, message="  \n").error is None


@pytest.mark.parametrize("direction, order", [("min", ["01", "00", "03", "02"]), ("max", ["00", "01", "03", "02"])])
def test_trials_are_sorted_best_first_then_failed(direction, order, tmp_path):
    trials = [
        trial("00", "COMPLETED", 0.9, units=4),
        trial("01", "COMPLETED", 0.2, units=8),
        trial("02", "FAILED", message="Traceback\nValueError: boom"),
        trial("03", "COMPLETED", math.nan, units=4),
    ]
    summary = summarize(fake_tuner(trials, tmp_path, direction=direction))
    assert [t.trial_id for t in summary.trials] == order
    assert summary.best.trial_id == order[0]
    assert summary.completed == 3 and summary.failed == 1
    assert {t.trial_id: t.score for t in summary.trials}["03"] is None  # a NaN objective has no score
    assert summary.failure_report() == "  1 x ValueError: boom (trials 02)"


def test_an_invalid_trial_with_a_message_counts_as_failed(tmp_path):
    trials = [trial("00", "INVALID", message="Traceback\nTypeError: no"), trial("01", "INVALID")]
    summary = summarize(fake_tuner(trials, tmp_path))
    assert [t.status for t in sorted(summary.trials, key=lambda t: t.trial_id)] == ["FAILED", "INVALID"]
    assert summary.best is None


def test_cv_fold_values_are_shown_as_a_spread(tmp_path):
    tuner = fake_tuner([trial("00", "COMPLETED", 0.5, units=4)], tmp_path)
    with open(f"{tuner.get_trial_dir('00')}/{CV_FILE}", "w") as f:
        json.dump({"val_loss": [0.4, 0.6]}, f)
    summary = summarize(tuner)
    assert summary.trials[0].fold_scores == (0.4, 0.6)
    assert "0.5 ± 0.1" in summary.table()


def test_a_distributed_worker_lists_the_trials_its_runner_ran(tmp_path):
    runner = TrialRunner()
    trials = [trial("00", "COMPLETED", 0.5), trial("01", "COMPLETED", 0.3), trial("02", "COMPLETED", 0.1)]
    for ran in (trials[2], trials[0]):
        runner.trial_ended(ran)
    summary = summarize(fake_tuner(trials, tmp_path, with_trials=False, runner=runner))
    assert [t.trial_id for t in summary.trials] == ["02", "00"]


def test_table_and_text_list_every_trial_with_its_hyperparameters():
    summary = SearchSummary(
        "val_loss",
        "min",
        (
            TrialRecord("01", "COMPLETED", 0.25, {"units": 8, "learning_rate": 0.01, "tuner/epochs": 2}),
            TrialRecord("00", "FAILED", None, {"units": 4}, message="Traceback\nValueError: boom"),
        ),
    )
    lines = summary.table().splitlines()
    assert lines[0].split() == ["rank", "trial", "val_loss", "(min)", "units", "learning_rate", "status"]
    assert lines[1].split() == ["1", "01", "0.25", "8", "0.01", "COMPLETED"]
    assert lines[2].split()[:3] == ["-", "00", "-"] and lines[2].endswith("FAILED: ValueError: boom")
    text = str(summary)
    assert text.startswith("1 completed, 1 failed, 2 trials\n") and "failures:\n  1 x ValueError: boom" in text
