"""How the workers of a multi-worker run agree, by collectives, on the checkpoint they all resume from.

Each worker reads its own checkpoints; `agree` gathers, from every worker, the
keys (epoch and step) of those it can load and a failure flag, and returns the
keys all of them hold. `together` runs one step of the restore on this worker
and then that collective, so that every worker reaches it the same number of
times whatever happens to it, and all raise if any one failed.
"""

from __future__ import annotations

from collections.abc import Callable

import keras
import numpy as np

_WIDTH = 64  # checkpoints compared per worker; `keep` is far smaller in practice


def multi_worker_task(strategy):
    """``(task_type, task_id)`` when `strategy` trains across several worker processes, else None."""
    if strategy is None or keras.backend.backend() != "tensorflow":
        return None
    import tensorflow as tf

    if not isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy):
        return None
    resolver = strategy.cluster_resolver
    if resolver is None or not resolver.task_type:
        return None
    jobs = resolver.cluster_spec().as_dict()
    if sum(len(jobs.get(job, [])) for job in ("chief", "worker")) < 2:
        return None
    return resolver.task_type, int(resolver.task_id)


def task_names(strategy) -> list:
    """``["chief-0", "worker-0", ...]``: every task of `strategy`'s cluster that trains (its workers' folder names)."""
    jobs = strategy.cluster_resolver.cluster_spec().as_dict()
    return [f"{job}-{index}" for job in ("chief", "worker") for index in range(len(jobs.get(job, [])))]


def refuse_jax_multi_process() -> None:
    """Raises RuntimeError on the JAX backend when `jax.distributed` runs several processes.

    `BackupAndRestore` makes the workers of a `MultiWorkerMirroredStrategy`
    agree on the checkpoint to resume and on the step to stop at; it does not
    do so between JAX processes, whose checkpoints would collide or diverge.
    """
    if keras.backend.backend() != "jax":
        return
    import jax

    processes = jax.process_count()
    if processes > 1:
        raise RuntimeError(
            f"kerasplus.callbacks.BackupAndRestore does not support JAX multi-process training "
            f"(jax.distributed with {processes} processes; this is process {jax.process_index()}): the "
            "processes would write the same checkpoint files and are not made to agree on the checkpoint "
            "to resume from, nor on the step to save at after a SIGTERM (jax.distributed installs its own "
            "SIGTERM handler). Use one JAX process over all local devices (keras.distribution.DataParallel; "
            "supported), or the TensorFlow backend under MultiWorkerMirroredStrategy (supported: "
            "kerasplus.distribute.auto_strategy), or checkpoint with orbax.checkpoint's multi-host "
            "CheckpointManager and jax.experimental.multihost_utils.reached_preemption_sync_point."
        )


def checkpoint_key(meta: dict) -> int:
    """Where a checkpoint is in training, as one integer (epoch-major)."""
    return int(meta["epoch"]) * 2**31 + int(meta["step"])


def pack(keys, failed: bool) -> list:
    """One worker's contribution to `agree`: a failure flag (-2, else -1), its distinct keys, -1 padding."""
    unique = sorted(set(keys), reverse=True)[: _WIDTH - 1]  # a worker counts once per key
    return [-2 if failed else -1] + unique + [-1] * (_WIDTH - 1 - len(unique))


def agree(strategy, keys, failed: bool) -> tuple[set, bool]:
    """The checkpoint keys every worker holds, and whether any worker passed ``failed=True``.

    A collective: every worker must call it, the same number of times.
    """
    import tensorflow as tf

    padded = tf.constant(pack(keys, failed), tf.int64)
    values = strategy.experimental_distribute_values_from_function(lambda context: padded)
    gathered = strategy.gather(values, axis=0).numpy()
    # Every replica of a worker gives that worker's keys, so a key on every
    # worker appears once per replica in sync.
    found, counts = np.unique(gathered[gathered >= 0], return_counts=True)
    everywhere = {int(k) for k, c in zip(found, counts) if c == strategy.num_replicas_in_sync}
    return everywhere, bool((gathered == -2).any())


def together(strategy, attempt: Callable[[], object], others_failed: str, keys_of=None) -> tuple[object, set]:
    """Runs `attempt()` here, then `agree` on every worker; ``(its result, the keys on every worker)``.

    `keys_of(result)` gives this worker's keys (none if `keys_of` is None).
    The collective is reached whether `attempt` raised or not: a worker whose
    `attempt` raised re-raises its own error afterwards, and every other
    worker raises ``ValueError(others_failed)``, instead of training on and
    waiting for it at the next collective.
    """
    result, error = None, None
    try:
        result = attempt()
        keys = keys_of(result) if keys_of is not None else []
    except Exception as caught:  # noqa: BLE001 - re-raised after the collective
        error, keys = caught, []
    everywhere, failed = agree(strategy, keys, error is not None)
    if error is not None:
        raise error
    if failed:
        raise ValueError(others_failed)
    return result, everywhere
