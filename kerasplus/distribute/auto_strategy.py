"""`auto_strategy`: pick the `tf.distribute` strategy the hardware calls for, and say why."""

from __future__ import annotations

import concurrent.futures
import json
import logging
import os
import socket
import warnings
import weakref
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlparse

from kerasplus import _validation as v
from kerasplus._internals import tensorflow as internal_tensorflow

logger = logging.getLogger("kerasplus.distribute")

CHOICES = ("auto", "tpu", "multi_worker", "mirrored", "one_device", "default")

# strategy -> the reason auto_strategy chose it (read back by `describe`).
_REASONS: weakref.WeakKeyDictionary[Any, str] = weakref.WeakKeyDictionary()


@dataclass
class Choice:
    """What `choose` decided: a strategy kind, why, and what it needs to be built."""

    kind: str
    reason: str
    devices: list[str] = field(default_factory=list)
    resolver: Any = None
    skipped: list[str] = field(default_factory=list)


def parse_tf_config(tf_config: str | dict | None) -> dict | None:
    """`TF_CONFIG` (a JSON string or a dict) checked and returned as a dict; None when unset.

    Args:
        tf_config: the ``TF_CONFIG`` value: a JSON string, an already parsed
            dict, or None / an empty string for "unset".

    Returns:
        The configuration as a dict (``{"cluster": {...}, "task": {...}}``),
        or None when `tf_config` is None or blank.

    Raises:
        ValueError: naming what is wrong: invalid JSON, no ``cluster``, a
            cluster job that is not a list of ``"host:port"`` strings, a
            ``task`` whose type is not a job of the cluster or whose index is
            out of range.

    Example:

    >>> import json, kerasplus
    >>> tf_config = json.dumps({"cluster": {"worker": ["host1:2222", "host2:2222"]},
    ...                         "task": {"type": "worker", "index": 1}})
    >>> config = kerasplus.distribute.parse_tf_config(tf_config)
    >>> config["cluster"]["worker"], config["task"]
    (['host1:2222', 'host2:2222'], {'type': 'worker', 'index': 1})
    >>> kerasplus.distribute.parse_tf_config("") is None
    True
    >>> kerasplus.distribute.parse_tf_config('{"cluster": {"worker": ["host1:2222"]}, '
    ...                                      '"task": {"type": "worker", "index": 3}}')
    Traceback (most recent call last):
        ...
    ValueError: TF_CONFIG task index must be an integer in [0, 1); received index=3.
    """
    if tf_config is None or (isinstance(tf_config, str) and not tf_config.strip()):
        return None
    if isinstance(tf_config, str):
        try:
            config = json.loads(tf_config)
        except json.JSONDecodeError as error:
            raise ValueError(f"TF_CONFIG is not valid JSON ({error}); received TF_CONFIG={tf_config!r}.") from None
    else:
        config = tf_config
    if not isinstance(config, dict):
        raise ValueError(f"TF_CONFIG must be a JSON object; received {type(config).__name__}: {config!r}.")  # noqa: TRY004 (the variable's content)
    cluster = config.get("cluster")
    if not isinstance(cluster, dict) or not cluster:
        raise ValueError(
            'TF_CONFIG needs a non-empty "cluster" object such as '
            '{"worker": ["host1:port", "host2:port"]}; '
            f"received cluster={cluster!r}."
        )
    for job, addresses in cluster.items():
        if not isinstance(addresses, list) or not all(isinstance(a, str) and ":" in a for a in addresses):
            raise ValueError(
                f'TF_CONFIG cluster job "{job}" must be a list of "host:port" strings; received {addresses!r}.'
            )
    task = config.get("task")
    if task is not None:
        if not isinstance(task, dict) or "type" not in task or "index" not in task:
            raise ValueError(f'TF_CONFIG "task" must be {{"type": ..., "index": ...}}; received task={task!r}.')
        if task["type"] not in cluster:
            raise ValueError(f"TF_CONFIG task type {task['type']!r} is not a job of the cluster {sorted(cluster)}.")
        index = task["index"]
        if isinstance(index, bool) or not isinstance(index, int) or not 0 <= index < len(cluster[task["type"]]):
            raise ValueError(
                f"TF_CONFIG task index must be an integer in [0, {len(cluster[task['type']])}); "
                f"received index={index!r}."
            )
    return config


