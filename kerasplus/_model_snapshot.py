"""A model's whole training state, kept as numpy and put back bit for bit (`lr_find`, `find_batch_size`)."""

from __future__ import annotations

from keras import ops

from kerasplus import _optimizer_choice


def build_for(model, batch) -> None:
    """Builds an unbuilt model on `batch` (inputs, or an ``(x, y)`` tuple) and its optimizer on the weights."""
    layers = list(model.layers)
    # A subclassed model whose layers are built but not itself (the Keras guide's GAN) has no call() to build it.
    if not model.built and not (layers and all(layer.built for layer in layers)):
        model(batch[0] if isinstance(batch, tuple) else batch)
    for optimizer in _optimizer_choice.tracked_optimizers(model).values():  # a GAN's d_ and g_optimizer too
        if not optimizer.built:
            optimizer.build(model.trainable_variables)


class ModelSnapshot:
    """Every model variable, every tracked optimizer's variables (slots, iteration count, rate, accumulators), `stop_training`.

    Taken when made; `restore()` assigns them back, so the model trains next as
    if nothing had run in between. Build the model and its optimizer first
    (`build_for`): variables created later are not in the snapshot.
    """

    def __init__(self, model):
        self.model = model
        self.optimizers = list(_optimizer_choice.tracked_optimizers(model).values())
        self._model = [ops.convert_to_numpy(x) for x in model.variables]
        self._optimizers = [[ops.convert_to_numpy(x) for x in held.variables] for held in self.optimizers]
        self._stop_training = model.stop_training

    def restore(self) -> None:
        for variable, value in zip(self.model.variables, self._model):
            variable.assign(value)
        for held, saved in zip(self.optimizers, self._optimizers):
            for variable, value in zip(held.variables, saved):
                variable.assign(value)
        self.model.stop_training = self._stop_training
