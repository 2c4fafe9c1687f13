"""k-fold cross-validation of a Keras model builder."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import keras

import math

from kerasplus import _validation as v


def check_built_model(model, who="build_model"):
    """`build_model` must return a compiled keras Model."""
    import keras

    if not isinstance(model, keras.Model):
        raise TypeError(f"`{who}` must return a keras Model; it returned {type(model).__name__}.")
    if getattr(model, "optimizer", None) is None:
        raise ValueError(f"`{who}` must return a compiled model: call model.compile(...) before returning it.")
    return model


def cross_validate(
    build_model: Callable[[], keras.Model],
    x: Any,
    y: Any,
    *,
    k: int = 5,
    stratify: bool = True,
    seed: int = 0,
    **fit_kwargs: Any,
) -> dict:
    """Trains a fresh model per fold and evaluates it on the held-out fold.

    Args:
        build_model: a function with no arguments returning a compiled model.
        x: numpy array of inputs.
        y: numpy array of targets.
        k: number of folds, >= 2 (as `kerasplus.data.kfold`).
        stratify: keep the class proportions in every fold (as `kerasplus.data.kfold`).
        seed: seed of the folds' shuffle.
        **fit_kwargs: passed to every `fit`, as in `kerasplus.tuning.search` (``epochs=20,
            batch_size=64``...). Defaults: ``epochs=1`` (one epoch per fold) and ``verbose=0``; Keras's
            own defaults otherwise (``batch_size=32``). `x`, `y` and `validation_data` come from the folds.
            The former ``fit_kwargs={...}`` dictionary is still accepted, with a `DeprecationWarning`.

    Returns:
        ``{"folds": [{metric: value}, ...], "mean": {...}, "std": {...}}`` with
        the population standard deviation over folds.

    Example:

    >>> import keras, kerasplus
    >>> x, y = kerasplus.data.load("iris")
    >>> def build():
    ...     model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3)])
    ...     model.compile("adam", keras.losses.SparseCategoricalCrossentropy(from_logits=True), metrics=["accuracy"])
    ...     return model
    >>> result = kerasplus.tuning.cross_validate(build, x, y, k=3, epochs=2, batch_size=16)
    >>> len(result["folds"]), sorted(result["mean"])
    (3, ['accuracy', 'loss'])
    """
    import warnings

    import keras

    from kerasplus.data.kfold import kfold

    v.check_callable("build_model", build_model)
    v.check_int("k", k, minimum=2)
    if "fit_kwargs" in fit_kwargs:
        warnings.warn(
            "`cross_validate(..., fit_kwargs={...})` is deprecated: pass the fit arguments directly, "
            "as in `cross_validate(build, x, y, epochs=5)`.",
            DeprecationWarning,
            stacklevel=2,
        )
        fit_kwargs = {**(fit_kwargs.pop("fit_kwargs") or {}), **fit_kwargs}
    for name in ("x", "y", "validation_data", "validation_split"):
        if name in fit_kwargs:
            raise ValueError(f"`cross_validate` takes `{name}` from the folds; do not pass it as a fit argument.")
    fit_kwargs = {"epochs": 1, "verbose": 0, **fit_kwargs}
    folds = []
    for index, ((x_train, y_train), (x_val, y_val)) in enumerate(kfold(x, y, k, stratify=stratify, seed=seed)):
        keras.utils.set_random_seed(seed + index)
        model = check_built_model(build_model())
        model.fit(x_train, y_train, **fit_kwargs)
        scores = model.evaluate(x_val, y_val, verbose=0, return_dict=True)
        folds.append({name: float(value) for name, value in scores.items()})
    names = folds[0].keys()
    mean = {name: sum(f[name] for f in folds) / len(folds) for name in names}
    std = {name: math.sqrt(sum((f[name] - mean[name]) ** 2 for f in folds) / len(folds)) for name in names}
    return {"folds": folds, "mean": mean, "std": std}
