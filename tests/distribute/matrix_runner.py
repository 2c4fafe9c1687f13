"""Runs every kerasplus component for a few training steps under one setting; prints JSON.

Run as ``python -m tests.distribute.matrix_runner MODE`` (the test does this in
a subprocess, so that splitting the CPU into two logical devices or starting a
multi-worker server happens before TensorFlow initialises, and nothing leaks
into the pytest process). MODE is one of:

- ``mirrored``: MirroredStrategy over two logical CPUs vs the default strategy,
  same global batch; plus the known upstream failures (XLA, steps_per_execution).
- ``multi_worker``: one worker of a two-worker MultiWorkerMirroredStrategy
  (``TF_CONFIG`` is set by the test); vs the default strategy in the same process.
- ``single``: on the default strategy: ``jit_compile=True, steps_per_execution=8``
  vs plain; ``mixed_float16``/``mixed_bfloat16``; `keras.RematScope` vs without.

To add a component (EarlyStopping, BackupAndRestore, a QAT model, ...) append
one `Component` to `COMPONENTS`; every mode and the test pick it up. While
working on one row, ``KERASPLUS_MATRIX_ONLY=<substring of its name>`` trains
only the matching rows (run pytest with ``-k`` on the same name).

Random augmentation layers run where kerasplus documents them, in the input
pipeline on the global batch (`dataset` below, as `kerasplus.data.augmented_dataset`
does); the augmented batches are computed once and fed to every run, so weights
are compared at 1e-5. A random layer placed inside the model (``Cutout in model``)
draws per replica for its slice of the batch, so its draws differ from a
one-device run by design; for it we check training runs, stays finite and moves
the weights.
"""

from __future__ import annotations

import importlib
import json
import os
import sys
import tempfile
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field

GLOBAL_BATCH = 16
EXAMPLES = 64
EPOCHS = 2
STEPS = EPOCHS * EXAMPLES // GLOBAL_BATCH  # 8 optimizer steps
CLASSES = 4
SEED = 0
TOLERANCE = 1e-5


def _sgd(learning_rate=0.05):
    import keras

    return keras.optimizers.SGD(learning_rate, momentum=0.9)


def _sparse_xent():
    import kerasplus

    return kerasplus.losses.SparseCategoricalCrossentropy(from_logits=True)


@dataclass
class Component:
    """One row of the matrix: what differs from a plain conv net trained with SGD."""

    name: str
    optimizer: Callable = _sgd
    loss: Callable = _sparse_xent
    callbacks: Callable = list
    pipeline_layers: Callable = list  # random layers applied in tf.data to the global batch
    model_layers: Callable = list  # layers placed in the model after its input
    kernel_initializer: Callable = lambda: "glorot_uniform"
    after_build: Callable | None = None  # (model, x) -> None (in place, e.g. LSUV) or a replacement model (QAT)
    labels: str = "sparse"  # sparse | onehot | multilabel | regression
    deterministic: bool = True  # False: per-replica random draws inside the model
    extra: dict = field(default_factory=dict)


def _schedules():
    return importlib.import_module("kerasplus.schedules")


def _lsuv(model, x):
    import kerasplus

    kerasplus.initializers.lsuv(model, x[:32], seed=SEED)


def _layers():
    import kerasplus

    return kerasplus.layers


def _losses():
    import kerasplus

    return kerasplus.losses


def _quantization():
    return importlib.import_module("kerasplus.quantization")


def _callbacks():
    import kerasplus

    return kerasplus.callbacks


def _momentum():
    """The matrix rows cycle momentum on TensorFlow only; `momentum_refusals` checks the default on JAX."""
    return {} if _backend() == "tensorflow" else {"cycle_momentum": False}


