"""Orbax as a checkpoint storage layer, on this backend: does it work, is it exact, does it see a flipped bit?

1. `keras.callbacks.OrbaxCheckpoint(save_freq=3, save_on_background=True)` in a 6-step `fit`.
2. `orbax.checkpoint` `save_pytree`/`load_pytree` of the arrays `kerasplus.callbacks.BackupAndRestore` writes
   (model, optimizer, metric and seed variables): values, dtypes and shapes back exactly?
3. One bit flipped in the middle of the largest stored data file (``.../d/...``), then `load_pytree` again:
   an error (detected), the same values (unused bytes), or different values without an error (silent).

Needs orbax-checkpoint (the `[dev]` extra). Run: KERAS_BACKEND=<backend> python benchmarks/orbax_storage_probe.py
"""

import glob
import os
import shutil
import sys
import tempfile

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import keras  # noqa: E402
import numpy as np  # noqa: E402


def main():
    from orbax.checkpoint.experimental import v1 as ocp

    from kerasplus.callbacks import _training_state

    backend = keras.backend.backend()
    keras.utils.set_random_seed(0)
    model = keras.Sequential(
        [keras.Input((8,)), keras.layers.Dense(16), keras.layers.BatchNormalization(), keras.layers.Dense(1)]
    )
    model.compile(keras.optimizers.Adam(1e-2), "mse")
    x = np.random.default_rng(0).normal(size=(48, 8)).astype("float32")
    y = x.sum(1, keepdims=True)
    root = tempfile.mkdtemp(prefix="kerasplus-orbax-probe-")
    try:
        model.fit(x, y, batch_size=8, epochs=1, verbose=0)
        callback = keras.callbacks.OrbaxCheckpoint(
            os.path.join(root, "o"), save_freq=3, save_on_background=True, max_to_keep=2
        )
        model.fit(x, y, batch_size=8, epochs=1, verbose=0, callbacks=[callback])
        print(f"{backend}: OrbaxCheckpoint in fit: works; steps saved {sorted(os.listdir(os.path.join(root, 'o')))}")
        arrays, _ = _training_state.assemble(model, 1, 0, None, {})
        path = os.path.join(root, "raw")
        ocp.save_pytree(path, arrays)
        back = {name: np.asarray(value) for name, value in ocp.load_pytree(path).items()}
        exact = all(
            back[k].dtype == v.dtype and back[k].shape == v.shape and np.array_equal(back[k], v)
            for k, v in arrays.items()
        )
        print(f"{backend}: save_pytree/load_pytree of our {len(arrays)} arrays exact: {exact}")
        files = [f for f in glob.glob(path + "/**", recursive=True) if os.path.isfile(f)]
        big = max([f for f in files if f"{os.sep}d{os.sep}" in f] or files, key=os.path.getsize)
        data = bytearray(open(big, "rb").read())
        data[len(data) // 2] ^= 0x10
        with open(big, "wb") as f:
            f.write(bytes(data))
        where = f"{os.path.relpath(big, path)} ({len(data)} bytes)"
        try:
            again = ocp.load_pytree(path)
        except Exception as error:  # noqa: BLE001 - any error is a detection
            print(f"{backend}: bit flip in {where}: detected, {type(error).__name__}: {str(error)[:120]}")
            return
        same = all(np.array_equal(np.asarray(again[k]), v) for k, v in arrays.items())
        verdict = "loaded, values unchanged (unused bytes)" if same else "SILENT: loaded without error, values wrong"
        print(f"{backend}: bit flip in {where}: {verdict}")
    finally:
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
