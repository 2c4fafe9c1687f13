"""Hyperparameter search with KerasTuner that never fails quietly."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import keras

import warnings
from typing import NamedTuple

from kerasplus import _validation as v
from kerasplus.tuning.cross_validate import check_built_model
from kerasplus.tuning.search_summary import SearchSummary, summarize
from kerasplus.tuning.trial_runner import METHODS, TrialRunner, planned_trials, tuner_class


class SearchResult(NamedTuple):
    """What `search` returns: ``tuner, summary = search(...)``.

    Attributes:
        tuner: the KerasTuner tuner that ran the search.
        summary: the `SearchSummary` of its trials.

    Example:

    >>> from kerasplus.tuning import SearchResult, SearchSummary, TrialRecord
    >>> summary = SearchSummary("val_loss", "min", (TrialRecord("00", "COMPLETED", 0.25, {"units": 32}),))
    >>> tuner, summary = SearchResult(tuner=None, summary=summary)
    >>> summary.best.score
    0.25
    """

    tuner: object
    summary: SearchSummary


class TrialsFailedError(RuntimeError):
    """Every trial of a search failed; ``summary`` says how and why.

    Attributes:
        summary: the `SearchSummary` of the failed trials; its
            `failure_report` groups them by error.

    Example:

    >>> from kerasplus.tuning import SearchSummary, TrialRecord, TrialsFailedError
    >>> bad = TrialRecord("00", "FAILED", None, {"units": 64}, message="ValueError: loss is nan")
    >>> try:
    ...     raise TrialsFailedError("every trial failed", SearchSummary("val_loss", "min", (bad,)))
    ... except TrialsFailedError as error:
    ...     print(error.summary.failure_report())
      1 x ValueError: loss is nan (trials 00)
    """

    def __init__(self, message: str, summary: SearchSummary) -> None:
        super().__init__(message)
        self.summary = summary


def search(
    build_model: Callable[[Any], keras.Model],
    x: Any = None,
    y: Any = None,
    *,
    method: str = "random",
    objective: Any = "val_loss",
    max_trials: int | None = 10,
    max_epochs: int | None = None,
    directory: str = "kerasplus_tuning",
    project_name: str = "search",
    cv: int | None = None,
    stratify: bool = True,
    overwrite: bool = False,
    seed: int = 0,
    max_consecutive_failed_trials: int | None = None,
    tensorboard_dir: str | None = None,
    tuner_kwargs: dict | None = None,
    **fit_kwargs,
) -> SearchResult:
    """Runs a KerasTuner search and surfaces every failed trial.

    The tuner is KerasTuner's own (`RandomSearch`, `GridSearch`,
    `BayesianOptimization` or `Hyperband`) with three changes:

    - A trial that raises, or ends with a non-finite objective or loss, is
      recorded as failed with its error (KerasTuner scores an infinite
      objective as a result, and a diverged model's NaN loss goes unseen when
      the objective is an accuracy). The summary counts failures and groups them by error; when
      some failed a `UserWarning` says so, and when every trial failed
      `search` raises `TrialsFailedError` with the first error instead of
      returning a "best".
    - ``cv=k`` makes a trial's objective the mean over k folds of
      `kerasplus.data.kfold` (each fold a fresh model seeded with
      ``seed + fold`` as in `cross_validate`; per-fold values are kept in the
      trial folder and shown as ``±`` in the summary).
    - `build_model` must return a compiled `keras.Model`; this is checked when
      the tuner is created, before any trial runs.

    Resume: calling `search` again with the same arguments (same `directory`
    and `project_name`, ``overwrite=False``) continues a search killed at any
    point (during a trial, between trials, while the oracle saves): every
    planned trial ends exactly once, finished trials are not rerun and the one
    that was running is rerun from scratch (KerasTuner 1.4.8 alone loses a
    grid's order, can rerun a finished trial or never run a half-created one).
    When a search ends with fewer trials than planned, or with trials that
    never finished, a `UserWarning` says so. Distributed search: start the same script on every
    machine with ``KERASTUNER_TUNER_ID`` (``chief`` on one, unique names such as
    ``tuner0`` elsewhere), ``KERASTUNER_ORACLE_IP`` and ``KERASTUNER_ORACLE_PORT``
    set; the chief serves the oracle and returns once every trial has ended, and
    each worker's summary lists the trials it ran.

    Args:
        build_model: ``build_model(hp) -> compiled keras.Model``.
        x: training inputs, passed to `fit` (a `tf.data.Dataset` is accepted
            when `cv` is None); a numpy array when `cv` is set.
        y: training targets, passed to `fit` (None with a dataset); a numpy
            array when `cv` is set.
        method: one of ``"random"``, ``"grid"``, ``"bayesian"``, ``"hyperband"``.
        objective: KerasTuner objective: a metric name such as ``"val_loss"``
            or ``"val_accuracy"``, or a `keras_tuner.Objective`.
        max_trials: trials to run (random, bayesian; grid: None runs the whole
            grid). Not used by hyperband.
        max_epochs: hyperband's largest budget; defaults to ``epochs`` in
            `fit_kwargs`.
        directory: the folder where KerasTuner keeps its state.
        project_name: the sub-folder of `directory` for this search.
        cv: None, or the number of folds (>= 2).
        stratify: stratified folds when `cv` is set (classification labels).
        overwrite: start afresh instead of resuming.
        seed: the tuner's seed, and the folds' split seed.
        max_consecutive_failed_trials: stop the search after this many failures
            in a row (KerasTuner's option); None runs every trial.
        tensorboard_dir: if set, each trial logs to ``<dir>/<trial>/`` with its
            hyperparameters recorded for TensorBoard's HParams dashboard.
        tuner_kwargs: anything else for the KerasTuner tuner (``factor``,
            ``executions_per_trial``, ``max_retries_per_trial``...).
        **fit_kwargs: passed to every `fit` (``epochs``, ``validation_data``,
            ``callbacks``, ``verbose``...).

    Returns:
        ``SearchResult(tuner, summary)``: the tuner (``tuner.get_best_models()``,
        ``tuner.results_summary()``... all work) and a `SearchSummary` whose
        ``table()`` lists trials best first.

    Example:

    >>> import keras, kerasplus
    >>> x, y = kerasplus.data.load("iris")
    >>> def build(hp):
    ...     model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(hp.Int("units", 4, 8, step=4)),
    ...                               keras.layers.Dense(3)])
    ...     model.compile("adam", keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    ...     return model
    >>> import tempfile
    >>> tuner, summary = kerasplus.tuning.search(build, x, y, method="grid", max_trials=None,
    ...     objective="loss", directory=tempfile.mkdtemp(), epochs=1, verbose=0)
    >>> summary.completed, summary.failed
    (2, 0)
    """
    import keras

    kwargs = _check_arguments(
        build_model,
        x,
        y,
        method=method,
        objective=objective,
        max_trials=max_trials,
        max_epochs=max_epochs,
        cv=cv,
        overwrite=overwrite,
        seed=seed,
        max_consecutive_failed_trials=max_consecutive_failed_trials,
        tuner_kwargs=tuner_kwargs,
        fit_kwargs=fit_kwargs,
    )

    def checked_build(hp):
        return check_built_model(build_model(hp))

    tuner = tuner_class(method)(
        checked_build,
        objective=objective,
        directory=directory,
        project_name=project_name,
        overwrite=overwrite,
        seed=seed,
        runner=TrialRunner(cv, stratify=stratify, seed=seed),
        **kwargs,
    )
    if tensorboard_dir is not None:
        callbacks = list(fit_kwargs.get("callbacks") or [])
        callbacks.append(keras.callbacks.TensorBoard(log_dir=tensorboard_dir))
        fit_kwargs["callbacks"] = callbacks
    try:
        tuner.search(x, y, **fit_kwargs)
    except RuntimeError as error:
        if "consecutive failures" not in str(error):
            raise
        summary = summarize(tuner)
        raise TrialsFailedError(
            f"The search stopped after {kwargs['max_consecutive_failed_trials']} failed trials in a row "
            f"(max_consecutive_failed_trials).\n{summary}",
            summary,
        ) from None
    summary = summarize(tuner)
    if summary.trials and summary.completed == 0:
        first = summary.failures_in_order()[0]
        raise TrialsFailedError(
            f"All {summary.failed} trials failed; the first (trial {first.trial_id}) with {first.error}\n"
            f"{summary.failure_report()}\nIts traceback:\n{first.message}",
            summary,
        )
    if summary.failed:
        warnings.warn(
            f"{summary.failed} of {len(summary.trials)} trials failed:\n{summary.failure_report()}",
            UserWarning,
            stacklevel=2,
        )
    short = shortfall(summary, planned_trials(tuner))
    if short:
        warnings.warn(short, UserWarning, stacklevel=2)
    return SearchResult(tuner, summary)


def shortfall(summary: SearchSummary, planned: int | None) -> str | None:
    """Why `summary` has fewer ended trials than `planned` (or trials that never finished), or None."""
    unfinished = [t for t in summary.trials if t.status not in ("COMPLETED", "FAILED")]
    ended = summary.completed + summary.failed
    problems = []
    if planned is not None and ended < planned:
        problems.append(
            f"{planned - ended} of {planned} planned trials never ran to the end "
            "(KerasTuner stops early when it cannot draw new hyperparameter values: the search space may be "
            "smaller than `max_trials`)"
        )
    if unfinished:
        listed = ", ".join(f"{t.trial_id} ({t.status})" for t in sorted(unfinished, key=lambda t: t.trial_id))
        problems.append(f"{len(unfinished)} trials never finished: {listed}")
    if not problems:
        return None
    return (
        f"The search ended with {summary.completed} completed and {summary.failed} failed trials: "
        + "; ".join(problems)
        + ". The best trial is the best of those that completed; call `search` again with the same arguments "
        "to run the rest."
    )


def _check_arguments(
    build_model,
    x,
    y,
    *,
    method,
    objective,
    max_trials,
    max_epochs,
    cv,
    overwrite,
    seed,
    max_consecutive_failed_trials,
    tuner_kwargs,
    fit_kwargs,
) -> dict:
    """Checks `search`'s arguments before any trial runs; returns the KerasTuner tuner's keyword arguments."""
    v.check_callable("build_model", build_model)
    v.check_choice("method", method, tuple(METHODS))
    validation = {"validation_data", "validation_split"} & set(fit_kwargs)
    if cv is not None:
        v.check_int("cv", cv, minimum=2)
        if x is None or y is None:
            raise ValueError("`cv` needs `x` and `y` as arrays: the folds are cut from them.")
        if validation:
            raise ValueError(f"`cv` builds each fold's validation set itself; do not pass {min(validation)!r}.")
    elif _needs_validation(objective) and not validation:
        raise ValueError(
            f"`objective`={objective!r} is measured on validation data: pass `validation_data` or "
            "`validation_split`, or `cv=k`, or use a training metric such as 'loss'."
        )
    v.check_bool("overwrite", overwrite)
    v.check_int("seed", seed, minimum=0)
    kwargs = dict(tuner_kwargs or {})
    if method == "hyperband":
        if max_trials not in (None, 10) and "max_trials" not in kwargs:
            raise ValueError("`max_trials` is not used by method='hyperband'; set `max_epochs` (its budget).")
        max_epochs = fit_kwargs.get("epochs") if max_epochs is None else max_epochs
        if max_epochs is None:
            raise ValueError("method='hyperband' needs `max_epochs` (or `epochs` in the fit arguments).")
        kwargs["max_epochs"] = v.check_int("max_epochs", max_epochs, minimum=1)
    else:
        kwargs["max_trials"] = v.check_optional_int("max_trials", max_trials, minimum=1)
        if kwargs["max_trials"] is None and method != "grid":
            raise ValueError(f"`max_trials` must be an integer >= 1 for method={method!r}; received None.")
    if max_consecutive_failed_trials is None:
        max_consecutive_failed_trials = 2**31 - 1
    kwargs["max_consecutive_failed_trials"] = v.check_int(
        "max_consecutive_failed_trials", max_consecutive_failed_trials, minimum=1
    )
    return kwargs


def _needs_validation(objective):
    names = [objective] if isinstance(objective, str) else [getattr(objective, "name", "")]
    if isinstance(objective, (list, tuple)):
        names = [o if isinstance(o, str) else getattr(o, "name", "") for o in objective]
    return any(str(name).startswith("val_") for name in names)
