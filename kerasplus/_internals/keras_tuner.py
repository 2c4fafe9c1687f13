"""Private KerasTuner APIs kerasplus relies on, each with its reason, public route and canary.

KerasTuner is imported inside each function: importing kerasplus must not import it.
"""

from __future__ import annotations

import inspect
import logging
import numbers as numbers_module

from kerasplus._internals.registry import fenced, require

logger = logging.getLogger("kerasplus.tuning")

# ---------------------------------------------------------------------------
# tuning.search: kerasplus runs each trial inside KerasTuner's trial loop
# ---------------------------------------------------------------------------


def _canary_trial_hooks():
    import keras_tuner

    for name in ("_build_hypermodel", "_build_and_fit_model", "_try_build"):
        require(callable(getattr(keras_tuner.Tuner, name, None)), f"keras_tuner.Tuner.{name}")
    require(
        list(inspect.signature(keras_tuner.Tuner._build_and_fit_model).parameters)[:2] == ["self", "trial"],
        "keras_tuner.Tuner._build_and_fit_model(self, trial, *args, **kwargs)",
    )
    require(
        list(inspect.signature(keras_tuner.Tuner._build_hypermodel).parameters) == ["self", "hp"],
        "keras_tuner.Tuner._build_hypermodel(self, hp)",
    )
    require("_build_hypermodel" in vars(keras_tuner.Hyperband), "keras_tuner.Hyperband._build_hypermodel (warm start)")
    for name in ("_get_tuner_fname", "_is_worker", "get_state"):
        require(callable(getattr(keras_tuner.Tuner, name, None)), f"keras_tuner.Tuner.{name}")
    require("save" not in vars(keras_tuner.Tuner), "keras_tuner.Tuner.save is BaseTuner's (oracle, then tuner file)")


@fenced(
    reason="run kerasplus's own build-and-fit of each trial (k folds, non-finite results as failures) in KerasTuner, "
    "and write the tuner's file atomically (KerasTuner writes it in place)",
    waits_for="a public per-trial build-and-fit hook in KerasTuner (Tuner._build_and_fit_model is 'for AutoKeras')",
    feature="tuning.search: cv=k, failed trials on non-finite results, no Hyperband warm start across folds, "
    "resuming a search killed while it wrote tuner0.json",
    canary=_canary_trial_hooks,
)
def tuner_class(base: type, name: str) -> type:
    """A subclass of KerasTuner's tuner class `base` whose trials are run by a runner object.

    The subclass (named `name`, ``__mro__[1]`` is `base`) takes ``runner=`` in its constructor
    and keeps it as ``tuner.runner``. KerasTuner's private hooks call the runner's public methods:

    - ``runner.warm_start`` (bool): when False a trial's model is built the plain
      `keras_tuner.Tuner` way, skipping `base`'s own (Hyperband's reuse of an earlier trial's weights).
    - ``runner.build_and_fit(tuner, trial, *args, **kwargs)``: one execution of a trial; it may call
      ``tuner.build_and_fit_as_keras_tuner_does(trial, *args, **kwargs)`` and ``tuner.build_trial_model(hp)``.
    - ``runner.trial_ended(trial)``: called before KerasTuner's own `on_trial_end`.

    Its oracle is made durable (`make_durable`) before KerasTuner reloads a project, and the tuner's file is
    saved when a search begins, so a search killed at any point reloads on the next call. The tuner's file
    (``tuner0.json``) is written atomically too: KerasTuner writes it in place, at the start of a search and
    after every trial, and a kill in that write left a truncated file on which every rerun raised
    ``JSONDecodeError``; one left so by an earlier run is rewritten on reload (it holds the tuner's
    `get_state()`, which is ``{}`` for KerasTuner's tuners: no progress is kept there).
    """
    import keras_tuner

    from kerasplus.tuning._state_files import readable_json, write_json_atomically

    class Tuner(base):
        def __init__(self, *args, runner, **kwargs):
            self.runner = runner
            super().__init__(*args, **kwargs)
            make_durable(self.oracle)

        def reload(self):
            make_durable(self.oracle)  # before KerasTuner's reload, so that it is repaired
            path = self._get_tuner_fname()
            if "://" not in str(path) and not readable_json(path):
                write_json_atomically(path, self.get_state())
            super().reload()

        def save(self):
            path = self._get_tuner_fname()
            if "://" in str(path):  # a remote file system: KerasTuner's own writer
                return super().save()
            if not self._is_worker():
                self.oracle.save()
            return write_json_atomically(path, self.get_state())

        def on_search_begin(self):
            super().on_search_begin()
            # KerasTuner reloads a project only when the tuner's file exists; it first writes it at the end
            # of the first trial, so a search killed then would start afresh and run that trial twice.
            self.save()

        def _build_hypermodel(self, hp):
            if self.runner.warm_start:
                return super()._build_hypermodel(hp)
            return keras_tuner.Tuner._build_hypermodel(self, hp)

        def _build_and_fit_model(self, trial, *args, **kwargs):
            return self.runner.build_and_fit(self, trial, *args, **kwargs)

        def build_and_fit_as_keras_tuner_does(self, trial, *args, **kwargs):
            """KerasTuner's own build and fit of one execution of `trial`."""
            return super()._build_and_fit_model(trial, *args, **kwargs)

        def build_trial_model(self, hp):
            """A fresh model for `hp`, built and checked as KerasTuner builds a trial's model."""
            return self._try_build(hp)

        def on_trial_end(self, trial):
            self.runner.trial_ended(trial)
            super().on_trial_end(trial)

    Tuner.__name__ = Tuner.__qualname__ = name
    return Tuner