def _worker_count(config: dict) -> int:
    cluster = config["cluster"]
    return len(cluster.get("chief", [])) + len(cluster.get("worker", []))


def _tpu_answers(address: str, timeout: float) -> bool:
    """For a ``grpc://host:port`` address: does anything accept a TCP connection within `timeout`?"""
    parsed = urlparse(address)
    if parsed.scheme != "grpc" or not parsed.hostname or not parsed.port:
        return True  # a TPU name: the resolver looks it up
    try:
        with socket.create_connection((parsed.hostname, parsed.port), timeout=timeout):
            return True
    except OSError:
        return False


def _with_timeout(function, timeout: float, what: str):
    """Runs `function()` in a worker thread; `TimeoutError` if it takes longer than `timeout` s."""
    pool = concurrent.futures.ThreadPoolExecutor(max_workers=1)
    try:
        return pool.submit(function).result(timeout=timeout)
    except concurrent.futures.TimeoutError:
        raise TimeoutError(f"{what} did not finish within {timeout} s.") from None
    finally:
        pool.shutdown(wait=False)


def _default_tpu_resolver(tpu):
    import tensorflow as tf

    return tf.distribute.cluster_resolver.TPUClusterResolver(tpu=tpu)


def connect_tpu(resolver):
    """Connects to the TPU cluster, initializes the TPU system and returns a `TPUStrategy`."""
    import tensorflow as tf

    if resolver.master():  # a remote TPU; a TPU VM's local chips need no connection
        tf.config.experimental_connect_to_cluster(resolver)
    tf.tpu.experimental.initialize_tpu_system(resolver)
    return tf.distribute.TPUStrategy(resolver)


def _visible_gpus() -> list[str]:
    import tensorflow as tf

    return [device.name for device in tf.config.list_logical_devices("GPU")]