COMPONENTS = [
    Component("schedules.OneCycle", optimizer=lambda: _sgd(_schedules().OneCycle(max_lr=0.1, total_steps=STEPS))),
    Component("schedules.CyclicLR", optimizer=lambda: _sgd(_schedules().CyclicLR(0.01, 0.1, step_size_up=3))),
    Component(
        "schedules.Warmup",
        optimizer=lambda: _sgd(_schedules().Warmup(0.1, warmup_steps=4, warmup_init_lr=0.01, shape="cos")),
    ),
    Component("callbacks.OneCycleLR", callbacks=lambda: [_callbacks().OneCycleLR(max_lr=0.1, **_momentum())]),
    Component(
        "callbacks.CyclicLR",
        callbacks=lambda: [
            _callbacks().CyclicLR(0.01, 0.1, step_size_up=3, base_momentum=0.8, max_momentum=0.9, **_momentum())
        ],
    ),
    Component("callbacks.WarmupLR", callbacks=lambda: [_callbacks().WarmupLR(warmup_steps=4, warmup_init_lr=0.0)]),
    Component(
        "callbacks.EarlyStopping",
        callbacks=lambda: [
            _callbacks().EarlyStopping(monitor="loss", criterion="gl", alpha=50.0, restore_best_weights=True)
        ],
    ),
    Component("callbacks.NaNGuard", callbacks=lambda: [_callbacks().NaNGuard(max_consecutive=3)]),
    Component(
        "callbacks.BackupAndRestore",
        callbacks=lambda: [_callbacks().BackupAndRestore(tempfile.mkdtemp(prefix="kerasplus_matrix_"), save_freq=2)],
    ),
    Component("layers.Cutout", pipeline_layers=lambda: [_layers().Cutout(3, seed=SEED)]),
    Component(
        "layers.Mixup",
        pipeline_layers=lambda: [_layers().Mixup(0.4, num_classes=CLASSES, seed=SEED)],
        loss=lambda: _losses().FocalCrossentropy(gamma=0.0, from_logits=True),
        labels="onehot",
    ),
    Component(
        "layers.CutMix",
        pipeline_layers=lambda: [_layers().CutMix(1.0, num_classes=CLASSES, seed=SEED)],
        loss=lambda: _losses().FocalCrossentropy(gamma=0.0, from_logits=True),
        labels="onehot",
    ),
    Component(
        "layers.MixupOrCutMix",
        pipeline_layers=lambda: [_layers().MixupOrCutMix(num_classes=CLASSES, seed=SEED)],
        loss=lambda: _losses().PolyLoss(epsilon=1.0, from_logits=True),
        labels="onehot",
    ),
    Component("layers.Cutout in model", model_layers=lambda: [_layers().Cutout(3, seed=SEED)], deterministic=False),
    Component(
        "losses.SparseCategoricalCrossentropy",
        loss=lambda: _losses().SparseCategoricalCrossentropy(from_logits=True, label_smoothing=0.1),
    ),
    Component(
        "losses.FocalCrossentropy",
        loss=lambda: _losses().FocalCrossentropy(gamma=2.0, alpha=[1.0, 2.0, 2.0, 1.0], from_logits=True, sparse=True),
    ),
    Component(
        "losses.BinaryFocalCrossentropy",
        loss=lambda: _losses().BinaryFocalCrossentropy(gamma=2.0, alpha=0.25, from_logits=True),
        labels="multilabel",
    ),
    Component("losses.PolyLoss", loss=lambda: _losses().PolyLoss(epsilon=1.0, from_logits=True, sparse=True)),
    Component("losses.Quantile", loss=lambda: _losses().Quantile(0.8), labels="regression"),
    Component(
        "initializers.for_activation",
        kernel_initializer=lambda: importlib.import_module("kerasplus.initializers").for_activation("relu"),
    ),
    Component("initializers.lsuv", after_build=_lsuv),
    Component("quantization.quantize_model", after_build=lambda model, x: _quantization().quantize_model(model)),
]


def selected_components():
    """`COMPONENTS`, or those whose name contains ``$KERASPLUS_MATRIX_ONLY`` (for working on one row)."""
    only = os.environ.get("KERASPLUS_MATRIX_ONLY")
    return [c for c in COMPONENTS if not only or only in c.name]


def make_data():
    import numpy as np

    rng = np.random.default_rng(SEED)
    x = rng.normal(size=(EXAMPLES, 8, 8, 1)).astype("float32")
    classes = rng.integers(0, CLASSES, size=EXAMPLES)
    return x, classes


def labels_for(component, classes):
    import numpy as np

    if component.labels in ("sparse", "onehot"):  # mixing layers one-hot sparse labels themselves
        return classes.astype("int32")
    if component.labels == "multilabel":
        return (np.eye(CLASSES)[classes] + np.eye(CLASSES)[(classes + 1) % CLASSES]).astype("float32")
    return classes.astype("float32")[:, None] / CLASSES  # regression target


