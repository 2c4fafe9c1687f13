"""`plot_learning_curves`: training and validation curves from a `fit` history, as a PNG."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import keras

import math
import os

from kerasplus.diagnostics.verdicts import VERDICTS

_VERDICT_COLOURS = {"good fit": None, "underfitting": "#f2c14e", "overfitting": "#e07a5f", "diverging": "#9b2226"}
_SKIPPED = ("learning_rate", "momentum", "beta_1")


def _history_dict(history) -> dict:
    if isinstance(history, dict):
        return history
    values = getattr(history, "history", None)
    if isinstance(values, dict):
        return values
    raise TypeError(
        "`history` must be the History that `fit` returns or a dict of lists; "
        f"received history of type {type(history).__name__}."
    )


def _epoch_numbers(history, values) -> list:
    """1-based epoch numbers as Keras prints them: from `History.epoch`, so a resumed fit starts at its initial_epoch."""
    epochs = getattr(history, "epoch", None)
    length = max((len(curve) for curve in values.values()), default=0)
    if isinstance(epochs, list) and len(epochs) == length:
        return [int(epoch) + 1 for epoch in epochs]
    return list(range(1, length + 1))


def plot_learning_curves(history: keras.callbacks.History | dict, path: str) -> str:
    """Draws each metric's training and validation curve per epoch; returns `path`.

    One panel per metric (``loss`` first; ``val_<name>`` drawn with
    ``<name>``). Epochs are numbered as Keras prints them, from
    ``History.epoch``: after a resume with ``initial_epoch=2`` the curve starts
    at epoch 3. When the history holds FitDiagnostics's ``diag_verdict``, the
    epochs judged underfitting, overfitting or diverging are shaded and
    labelled in the loss panel; non-finite values are left out of the lines.
    matplotlib is imported here, not when kerasplus is.

    Args:
        history: the `keras.callbacks.History` returned by `fit`, or its
            ``history`` dict (name -> list of per-epoch values).
        path: where to write the PNG (str or path-like).

    Returns:
        `path` as a string.

    Example:

    >>> import os, tempfile, kerasplus
    >>> path = os.path.join(tempfile.mkdtemp(), "curves.png")
    >>> kerasplus.diagnostics.plot_learning_curves(
    ...     {"loss": [1.0, 0.5, 0.3], "val_loss": [1.1, 0.7, 0.8]}, path) == path
    True
    """
    values = _history_dict(history)
    path = os.fspath(path)
    names = [
        name for name in values if not name.startswith("val_") and not name.startswith("diag_") and name not in _SKIPPED
    ]
    names.sort(key=lambda name: name != "loss")
    if not names:
        raise ValueError(f"`history` has no training curve to plot; received keys {sorted(values)}.")
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    epochs = _epoch_numbers(history, values)
    figure = Figure(figsize=(5.5 * len(names), 4))
    FigureCanvasAgg(figure)
    axes = figure.subplots(1, len(names), squeeze=False)[0]
    for ax, name in zip(axes, names):
        for key, label in ((name, "train"), (f"val_{name}", "validation")):
            if key not in values:
                continue
            points = [
                (epoch, float(value))
                for epoch, value in zip(epochs, values[key])
                if value is not None and math.isfinite(float(value))
            ]
            if points:
                ax.plot(*zip(*points), marker="o", markersize=3, label=label)
        ax.set_xlabel("epoch")
        ax.set_ylabel(name)
        ax.set_title(name)
        if name == "loss" and "diag_verdict" in values:
            _shade_verdicts(ax, values["diag_verdict"], epochs)
        ax.legend()
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    return path


def _shade_verdicts(ax, codes, epochs):
    labelled = set()
    for epoch, code in zip(epochs, codes):
        verdict = VERDICTS[int(code)]
        colour = _VERDICT_COLOURS[verdict]
        if colour is None:
            continue
        ax.axvspan(
            epoch - 0.5, epoch + 0.5, color=colour, alpha=0.25, lw=0, label=None if verdict in labelled else verdict
        )
        labelled.add(verdict)
