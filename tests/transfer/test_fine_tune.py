import keras
import numpy as np
import pytest

from kerasplus.transfer import fine_tune


def base_model():
    return keras.Sequential(
        [
            keras.Input((4,)),
            keras.layers.Dense(8, name="d0"),
            keras.layers.BatchNormalization(name="bn"),
            keras.layers.ReLU(),
            keras.layers.Dense(8, activation="relu", name="d1"),
        ],
        name="base",
    )


def data():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(64, 4)).astype("float32")
    return x, (x[:, 0] > 0).astype("int32")


def loss():
    return keras.losses.SparseCategoricalCrossentropy(from_logits=True)


def test_phase_one_trains_only_the_head_and_phase_two_the_unfrozen_top():
    base = base_model()
    head = keras.layers.Dense(2, name="head")
    snapshots = {}

    class Snapshot(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            snapshots[epoch] = {v.path: v.numpy().copy() for v in self.model.weights}

    before = {v.path: v.numpy().copy() for v in base.weights}
    result = fine_tune(
        base,
        head,
        data(),
        loss=loss(),
        head_epochs=1,
        fine_tune_epochs=1,
        unfreeze_last_n=1,
        callbacks=[Snapshot()],
        verbose=0,
    )
    after_head, after_tune = snapshots[0], snapshots[1]
    for path, value in before.items():  # phase 1: the whole base untouched, BN statistics included
        np.testing.assert_array_equal(after_head[path], value)
    assert not np.array_equal(after_tune["base/d1/kernel"], after_head["base/d1/kernel"])
    np.testing.assert_array_equal(after_tune["base/d0/kernel"], after_head["base/d0/kernel"])
    np.testing.assert_array_equal(after_tune["base/bn/moving_mean"], before["base/bn/moving_mean"])
    assert result.fine_tune_history.epoch == [1] and result.head_history.epoch == [0]
    assert float(result.model.optimizer.learning_rate.numpy()) == pytest.approx(1e-4)  # head rate / 10


def test_fine_tune_accepts_a_dataset_and_zero_fine_tune_epochs():
    import tensorflow as tf

    x, y = data()
    dataset = tf.data.Dataset.from_tensor_slices((x, y)).batch(16)
    result = fine_tune(
        base_model(), keras.layers.Dense(2), dataset, loss=loss(), head_epochs=2, fine_tune_epochs=0, verbose=0
    )
    assert result.fine_tune_history is None and len(result.head_history.history["loss"]) == 2


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"base": "model"}, TypeError, "`base` must be a keras Model"),
        ({"head": 3}, TypeError, "`head` must be a keras layer or model"),
        ({"head_epochs": 0}, ValueError, "`head_epochs` must be an integer >= 1"),
        ({"fine_tune_learning_rate": -1.0}, ValueError, "`fine_tune_learning_rate` must be > 0"),
        ({"data": (1, 2, 3)}, ValueError, "`data` must be"),
    ],
)
def test_fine_tune_rejects_bad_arguments(kwargs, error, match):
    arguments = {"base": base_model(), "head": keras.layers.Dense(2), "data": data(), "loss": loss(), "verbose": 0}
    arguments.update(kwargs)
    with pytest.raises(error, match=match):
        fine_tune(**arguments)