def choose(
    strategy: str = "auto",
    *,
    tpu: str | None = None,
    tf_config: str | dict | None = None,
    gpus: list[str] | None = None,
    tpu_resolver: Callable[[str | None], Any] | None = None,
    timeout: float = 30.0,
    skip_tpu: str | None = None,
) -> Choice:
    """Decides which strategy `auto_strategy` builds, without building it.

    The same order as `auto_strategy` (TPU, multi-worker ``TF_CONFIG``, several
    GPUs, one GPU, the default strategy); nothing is connected or created, so
    it is safe to call anywhere, e.g. to log or test the decision.

    Args:
        strategy: ``"auto"`` or a forced choice: ``"tpu"``, ``"multi_worker"``,
            ``"mirrored"``, ``"one_device"``, ``"default"``.
        tpu: a TPU name or ``"grpc://host:port"`` address for `TPUClusterResolver`.
        tf_config: a ``TF_CONFIG`` JSON string or dict; default the
            ``TF_CONFIG`` environment variable.
        gpus: the device names to consider; default the visible GPUs.
        tpu_resolver: ``tpu -> resolver``; default `TPUClusterResolver`
            (injectable for tests).
        timeout: seconds allowed for finding a TPU, > 0.
        skip_tpu: a reason to skip the TPU step (as after a failed
            connection); None tries it.

    Returns:
        A `Choice` with ``kind`` (one of ``"tpu"``, ``"multi_worker"``,
        ``"mirrored"``, ``"one_device"``, ``"default"``), ``reason``,
        ``devices``, ``resolver`` (for a TPU) and ``skipped`` (why the earlier
        steps did not apply).

    Raises:
        ValueError: `strategy` is not one of the choices, or ``TF_CONFIG`` is
            malformed.
        RuntimeError: a forced choice that cannot be had.

    Example:

    >>> import kerasplus
    >>> choice = kerasplus.distribute.choose(gpus=["/device:GPU:0", "/device:GPU:1"],
    ...                                      tf_config="", skip_tpu="no TPU in this example")
    >>> choice.kind, choice.reason
    ('mirrored', '2 devices visible')
    >>> choice = kerasplus.distribute.choose(gpus=[], tf_config="", skip_tpu="no TPU in this example")
    >>> choice.kind, choice.skipped
    ('default', ['no TPU in this example', 'TF_CONFIG is unset', 'no device visible'])
    """
    v.check_choice("strategy", strategy, CHOICES)
    timeout = v.check_positive("timeout", timeout)
    if tpu is not None and not isinstance(tpu, str):
        raise TypeError(f"`tpu` must be a TPU name or a 'grpc://host:port' address; received tpu={tpu!r}.")
    skipped: list[str] = [] if skip_tpu is None else [skip_tpu]

    if strategy in ("auto", "tpu") and skip_tpu is None:
        resolver_factory = tpu_resolver or _default_tpu_resolver
        failure = None
        if tpu is not None and not _tpu_answers(tpu, timeout):
            failure = f"TPU address {tpu!r} did not answer within {timeout} s"
        else:
            try:
                resolver = _with_timeout(lambda: resolver_factory(tpu), timeout, "TPUClusterResolver")
            except Exception as error:  # noqa: BLE001 - no TPU here: every resolver error means "not this one"
                failure = f"no TPU ({type(error).__name__}: {error})"
            else:
                where = f" at {tpu!r}" if tpu else ""
                return Choice("tpu", f"a TPU was found by TPUClusterResolver{where}", resolver=resolver)
        if strategy == "tpu":
            raise RuntimeError(f"strategy='tpu' was asked for but {failure}.")
        skipped.append(failure)

    config = os.environ.get("TF_CONFIG") if tf_config is None else tf_config
    if strategy in ("auto", "multi_worker"):
        parsed = parse_tf_config(config)
        workers = 0 if parsed is None else _worker_count(parsed)
        if workers > 1 and "task" not in parsed:
            raise ValueError(
                f'TF_CONFIG names {workers} workers but no "task": each process needs '
                '{"task": {"type": "worker", "index": i}} to know which one it is.'
            )
        if workers > 1:
            return Choice("multi_worker", f"TF_CONFIG names {workers} workers", skipped=skipped)
        if strategy == "multi_worker":
            raise RuntimeError(
                f"strategy='multi_worker' needs a TF_CONFIG naming more than one worker; it names {workers}."
            )
        skipped.append("TF_CONFIG is unset" if parsed is None else f"TF_CONFIG names {workers} worker")

    given = gpus is not None
    gpus = _visible_gpus() if gpus is None else list(gpus)
    named = "device" if given else "GPU"
    if strategy == "mirrored":
        over = f"{len(gpus)} {named}s" if gpus else "no GPU, so the CPU"
        return Choice("mirrored", f"asked for: MirroredStrategy over {over}", devices=gpus, skipped=skipped)
    if strategy == "one_device":
        device = gpus[0] if gpus else "/cpu:0"
        return Choice("one_device", f"asked for: OneDeviceStrategy on {device}", devices=[device], skipped=skipped)
    if strategy == "default":
        return Choice("default", "asked for: the default strategy", skipped=skipped)
    if len(gpus) >= 2:
        return Choice("mirrored", f"{len(gpus)} {named}s visible", devices=gpus, skipped=skipped)
    if len(gpus) == 1:
        return Choice("one_device", f"one {named} visible: {gpus[0]}", devices=gpus, skipped=skipped)
    skipped.append(f"no {named} visible")
    return Choice("default", "nothing to distribute over", skipped=skipped)


