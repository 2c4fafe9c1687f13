import json
import os
import subprocess
import sys
from pathlib import Path

import keras
import numpy as np
import pytest
from keras import ops

import kerasplus
from kerasplus.pruning import ConstantSparsity, PolynomialDecay, PruneWrapper, prune_model

ROOT = Path(__file__).resolve().parents[2]
LOSS = keras.losses.SparseCategoricalCrossentropy(from_logits=True)


def cnn():
    inputs = keras.Input((8, 8, 4), name="image")
    x = keras.layers.Conv2D(8, 3, padding="same", activation="relu")(inputs)
    x = keras.layers.BatchNormalization()(x)
    x = keras.layers.DepthwiseConv2D(3, padding="same")(x)
    x = keras.layers.Conv2D(8, 1)(x)
    x = keras.layers.GlobalAveragePooling2D()(x)
    x = keras.layers.Dense(16, activation="relu")(x)
    return keras.Model(inputs, keras.layers.Dense(3)(x), name="cnn")


def data(n=32, seed=0):
    rng = np.random.default_rng(seed)
    return rng.normal(size=(n, 8, 8, 4)).astype("float32"), rng.integers(0, 3, n)


def expected_zeros(size, sparsity):
    return size - max(int(np.round(np.float32(size) * np.float32(1 - sparsity))), 1)


def wrappers(model):
    return [layer for layer in model.layers if isinstance(layer, PruneWrapper)]


@pytest.mark.parametrize("jit_compile", [False, True], ids=["graph", "xla"])
def test_final_sparsity_is_reached_exactly_at_end_step_and_kept(jit_compile):
    keras.utils.set_random_seed(0)
    model = cnn()
    schedule = PolynomialDecay(0.1, 0.8, begin_step=2, end_step=8, frequency=2)  # updates at 2, 4, 6, 8
    pruned = prune_model(model, schedule)
    assert [layer.name for layer in pruned.layers if isinstance(layer, PruneWrapper)] == [
        f"prune_{layer.name}"
        for layer in model.layers
        if type(layer) in (keras.layers.Conv2D, keras.layers.Dense, keras.layers.DepthwiseConv2D)
    ]
    pruned.compile(keras.optimizers.AdamW(0.05, weight_decay=0.1), LOSS, jit_compile=jit_compile)
    x, y = data()
    pruned.fit(x, y, batch_size=4, epochs=1, shuffle=False, verbose=0)  # steps 1..8
    masks = {}
    for layer in wrappers(pruned):
        mask = ops.convert_to_numpy(layer.mask)
        assert int(ops.convert_to_numpy(layer.pruning_step)) == 8
        assert int((mask == 0).sum()) == expected_zeros(mask.size, 0.8), layer.name
        masks[layer.name] = mask
    # 8 more steps past end_step with AdamW (momentum and weight decay move the stored kernels): nothing regrows.
    pruned.fit(x, y, batch_size=4, epochs=1, shuffle=False, verbose=0)
    for layer in wrappers(pruned):
        np.testing.assert_array_equal(ops.convert_to_numpy(layer.mask), masks[layer.name])
        kernel = ops.convert_to_numpy(layer.pruned_kernel())
        assert (kernel[masks[layer.name] == 0] == 0).all()


