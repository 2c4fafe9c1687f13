"""Two-phase transfer learning: train a new head on a frozen base, then fine-tune the top."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import keras

from typing import NamedTuple

from kerasplus import _validation as v
from kerasplus.transfer.freeze import freeze, unfreeze


class FineTuneResult(NamedTuple):
    """The model (base + head) and the `History` of each phase."""

    model: object
    head_history: object
    fine_tune_history: object


def fine_tune(
    base: keras.Model,
    head: keras.Model | keras.layers.Layer | Callable[[Any], Any],
    data: Any,
    *,
    loss: Any,
    metrics: Sequence[Any] | None = None,
    validation_data: Any = None,
    head_epochs: int = 10,
    fine_tune_epochs: int = 10,
    head_learning_rate: float = 1e-3,
    fine_tune_learning_rate: float | None = None,
    unfreeze_last_n: int | None = None,
    batch_size: int | None = 32,
    callbacks: Sequence[keras.callbacks.Callback] | None = None,
    verbose: str | int = "auto",
) -> FineTuneResult:
    """Feature extraction, then fine-tuning, as the Keras transfer-learning guide does it.

    Phase 1 freezes `base` and trains `head` on its features with Adam at
    `head_learning_rate`. Phase 2 unfreezes the top of `base` (`unfreeze`:
    the last `unfreeze_last_n` weight layers, or all; BatchNormalization stays in
    inference mode) and trains everything with Adam at the lower
    `fine_tune_learning_rate` (default ``head_learning_rate / 10``), continuing
    the epoch count. The base is called with ``training=False`` so its
    BatchNormalization layers use their moving statistics throughout.

    Args:
        base: a pretrained `keras.Model` with one input.
        head: a layer or model mapping the base's output to predictions.
        data: ``(x, y)`` arrays or a batched `tf.data.Dataset` of ``(x, y)``.
        loss: as `compile`.
        metrics: as `compile`.
        validation_data: as `fit`.
        head_epochs: epochs of each phase (>= 1, >= 0).
        fine_tune_epochs: epochs of each phase (>= 1, >= 0).
        head_learning_rate: Adam's rates per phase.
        fine_tune_learning_rate: Adam's rates per phase.
        unfreeze_last_n: as `unfreeze(last_n=...)`; None unfreezes the whole base.
        batch_size: for array `data`.
        callbacks: used in both phases.
        verbose: as `fit`.

    Returns:
        ``FineTuneResult(model, head_history, fine_tune_history)``.

    Example:

    >>> import keras, numpy as np
    >>> base = keras.Sequential([keras.Input((4,)), keras.layers.Dense(8, activation="relu")])
    >>> x, y = np.random.rand(32, 4).astype("float32"), np.arange(32) % 2
    >>> result = fine_tune(base, keras.layers.Dense(2), (x, y), head_epochs=1, fine_tune_epochs=1, verbose=0,
    ...                    loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    >>> len(result.head_history.epoch), result.fine_tune_history.epoch
    (1, [1])
    """
    import keras

    if not isinstance(base, keras.Model):
        raise TypeError(f"`base` must be a keras Model; received {type(base).__name__}.")
    if not isinstance(head, keras.layers.Layer):
        raise TypeError(f"`head` must be a keras layer or model; received {type(head).__name__}.")
    inputs = getattr(base, "inputs", None) or []
    if len(inputs) != 1:
        kind = f"a subclassed {type(base).__name__} without model.inputs" if not inputs else f"{len(inputs)} inputs"
        raise ValueError(
            f"`base` must be a built Sequential or functional model with one input; {base.name!r} has {kind}. "
            "Pass the feature extractor as such a model (e.g. a GAN's discriminator, or "
            "keras.Model(inputs, features) built with keras.Input)."
        )
    head_epochs = v.check_int("head_epochs", head_epochs, minimum=1)
    fine_tune_epochs = v.check_int("fine_tune_epochs", fine_tune_epochs, minimum=0)
    head_learning_rate = v.check_positive("head_learning_rate", head_learning_rate)
    if fine_tune_learning_rate is None:
        fine_tune_learning_rate = head_learning_rate / 10.0
    fine_tune_learning_rate = v.check_positive("fine_tune_learning_rate", fine_tune_learning_rate)
    if isinstance(data, tuple):
        if len(data) != 2:
            raise ValueError(f"`data` must be (x, y) or a dataset; received a tuple of {len(data)}.")
        fit_data = {"x": data[0], "y": data[1], "batch_size": batch_size}
    else:
        fit_data = {"x": data, "shuffle": False}  # a dataset shuffles itself

    inputs = keras.Input(shape=base.inputs[0].shape[1:], dtype=base.inputs[0].dtype)
    features = base(inputs, training=False)
    if len(base.outputs or []) > 1:
        names = ", ".join(getattr(t, "name", "?") for t in base.outputs)
        raise ValueError(
            f"`base` {base.name!r} has {len(base.outputs)} outputs ({names}); fine_tune puts `head` on a single "
            "feature output. Pass keras.Model(base.inputs, <the one output to build on>) as `base`."
        )
    outputs = head(features)
    model = keras.Model(inputs, outputs, name=f"{base.name}_fine_tuned")
    fit = {"validation_data": validation_data, "callbacks": list(callbacks or []), "verbose": verbose, **fit_data}

    freeze(base)
    model.compile(keras.optimizers.Adam(head_learning_rate), loss=loss, metrics=metrics)
    head_history = model.fit(epochs=head_epochs, **fit)

    fine_history = None
    if fine_tune_epochs:
        unfreeze(base, last_n=unfreeze_last_n)
        # Recompile so the new trainable set takes effect, with the lower rate.
        model.compile(keras.optimizers.Adam(fine_tune_learning_rate), loss=loss, metrics=metrics)
        fine_history = model.fit(epochs=head_epochs + fine_tune_epochs, initial_epoch=head_epochs, **fit)
    return FineTuneResult(model, head_history, fine_history)
