"""Distribution strategies: pick one, scale batch and learning rate, train, and profile a few steps.

This machine has no GPU or TPU, so the example splits the CPU into two logical
devices to show `MirroredStrategy` at work (with real GPUs or a TPU,
`auto_strategy()` finds them itself). It trains the same digits MLP under the
default strategy and under the mirrored one with the same global batch and
compares the weights, then writes a profiler trace of two steps through Keras's
`TensorBoard(profile_batch=...)`.

Run:  python examples/distribution.py      (under a minute on 2 CPU cores)
Fast: KERASPLUS_FAST=1 python examples/distribution.py
"""

import os
import pathlib

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import tensorflow as tf  # noqa: E402

# Two logical CPU devices, before TensorFlow initialises its devices.
cpu = tf.config.list_physical_devices("CPU")[0]
tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)

import keras  # noqa: E402
import numpy as np  # noqa: E402

import kerasplus  # noqa: E402

FAST = os.environ.get("KERASPLUS_FAST") == "1"
EPOCHS = 1 if FAST else 3
RUNS = pathlib.Path(os.environ.get("KERASPLUS_RUNS", "runs")) / "distribution"


def train(strategy, scaling, x, y, callbacks=()):
    with strategy.scope():
        keras.utils.set_random_seed(0)
        model = keras.Sequential(
            [
                keras.Input((8, 8, 1)),
                keras.layers.Flatten(),
                keras.layers.Dense(64, activation="relu"),
                keras.layers.Dense(10),
            ]
        )
        # jit_compile and steps_per_execution stay off: Keras 3.15 + MirroredStrategy on CPUs fails with them.
        model.compile(
            keras.optimizers.SGD(scaling.learning_rate),
            keras.losses.SparseCategoricalCrossentropy(from_logits=True),
            jit_compile=False,
        )
    model.fit(
        x, y, batch_size=scaling.global_batch_size, epochs=EPOCHS, shuffle=False, verbose=0, callbacks=list(callbacks)
    )
    return model


def main():
    x, y = kerasplus.data.load("digits")
    mirrored = kerasplus.distribute.auto_strategy("mirrored", devices=["/cpu:0", "/cpu:1"])
    print(kerasplus.distribute.describe(mirrored))
    scaling = kerasplus.distribute.scale_for_replicas(per_replica_batch_size=32, base_lr=0.05, strategy=mirrored)
    print(f"global batch {scaling.global_batch_size}, learning rate {scaling.learning_rate:g}")
    # Whole global batches: with a short last batch the replicas would average unequal halves.
    n = len(x) // scaling.global_batch_size * scaling.global_batch_size
    x, y = x[:n], y[:n]
    single = train(tf.distribute.get_strategy(), scaling, x, y)
    RUNS.mkdir(parents=True, exist_ok=True)
    profile = keras.callbacks.TensorBoard(RUNS / "logs", profile_batch=(2, 3))
    replicated = train(mirrored, scaling, x, y, [profile])
    difference = max(float(np.max(np.abs(a - b))) for a, b in zip(single.get_weights(), replicated.get_weights()))
    print(f"max weight difference, default vs mirrored strategy (same global batch): {difference:.2e}")
    traces = sorted(RUNS.rglob("*.xplane.pb"))
    print(
        f"profiler trace: {traces[-1] if traces else 'none written'} "
        f"(view: tensorboard --logdir {RUNS / 'logs'}, Profile tab)"
    )


if __name__ == "__main__":
    main()
