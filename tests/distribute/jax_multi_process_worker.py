"""One of two JAX processes on 127.0.0.1 training under DataParallel (run by test_jax_multi_process.py).

``python -m tests.distribute.jax_multi_process_worker PROCESS_ID PORT`` (PROCESS_ID -1: the
one-process reference, no jax.distributed). Prints one ``RESULT {json}`` line.
"""

from __future__ import annotations

import json
import os
import sys


def main(process_id: int, port: int) -> None:
    os.environ["KERAS_BACKEND"] = "jax"
    import jax

    if process_id >= 0:
        jax.config.update("jax_cpu_collectives_implementation", "gloo")  # CPU collectives between processes
        jax.distributed.initialize(
            coordinator_address=f"127.0.0.1:{port}", num_processes=2, process_id=process_id, initialization_timeout=60
        )
    import keras
    import numpy as np
    import tensorflow as tf

    import kerasplus

    out = {"process": jax.process_index(), "processes": jax.process_count(), "devices": len(jax.devices())}
    if process_id >= 0:
        distribution = kerasplus.distribute.auto_distribution(batch_size=16)
        out["describe"] = kerasplus.distribute.describe(distribution)
        out["scale"] = kerasplus.distribute.scale_for_replicas(8, 0.1, distribution)._asdict()
        keras.distribution.set_distribution(distribution)
    keras.utils.set_random_seed(0)
    rng = np.random.default_rng(0)
    x = rng.normal(size=(64, 8, 8, 1)).astype("float32")
    y = rng.integers(0, 4, size=64)
    inputs = keras.Input((8, 8, 1))
    h = keras.layers.Conv2D(4, 3, activation="relu")(inputs)
    outputs = keras.layers.Dense(4)(keras.layers.Flatten()(h))
    model = keras.Model(inputs, outputs)
    model.compile(
        keras.optimizers.SGD(0.05, momentum=0.9), kerasplus.losses.SparseCategoricalCrossentropy(from_logits=True)
    )
    # The global batch: Keras shards a tf.data dataset between the processes itself.
    data = tf.data.Dataset.from_tensor_slices((x, y)).batch(16)
    history = model.fit(data, epochs=2, verbose=0)
    out["loss"] = history.history["loss"]
    out["steps"] = int(model.optimizer.iterations.numpy())
    out["weights"] = [np.asarray(w, "float64").ravel().tolist() for w in model.get_weights()]
    # BackupAndRestore refuses several JAX processes before training (one process is fine).
    import tempfile

    try:
        model.fit(data, epochs=1, verbose=0, callbacks=[kerasplus.callbacks.BackupAndRestore(tempfile.mkdtemp())])
        out["backup"] = "ok"
    except RuntimeError as error:
        out["backup"] = str(error)
    print("RESULT " + json.dumps(out), flush=True)


if __name__ == "__main__":
    main(int(sys.argv[1]), int(sys.argv[2]))