def _canary_metrics_dict():
    from keras_tuner.src.engine import tuner_utils

    require(callable(getattr(tuner_utils, "convert_to_metrics_dict", None)), "tuner_utils.convert_to_metrics_dict")
    parameters = list(inspect.signature(tuner_utils.convert_to_metrics_dict).parameters)
    require(parameters == ["results", "objective"], "tuner_utils.convert_to_metrics_dict(results, objective)")


@fenced(
    reason="read a trial's results (History, dict, number or a list of them) as KerasTuner scores them",
    waits_for="a public results-to-metrics conversion in KerasTuner (keras_tuner.engine.tuner_utils is private)",
    feature="tuning.search: cv=k fold objectives and the non-finite objective check",
    canary=_canary_metrics_dict,
)
def metrics_dict(results, objective) -> dict:
    """``{metric name: value}`` of `results` for the oracle's `objective`, as KerasTuner reads them."""
    from keras_tuner.src.engine import tuner_utils

    return tuner_utils.convert_to_metrics_dict(results, objective)


# ---------------------------------------------------------------------------
# tuning.search: a killed search resumes and runs every planned trial once
# ---------------------------------------------------------------------------


def _canary_durable_oracle():
    import keras_tuner
    from keras_tuner.src.engine import oracle as oracle_module
    from keras_tuner.src.engine import trial as trial_module
    from keras_tuner.src.tuners import gridsearch

    oracle = keras_tuner.oracles.GridSearchOracle(objective="loss")
    for name in (
        "trials",
        "ongoing_trials",
        "start_order",
        "end_order",
        "_retry_queue",
        "_run_times",
        "_ordered_ids",
        "_populate_next",
    ):
        require(hasattr(oracle, name), f"GridSearchOracle().{name}")
    for name in (
        "_save_trial",
        "_get_trial_dir",
        "_get_oracle_fname",
        "_project_dir",
        "_compare",
        "_get_next_combination",
    ):
        require(hasattr(type(oracle), name), f"GridSearchOracle.{name}")
    require(callable(getattr(gridsearch, "LinkedList", None)), "keras_tuner.src.tuners.gridsearch.LinkedList")
    require(callable(getattr(trial_module.Trial, "load", None)), "Trial.load(fname)")
    require(
        set(oracle_module.Oracle(objective="loss").get_state())
        >= {"ongoing_trials", "start_order", "end_order", "retry_queue"},
        "Oracle.get_state() keys",
    )
    hyperband = keras_tuner.oracles.HyperbandOracle(objective="loss", max_epochs=4, factor=2)
    for name in ("_get_size", "_get_num_brackets"):
        require(callable(getattr(hyperband, name, None)), f"HyperbandOracle.{name}")
    bayesian = keras_tuner.oracles.BayesianOptimizationOracle(objective="loss", max_trials=2)
    require(isinstance(getattr(bayesian, "_tried_so_far", None), set), "BayesianOptimizationOracle()._tried_so_far")
    for name in ("_random_populate_space", "_compute_values_hash", "populate_space"):
        require(callable(getattr(bayesian, name, None)), f"BayesianOptimizationOracle.{name}")
    require(
        bayesian._compute_values_hash({"a": 1.0})
        == bayesian._compute_values_hash({"a": 1.0})
        != bayesian._compute_values_hash({"a": 0.5}),
        "Oracle._compute_values_hash(values) identifies a set of values",
    )