def dataset(component, x, classes, shard_by_data=False):
    """Batches of the global size; random layers applied per global batch, then materialized.

    The augmented epoch is computed once, eagerly, and the same tensors feed
    every strategy. Mapped inside a dataset that MirroredStrategy distributes,
    the layers' draws differed from a plain run (weights ~0.07 apart; cause not
    pinned down); what the matrix compares is training on identical data.
    """
    import numpy as np
    import tensorflow as tf

    from kerasplus.layers._mixing_layer import MixingLayer

    layers = component.pipeline_layers()
    data = tf.data.Dataset.from_tensor_slices((x, labels_for(component, classes))).batch(GLOBAL_BATCH)

    def augment(images, labels):
        for layer in layers:
            if isinstance(layer, MixingLayer):
                images, labels = layer((images, labels), training=True)
            else:
                images = layer(images, training=True)
        return images, labels

    if layers:
        if _backend() == "tensorflow":
            batches = [(b[0].numpy(), b[1].numpy()) for b in data.map(augment)]
        else:  # the layers run on this backend's arrays, one global batch at a time, as the JAX pipeline does
            import keras

            batches = [
                tuple(keras.ops.convert_to_numpy(t) for t in augment(images, labels))
                for images, labels in data.as_numpy_iterator()
            ]
        images = np.concatenate([b[0] for b in batches])
        labels = np.concatenate([b[1] for b in batches])
        data = tf.data.Dataset.from_tensor_slices((images, labels)).batch(GLOBAL_BATCH)
    options = tf.data.Options()
    options.deterministic = True
    if shard_by_data:
        options.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.DATA
    return data.with_options(options)


def build(component, x, jit_compile=False, steps_per_execution=1):
    """The model, built and compiled in the current strategy scope (if any)."""
    import keras

    keras.utils.set_random_seed(SEED)
    init = component.kernel_initializer
    outputs = 1 if component.labels == "regression" else CLASSES
    inputs = keras.Input((8, 8, 1))
    h = inputs
    for layer in component.model_layers():
        h = layer(h)
    h = keras.layers.Conv2D(4, 3, activation="relu", kernel_initializer=init())(h)
    h = keras.layers.Flatten()(h)
    outputs = keras.layers.Dense(outputs, kernel_initializer=init())(h)
    model = keras.Model(inputs, outputs)
    if component.after_build is not None:
        model = component.after_build(model, x) or model
    model.compile(
        component.optimizer(),
        component.loss(),
        jit_compile=jit_compile,
        steps_per_execution=steps_per_execution,
    )
    return model


def _backend():
    import keras

    return keras.backend.backend()


def _is_distribution(strategy):
    from kerasplus.distribute.replica_count import is_distribution

    return strategy is not None and is_distribution(strategy)


def _scope(strategy):
    """`strategy`'s scope (None: no scope)."""
    import contextlib

    return strategy.scope() if strategy is not None else contextlib.nullcontext()


def _fit_scope(strategy):
    """A `keras.distribution` must be active while `fit` runs too (it shards each batch); tf.distribute not."""
    import contextlib

    return strategy.scope() if _is_distribution(strategy) else contextlib.nullcontext()


def train(component, strategy=None, shard_by_data=False, epochs=EPOCHS, **compile_kwargs):
    """Weights after `STEPS` steps (list of arrays) and the loss history."""
    x, classes = make_data()
    with _scope(strategy):
        model = build(component, x, **compile_kwargs)
    model.initial_weights = model.get_weights()
    with _fit_scope(strategy):
        history = model.fit(
            dataset(component, x, classes, shard_by_data),
            epochs=epochs,
            verbose=0,
            callbacks=component.callbacks(),
        )
    return [w for w in model.get_weights()], history.history["loss"], model


def compare(weights, reference):
    import numpy as np

    return float(
        max(np.max(np.abs(np.asarray(a, "float64") - np.asarray(b, "float64"))) for a, b in zip(weights, reference))
    )


def moved(model):
    """How far training moved the trainable weights from their initial values (so the test can tell).

    Only trainable ones: a QAT model's activation ranges move on the first
    batch (from [-6, 6]) even if the optimizer never steps.
    """
    trainable = {id(v) for v in model.trainable_weights}
    pairs = [
        (now, before)
        for v, now, before in zip(model.weights, model.get_weights(), model.initial_weights, strict=True)
        if id(v) in trainable
    ]
    return compare(*zip(*pairs, strict=True))