def auto_strategy(
    strategy: str = "auto",
    *,
    tpu: str | None = None,
    devices: list[str] | None = None,
    tf_config: str | dict | None = None,
    tpu_resolver: Callable[[str | None], Any] | None = None,
    tpu_connect: Callable[[Any], Any] | None = None,
    communication_timeout: float | None = None,
    cluster_timeout: float = 600.0,
    timeout: float = 30.0,
    fix_keras: bool = True,
) -> Any:
    """The `tf.distribute` strategy for this machine (on JAX a `keras.distribution`), chosen in this order and logged.

    1. A TPU that `TPUClusterResolver` finds (or the one at `tpu`): connect,
       initialize the TPU system, `tf.distribute.TPUStrategy`.
    2. ``TF_CONFIG`` naming more than one worker (``chief`` + ``worker``):
       `tf.distribute.MultiWorkerMirroredStrategy`.
    3. Two or more GPUs: `tf.distribute.MirroredStrategy` over them.
    4. One GPU: `tf.distribute.OneDeviceStrategy` on it.
    5. Otherwise the default strategy (`tf.distribute.get_strategy()`).

    A resolver that fails (no TPU here, a TPU address that does not answer
    within `timeout`) falls through to the next choice and the reason is
    logged; a malformed ``TF_CONFIG`` raises `ValueError` (training each worker
    alone would be worse than stopping). `describe(strategy)` returns the
    replicas, devices and reason.

    On the JAX backend this returns `auto_distribution(tpu=tpu, devices=devices)`:
    a `keras.distribution.DataParallel` over JAX's TPUs, else GPUs, else CPUs
    (``"mirrored"``: over `devices`; ``"one_device"``: the first of them); the
    `tf.distribute`-only arguments must then be left unset.

    Args:
        strategy: ``"auto"`` or a forced choice: ``"tpu"``, ``"multi_worker"``,
            ``"mirrored"``, ``"one_device"``, ``"default"``. A forced choice
            that cannot be had raises `RuntimeError`.
        tpu: a TPU name or ``"grpc://host:port"`` address for `TPUClusterResolver`.
        devices: devices for ``"mirrored"``/``"one_device"`` (default: the visible GPUs).
        tf_config: a ``TF_CONFIG`` JSON string or dict used instead of the environment variable.
        tpu_resolver: ``tpu -> resolver``; default `TPUClusterResolver` (injectable for tests).
        tpu_connect: ``resolver -> strategy``; default connects, initializes and builds `TPUStrategy`.
        communication_timeout: seconds a multi-worker collective may wait before
            it fails (``tf.distribute.experimental.CommunicationOptions``); None: TF's default.
        cluster_timeout: seconds a multi-worker task waits for the other
            workers to register before it raises, > 0.
        timeout: seconds allowed for finding and connecting to a TPU, > 0.
        fix_keras: with a multi-worker strategy, apply `fix_multi_worker_fit`
            (Keras 3's `fit` fails under that strategy without it).

    Returns:
        A `tf.distribute.Strategy` (`TPUStrategy`, `MultiWorkerMirroredStrategy`,
        `MirroredStrategy`, `OneDeviceStrategy` or the default strategy); on
        the JAX backend a `keras.distribution.DataParallel`.

    Raises:
        ValueError: a malformed ``TF_CONFIG``; on JAX, a `tf.distribute`-only
            argument or strategy.
        RuntimeError: a forced `strategy` that cannot be had.
        TimeoutError: connecting to a TPU that was found took longer than `timeout`.

    Example:

    >>> import kerasplus
    >>> strategy = kerasplus.distribute.auto_strategy(tf_config="")
    >>> info = kerasplus.distribute.describe(strategy)
    >>> info["replicas"] >= 1, info["reason"] != ""
    (True, True)
    """
    import keras

    if keras.backend.backend() == "jax":
        return _jax_distribution(
            strategy, tpu=tpu, devices=devices, tf_config=tf_config, tpu_resolver=tpu_resolver, tpu_connect=tpu_connect
        )
    import tensorflow as tf

    if communication_timeout is not None:
        communication_timeout = v.check_positive("communication_timeout", communication_timeout)
    cluster_timeout = v.check_positive("cluster_timeout", cluster_timeout)
    v.check_bool("fix_keras", fix_keras)
    gpus = None if devices is None else [str(d) for d in devices]
    args = dict(tpu=tpu, tf_config=tf_config, gpus=gpus, tpu_resolver=tpu_resolver, timeout=timeout)
    choice = choose(strategy, **args)
    result = None
    if choice.kind == "tpu":
        connect = tpu_connect or connect_tpu
        try:
            result = _with_timeout(lambda: connect(choice.resolver), timeout, "Connecting to the TPU")
        except TimeoutError:
            raise  # TF's context may now point at the TPU: do not train elsewhere silently
        except Exception as error:
            if strategy == "tpu":
                raise RuntimeError(f"strategy='tpu' was asked for but connecting failed: {error}") from error
            logger.warning(
                "auto_strategy: the TPU resolver answered but connecting failed (%s); falling through.", error
            )
            choice = choose("auto", skip_tpu=f"TPU connection failed ({type(error).__name__}: {error})", **args)
    if result is not None:
        pass
    elif choice.kind == "multi_worker":
        config = parse_tf_config(os.environ.get("TF_CONFIG") if tf_config is None else tf_config)
        os.environ["TF_CONFIG"] = json.dumps(config)  # the strategy reads the environment
        _bound_cluster_wait(config, cluster_timeout)
        options = tf.distribute.experimental.CommunicationOptions(timeout_seconds=communication_timeout)
        result = tf.distribute.MultiWorkerMirroredStrategy(communication_options=options)
        if fix_keras:
            from kerasplus.distribute.multi_worker_fit import fix_multi_worker_fit

            fix_multi_worker_fit()
    elif choice.kind == "mirrored":
        result = tf.distribute.MirroredStrategy(devices=choice.devices or None)
        _warn_cpu_mirrored(result)
    elif choice.kind == "one_device":
        result = tf.distribute.OneDeviceStrategy(choice.devices[0])
    else:
        result = tf.distribute.get_strategy()
    reason = choice.reason + "".join(f"; skipped: {s}" for s in choice.skipped)
    _remember(result, reason)
    logger.info("auto_strategy chose %s: %s", strategy_name(result), reason)
    return result


