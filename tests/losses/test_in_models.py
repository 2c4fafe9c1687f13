"""Every loss trains a model under XLA, survives a .keras round trip, and keeps mixed precision finite."""

import keras
import numpy as np
import pytest

from kerasplus import losses

CASES = {
    "sparse_ce": (lambda: losses.SparseCategoricalCrossentropy(from_logits=True, label_smoothing=0.1), "sparse"),
    "focal_sparse": (
        lambda: losses.FocalCrossentropy(gamma=2.0, alpha=[0.5, 1.0, 1.0, 2.0], from_logits=True, sparse=True),
        "sparse",
    ),
    "focal_dense": (lambda: losses.FocalCrossentropy(gamma=1.5, label_smoothing=0.1, from_logits=True), "dense"),
    "binary_focal": (lambda: losses.BinaryFocalCrossentropy(gamma=2.0, alpha=0.25, from_logits=True), "multilabel"),
    "poly": (lambda: losses.PolyLoss(epsilon=2.0, from_logits=True, sparse=True, ignore_class=-1), "sparse_ignore"),
    "quantile": (lambda: losses.Quantile(0.8), "regression"),
}


def data(kind):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(64, 6)).astype("float32")
    labels = rng.integers(0, 4, size=64)
    y = {
        "sparse": labels,
        "sparse_ignore": np.where(np.arange(64) % 5 == 0, -1, labels),
        "dense": np.eye(4, dtype="float32")[labels],
        "multilabel": (rng.random((64, 4)) > 0.5).astype("float32"),
        "regression": rng.normal(size=(64, 4)).astype("float32"),
    }[kind]
    return x, y


def model_for(loss, **compile_kwargs):
    model = keras.Sequential([keras.Input((6,)), keras.layers.Dense(16, activation="relu"), keras.layers.Dense(4)])
    model.compile(keras.optimizers.Adam(1e-2), loss=loss, **compile_kwargs)
    return model


@pytest.mark.parametrize("case", sorted(CASES))
def test_trains_under_xla_and_round_trips_through_keras_file(case, tmp_path):
    make, kind = CASES[case]
    x, y = data(kind)
    model = model_for(make(), jit_compile=True)
    history = model.fit(x, y, batch_size=16, epochs=4, verbose=0)
    losses_seen = history.history["loss"]
    assert np.isfinite(losses_seen).all() and losses_seen[-1] < losses_seen[0]
    path = tmp_path / "model.keras"
    model.save(path)
    loaded = keras.models.load_model(path, safe_mode=True)
    assert type(loaded.loss) is type(model.loss)
    assert loaded.loss.get_config() == model.loss.get_config()
    np.testing.assert_allclose(loaded.evaluate(x, y, verbose=0), model.evaluate(x, y, verbose=0), rtol=1e-5)


@pytest.mark.parametrize("case", sorted(CASES))
def test_mixed_precision_losses_are_float32_and_finite(case):
    keras.config.set_dtype_policy("mixed_float16")
    make, kind = CASES[case]
    x, y = data(kind)
    model = model_for(make())
    predictions = model(x)
    assert keras.backend.standardize_dtype(predictions.dtype) == "float16"
    value = make()(y, predictions)
    assert keras.backend.standardize_dtype(value.dtype) == "float32" and np.isfinite(float(value))
    history = model.fit(x, y, batch_size=16, epochs=2, verbose=0)
    assert np.isfinite(history.history["loss"]).all()
