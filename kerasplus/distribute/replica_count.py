"""`replica_count`: how many data-parallel replicas the active strategy or distribution trains on."""

from __future__ import annotations

from typing import Any


def is_distribution(value: Any) -> bool:
    """True for a `keras.distribution` DataParallel or ModelParallel (their base class is not public)."""
    import keras

    return isinstance(value, (keras.distribution.DataParallel, keras.distribution.ModelParallel))


def distribution_replicas(distribution) -> int:
    """Size of `distribution`'s batch axis: the number of slices each global batch is split into."""
    mesh = distribution.device_mesh
    batch_axis = getattr(distribution, "batch_dim_name", None)
    if batch_axis in mesh.axis_names:
        return int(mesh.shape[list(mesh.axis_names).index(batch_axis)])
    return 1


def replica_count(strategy: Any = None) -> int:
    """Number of replicas a global batch is split over, read from `strategy` or from what is active.

    Args:
        strategy: what to read the count from:

            * a `keras.distribution.Distribution` (JAX): the size of its batch
              axis (``DataParallel`` over N devices: N; ``ModelParallel``: the
              data-parallel axis of its mesh);
            * a `tf.distribute.Strategy` (or anything with an integer
              ``num_replicas_in_sync``): that;
            * None: on the JAX backend, the active distribution
              (``keras.distribution.distribution()``; 1 when none is set); on
              TensorFlow, the current strategy (``tf.distribute.get_strategy()``);
              on other backends 1.

    Returns:
        The replica count, an int >= 1.

    Raises:
        TypeError: `strategy` is none of the above.

    Example:

    >>> import kerasplus, tensorflow as tf
    >>> kerasplus.distribute.replica_count()
    1
    >>> kerasplus.distribute.replica_count(tf.distribute.OneDeviceStrategy("/cpu:0"))
    1
    """
    import keras

    if strategy is None:
        if keras.backend.backend() == "jax":
            active = keras.distribution.distribution()
            return 1 if active is None else distribution_replicas(active)
        if keras.backend.backend() != "tensorflow":
            return 1
        import tensorflow as tf

        strategy = tf.distribute.get_strategy()
    if is_distribution(strategy):
        return distribution_replicas(strategy)
    replicas = getattr(strategy, "num_replicas_in_sync", None)
    if isinstance(replicas, bool) or not isinstance(replicas, int) or replicas < 1:
        raise TypeError(
            "`strategy` must be a tf.distribute.Strategy or a keras.distribution.Distribution (or have an "
            f"integer num_replicas_in_sync >= 1) or None; received strategy={strategy!r}."
        )
    return replicas
