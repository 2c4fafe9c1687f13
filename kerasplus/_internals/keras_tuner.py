"""Private KerasTuner APIs kerasplus relies on, each with its reason, public route and canary.

KerasTuner is imported inside each function: importing kerasplus must not import it.
"""

from __future__ import annotations

import inspect

from kerasplus._internals.registry import fenced, require

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
    require(list(inspect.signature(keras_tuner.Tuner._build_hypermodel).parameters) == ["self", "hp"],
            "keras_tuner.Tuner._build_hypermodel(self, hp)")
    require("_build_hypermodel" in vars(keras_tuner.Hyperband), "keras_tuner.Hyperband._build_hypermodel (warm start)")


@fenced(
    reason="run kerasplus's own build-and-fit of each trial (k folds, non-finite results as failures) in KerasTuner",
    waits_for="a public per-trial build-and-fit hook in KerasTuner (Tuner._build_and_fit_model is 'for AutoKeras')",
    feature="tuning.search: cv=k, failed trials on non-finite results, no Hyperband warm start across folds",
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
    """
    import keras_tuner

    class Tuner(base):
        def __init__(self, *args, runner, **kwargs):
            self.runner = runner
            super().__init__(*args, **kwargs)

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
