"""What a search did: every trial, best first, with the error of each failed one."""

from __future__ import annotations

import collections
import dataclasses
import math
import statistics

from kerasplus.tuning.trial_runner import cv_fold_values


@dataclasses.dataclass(frozen=True)
class TrialRecord:
    """One trial: its id, status, objective value, hyperparameters and error.

    Attributes:
        trial_id: KerasTuner's id of the trial.
        status: KerasTuner's status, ``"COMPLETED"``, ``"FAILED"``,
            ``"INVALID"``, ...
        score: the objective's value of a completed trial; None for a failed
            one or a non-finite value.
        hyperparameters: the trial's hyperparameter values, by name.
        message: the failure's traceback, or None.
        fold_scores: the objective on each fold under ``cv=k``, or None.

    Example:

    >>> from kerasplus.tuning import TrialRecord
    >>> trial = TrialRecord("01", "FAILED", None, {"units": 64}, message="ValueError: loss is nan")
    >>> trial.error
    'ValueError: loss is nan'
    """

    trial_id: str
    status: str
    score: float | None
    hyperparameters: dict
    message: str | None = None
    fold_scores: tuple | None = None

    @property
    def error(self) -> str | None:
        """The last line of the failure's traceback (``"ValueError: ..."``), or None."""
        if not self.message:
            return None
        lines = [line.strip() for line in self.message.strip().splitlines() if line.strip()]
        if not lines:
            return None
        return lines[-1].removeprefix("keras_tuner.src.errors.FailedTrialError: ")


@dataclasses.dataclass(frozen=True)
class SearchSummary:
    """Trials best first (completed by objective, then the failed ones).

    ``str(summary)`` counts the trials and shows `table` and `failure_report`.

    Attributes:
        objective: name of the objective, e.g. ``"val_loss"``.
        direction: ``"min"`` or ``"max"``, the objective's direction.
        trials: the `TrialRecord` of every trial, best first.

    Example:

    >>> from kerasplus.tuning import SearchSummary, TrialRecord
    >>> good = TrialRecord("00", "COMPLETED", 0.25, {"units": 32})
    >>> bad = TrialRecord("01", "FAILED", None, {"units": 64}, message="ValueError: loss is nan")
    >>> summary = SearchSummary("val_loss", "min", (good, bad))
    >>> summary.best.trial_id, summary.completed, summary.failed
    ('00', 1, 1)
    >>> print(summary)
    1 completed, 1 failed, 2 trials
    rank  trial  val_loss (min)  units  status
    1     00     0.25            32     COMPLETED
    -     01     -               64     FAILED: ValueError: loss is nan
    failures:
      1 x ValueError: loss is nan (trials 01)
    """

    objective: str
    direction: str
    trials: tuple

    @property
    def completed(self) -> int:
        return sum(t.status == "COMPLETED" for t in self.trials)

    @property
    def failed(self) -> int:
        return sum(t.status == "FAILED" for t in self.trials)

    @property
    def best(self) -> TrialRecord | None:
        """The best completed trial, or None."""
        return self.trials[0] if self.trials and self.trials[0].status == "COMPLETED" else None

    def failures_in_order(self) -> list[TrialRecord]:
        """Failed trials in the order they were created."""
        return sorted((t for t in self.trials if t.status == "FAILED"), key=lambda t: t.trial_id)

    def failure_report(self) -> str:
        """Failures grouped by error: ``count x error (trials ...)``."""
        groups = collections.OrderedDict()
        for trial in self.failures_in_order():
            groups.setdefault(trial.error or "unknown error", []).append(trial.trial_id)
        return "\n".join(f"  {len(ids)} x {error} (trials {', '.join(ids)})" for error, ids in groups.items())

    def table(self) -> str:
        """A text table, best first: rank, trial, objective, status, hyperparameters."""
        names = []
        for trial in self.trials:
            names += [n for n in trial.hyperparameters if n not in names and not n.startswith("tuner/")]
        header = ["rank", "trial", f"{self.objective} ({self.direction})", *names, "status"]
        rows = []
        for rank, trial in enumerate(self.trials, start=1):
            score = "-" if trial.score is None else f"{trial.score:.6g}"
            if trial.fold_scores and trial.score is not None and len(trial.fold_scores) > 1:
                score += f" ± {statistics.pstdev(trial.fold_scores):.2g}"
            status = trial.status if trial.status != "FAILED" else f"FAILED: {trial.error}"
            values = [_format(trial.hyperparameters.get(n, "")) for n in names]
            rows.append([str(rank) if trial.status == "COMPLETED" else "-", trial.trial_id, score, *values, status])
        widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]
        lines = ["  ".join(str(c).ljust(w) for c, w in zip(header, widths)).rstrip()]
        lines += ["  ".join(str(c).ljust(w) for c, w in zip(row, widths)).rstrip() for row in rows]
        return "\n".join(lines)

    def __str__(self):
        text = f"{self.completed} completed, {self.failed} failed, {len(self.trials)} trials\n{self.table()}"
        if self.failed:
            text += f"\nfailures:\n{self.failure_report()}"
        return text


def _format(value):
    return f"{value:.4g}" if isinstance(value, float) else str(value)


def summarize(tuner) -> SearchSummary:
    """A `SearchSummary` of `tuner`'s trials (on a distributed worker: the trials it ran)."""
    oracle = tuner.oracle
    objective = oracle.objective
    if hasattr(oracle, "trials"):
        trials = list(oracle.trials.values())
    else:  # a worker's OracleClient: the chief holds the trials
        runner = getattr(tuner, "runner", None)  # a kerasplus tuner's TrialRunner
        trials = [oracle.get_trial(trial_id) for trial_id in getattr(runner, "trials_run", [])]
    records = []
    for trial in trials:
        status = str(getattr(trial.status, "value", trial.status))
        if status in ("INVALID", "FAILED"):
            status = "FAILED" if status == "FAILED" or trial.message else status
        score = trial.score if status == "COMPLETED" else None
        if score is not None and not math.isfinite(score):
            score = None
        folds = None
        try:
            values = cv_fold_values(tuner, trial.trial_id)
        except OSError:
            values = None
        if values and objective.name in values:
            folds = tuple(values[objective.name])
        records.append(
            TrialRecord(
                trial_id=trial.trial_id,
                status=status,
                score=score,
                hyperparameters=dict(trial.hyperparameters.values),
                message=trial.message,
                fold_scores=folds,
            )
        )
    sign = -1.0 if objective.direction == "max" else 1.0
    records.sort(
        key=lambda r: (r.status != "COMPLETED", sign * r.score if r.score is not None else math.inf, r.trial_id)
    )
    return SearchSummary(objective=objective.name, direction=objective.direction, trials=tuple(records))
