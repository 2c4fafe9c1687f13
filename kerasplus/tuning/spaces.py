"""Search-space helpers for KerasTuner that keep a `build_model(hp)` short.

Each takes a `keras_tuner.HyperParameters` and returns a value to use directly;
the names are fixed so results tables read the same across projects.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import keras

    from kerasplus.callbacks.lr_finder import LRFinderResult

import numpy as np

from kerasplus import _validation as v

SCHEDULES = ("constant", "one_cycle", "cyclic")


def _check_hp(hp: Any) -> Any:
    if not all(callable(getattr(hp, method, None)) for method in ("Choice", "Float", "Int")):
        raise TypeError(f"`hp` must be a keras_tuner.HyperParameters; received hp={hp!r}.")
    return hp


def learning_rate_schedule(
    hp: Any, steps: int, *, min_lr: float = 1e-4, max_lr: float = 1e-1
) -> float | keras.optimizers.schedules.LearningRateSchedule:
    """A learning rate or schedule: constant, `OneCycle` or `CyclicLR`.

    Hyperparameters: ``lr_schedule`` (choice), ``learning_rate`` (log-uniform in
    [min_lr, max_lr]: the constant rate, the one-cycle peak, or the cyclic
    top), and under the cyclic choice ``cyclic_cycles`` (1-4 cycles over `steps`).

    Args:
        hp: `keras_tuner.HyperParameters`.
        steps: optimizer steps of the training run, >= 2.
        min_lr: lower end of the search range, > 0 and < `max_lr`.
        max_lr: upper end of the search range, > `min_lr`.

    Returns:
        The constant rate (a float), or a `OneCycle` or `CyclicLR` schedule
        over `steps`, to pass as an optimizer's ``learning_rate``.

    Raises:
        ValueError: `steps` < 2, or the range is not ``0 < min_lr < max_lr``.

    Example:

    >>> import keras_tuner
    >>> hp = keras_tuner.HyperParameters()
    >>> hp.Fixed("lr_schedule", "one_cycle")
    'one_cycle'
    >>> schedule = learning_rate_schedule(hp, steps=100, min_lr=1e-3, max_lr=1e-1)
    >>> type(schedule).__name__, sorted(hp.values)
    ('OneCycle', ['learning_rate', 'lr_schedule'])
    """
    from kerasplus.schedules import CyclicLR, OneCycle

    _check_hp(hp)
    steps = v.check_int("steps", steps, minimum=2)
    min_lr, max_lr = v.check_positive("min_lr", min_lr), v.check_positive("max_lr", max_lr)
    v.check_less("min_lr", min_lr, "max_lr", max_lr)
    kind = hp.Choice("lr_schedule", list(SCHEDULES))
    rate = hp.Float("learning_rate", min_lr, max_lr, sampling="log")
    if kind == "one_cycle":
        return OneCycle(max_lr=rate, total_steps=steps, pct_start=0.3)
    if kind == "cyclic":
        with hp.conditional_scope("lr_schedule", ["cyclic"]):
            cycles = hp.Int("cyclic_cycles", 1, 4)
        half = max(1, steps // (2 * cycles))
        return CyclicLR(base_lr=rate / 10.0, max_lr=rate, step_size_up=half)
    return rate


def lr_range(result: LRFinderResult, *, below: float = 10.0, above: float = 3.0) -> tuple[float, float]:
    """A search range for the learning rate seeded from an LR range test.

    ``(valley / below, min(valley * above, largest rate tested))`` around the
    test's "valley" suggestion, to pass as ``min_lr``/``max_lr`` to
    `learning_rate_schedule`.

    Args:
        result: the `kerasplus.callbacks.LRFinderResult` of `kerasplus.lr_find`.
        below: factor (> 1) below the suggestion.
        above: factor (> 1) above the suggestion.

    Returns:
        ``(min_lr, max_lr)``, two floats.

    Raises:
        ValueError: `below` or `above` is not > 1.

    Example:

    >>> import numpy as np
    >>> from kerasplus.callbacks import LRFinderResult
    >>> lrs = np.geomspace(1e-5, 1.0, 50)
    >>> losses = 2.0 - np.tanh(10 * (np.log10(lrs) + 3))  # falls around 1e-3
    >>> result = LRFinderResult(lrs, losses, losses, diverged=False)
    >>> low, high = lr_range(result)
    >>> bool(low < result.suggestion_valley < high <= 1.0)
    True
    """
    if not hasattr(result, "suggestion_valley") or not hasattr(result, "lrs"):
        raise TypeError(f"`result` must be an LRFinderResult; received {type(result).__name__}.")
    below = v.check_number("below", below)
    above = v.check_number("above", above)
    if below <= 1.0 or above <= 1.0:
        raise ValueError(f"`below` and `above` must be > 1; received below={below}, above={above}.")
    valley = float(result.suggestion_valley)
    return valley / below, min(valley * above, float(np.max(result.lrs)))


def mixup_alpha(hp: Any) -> float:
    """``mixup_alpha`` in [0.1, 0.4] (the range Zhang et al. found useful).

    Args:
        hp: `keras_tuner.HyperParameters`.

    Returns:
        The value of the ``mixup_alpha`` hyperparameter, a float in steps of 0.1.

    Example:

    >>> import keras_tuner
    >>> mixup_alpha(keras_tuner.HyperParameters())
    0.1
    """
    return _check_hp(hp).Float("mixup_alpha", 0.1, 0.4, step=0.1)


def focal_gamma(hp: Any) -> float:
    """``focal_gamma`` in [0, 5] (Lin et al. use 2).

    Args:
        hp: `keras_tuner.HyperParameters`.

    Returns:
        The value of the ``focal_gamma`` hyperparameter, a float in steps of 0.5.

    Example:

    >>> import keras_tuner
    >>> focal_gamma(keras_tuner.HyperParameters())
    0.0
    """
    return _check_hp(hp).Float("focal_gamma", 0.0, 5.0, step=0.5)


def dropout(hp: Any, name: str = "dropout") -> float:
    """A dropout rate in [0, 0.5].

    Args:
        hp: `keras_tuner.HyperParameters`.
        name: name of the hyperparameter, one per dropout layer searched.

    Returns:
        The value of the hyperparameter, a float in steps of 0.1.

    Example:

    >>> import keras_tuner
    >>> hp = keras_tuner.HyperParameters()
    >>> dropout(hp), dropout(hp, name="head_dropout"), sorted(hp.values)
    (0.0, 0.0, ['dropout', 'head_dropout'])
    """
    if not isinstance(name, str) or not name:
        raise TypeError(f"`name` must be a non-empty string; received name={name!r}.")
    return _check_hp(hp).Float(name, 0.0, 0.5, step=0.1)
