"""Private TensorFlow APIs kerasplus relies on, each with its reason, public route and canary.

TensorFlow is imported inside each function: importing kerasplus must not import it.
"""

from __future__ import annotations

from kerasplus._internals.registry import fenced, require

# ---------------------------------------------------------------------------
# Quantization (TFLite export)
# ---------------------------------------------------------------------------


def _canary_convert_variables_to_constants():
    import inspect

    from tensorflow.python.framework import convert_to_constants

    function = getattr(convert_to_constants, "convert_variables_to_constants_v2", None)
    require(callable(function), "tensorflow.python.framework.convert_to_constants.convert_variables_to_constants_v2")
    parameters = list(inspect.signature(function).parameters)
    require(parameters[:1] == ["func"], f"convert_variables_to_constants_v2(func, ...); found {parameters}")


@fenced(
    reason="freeze a model's variables into constants before TFLite conversion (post-training calibration "
    "reads no resource variables; QAT ranges and weights must be constants for int8 FakeQuant)",
    waits_for="a public freeze of a ConcreteFunction (tf.lite converts only frozen graphs itself)",
    feature="quantization.export_tflite",
    canary=_canary_convert_variables_to_constants,
)
def freeze_concrete_function(function):
    """`function` (a `tf.function` ConcreteFunction) with its variables frozen into constants."""
    from tensorflow.python.framework import convert_to_constants

    return convert_to_constants.convert_variables_to_constants_v2(function)


# ---------------------------------------------------------------------------
# Distribution (auto_strategy, multi-worker fit)
# ---------------------------------------------------------------------------


def _canary_coordination_service():
    import inspect

    from tensorflow.compiler.xla.tsl.protobuf import coordination_config_pb2
    from tensorflow.python.distribute import multi_worker_util
    from tensorflow.python.eager import context

    ctx = context.context()
    require(hasattr(ctx, "coordination_service"), "tensorflow.python.eager.context.Context.coordination_service")
    parameters = set(inspect.signature(ctx.configure_coordination_service).parameters)
    needed = {"service_type", "service_leader", "coordinated_jobs", "cluster_register_timeout_in_ms"}
    require(needed <= parameters, f"Context.configure_coordination_service{sorted(needed)}; found {sorted(parameters)}")
    fields = set(coordination_config_pb2.CoordinatedJob.DESCRIPTOR.fields_by_name)
    require({"name", "num_tasks"} <= fields, f"CoordinatedJob(name, num_tasks); found {sorted(fields)}")
    fields = set(coordination_config_pb2.CoordinationServiceConfig.DESCRIPTOR.fields_by_name)
    require("cluster_register_with_barrier" in fields, "CoordinationServiceConfig.cluster_register_with_barrier")
    leader = multi_worker_util.coordination_leader({"chief": ["a:1"], "worker": ["b:1"]})
    require(leader == "/job:chief/replica:0/task:0", f"multi_worker_util.coordination_leader; returned {leader!r}")


@fenced(
    reason="bound how long a worker waits for its peers to register (TF's default is an hour): configure "
    "TF's coordination service before MultiWorkerMirroredStrategy does",
    waits_for="a public registration timeout for MultiWorkerMirroredStrategy (tensorflow/tensorflow)",
    feature="distribute.auto_strategy cluster_timeout (multi-worker)",
    canary=_canary_coordination_service,
)
def bound_cluster_registration(cluster: dict, timeout_s: float) -> bool:
    """Configures TF's coordination service for `cluster` (a TF_CONFIG ``cluster`` dict) with a
    registration timeout of `timeout_s` seconds, registration being a barrier over all tasks.

    Returns False, leaving TF's defaults, when a coordination service is
    already configured or this TensorFlow has another layout; True otherwise.
    """
    from tensorflow.python.distribute import multi_worker_util
    from tensorflow.python.eager import context

    try:
        from tensorflow.compiler.xla.tsl.protobuf import coordination_config_pb2
    except ImportError:  # layout of other TF versions: keep TF's default
        return False
    ctx = context.context()
    if ctx.coordination_service is not None:
        return False
    jobs = [
        coordination_config_pb2.CoordinatedJob(name=job, num_tasks=len(cluster[job]))
        for job in ("chief", "worker")
        if job in cluster
    ]
    ctx.configure_coordination_service(
        service_type="standalone",
        service_leader=multi_worker_util.coordination_leader(cluster),
        coordinated_jobs=jobs,
        cluster_register_timeout_in_ms=int(timeout_s * 1000),
    )
    # Make registration a barrier, so the timeout covers waiting for the peers
    # (without it, registration returns at once and the wait is unbounded).
    ctx.coordination_service.cluster_register_with_barrier = True
    return True


# ---------------------------------------------------------------------------
# Preemption under MultiWorkerMirroredStrategy (BackupAndRestore save_on_signals)
# ---------------------------------------------------------------------------


