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
    path). `auto_strategy` calls it when it returns that strategy.

    Returns:
        True when the patch is in place (now or from an earlier call), False
        when this Keras has no such method (the internals changed: check
        whether the upstream bug is fixed).

    Example:

    >>> import kerasplus
    >>> kerasplus.distribute.fix_multi_worker_fit()
    True
    """
    from kerasplus._internals import keras as internal_keras

    state = internal_keras.patch_trainer_for_multi_worker()
    if state == "patched":
        logger.info("kerasplus: patched Keras's fit for MultiWorkerMirroredStrategy (keras-team/keras#20585).")
    return state != "unavailable"