def finite(weights, losses):
    import numpy as np

    return bool(all(np.isfinite(w).all() for w in weights) and np.isfinite(losses).all())


def _guard(run):
    """Runs one cell; an exception becomes an ``error`` entry instead of ending the matrix."""
    try:
        return run()
    except Exception as error:  # noqa: BLE001 - reported to the test, which fails on it
        return {
            "error": f"{type(error).__name__}: {error}"[:2000],
            "traceback": "".join(traceback.format_tb(error.__traceback__))[-4000:],
        }


def strategy_cells(strategy, shard_by_data=False, with_reference=True, epochs=EPOCHS):
    """Per component: weights under `strategy` vs the default strategy (when `with_reference`)."""
    import numpy as np

    results = {}
    for component in selected_components():

        def cell(component=component):
            weights, losses, model = train(component, strategy, shard_by_data, epochs)
            reference, ref_losses = (train(component, epochs=epochs)[:2]) if with_reference else (weights, losses)
            return {
                "max_abs_diff": compare(weights, reference) if with_reference else None,
                "finite": finite(weights, losses) and finite(reference, ref_losses),
                "moved": moved(model),
                "weights_sum": float(sum(np.sum(np.asarray(w, "float64")) for w in weights)),
                "deterministic": component.deterministic,
                "replicas": _replica_count(strategy),
            }

        start = time.monotonic()
        results[component.name] = _guard(cell)
        print(f"matrix: {component.name} {time.monotonic() - start:.1f}s", file=sys.stderr, flush=True)
    return results


def _replica_count(strategy):
    from kerasplus.distribute import replica_count

    return replica_count(strategy)


def known_failures(strategy):
    """Keras 3.15 + MirroredStrategy over logical CPUs: XLA or steps_per_execution > 1."""
    out = {}
    for label, kwargs in {
        "jit_compile": dict(jit_compile=True),
        "steps_per_execution": dict(steps_per_execution=4),
    }.items():
        try:
            train(Component("plain"), strategy, **kwargs)
            out[label] = "ok"
        except Exception as error:  # noqa: BLE001 - the class name is the result
            out[label] = type(error).__name__
    return out


class _Interrupted(Exception):
    pass


def resume_cell(
    strategy, shard_by_data=False, epochs=3, interrupt_at=7, save_freq=3, backup_dir=None, before_resume=None
):
    """A `fit` inside `strategy` with kerasplus's BackupAndRestore dies mid-epoch and is rerun.

    4 steps per epoch: checkpoints after steps 3 and 6 (epoch 1, step 2; 0-based), the
    crash at step 7; the rerun must restore step 6 (or step 3 when
    `before_resume(backup_dir)` removes a worker's newest checkpoint) and end
    with the weights of an uninterrupted run inside the same strategy.
    """
    import keras

    callbacks = _callbacks()
    component = Component("plain")
    x, classes = make_data()

    class InterruptAt(keras.callbacks.Callback):
        def on_train_batch_end(self, batch, logs=None):
            if int(self.model.optimizer.iterations.numpy()) == interrupt_at:
                raise _Interrupted

    def run(extra):
        with _scope(strategy):
            model = build(component, x)
        with _fit_scope(strategy):
            history = model.fit(
                dataset(component, x, classes, shard_by_data),
                epochs=epochs,
                verbose=0,
                callbacks=[callbacks.OneCycleLR(max_lr=0.1, **_momentum()), *extra],
            )
        return model, history

    def cell():
        reference, _ = run([])
        directory = backup_dir or tempfile.mkdtemp(prefix="kerasplus_resume_")
        try:
            run([callbacks.BackupAndRestore(directory, save_freq=save_freq), InterruptAt()])
            raise AssertionError(f"the run was not interrupted at step {interrupt_at}")
        except _Interrupted:
            pass
        if before_resume is not None:
            before_resume(directory)
        backup = callbacks.BackupAndRestore(directory, save_freq=save_freq)
        import warnings

        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            resumed, history = run([backup])
        return {
            "restored_from": os.path.relpath(backup.restored_from or directory, directory),
            "warnings": [str(w.message) for w in caught if "BackupAndRestore" in str(w.message)],
            "left_behind": _listing(directory),
            "epochs_run": len(history.history["loss"]),
            "steps": int(resumed.optimizer.iterations.numpy()),
            "max_abs_diff": compare(resumed.get_weights(), reference.get_weights()),
        }

    return _guard(cell)