def test_masks_match_tfmot_on_the_tf_keras_twin():
    """Same weights, same schedule: tfmot's prune_low_magnitude and ours prune the same weights at step 1."""
    import tensorflow_model_optimization as tfmot
    import tf_keras

    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((12,)), keras.layers.Dense(8, activation="relu"), keras.layers.Dense(4)])
    twin = tf_keras.Sequential(
        [tf_keras.Input((12,)), tf_keras.layers.Dense(8, activation="relu"), tf_keras.layers.Dense(4)]
    )
    twin.set_weights(model.get_weights())
    ours = prune_model(model, ConstantSparsity(0.7, begin_step=0, frequency=1))
    theirs = tfmot.sparsity.keras.prune_low_magnitude(
        twin, pruning_schedule=tfmot.sparsity.keras.ConstantSparsity(0.7, 0, frequency=1)
    )
    x = np.random.default_rng(0).normal(size=(4, 12)).astype("float32")
    y = np.zeros((4,), "int64")
    ours.compile(keras.optimizers.SGD(0.0), LOSS)
    theirs.compile(tf_keras.optimizers.SGD(0.0), tf_keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    ours.fit(x, y, batch_size=4, verbose=0)
    theirs.fit(x, y, batch_size=4, verbose=0, callbacks=[tfmot.sparsity.keras.UpdatePruningStep()])
    their_masks = [w.numpy() for w in theirs.weights if "mask" in w.name]
    our_masks = [ops.convert_to_numpy(layer.mask) for layer in wrappers(ours)]
    assert len(their_masks) == len(our_masks) == 2
    for a, b in zip(our_masks, their_masks):
        np.testing.assert_array_equal(a, b)


def test_keras_round_trip_safe_mode_keeps_masks_and_step(tmp_path):
    pruned = prune_model(cnn(), PolynomialDecay(0.0, 0.5, begin_step=0, end_step=4, frequency=2), block_size=(2, 2))
    pruned.compile(keras.optimizers.SGD(0.01), LOSS)
    x, y = data(16)
    pruned.fit(x, y, batch_size=4, verbose=0)
    path = str(tmp_path / "pruned.keras")
    pruned.save(path)
    loaded = keras.saving.load_model(path, safe_mode=True)
    np.testing.assert_allclose(loaded.predict(x, verbose=0), pruned.predict(x, verbose=0), rtol=1e-6, atol=1e-6)
    for a, b in zip(wrappers(loaded), wrappers(pruned)):
        config_a, config_b = a.get_config(), b.get_config()
        for key in ("name", "schedule", "sparsity_m_by_n", "block_size"):
            assert config_a[key] == config_b[key], key
        np.testing.assert_array_equal(ops.convert_to_numpy(a.mask), ops.convert_to_numpy(b.mask))
        assert int(ops.convert_to_numpy(a.pruning_step)) == 4
    assert [type(w.layer).__name__ for w in wrappers(pruned)] == ["Conv2D", "Dense", "Dense"]  # 2-D kernels only


def test_block_and_two_four_pick_the_layers_they_fit():
    model = cnn()
    assert [type(w.layer).__name__ for w in wrappers(prune_model(model, sparsity_m_by_n=(2, 4)))] == [
        "Conv2D", "Conv2D", "Dense", "Dense"
    ]  # fmt: skip
    block = prune_model(model, ConstantSparsity(0.5, 0), block_size=(4, 1))
    assert [type(w.layer).__name__ for w in wrappers(block)] == ["Conv2D", "Dense", "Dense"]  # the 1x1 conv and Dense


def test_the_input_model_is_left_alone_and_names_kept():
    model = cnn()
    before = [w.copy() for w in model.get_weights()]
    pruned = prune_model(model, ConstantSparsity(0.5, 0, frequency=1))
    pruned.compile("sgd", LOSS)
    x, y = data(8)
    pruned.fit(x, y, verbose=0)
    for a, b in zip(before, model.get_weights()):
        np.testing.assert_array_equal(a, b)
    assert pruned.layers[0].name == "image" and pruned.name == "cnn"


def test_a_model_without_prunable_layers_is_refused():
    model = keras.Sequential([keras.Input((4,)), keras.layers.Activation("relu"), keras.layers.LayerNormalization()])
    with pytest.raises(
        ValueError, match=r"has no prunable layer.*Dense, Conv1D, Conv2D, DepthwiseConv2D and Embedding"
    ):
        prune_model(model, ConstantSparsity(0.5, 0))
    with pytest.raises(ValueError, match="fits the requested structure"):
        prune_model(keras.Sequential([keras.Input((8, 8, 4)), keras.layers.DepthwiseConv2D(3)]), sparsity_m_by_n=(2, 4))


@pytest.mark.parametrize(
    "kwargs, error, match",
    [
        (dict(layer_names=["nope"]), ValueError, r"not in model 'cnn': \['nope'\]"),
        (dict(layer_names=["image"]), ValueError, r"cannot be pruned: \['image \(InputLayer\)'\]"),
        (dict(layer_names="dense"), TypeError, "`layer_names` must be"),
        (dict(schedule=None), ValueError, "`schedule` is required"),
        (dict(block_size=(2, -1)), ValueError, r"`block_size\[1\]`"),
    ],
)
def test_bad_arguments_are_rejected(kwargs, error, match):
    with pytest.raises(error, match=match):
        prune_model(cnn(), **(dict(schedule=ConstantSparsity(0.5, 0)) | kwargs))


def test_subclassed_and_unbuilt_models_are_refused():
    class Net(keras.Model):
        def __init__(self):
            super().__init__()
            self.dense = keras.layers.Dense(2)

        def call(self, x):
            return self.dense(x)

    with pytest.raises(TypeError, match="subclassed model"):
        prune_model(Net(), ConstantSparsity(0.5, 0))
    with pytest.raises(ValueError, match="not built"):
        prune_model(keras.Sequential([keras.layers.Dense(2)]), ConstantSparsity(0.5, 0))
    with pytest.raises(TypeError, match="tfmot"):
        prune_model(keras.layers.Dense(2), ConstantSparsity(0.5, 0))


def run_matrix_row(backend):
    env = dict(os.environ, PYTHONPATH=str(ROOT), TF_CPP_MIN_LOG_LEVEL="3", KERAS_BACKEND=backend)
    env["KERASPLUS_BACKENDS_ONLY"] = "pruning"
    return subprocess.Popen(
        [sys.executable, "-m", "tests.backends.matrix_runner"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


@pytest.mark.slow  # two fresh processes (about 40 s on a quiet machine); the backend matrix runs the same row
def test_sparsity_is_reached_exactly_at_end_step_on_jax_and_torch():
    """The backend matrix row for pruning, run here on its own; tests/backends compares the losses with TensorFlow."""
    pytest.importorskip("jax")
    pytest.importorskip("torch")
    processes = {backend: run_matrix_row(backend) for backend in ("jax", "torch")}
    for backend, process in processes.items():
        out, err = process.communicate(timeout=300)
        line = [line for line in out.splitlines() if line.startswith("RESULT ")]
        assert process.returncode == 0 and line, f"{backend}: {err[-2000:]}"
        cell = json.loads(line[-1][len("RESULT ") :])["components"]["pruning.prune_model + fit + strip"]
        assert cell["status"] == "ok", (backend, cell)
        values = cell["values"]
        assert values["steps"] == [16, 16], backend
        assert values["zeros"] == [expected_zeros(size, 0.75) for size in values["sizes"]], backend
        assert values["stripped_equals_pruned"] and values["two_of_four"], backend


def test_namespace_is_lazy():
    assert kerasplus.pruning.prune_model is prune_model