def _canary_coordination_key_value():
    import inspect

    from tensorflow.python.eager import context

    ctx = context.context()
    require(hasattr(ctx, "coordination_service"), "tensorflow.python.eager.context.Context.coordination_service")
    for name in ("set_config_key_value", "get_config_key_value"):
        require(callable(getattr(ctx, name, None)), f"tensorflow.python.eager.context.Context.{name}")
    parameters = list(inspect.signature(ctx.set_config_key_value).parameters)
    require(parameters[:2] == ["key", "value"], f"Context.set_config_key_value(key, value); found {parameters}")
    parameters = list(inspect.signature(ctx.get_config_key_value).parameters)
    require(
        parameters[:2] == ["key", "timeout_in_ms"],
        f"Context.get_config_key_value(key, timeout_in_ms); found {parameters}",
    )


_KEY_VALUE = dict(
    reason="the workers of a MultiWorkerMirroredStrategy agree on the batch boundary to stop at after a "
    "signal through TF's coordination-service key-value store (PreemptionCheckpointHandler's protocol), "
    "so no collective runs at every batch",
    waits_for="a public key-value API of TF's coordination service, or a PreemptionCheckpointHandler that "
    "neither writes its own tf.train.Checkpoint nor exits the process itself (tensorflow/tensorflow)",
    feature="callbacks.BackupAndRestore save_on_signals under MultiWorkerMirroredStrategy",
    canary=_canary_coordination_key_value,
)


@fenced(**_KEY_VALUE)
def coordination_service_enabled() -> bool:
    """Whether TF's coordination service (and its key-value store) is configured in this process."""
    from tensorflow.python.eager import context

    return context.context().coordination_service is not None


@fenced(**_KEY_VALUE)
def coordination_insert(key: str, value: str) -> bool:
    """Inserts `key` into the coordination service's store; False (nothing changed) when it is already there."""
    import tensorflow as tf
    from tensorflow.python.eager import context

    try:
        context.context().set_config_key_value(key, value)
    except tf.errors.AlreadyExistsError:
        return False
    return True


@fenced(**_KEY_VALUE)
def coordination_get(key: str, timeout_s: float) -> str | None:
    """The value of `key`, waiting up to `timeout_s` seconds for a task to insert it; None if none did."""
    import tensorflow as tf
    from tensorflow.python.eager import context

    try:
        return context.context().get_config_key_value(key, max(1, int(timeout_s * 1000)))
    except tf.errors.DeadlineExceededError:
        return None


# ---------------------------------------------------------------------------
# NaNGuard: a conditional inside the train step that costs one node, not one per captured tensor
# ---------------------------------------------------------------------------


def _canary_single_op_cond():
    import tensorflow as tf
    from tensorflow.python.ops import cond_v2

    require(callable(getattr(cond_v2, "fast_cond_v2", None)), "tensorflow.python.ops.cond_v2.fast_cond_v2")
    variables = [tf.Variable([1.0, 2.0]), tf.Variable(3.0)]

    @tf.function
    def step(flag):
        before = [tf.convert_to_tensor(x) for x in variables]
        for x in variables:
            x.assign_add(tf.ones_like(x))

        def undo():
            for x, value in zip(variables, before):
                x.assign(value)
            return tf.constant(0)

        graph_cond(flag, lambda: tf.constant(0), undo)
        return tf.constant(0)

    graph = step.get_concrete_function(tf.TensorSpec((), tf.bool)).graph
    types = {op.type for op in graph.get_operations()}
    require(types & {"If", "StatelessIf"} and not types & {"Switch", "Merge"}, f"fast_cond_v2 emits one If op: {types}")
    ifs = [op for op in graph.get_operations() if op.type in ("If", "StatelessIf")]
    for op in ifs:
        try:
            lowered = op.get_attr("_lower_using_switch_merge")
        except ValueError:
            lowered = False
        require(not lowered, "fast_cond_v2's If op is not lowered to Switch/Merge")
    step(tf.constant(True))
    require([float(x) for x in variables[0].numpy()] == [2.0, 3.0], "the taken branch is the first (nothing undone)")
    step(tf.constant(False))
    require(
        [float(x) for x in variables[0].numpy()] == [2.0, 3.0] and float(variables[1].numpy()) == 4.0,
        "a read (convert_to_tensor) before an in-place update keeps the old value; the branch's assigns run",
    )


@fenced(
    reason="tf.cond in a graph without XLA is lowered to a Switch and a Merge per captured tensor; NaNGuard's undo "
    "captures every variable of the model, and MobileNetV2's step paid ~2-3 ms (4 %) for nodes that do nothing on "
    "a kept step; fast_cond_v2 emits one If op that runs its branch as a function",
    waits_for="a public tf.cond option to keep the If op unlowered (TensorFlow)",
    feature="NaNGuard's per-step cost on TensorFlow without XLA",
    canary=_canary_single_op_cond,
)
def graph_cond(pred, true_fn, false_fn):
    """``tf.cond(pred, true_fn, false_fn)`` as one If op. Both branches return the same structure; neither is
    differentiated, and each orders its own stateful ops (none is ordered inside a branch). Executed eagerly
    (no graph to build), the predicate is read on the host and one branch runs, as ``tf.cond`` does."""
    import tensorflow as tf
    from tensorflow.python.ops import cond_v2

    if tf.executing_eagerly():
        return true_fn() if bool(pred) else false_fn()

    return cond_v2.fast_cond_v2(pred, true_fn, false_fn)
