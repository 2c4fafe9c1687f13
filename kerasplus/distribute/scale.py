"""`scale_for_replicas`: global batch size and the linearly scaled learning rate (Goyal et al. 2017)."""

from __future__ import annotations

from typing import Any, NamedTuple

from kerasplus import _validation as v
from kerasplus.distribute.replica_count import replica_count


class ReplicaScaling(NamedTuple):
    """What `scale_for_replicas` returns: a named tuple.

    Attributes:
        global_batch_size: examples per step over all replicas (pass it to
            `fit` / `Dataset.batch`).
        learning_rate: the linearly scaled learning rate for that batch.
        replicas: the number of replicas the batch is split over.

    Example:

    >>> from kerasplus.distribute import ReplicaScaling
    >>> s = ReplicaScaling(global_batch_size=256, learning_rate=0.8, replicas=8)
    >>> s.global_batch_size // s.replicas
    32
    >>> batch_size, lr, replicas = s   # unpacks as a tuple
    >>> lr
    0.8
    """

    global_batch_size: int
    learning_rate: float
    replicas: int


def scale_for_replicas(
    per_replica_batch_size: int,
    base_lr: float,
    strategy: Any = None,
    *,
    base_batch_size: int | None = None,
) -> ReplicaScaling:
    """Global batch size and learning rate for training on every replica of `strategy`.

    Goyal et al. 2017 ("Accurate, Large Minibatch SGD"), linear scaling rule:
    when the minibatch is multiplied by k, multiply the learning rate by k. So
    ``global_batch_size = per_replica_batch_size * replicas`` and
    ``learning_rate = base_lr * global_batch_size / base_batch_size``, where
    `base_lr` is the rate tuned at `base_batch_size` (default: one replica's
    batch, i.e. the rate grows with the number of replicas). The paper pairs the
    rule with a gradual warm-up from `base_lr` over the first epochs, which is
    `kerasplus.schedules.Warmup(..., warmup_init_lr=base_lr)`.

    Pass the global batch size to `fit` / `Dataset.batch`; Keras splits it
    across the replicas.

    Args:
        per_replica_batch_size: examples per replica per step, >= 1.
        base_lr: learning rate tuned at `base_batch_size`, > 0.
        strategy: a `tf.distribute.Strategy` or a `keras.distribution.Distribution`;
            default the active one: on JAX ``keras.distribution.distribution()``
            (DataParallel over N devices: N replicas), on TensorFlow
            ``tf.distribute.get_strategy()`` (the one whose scope is open).
        base_batch_size: the batch size `base_lr` was tuned at, >= 1;
            default `per_replica_batch_size`.

    Returns:
        A `ReplicaScaling` ``(global_batch_size, learning_rate, replicas)``.

    Raises:
        ValueError: an argument out of range.

    Example:

    >>> import keras, kerasplus, tensorflow as tf
    >>> s = kerasplus.distribute.scale_for_replicas(32, 0.1)   # default strategy: 1 replica
    >>> s.global_batch_size, s.learning_rate, s.replicas
    (32, 0.1, 1)
    >>> s = kerasplus.distribute.scale_for_replicas(
    ...     per_replica_batch_size=32, base_lr=0.1, strategy=tf.distribute.OneDeviceStrategy("/cpu:0"),
    ...     base_batch_size=16)
    >>> s.global_batch_size, round(s.learning_rate, 6), s.replicas
    (32, 0.2, 1)
    >>> schedule = kerasplus.schedules.Warmup(
    ...     keras.optimizers.schedules.CosineDecay(s.learning_rate, decay_steps=1000),
    ...     warmup_steps=100, warmup_init_lr=0.1)
    """
    per_replica = v.check_int("per_replica_batch_size", per_replica_batch_size, minimum=1)
    base_lr = v.check_positive("base_lr", base_lr)
    base = v.check_optional_int("base_batch_size", base_batch_size, minimum=1) or per_replica
    replicas = replica_count(strategy)
    global_batch = per_replica * replicas
    return ReplicaScaling(global_batch, base_lr * global_batch / base, replicas)
