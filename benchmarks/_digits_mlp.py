"""The digits MLP and epoch timing shared by callback_overhead.py and diagnostics_overhead.py."""

import time

import keras
import numpy as np

BATCH = 32


class EpochTimer(keras.callbacks.Callback):
    def on_train_begin(self, logs=None):
        self.durations = []

    def on_epoch_begin(self, epoch, logs=None):
        self._start = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        self.durations.append(time.perf_counter() - self._start)


def make_data():
    from sklearn.datasets import load_digits

    digits = load_digits()
    return (digits.data / 16.0).astype("float32"), digits.target.astype("int32")


def make_model():
    """MLP 64-64-64-10, seeded, SGD with momentum, one step per execution."""
    keras.utils.set_random_seed(0)
    model = keras.Sequential(
        [
            keras.Input((64,)),
            keras.layers.Dense(64, activation="relu"),
            keras.layers.Dense(64, activation="relu"),
            keras.layers.Dense(10),
        ]
    )
    model.compile(
        keras.optimizers.SGD(learning_rate=0.05, momentum=0.9),
        keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        steps_per_execution=1,
    )
    return model


def steps_per_epoch(x):
    return int(np.ceil(len(x) / BATCH))


def fit_steps_per_second(x, y, callbacks, epochs):
    """Train steps per second of a fresh `make_model()`, the first (tracing) epoch left out."""
    model = make_model()
    timer = EpochTimer()
    model.fit(x, y, batch_size=BATCH, epochs=epochs, verbose=0, callbacks=[*callbacks, timer])
    return steps_per_epoch(x) * (epochs - 1) / sum(timer.durations[1:])
