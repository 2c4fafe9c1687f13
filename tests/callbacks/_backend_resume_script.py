"""Interrupt-and-resume cases of `BackupAndRestore` on the backend of ``KERAS_BACKEND``, as one process.

Run as ``KERAS_BACKEND=jax python _backend_resume_script.py <workdir>``: for
each case (input kind x save frequency) it trains uninterrupted, then with a
crash at global step 14 (10 steps per epoch), then resumes in a fresh model,
and prints one JSON object ``{case: {max_diff, restored_from, first_step,
steps_run, warnings}}``. `tests/callbacks/test_backup_and_restore.py` runs it
per backend.
"""

from __future__ import annotations

import json
import os
import sys
import warnings

import numpy as np

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

STEPS, EPOCHS, KILL_AT = 10, 3, 14


class Interrupted(Exception):
    pass


def cases(backend):
    kinds = ["numpy", "tfdata"]
    if backend == "torch":
        kinds += ["loader", "loader-generator", "loader-custom-sampler"]
    return [(kind, freq) for kind in kinds for freq in ("epoch", 3)]


def make_data():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(STEPS * 4, 6)).astype("float32")
    return x, (x[:, :2].sum(axis=1, keepdims=True) ** 2).astype("float32")


def fit_kwargs(kind):
    x, y = make_data()
    if kind == "numpy":
        return dict(x=x, y=y, batch_size=4, shuffle=True)
    if kind == "tfdata":
        import tensorflow as tf

        return dict(x=tf.data.Dataset.from_tensor_slices((x, y)).shuffle(40, seed=5).batch(4))
    import torch
    from torch.utils import data

    dataset = data.TensorDataset(torch.from_numpy(x), torch.from_numpy(y))
    if kind == "loader":
        return dict(x=data.DataLoader(dataset, batch_size=4, shuffle=True))
    if kind == "loader-generator":
        return dict(x=data.DataLoader(dataset, batch_size=4, shuffle=True, generator=torch.Generator().manual_seed(5)))

    class Reversed(data.Sampler):
        def __iter__(self):
            return iter(range(len(dataset) - 1, -1, -1))

        def __len__(self):
            return len(dataset)

    return dict(x=data.DataLoader(dataset, batch_size=4, sampler=Reversed()))


def make_model():
    import keras

    keras.utils.set_random_seed(1)
    model = keras.Sequential(
        [keras.Input((6,)), keras.layers.Dense(8, activation="relu"), keras.layers.Dropout(0.25), keras.layers.Dense(1)]
    )
    model.compile(keras.optimizers.Adam(0.01), "mse", metrics=["mae"])
    return model


_REFERENCES = {}


def reference_weights(kind):
    """The weights of an uninterrupted run (one per input kind: the save frequency does not change training)."""
    if kind not in _REFERENCES:
        model = make_model()
        model.fit(**fit_kwargs(kind), epochs=EPOCHS, verbose=0)
        _REFERENCES[kind] = model.get_weights()
    return _REFERENCES[kind]


def run_case(kind, freq, workdir):
    import keras

    import kerasplus

    class InterruptAt(keras.callbacks.Callback):
        def on_train_batch_end(self, batch, logs=None):
            if int(keras.ops.convert_to_numpy(self.model.optimizer.iterations)) == KILL_AT:
                raise Interrupted

    class Steps(keras.callbacks.Callback):
        def on_train_begin(self, logs=None):
            self.seen = []

        def on_epoch_begin(self, epoch, logs=None):
            self.epoch = epoch

        def on_train_batch_begin(self, batch, logs=None):
            self.seen.append([self.epoch, batch])

    reference = reference_weights(kind)
    backup = os.path.join(workdir, f"{kind}-{freq}")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        interrupted = make_model()
        try:
            interrupted.fit(
                **fit_kwargs(kind),
                epochs=EPOCHS,
                verbose=0,
                callbacks=[kerasplus.callbacks.BackupAndRestore(backup, save_freq=freq), InterruptAt()],
            )
        except Interrupted:
            pass
        resumed, steps = make_model(), Steps()
        callback = kerasplus.callbacks.BackupAndRestore(backup, save_freq=freq)
        resumed.fit(**fit_kwargs(kind), epochs=EPOCHS, verbose=0, callbacks=[callback, steps])
    diff = max(float(np.max(np.abs(a - b))) for a, b in zip(reference, resumed.get_weights()))
    return {
        "max_diff": diff,
        "restored_from": os.path.basename(callback.restored_from or ""),
        "first_step": steps.seen[0],
        "steps_run": len(steps.seen),
        "warnings": sorted({str(w.message)[:160] for w in caught if "BackupAndRestore" in str(w.message)}),
    }


def main(workdir):
    import keras

    if keras.backend.backend() == "tensorflow":
        import tensorflow as tf

        tf.config.experimental.enable_op_determinism()
    results = {f"{kind}-{freq}": run_case(kind, freq, workdir) for kind, freq in cases(keras.backend.backend())}
    print(json.dumps(results))


if __name__ == "__main__":
    main(sys.argv[1])