def _listing(directory):
    """What is left in `directory`, or None once it is gone (another worker may remove it meanwhile)."""
    try:
        return sorted(os.listdir(directory))
    except FileNotFoundError:
        return None


def _drop_newest_checkpoint(backup_dir):
    folders = [os.path.join(backup_dir, name) for name in os.listdir(backup_dir) if name.startswith("worker-1")]
    newest = sorted(name for name in os.listdir(folders[0]) if name.endswith(".npz"))[-1]
    os.remove(os.path.join(folders[0], newest))


def _truncate_checkpoints(backup_dir):
    folder = os.path.join(backup_dir, "worker-1")
    for name in os.listdir(folder):
        with open(os.path.join(folder, name), "r+b") as f:
            f.truncate(100)


def run_mirrored():
    import tensorflow as tf

    cpu = tf.config.list_physical_devices("CPU")[0]
    tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
    import warnings

    from kerasplus.distribute import auto_strategy, describe, scale_for_replicas

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        strategy = auto_strategy("mirrored", devices=["/cpu:0", "/cpu:1"])
    with strategy.scope():  # scale_for_replicas reads the current strategy
        scaling = scale_for_replicas(32, 0.1)
    return {
        "describe": describe(strategy),
        "warnings": [str(w.message) for w in caught],
        "scale": scaling._asdict(),
        "cells": strategy_cells(strategy),
        "resume": resume_cell(strategy),
        "known_failures": known_failures(strategy),
    }


def run_multi_worker():
    from kerasplus.distribute import (
        auto_strategy,
        describe,
        fix_multi_worker_fit,
        scale_for_replicas,
    )

    # TF_CONFIG comes from the environment. First without kerasplus's fix, to
    # record the upstream failure (keras-team/keras#20585), then with it.
    strategy = auto_strategy(communication_timeout=120, cluster_timeout=120, fix_keras=False)
    try:
        train(Component("plain"), strategy, shard_by_data=True, epochs=1)
        upstream = "ok"
    except Exception as error:  # noqa: BLE001 - the class name is the result
        upstream = f"{type(error).__name__}: {str(error)[:60]}"
    fixed = fix_multi_worker_fit()
    chief = json.loads(os.environ["TF_CONFIG"])["task"]["index"] == 0
    return {
        "describe": describe(strategy),
        "upstream_fit": upstream,
        "fixed": fixed,
        "scale": scale_for_replicas(32, 0.1, strategy)._asdict(),
        # Worker 0 also trains the one-device reference (worker 1 waits at the
        # next collective meanwhile); both report their weights' sums.
        # One epoch (4 steps): every step waits on collectives between processes.
        "cells": strategy_cells(strategy, shard_by_data=True, with_reference=chief, epochs=1),
        # Both workers checkpoint into one shared directory (each into its own
        # folder there); worker 1 then loses its newest checkpoint, as if killed
        # while writing it: both must resume from the older one they both have.
        "resume": resume_cell(
            strategy,
            shard_by_data=True,
            backup_dir=os.environ["KERASPLUS_MATRIX_SHARED_DIR"],
            before_resume=None if chief else _drop_newest_checkpoint,
        ),
        # Worker 1's checkpoints are all unreadable: every worker must raise, none wait.
        "resume_unreadable": resume_cell(
            strategy,
            shard_by_data=True,
            backup_dir=os.path.join(os.environ["KERASPLUS_MATRIX_SHARED_DIR"], "unreadable"),
            before_resume=None if chief else _truncate_checkpoints,
        ),
    }


def _mixed_cell(component, policy):
    import keras
    import numpy as np

    keras.config.set_dtype_policy(policy)
    try:
        weights, losses, model = train(component)
        x, classes = make_data()
        out = model(x[:4], training=False)
        labels = labels_for(component, classes)[:4]
        if component.labels == "onehot":  # the mixing layers one-hot the labels the model trains on
            labels = np.eye(CLASSES, dtype="float32")[labels]
        loss_value = component.loss()(labels, out)
        return {
            "output_dtype": str(keras.backend.standardize_dtype(out.dtype)),
            "compute_dtype": keras.config.dtype_policy().compute_dtype,
            "loss_dtype": str(keras.backend.standardize_dtype(loss_value.dtype)),
            "finite": finite(weights, losses) and bool(np.isfinite(keras.ops.convert_to_numpy(loss_value))),
            "moved": moved(model),
        }
    finally:
        keras.config.set_dtype_policy("float32")


