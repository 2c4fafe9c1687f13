"""`auto_distribution`: on JAX, `keras.distribution.DataParallel` over the best devices there are, and why."""

from __future__ import annotations

import logging
import weakref
from typing import Any

from kerasplus import _validation as v
from kerasplus.distribute.check_batch_size import check_batch_size

logger = logging.getLogger("kerasplus.distribute")

PLATFORMS = ("auto", "tpu", "gpu", "cpu")

# distribution -> the reason auto_distribution chose it (read back by `describe`).
REASONS: weakref.WeakKeyDictionary[Any, str] = weakref.WeakKeyDictionary()


def platform_devices(platform: str) -> tuple[list, str | None]:
    """JAX's devices of `platform` (``"tpu"``, ``"gpu"``, ``"cpu"``), or ``[]`` and why there are none."""
    import jax

    try:
        found = list(jax.devices(platform))
    except RuntimeError as error:  # "Unknown backend tpu", "Backend 'gpu' failed to initialize", ...
        return [], f"no {platform.upper()} ({type(error).__name__}: {str(error).splitlines()[0][:200]})"
    return found, None if found else f"no {platform.upper()} device"


def device_name(device) -> str:
    """``"cpu:0"`` for a JAX device (the form `keras.distribution.list_devices` uses); strings stay."""
    if isinstance(device, str):
        return device
    return f"{device.platform}:{device.id}"


def _check_devices(devices) -> list:
    if isinstance(devices, (str, bytes)) or not hasattr(devices, "__iter__"):
        raise TypeError(
            f"`devices` must be a list of JAX devices or names such as 'cpu:0'; received devices={devices!r}."
        )
    devices = list(devices)
    if not devices:
        raise ValueError(
            "`devices` must name at least one device; received devices=[]. Pass None to use jax.devices()."
        )
    return devices


def auto_distribution(
    platform: str = "auto",
    *,
    devices: list | None = None,
    tpu: str | None = None,
    batch_size: int | None = None,
) -> Any:
    """`keras.distribution.DataParallel` over the devices JAX has: TPUs, else GPUs, else CPUs; logged.

    On the JAX backend, Keras distributes training with `keras.distribution`
    (not `tf.distribute`): a `DataParallel` distribution replicates the
    weights on every device of its mesh and splits each global batch along
    the ``"batch"`` axis. After ``jax.distributed.initialize(...)``,
    ``jax.devices(platform)`` lists the devices of every process, so the same
    call distributes over several hosts. Activate the result before building
    the model, with ``keras.distribution.set_distribution(distribution)`` or
    ``with distribution.scope():`` around building and `fit`.
    `describe(distribution)` returns the replicas, devices and reason;
    `scale_for_replicas` and `kerasplus.diagnostics.lint` read the replica
    count from the active distribution.

    Args:
        platform: ``"auto"`` (TPU, then GPU, then CPU: the first platform JAX
            has devices for) or one of ``"tpu"``, ``"gpu"``, ``"cpu"``, which
            must have devices.
        devices: the devices to distribute over (JAX devices or names such as
            ``"cpu:0"``), instead of all devices of the chosen platform.
        tpu: a TPU name or address, as for `auto_strategy`: asks for a TPU.
            JAX finds a TPU VM's chips itself (for a pod slice, call
            ``jax.distributed.initialize()`` first), so the name is only
            logged; without TPU devices this raises `ValueError`.
        batch_size: the global batch size you will train with; checked to
            split evenly over the devices (see `check_batch_size`).

    Returns:
        A `keras.distribution.DataParallel`.

    Raises:
        ValueError: the backend is not JAX; a platform or `tpu` was asked
            for that has no devices; `batch_size` does not split evenly.

    Example:

    >>> import keras, kerasplus
    >>> if keras.backend.backend() == "jax":
    ...     distribution = kerasplus.distribute.auto_distribution()
    ...     assert kerasplus.distribute.describe(distribution)["replicas"] >= 1
    """
    import keras

    if keras.backend.backend() != "jax":
        raise ValueError(
            "auto_distribution builds a keras.distribution for the JAX backend; the backend is "
            f"{keras.backend.backend()!r}. Set KERAS_BACKEND=jax, or use kerasplus.distribute.auto_strategy() "
            "on TensorFlow."
        )
    v.check_choice("platform", platform, PLATFORMS)
    if tpu is not None and not isinstance(tpu, str):
        raise TypeError(f"`tpu` must be a TPU name or a 'grpc://host:port' address; received tpu={tpu!r}.")
    skipped: list[str] = []
    if devices is not None:
        chosen = _check_devices(devices)
        platforms = sorted({device_name(d).split(":")[0] for d in chosen})
        reason = f"asked for: {len(chosen)} device{'s' if len(chosen) > 1 else ''} ({', '.join(platforms)})"
        if tpu is not None and platforms != ["tpu"]:
            raise ValueError(
                f"`tpu`={tpu!r} asks for a TPU but `devices` are {platforms} devices; pass TPU devices "
                "(jax.devices('tpu')) or drop `tpu`."
            )
    else:
        wanted = "tpu" if tpu is not None else platform
        order = ("tpu", "gpu", "cpu") if wanted == "auto" else (wanted,)
        chosen, reason = [], ""
        for candidate in order:
            found, why = platform_devices(candidate)
            if found:
                chosen = found
                count = len(found)
                reason = f"{count} {candidate.upper()} device{'s' if count > 1 else ''} visible to JAX"
                if wanted != "auto":
                    reason = f"asked for: {candidate}; " + reason
                if tpu is not None:
                    reason += f" (tpu={tpu!r}: JAX finds the chips itself, the name is not used)"
                break
            skipped.append(why)
        if not chosen:
            if tpu is not None:
                raise ValueError(
                    f"`tpu`={tpu!r} asks for a TPU but JAX has none ({skipped[0]}). On a Cloud TPU VM install "
                    "jax[tpu]; for a pod slice call jax.distributed.initialize() first; otherwise drop `tpu` "
                    "to train on the GPUs or CPUs JAX has."
                )
            raise ValueError(
                f"`platform`={platform!r} was asked for but JAX has no such device ({skipped[0]}); "
                "use platform='auto' to take the best platform JAX has."
            )
    distribution = keras.distribution.DataParallel(devices=chosen)
    if batch_size is not None:
        check_batch_size(batch_size, distribution)
    reason += "".join(f"; skipped: {s}" for s in skipped)
    REASONS[distribution] = reason
    logger.info("auto_distribution chose DataParallel over %s: %s", ", ".join(map(device_name, chosen)), reason)
    return distribution