_DURABLE_ORACLES = {}


@fenced(
    reason="KerasTuner's oracle writes its files in place and reloads a killed project inconsistently "
    "(grid order lost, finished trials rerun, half-created trials never run); its Bayesian oracle proposes "
    "points already tried",
    waits_for="atomic oracle/trial files and a complete Oracle.reload in KerasTuner (1.4.8 has neither), "
    "and a BayesianOptimizationOracle that never proposes a tried point",
    feature="tuning.search: resuming a killed search runs every planned trial exactly once; "
    "no two trials of a Bayesian search run the same hyperparameters",
    canary=_canary_durable_oracle,
)
def make_durable(oracle) -> None:
    """Makes `oracle` (a KerasTuner `Oracle`) write its files atomically and reload a killed search whole.

    The oracle's class becomes a subclass of its own (cached per class) that:

    - writes ``oracle.json`` and each ``trial.json`` to a temporary file and renames it over the old
      one, so a kill leaves either the old or the new file, never half of one;
    - after KerasTuner's own reload, repairs the state a kill can leave: a trial created but not yet in
      the oracle's file is dropped (it is created again); a trial whose ``trial.json`` says it finished is
      not run again; every trial that was running is rerun from scratch (its partial metrics cleared);
    - for a grid, rebuilds the grid's order and queue, which KerasTuner does not save (without them a
      resumed grid stops after the trials already created, or raises ``KeyError``);
    - for a Bayesian search, replaces a proposal already tried (the same values, or numbers within 1e-6 of
      their range) with a random untried point: KerasTuner's Gaussian process proposes the same optimum,
      often a corner of the space, trial after trial (with the loss ``1 - x`` on ``x`` in [0, 1] it ran
      ``x = 1.0`` five times in ten trials).
    """
    import keras_tuner

    if isinstance(oracle, keras_tuner.Oracle):
        oracle.__class__ = durable_oracle_class(type(oracle))


