"""A model's whole training state, kept as numpy and put back bit for bit (`lr_find`, `find_batch_size`)."""

from __future__ import annotations

from keras import ops


def build_for(model, batch) -> None:
    """Builds an unbuilt model on `batch` (inputs, or an ``(x, y)`` tuple) and its optimizer on the weights."""
    if not model.built:
        model(batch[0] if isinstance(batch, tuple) else batch)
    optimizer = model.optimizer
    if optimizer is not None and not optimizer.built:
        optimizer.build(model.trainable_variables)


class ModelSnapshot:
    """Every model variable and optimizer variable (slots, iteration count, rate, accumulators) and `stop_training`.

    Taken when made; `restore()` assigns them back, so the model trains next as
    if nothing had run in between. Build the model and its optimizer first
    (`build_for`): variables created later are not in the snapshot.
    """

    def __init__(self, model):
        self.model = model
        self.optimizer = model.optimizer
        self._model = [ops.convert_to_numpy(x) for x in model.variables]
        self._optimizer = [ops.convert_to_numpy(x) for x in self.optimizer.variables] if self.optimizer else []
        self._stop_training = model.stop_training

    def restore(self) -> None:
        for variable, value in zip(self.model.variables, self._model):
            variable.assign(value)
        if self.optimizer is not None:
            for variable, value in zip(self.optimizer.variables, self._optimizer):
                variable.assign(value)
        self.model.stop_training = self._stop_training