def _remat_cell(component):
    import keras
    import numpy as np
    import tensorflow as tf

    x, classes = make_data()
    images, labels = next(iter(dataset(component, x, classes)))

    def gradients(model):
        with tf.GradientTape() as tape:
            loss = component.loss()(labels, model(images, training=True))
        return [g.numpy() for g in tape.gradient(loss, model.trainable_weights)]

    plain = gradients(build(component, x))
    with keras.RematScope(mode="full"):
        remat_model = build(component, x)
    remat = gradients(remat_model)
    norm = float(max(np.max(np.abs(g)) for g in plain))
    return {
        "max_abs_diff": compare(remat, plain),
        "gradient_scale": norm,
        "remat_layers": sum(1 for layer in remat_model.layers if getattr(layer, "_remat_mode", None) is not None),
    }


def run_single():
    cells = {}
    for component in selected_components():

        def xla(component=component):
            reference, _, _ = train(component)
            weights, losses, _ = train(component, jit_compile=True, steps_per_execution=8)
            return {"max_abs_diff": compare(weights, reference), "finite": finite(weights, losses)}

        cells[component.name] = {
            "xla_spe8": _guard(xla),
            "mixed_float16": _guard(lambda component=component: _mixed_cell(component, "mixed_float16")),
            "mixed_bfloat16": _guard(lambda component=component: _mixed_cell(component, "mixed_bfloat16")),
            "remat": _guard(lambda component=component: _remat_cell(component)),
            "deterministic": component.deterministic,
        }
    return {"cells": cells}


# Rows trained with 8 simulated devices too (all rows run with 2): one of each kind of component.
JAX_8_DEVICE_ROWS = (
    "callbacks.OneCycleLR",
    "callbacks.BackupAndRestore",
    "layers.MixupOrCutMix",
    "layers.Cutout in model",
    "losses.FocalCrossentropy",
    "initializers.lsuv",
    "quantization.quantize_model",
)


def momentum_refusals():
    """What the LR callbacks' default cycle_momentum=True does on this backend: the error, or "ok"."""
    callbacks = _callbacks()
    out = {}
    for name, make in {
        "OneCycleLR": lambda: callbacks.OneCycleLR(max_lr=0.1),
        "CyclicLR": lambda: callbacks.CyclicLR(0.01, 0.1, step_size_up=3),
    }.items():
        try:
            train(Component(name, callbacks=lambda make=make: [make()]), epochs=1)
            out[name] = "ok"
        except Exception as error:  # noqa: BLE001 - the message is the result
            out[name] = f"{type(error).__name__}: {error}"[:300]
    return out


def run_jax_data_parallel():
    """On JAX: `keras.distribution.DataParallel` over every simulated CPU device vs no distribution (one device).

    The device count comes from ``XLA_FLAGS=--xla_force_host_platform_device_count=N``,
    set by the test before JAX starts; ``KERASPLUS_MATRIX_ROWS`` (names joined
    by ``|``) restricts the rows, as for 8 devices.
    """
    import jax

    from kerasplus.distribute import auto_distribution, describe, scale_for_replicas

    distribution = auto_distribution()
    with distribution.scope():
        scaling = scale_for_replicas(32, 0.1)
    rows = os.environ.get("KERASPLUS_MATRIX_ROWS")
    global COMPONENTS
    if rows:
        COMPONENTS = [c for c in COMPONENTS if c.name in rows.split("|")]
    return {
        "backend": _backend(),
        "jax_devices": len(jax.devices()),
        "describe": describe(distribution),
        "scale": scaling._asdict(),
        "cells": strategy_cells(distribution),
        "resume": resume_cell(distribution),
        "momentum_refusals": momentum_refusals() if not rows else None,
    }


MODES = {
    "mirrored": run_mirrored,
    "multi_worker": run_multi_worker,
    "single": run_single,
    "jax_data_parallel": run_jax_data_parallel,
}


def main(argv):
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    mode = argv[1]
    import keras

    keras.config.disable_traceback_filtering()  # whole tracebacks in the JSON on failure
    result = MODES[mode]()
    print("MATRIX_JSON " + json.dumps(result), flush=True)


if __name__ == "__main__":
    main(sys.argv)
