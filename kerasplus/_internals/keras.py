"""Private Keras APIs kerasplus relies on, each with its reason, public route and canary.

Sections by kerasplus area; add an entry to the section of the feature that needs it.
"""

from __future__ import annotations

import keras  # noqa: F401  (entries below use it)

from kerasplus._internals.registry import fenced, require

# ---------------------------------------------------------------------------
# Schedules and learning-rate callbacks (callbacks/_schedule_callback.py, ...)
# ---------------------------------------------------------------------------


# ---------------------------------------------------------------------------
# Resume: BackupAndRestore, the data position inside fit
# ---------------------------------------------------------------------------


# ---------------------------------------------------------------------------
# Diagnostics, initializers, transfer, data, losses
# ---------------------------------------------------------------------------


# ---------------------------------------------------------------------------
# Quantization and distribution
# ---------------------------------------------------------------------------


def _canary_tensorflow_trainer_multi_worker():
    import inspect

    from keras.src.backend.tensorflow import trainer

    build = getattr(trainer.TensorFlowTrainer, "_maybe_symbolic_build", None)
    require(callable(build), "keras.src.backend.tensorflow.trainer.TensorFlowTrainer._maybe_symbolic_build")
    parameters = list(inspect.signature(build).parameters)  # the original's, through __wrapped__ when patched
    require(parameters == ["self", "iterator", "data_batch"],
            f"TensorFlowTrainer._maybe_symbolic_build(self, iterator, data_batch); found {parameters}")
    reduce = getattr(trainer, "reduce_per_replica", None)
    require(callable(reduce), "keras.src.backend.tensorflow.trainer.reduce_per_replica")
    parameters = list(inspect.signature(reduce).parameters)
    require(parameters == ["values", "strategy", "reduction"],
            f"trainer.reduce_per_replica(values, strategy, reduction); found {parameters}")


@fenced(
    reason="Keras 3's TF fit reduces an (x, y) batch and scalar logs in ways MultiWorkerMirroredStrategy "
    "rejects; patch TensorFlowTrainer._maybe_symbolic_build and trainer.reduce_per_replica",
    waits_for="keras-team/keras#20585 (tensorflow/tensorflow#72388) fixed upstream",
    feature="distribute.fix_multi_worker_fit (model.fit under MultiWorkerMirroredStrategy)",
    canary=_canary_tensorflow_trainer_multi_worker,
)
def patch_trainer_for_multi_worker() -> str:
    """Patches Keras's TensorFlow trainer for MultiWorkerMirroredStrategy (see `distribute/multi_worker_fit.py`).

    Returns "patched" when it patched now, "already patched", or "unavailable"
    when this Keras has no such method (the internals changed).
    """
    import functools

    import tensorflow as tf

    try:
        from keras.src.backend.tensorflow import trainer as module
    except ImportError:
        return "unavailable"
    TensorFlowTrainer = module.TensorFlowTrainer
    original = getattr(TensorFlowTrainer, "_maybe_symbolic_build", None)
    original_reduce = getattr(module, "reduce_per_replica", None)
    if original is None or original_reduce is None:
        return "unavailable"
    if getattr(original, "_kerasplus_fix", False):
        return "already patched"

    @functools.wraps(original)
    def _maybe_symbolic_build(self, iterator=None, data_batch=None):
        strategy = self._distribute_strategy
        if iterator is None or not isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy):
            return original(self, iterator=iterator, data_batch=data_batch)
        for _, _, batches in iterator:
            data_batch = next(batches)
            break

        def local(value):
            if isinstance(value, tf.distribute.DistributedValues):
                return strategy.experimental_local_results(value)[0]
            return value

        return original(self, data_batch=tf.nest.map_structure(local, data_batch))

    @functools.wraps(original_reduce)
    def reduce_per_replica(values, strategy, reduction):
        if reduction not in ("auto", "mean") or not isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy):
            return original_reduce(values, strategy, reduction)

        def reduce(value):
            local = value
            if isinstance(value, tf.distribute.DistributedValues):
                local = strategy.experimental_local_results(value)[0]
            if tf.is_tensor(local) and local.shape.rank == 0:
                return strategy.reduce("MEAN", value, axis=None)
            return original_reduce(value, strategy, reduction)

        return tf.nest.map_structure(reduce, values)

    _maybe_symbolic_build._kerasplus_fix = True
    TensorFlowTrainer._maybe_symbolic_build = _maybe_symbolic_build
    module.reduce_per_replica = reduce_per_replica  # looked up when a train function is made
    return "patched"