def _jax_distribution(strategy, *, tpu, devices, **tensorflow_only):
    """`auto_strategy` on the JAX backend: a `keras.distribution.DataParallel` from `auto_distribution`."""
    from kerasplus.distribute.auto_distribution import auto_distribution

    v.check_choice("strategy", strategy, CHOICES)
    for name, value in tensorflow_only.items():
        if value not in (None, ""):
            raise ValueError(
                f"`{name}` configures tf.distribute, which the JAX backend does not use; received {name}={value!r}. "
                "On JAX, call jax.distributed.initialize(...) in every process for several hosts, then "
                "auto_strategy() (or auto_distribution()) distributes over all their devices."
            )
    if strategy in ("multi_worker", "default"):
        raise ValueError(
            f"`strategy`={strategy!r} names a tf.distribute strategy that has no JAX counterpart. On JAX use "
            "strategy='auto' (DataParallel over every device; after jax.distributed.initialize(...) those of "
            "every process), 'tpu', 'mirrored' (DataParallel over `devices`) or 'one_device'."
        )
    if strategy == "one_device":
        import jax

        devices = list(devices)[:1] if devices else jax.devices()[:1]
    return auto_distribution("tpu" if strategy == "tpu" else "auto", devices=devices, tpu=tpu)


def _bound_cluster_wait(config: dict, cluster_timeout: float) -> None:
    """Sets how long this worker waits for the others to register (TF's default is an hour).

    MultiWorkerMirroredStrategy configures TF's coordination service only when
    none is configured yet; configuring it first, with the same jobs and leader
    and a registration timeout, makes a missing worker an error after
    `cluster_timeout` seconds instead of a long hang.
    """
    if config.get("task", {}).get("type") not in ("chief", "worker"):
        return
    internal_tensorflow.bound_cluster_registration(config["cluster"], cluster_timeout)


def _warn_cpu_mirrored(strategy) -> None:
    devices = strategy.extended.worker_devices
    if len(devices) > 1 and all("CPU" in d.upper() for d in devices):
        warnings.warn(
            "MirroredStrategy over several CPU devices: in Keras 3.15 / TF 2.21 it trains with "
            "steps_per_execution=1 and jit_compile=False, but compile(jit_compile=True) or "
            "steps_per_execution>1 raise InvalidArgumentError.",
            UserWarning,
            stacklevel=3,
        )


