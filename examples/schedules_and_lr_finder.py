"""Learning-rate schedules in an existing `fit`: range test, one-cycle, cyclic, warm-up.

Finds a maximum rate with the LR range test, then trains the same digits MLP
four ways (constant, `OneCycleLR`, `CyclicLR`, `WarmupLR` around cosine decay)
and prints each run's final validation accuracy and the rate it ended at.

Run:  python examples/schedules_and_lr_finder.py     (about a minute on 2 CPU cores)
Fast: KERASPLUS_FAST=1 python examples/schedules_and_lr_finder.py
"""

import os
import pathlib

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import keras  # noqa: E402

import kerasplus  # noqa: E402

FAST = os.environ.get("KERASPLUS_FAST") == "1"
EPOCHS = 3 if FAST else 10
RUNS = pathlib.Path(os.environ.get("KERASPLUS_RUNS", "runs")) / "schedules"


def build():
    model = keras.Sequential(
        [
            keras.Input((8, 8, 1)),
            keras.layers.Flatten(),
            keras.layers.Dense(64, activation="relu"),
            keras.layers.Dense(10),
        ]
    )
    model.compile(
        keras.optimizers.SGD(0.01, momentum=0.9),
        keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        metrics=["accuracy"],
    )
    return model


def main():
    keras.utils.set_random_seed(0)
    RUNS.mkdir(parents=True, exist_ok=True)
    x, y = kerasplus.data.load("digits")
    (x_train, y_train), (x_val, y_val), _ = kerasplus.data.split(x, y)
    found = kerasplus.lr_find(build(), x_train, y_train, start_lr=1e-4, end_lr=10.0, num_steps=50 if FAST else 100)
    max_lr = found.suggestion
    print(
        f"range test: valley {max_lr:.3g}, steep {found.suggestion_steep:.3g}; plot {found.plot(RUNS / 'lr_find.png')}"
    )
    steps = EPOCHS * -(-len(x_train) // 32)
    cosine = keras.optimizers.schedules.CosineDecay(max_lr, decay_steps=steps)
    runs = {
        "constant": [],
        "OneCycleLR": [kerasplus.callbacks.OneCycleLR(max_lr=max_lr)],
        "CyclicLR": [kerasplus.callbacks.CyclicLR(base_lr=max_lr / 10, max_lr=max_lr, step_size_up=steps // 4)],
        "Warmup(cosine)": [kerasplus.callbacks.WarmupLR(warmup_steps=steps // 10)],
    }
    print(f"{'schedule':16s} {'val_accuracy':>12s} {'final lr':>10s}")
    for name, callbacks in runs.items():
        keras.utils.set_random_seed(0)
        model = build()
        model.optimizer.learning_rate = cosine if name.startswith("Warmup") else max_lr
        history = model.fit(
            x_train,
            y_train,
            validation_data=(x_val, y_val),
            epochs=EPOCHS,
            batch_size=32,
            verbose=0,
            callbacks=callbacks,
        )
        rate = history.history.get("learning_rate", [float(model.optimizer.learning_rate)])[-1]
        print(f"{name:16s} {history.history['val_accuracy'][-1]:12.4f} {rate:10.3g}")


if __name__ == "__main__":
    main()
