"""`fix_multi_worker_fit`: lets Keras 3's `model.fit` run under MultiWorkerMirroredStrategy.

Keras 3 (seen in 3.15.1 with TF 2.21; keras-team/keras#20585, tensorflow/tensorflow#72388)
builds a model's metrics on the first `fit` from one batch of the distributed
dataset, which it first averages with ``strategy.reduce("MEAN", (x, y), axis=None)``.
`MultiWorkerMirroredStrategy` cannot reduce a tuple and `fit` raises
``ValueError: Attempt to convert a value (PerReplica...) ... to a Tensor``.
The batch is only used for its shapes and dtypes, so taking this worker's own
replica batch instead is equivalent. Then each train step averages its scalar
logs (the loss) with ``strategy.reduce("MEAN", loss, axis=0)``, which fails on
a scalar ("Invalid reduction dimension 0 for input with 0 dimensions"); for
scalars the fix reduces with ``axis=None`` (the mean over replicas). Those two
are the whole fix.
"""

from __future__ import annotations

import logging

logger = logging.getLogger("kerasplus.distribute")


def fix_multi_worker_fit() -> bool:
    """Patches Keras's TensorFlow trainer so `fit` works under MultiWorkerMirroredStrategy.

    Idempotent; affects only models whose strategy is a
    `MultiWorkerMirroredStrategy` (every other model takes Keras's own code
    path). `auto_strategy` calls it when it returns that strategy. Returns True
    when the patch is in place, False when this Keras has no such method (the
    internals changed: check whether the upstream bug is fixed).

    Example:

    >>> import kerasplus
    >>> kerasplus.distribute.fix_multi_worker_fit()
    True
    """
    import tensorflow as tf

    try:
        from keras.src.backend.tensorflow import trainer as module
    except ImportError:
        return False
    TensorFlowTrainer = module.TensorFlowTrainer
    original = getattr(TensorFlowTrainer, "_maybe_symbolic_build", None)
    original_reduce = getattr(module, "reduce_per_replica", None)
    if original is None or original_reduce is None:
        return False
    if getattr(original, "_kerasplus_fix", False):
        return True

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
    logger.info("kerasplus: patched Keras's fit for MultiWorkerMirroredStrategy (keras-team/keras#20585).")
    return True