def strategy_name(strategy) -> str:
    """The public `tf.distribute` name (`MultiWorkerMirroredStrategy`, not `CollectiveAllReduceStrategy`)."""
    import tensorflow as tf

    for public in ("TPUStrategy", "MultiWorkerMirroredStrategy", "MirroredStrategy", "OneDeviceStrategy"):
        if isinstance(strategy, getattr(tf.distribute, public)):
            return public
    return type(strategy).__name__


def _remember(strategy, reason: str) -> None:
    try:
        _REASONS[strategy] = reason
    except TypeError:  # not weak-referenceable
        pass


def describe(strategy: Any = None) -> dict:
    """Replicas, devices and the reason `auto_strategy` gave for `strategy` (default: the current one).

    Args:
        strategy: a `tf.distribute.Strategy` or a `keras.distribution.Distribution`.
            None describes the active one: on the JAX backend
            ``keras.distribution.distribution()`` (``strategy`` None, 1 replica
            on JAX's first device when none is set), elsewhere
            ``tf.distribute.get_strategy()``.

    Returns:
        A dict with ``strategy`` (its public `tf.distribute` name, or the
        `keras.distribution` class name), ``replicas`` (``num_replicas_in_sync``;
        for a distribution, the size of its batch axis), ``devices`` (the
        devices this process drives) and ``reason`` (None for one
        `auto_strategy` / `auto_distribution` did not make).

    Raises:
        TypeError: `strategy` is neither a strategy nor a distribution.

    Example:

    >>> import kerasplus, tensorflow as tf
    >>> info = kerasplus.distribute.describe(tf.distribute.OneDeviceStrategy("/cpu:0"))
    >>> info["strategy"], info["replicas"], info["devices"], info["reason"]
    ('OneDeviceStrategy', 1, ['/job:localhost/replica:0/task:0/device:CPU:0'], None)
    >>> kerasplus.distribute.describe(tf.distribute.get_strategy())["replicas"]
    1
    """
    import keras

    from kerasplus.distribute.replica_count import is_distribution

    if strategy is None and keras.backend.backend() == "jax":
        strategy = keras.distribution.distribution()
        if strategy is None:
            import jax

            return {"strategy": None, "replicas": 1, "devices": [_device_name(jax.devices()[0])], "reason": None}
    if strategy is not None and is_distribution(strategy):
        return _describe_distribution(strategy)
    import tensorflow as tf

    if strategy is None:
        strategy = tf.distribute.get_strategy()
    if not isinstance(strategy, tf.distribute.Strategy):
        raise TypeError(
            f"`strategy` must be a tf.distribute.Strategy or a keras.distribution.Distribution; received {strategy!r}."
        )
    try:
        devices = list(strategy.extended.worker_devices)
    except RuntimeError:  # the default strategy: TF's default placement, first GPU else CPU
        logical = tf.config.list_logical_devices("GPU") or tf.config.list_logical_devices("CPU")
        devices = [logical[0].name]
    return {
        "strategy": strategy_name(strategy),
        "replicas": int(strategy.num_replicas_in_sync),
        "devices": devices,
        "reason": _REASONS.get(strategy),
    }


def _device_name(device) -> str:
    from kerasplus.distribute.auto_distribution import device_name

    return device_name(device)


def _describe_distribution(distribution) -> dict:
    from kerasplus.distribute.auto_distribution import REASONS
    from kerasplus.distribute.replica_count import distribution_replicas

    devices = list(distribution.device_mesh.devices.flatten())
    try:
        import jax

        here = jax.process_index()
        devices = [d for d in devices if isinstance(d, str) or d.process_index == here]
    except ImportError:
        pass
    return {
        "strategy": type(distribution).__name__,
        "replicas": distribution_replicas(distribution),
        "devices": [_device_name(d) for d in devices],
        "reason": REASONS.get(distribution),
    }