@fenced(
    reason="give a KerasTuner oracle class atomic file writes and a reload that repairs what a kill leaves, "
    "and a Bayesian oracle proposals it has not tried",
    waits_for="atomic oracle/trial files and a complete Oracle.reload in KerasTuner (1.4.8 has neither), "
    "and a BayesianOptimizationOracle that never proposes a tried point",
    feature="tuning.search: resuming a killed search runs every planned trial exactly once; "
    "no two trials of a Bayesian search run the same hyperparameters",
    canary=_canary_durable_oracle,
)
def durable_oracle_class(base: type) -> type:
    """``Durable<base name>``: a subclass of the KerasTuner oracle class `base` (see `make_durable`)."""
    if base in _DURABLE_ORACLES.values():
        return base
    if base in _DURABLE_ORACLES:
        return _DURABLE_ORACLES[base]

    import keras_tuner

    from kerasplus.tuning._state_files import write_json_atomically

    class DurableOracle:
        """What `make_durable` gives an oracle (see there)."""

        def save(self):
            path = self._get_oracle_fname()
            if "://" in str(path):  # a remote file system: KerasTuner's own writer
                return super().save()
            return write_json_atomically(path, self.get_state())

        def _save_trial(self, trial):
            import os

            path = os.path.join(self._get_trial_dir(trial.trial_id), "trial.json")
            if "://" in str(path):
                return super()._save_trial(trial)
            write_json_atomically(path, trial.get_state())

        def reload(self):
            super().reload()
            repair_after_reload(self)

    def repair_after_reload(oracle):
        import os

        from keras_tuner.src.engine import metrics_tracking

        started = set(oracle.start_order)
        # Created, then killed before the oracle saved: create it again.
        for trial_id in [t for t in oracle.trials if t not in started]:
            del oracle.trials[trial_id]
            path = os.path.join(oracle._project_dir, f"trial_{trial_id}", "trial.json")
            if os.path.exists(path):
                os.remove(path)
        queue = []
        for trial_id in oracle._retry_queue:
            if trial_id in queue or trial_id not in oracle.trials:
                continue
            trial = oracle.trials[trial_id]
            if trial.status in ("COMPLETED", "FAILED"):  # ended, killed before the oracle saved it
                if trial_id not in oracle.end_order:
                    oracle.end_order.append(trial_id)
                    oracle._run_times[trial_id] += 1
                continue
            queue.append(trial_id)
        for trial_id in oracle.start_order:  # running when killed, not listed as ongoing
            trial = oracle.trials.get(trial_id)
            if trial is not None and trial.status in ("RUNNING", "IDLE") and trial_id not in queue:
                queue.insert(0, trial_id)
        for trial_id in queue:
            trial = oracle.trials[trial_id]
            if trial.status in ("RUNNING", "IDLE"):  # a killed run: rerun from scratch
                trial.metrics = metrics_tracking.MetricsTracker()
                trial.score = None
                trial.best_step = 0
        oracle._retry_queue = queue
        oracle.ongoing_trials = {}
        if hasattr(oracle, "_ordered_ids") and hasattr(oracle, "_populate_next"):
            rebuild_grid(oracle)

    def rebuild_grid(oracle):
        import functools

        from keras_tuner.src.tuners import gridsearch

        def compare(a, b):
            values = oracle.trials[a].hyperparameters.values, oracle.trials[b].hyperparameters.values
            return oracle._compare(*values)

        ordered = gridsearch.LinkedList()
        for trial_id in sorted(oracle.trials, key=functools.cmp_to_key(compare)):
            ordered.insert(trial_id)
        oracle._ordered_ids = ordered
        oracle._populate_next = list(oracle.start_order)

    class DistinctProposals:
        """A Bayesian oracle that replaces a proposal already tried with a random untried point."""

        def populate_space(self, trial_id):
            response = super().populate_space(trial_id)
            values = response.get("values")
            if response.get("status") == "RUNNING" and values and tried_already(self, values):
                logger.info(
                    "kerasplus.tuning: the Bayesian oracle proposed %s for trial %s, already tried; "
                    "running a random untried point instead.",
                    values,
                    trial_id,
                )
                response = self._random_populate_space()
            return response

    def tried_already(oracle, values):
        """Whether a trial of `oracle` ran `values`, or values within 1e-6 of each range of them."""
        if oracle._compute_values_hash(values) in oracle._tried_so_far:
            return True
        space = {hp.name: hp for hp in oracle.hyperparameters.space}
        return any(
            set(trial.hyperparameters.values) == set(values)
            and all(
                same_value(space.get(name), value, trial.hyperparameters.values[name]) for name, value in values.items()
            )
            for trial in oracle.trials.values()
        )

    def same_value(hp, a, b):
        if a == b:
            return True
        numeric = all(isinstance(x, numbers_module.Real) and not isinstance(x, bool) for x in (a, b))
        if hp is None or not numeric:
            return False
        return abs(hp.value_to_prob(a) - hp.value_to_prob(b)) <= 1e-6

    mixins = (DurableOracle,)
    if issubclass(base, keras_tuner.oracles.BayesianOptimizationOracle):
        mixins = (DistinctProposals, DurableOracle)
    _DURABLE_ORACLES[base] = type(f"Durable{base.__name__}", (*mixins, base), {})
    return _DURABLE_ORACLES[base]


def _canary_planned_trials():
    _canary_durable_oracle()


@fenced(
    reason="how many trials a grid or Hyperband search plans is known only to the oracle's private methods",
    waits_for="a public planned-trial count on KerasTuner's oracles",
    feature="tuning.search: the warning when a search ends with fewer trials than planned",
    canary=_canary_planned_trials,
)
def planned_trials(oracle, limit: int = 100_000) -> int | None:
    """How many trials `oracle` plans to run (grid: its size, capped by ``max_trials``), or None if unbounded."""
    import math

    import keras_tuner

    if not isinstance(oracle, keras_tuner.Oracle):
        return None  # a worker's OracleClient
    if isinstance(oracle, keras_tuner.oracles.HyperbandOracle):
        if not math.isfinite(oracle.hyperband_iterations):
            return None
        per_iteration = sum(
            oracle._get_size(bracket, round_num)
            for bracket in range(oracle._get_num_brackets())
            for round_num in range(bracket + 1)
        )
        return int(oracle.hyperband_iterations) * per_iteration
    if isinstance(oracle, keras_tuner.oracles.GridSearchOracle):
        space = oracle.get_space()
        values = {hp.name: hp.default for hp in space.space if space.is_active(hp)}
        cap = min(oracle.max_trials or limit, limit)
        count = 1
        while count < cap:
            values = oracle._get_next_combination(values)
            if values is None:
                break
            count += 1
        return count
    return oracle.max_trials
