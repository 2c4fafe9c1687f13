"""`check_batch_size`: before training, that every batch splits evenly over the replicas."""

from __future__ import annotations

from typing import Any

from kerasplus import _validation as v
from kerasplus.distribute.replica_count import is_distribution, replica_count


def check_batch_size(batch_size: int, strategy: Any = None, *, examples: int | None = None) -> int:
    """Checks that each global batch (and the last, partial one) splits evenly; returns the per-replica batch.

    Under `keras.distribution.DataParallel` on JAX every batch is sharded
    along its first axis, one equal slice per device; a batch that does not
    divide raises deep inside the first (or the epoch's last) train step
    (``IndivisibleError`` from ``jax.device_put``), after the model is built
    and possibly after most of an epoch. This says so before training, with
    the fix.

    Args:
        batch_size: the global batch size passed to `fit` or `Dataset.batch`, >= 1.
        strategy: a `keras.distribution.Distribution` or `tf.distribute.Strategy`;
            default the active one (see `replica_count`).
        examples: examples per epoch, when known: the last batch of an
            epoch holds ``examples % batch_size`` of them and must divide too.

    Returns:
        The per-replica batch size, ``batch_size // replicas``.

    Raises:
        ValueError: naming the argument, its value, the replica count and a fix.

    Example:

    >>> import kerasplus
    >>> kerasplus.distribute.check_batch_size(64)   # one replica here
    64
    """
    batch_size = v.check_int("batch_size", batch_size, minimum=1)
    examples = v.check_optional_int("examples", examples, minimum=1)
    replicas = replica_count(strategy)
    if strategy is None:
        import keras

        kind = "distribution" if keras.backend.backend() == "jax" else "strategy"
    else:
        kind = "distribution" if is_distribution(strategy) else "strategy"
    if batch_size % replicas:
        low = max(replicas, batch_size // replicas * replicas)
        raise ValueError(
            f"`batch_size`={batch_size} does not split evenly over the {replicas} replicas of the {kind}: "
            f"each device gets an equal slice of every batch. Use a multiple of {replicas} (e.g. {low} or "
            f"{low + replicas}; kerasplus.distribute.scale_for_replicas(per_replica_batch_size, base_lr) gives one)."
        )
    if examples is not None and examples % batch_size % replicas:
        last = examples % batch_size
        raise ValueError(
            f"`examples`={examples} with `batch_size`={batch_size} leaves a last batch of {last} examples, which "
            f"does not split over the {replicas} replicas of the {kind} (training would fail at the end of the "
            "first epoch). Drop the partial batch (tf.data: .batch(batch_size, drop_remainder=True)), or use "
            f"{examples - last} examples, or a batch size that divides {examples}."
        )
    return batch_size // replicas
