"""Early stopping by Prechelt's criteria, fit diagnostics and the training linter.

1. A wide MLP on 60 noisy digits overfits. It trains once per stopping rule
   (Keras-style patience, and Prechelt's GL, PQ and UP) and we print the epoch
   each stops at and the validation loss of the weights it keeps.
2. `FitDiagnostics` watches the same run and says when it turned to overfitting.
3. `lint` checks a deliberately broken setup before any compute is spent.

Run:  python examples/early_stopping_and_diagnostics.py    (about a minute on 2 CPU cores)
Fast: KERASPLUS_FAST=1 python examples/early_stopping_and_diagnostics.py
"""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import keras  # noqa: E402
import numpy as np  # noqa: E402

import kerasplus  # noqa: E402
from kerasplus.callbacks import EarlyStopping, OneCycleLR  # noqa: E402
from kerasplus.diagnostics import FitDiagnostics, lint  # noqa: E402

FAST = os.environ.get("KERASPLUS_FAST") == "1"
EPOCHS = 15 if FAST else 80


def data():
    x, y = kerasplus.data.load("digits")
    (x_train, y_train), (x_val, y_val), _ = kerasplus.data.split(x, y, train=0.7, val=0.15, test=0.15)
    rng = np.random.default_rng(0)
    small = rng.choice(len(x_train), 60, replace=False)
    noisy = y_train[small].copy()
    flip = rng.random(60) < 0.2  # 20% label noise makes the overfitting visible
    noisy[flip] = rng.integers(0, 10, flip.sum())
    return (x_train[small], noisy), (x_val, y_val)


def build():
    model = keras.Sequential(
        [
            keras.Input((8, 8, 1)),
            keras.layers.Flatten(),
            keras.layers.Dense(512, activation="relu"),
            keras.layers.Dense(10),
        ]
    )
    model.compile(keras.optimizers.Adam(1e-3), keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    return model


def main():
    (x_train, y_train), (x_val, y_val) = data()
    rules = {
        "patience=5": EarlyStopping(patience=5, restore_best_weights=True),
        "GL, alpha=5": EarlyStopping(criterion="gl", alpha=5.0, restore_best_weights=True),
        "PQ, alpha=0.5": EarlyStopping(criterion="pq", alpha=0.5, strip_length=5, restore_best_weights=True),
        "UP, 2 strips": EarlyStopping(criterion="up", alpha=2, strip_length=5, restore_best_weights=True),
        "none": None,
    }
    print(f"{len(x_train)} noisy training images, up to {EPOCHS} epochs")
    print(f"{'rule':14s} {'stopped at':>10s} {'kept val_loss':>13s}")
    report = None
    for name, rule in rules.items():
        keras.utils.set_random_seed(0)
        model = build()
        diagnostics = FitDiagnostics(held_batch=(x_val[:256], y_val[:256]), gradient_every=None)
        history = model.fit(
            x_train,
            y_train,
            validation_data=(x_val, y_val),
            epochs=EPOCHS,
            batch_size=16,
            verbose=0,
            callbacks=[diagnostics] + ([rule] if rule else []),
        )
        kept = model.evaluate(x_val, y_val, verbose=0)
        print(f"{name:14s} {len(history.epoch):10d} {kept:13.4f}")
        if rule is None:
            report = diagnostics.report()
    print("\nFitDiagnostics on the run without early stopping:")
    print("\n".join(report.splitlines()[-3:]))

    print("\nlint on a broken setup:")
    model = keras.Sequential(
        [
            keras.Input((8, 8, 1)),
            keras.layers.Flatten(),
            keras.layers.Dropout(0.5),
            keras.layers.BatchNormalization(),
            keras.layers.Dense(10, activation="softmax"),
        ]
    )
    model.compile("adam", keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    callbacks = [OneCycleLR(max_lr=0.01), keras.callbacks.ReduceLROnPlateau(monitor="val_loss")]
    for finding in lint(model, callbacks=callbacks, batch_size=8):
        print(f"  {finding}")


if __name__ == "__main__":
    main()
