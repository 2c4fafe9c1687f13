"""`curve_verdict`: underfitting, good fit, overfitting or diverging, from loss curves.

The rules, checked in this order at the last epoch ``e`` of the curves (``L`` the
training loss per epoch, ``V`` the validation loss per epoch, ``B`` a baseline
loss):

1. **diverging**: ``L[e]`` (or ``V[e]``) is NaN or infinite; or ``L[e]`` is
   above its first value ``L[0]`` and above ``divergence_factor`` times its
   lowest value so far.
2. **overfitting** (needs `V`): the validation loss has stayed more than
   ``overfit_tolerance`` (relative) above its best value ``V[b]`` for the last
   ``patience`` epochs, while the training loss kept falling
   (``L[e] < L[b]``). This is Prechelt's generalization loss
   ``GL = V[e] / V[b] - 1`` held above the tolerance for `patience` epochs.
3. **underfitting**: ``L[e] > underfit_ratio * B``: the model has not removed
   even ``1 - underfit_ratio`` of the baseline loss. `B` is the loss of the best
   constant prediction (the mean target for MSE, the class frequencies for
   crossentropy) when known, else the first epoch's training loss.
4. otherwise **good fit**.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from kerasplus import _validation as v

VERDICTS = ("good fit", "underfitting", "overfitting", "diverging")
"""The verdicts `curve_verdict` returns, a tuple of strings.

A verdict's index here is its numeric code: `FitDiagnostics` logs it as ``diag_verdict`` (``"good fit"`` 0 ...
``"diverging"`` 3) and `plot_learning_curves` reads it back.
"""
VERDICT_CODES = {name: code for code, name in enumerate(VERDICTS)}


def _losses(name, values):
    """A sequence of losses as floats (NaN and inf kept: they are verdicts), or a TypeError naming it."""
    if isinstance(values, (str, bytes)) or not hasattr(values, "__iter__"):
        raise TypeError(f"`{name}` must be a sequence of numbers; received {type(values).__name__}.")
    try:
        return [float(value) for value in values]
    except (TypeError, ValueError):
        raise TypeError(f"`{name}` must be a sequence of numbers; received {values!r}.") from None


def _finite(values):
    return [value for value in values if value is not None and math.isfinite(value)]


def curve_verdict(
    train_loss: Sequence[float],
    val_loss: Sequence[float] | None = None,
    *,
    baseline_loss: float | None = None,
    underfit_ratio: float = 0.5,
    overfit_tolerance: float = 0.1,
    patience: int = 3,
    divergence_factor: float = 2.0,
) -> tuple[str, str]:
    """The verdict at the last epoch of the curves, and the reason in words.

    Args:
        train_loss: training loss per epoch (a sequence of floats, at least one).
        val_loss: validation loss per epoch, same length, or None.
        baseline_loss: loss of a trivial predictor; None uses ``train_loss[0]``.
        underfit_ratio: underfitting when the last training loss is above
            this fraction of the baseline loss.
        overfit_tolerance: overfitting when the validation loss has stayed
            more than this (relative) above its best value.
        patience: for how many of the last epochs the validation loss must
            have stayed above that tolerance.
        divergence_factor: diverging when the training loss is above its
            first value and above this many times its lowest value so far.

    Returns:
        ``(verdict, reason)``, `verdict` one of `VERDICTS`.

    Example:

    >>> from kerasplus.diagnostics import curve_verdict
    >>> curve_verdict([1.0, 0.5, 0.3, 0.2, 0.1, 0.05],
    ...               [1.0, 0.6, 0.5, 0.7, 0.8, 0.9])[0]
    'overfitting'
    >>> curve_verdict([0.70, 0.69, 0.69], baseline_loss=0.693)[0]
    'underfitting'
    """
    train = _losses("train_loss", train_loss)
    if baseline_loss is not None:
        baseline_loss = v.check_positive("baseline_loss", baseline_loss)
    underfit_ratio = v.check_range("underfit_ratio", underfit_ratio, 0.0, 1.0, low_inclusive=False)
    overfit_tolerance = v.check_non_negative("overfit_tolerance", overfit_tolerance)
    patience = v.check_int("patience", patience, minimum=1)
    divergence_factor = v.check_number("divergence_factor", divergence_factor)
    if not divergence_factor > 1.0:
        raise ValueError(f"`divergence_factor` must be > 1; received divergence_factor={divergence_factor!r}.")
    if not train:
        raise ValueError("`train_loss` must hold at least one epoch; received an empty sequence.")
    val = None if val_loss is None else _losses("val_loss", val_loss)
    if val is not None and len(val) != len(train):
        raise ValueError(
            f"`val_loss` must have one value per epoch of `train_loss`; received "
            f"{len(val)} values for {len(train)} epochs."
        )
    last = train[-1]
    if not math.isfinite(last) or (val is not None and not math.isfinite(val[-1])):
        which = "training" if not math.isfinite(last) else "validation"
        return "diverging", f"the {which} loss is not finite"
    best_train = min(_finite(train))
    if len(train) > 1 and last > train[0] and last > divergence_factor * best_train:
        return "diverging", (
            f"training loss {last:.4g} is above its first value {train[0]:.4g} and "
            f"{last / best_train:.3g}x its best {best_train:.4g} (limit {divergence_factor:g}x)"
        )
    if val is not None and len(val) > patience:
        earlier = [(value, epoch) for epoch, value in enumerate(val) if math.isfinite(value)]
        best_val, best_epoch = min(earlier)
        recent = val[-patience:]
        if (
            best_epoch < len(val) - patience
            and min(recent) > (1.0 + overfit_tolerance) * best_val
            and last < train[best_epoch]
        ):
            return "overfitting", (
                f"validation loss has stayed above {1.0 + overfit_tolerance:.3g}x its best "
                f"{best_val:.4g} (epoch {best_epoch + 1}) for {patience} epochs "
                f"(now {val[-1]:.4g}) while training loss fell to {last:.4g}"
            )
    reference = baseline_loss if baseline_loss is not None and baseline_loss > 0 else train[0]
    source = "baseline" if reference is baseline_loss else "first-epoch loss"
    if reference > 0 and last > underfit_ratio * reference:
        return "underfitting", (
            f"training loss {last:.4g} is {last / reference:.0%} of the {source} "
            f"{reference:.4g} (underfit above {underfit_ratio:.0%})"
        )
    share = f"{last / reference:.0%} of the {source} {reference:.4g}" if reference > 0 else "at zero"
    return "good fit", (
        f"training loss {last:.4g} is {share}"
        + ("" if val is None else f"; validation loss {val[-1]:.4g} is near its best")
    )
