"""kerasplus quickstart: digits, a stratified split, an LR range test, then one-cycle training.

Run:  python examples/quickstart.py        (about a minute on 2 CPU cores)
Fast: KERASPLUS_FAST=1 python examples/quickstart.py   (what the tests run)

Artifacts (the range-test plot) land in ./runs/quickstart/.
"""

import os
import pathlib
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import keras  # noqa: E402
import kerasplus  # noqa: E402

FAST = os.environ.get("KERASPLUS_FAST") == "1"
EPOCHS = 3 if FAST else 12
RUNS = pathlib.Path(os.environ.get("KERASPLUS_RUNS", "runs")) / "quickstart"


def build_model():
    model = keras.Sequential(
        [
            keras.Input((8, 8, 1)),
            keras.layers.Conv2D(16, 3, padding="same", activation="relu"),
            keras.layers.MaxPooling2D(),
            keras.layers.Conv2D(32, 3, padding="same", activation="relu"),
            keras.layers.GlobalAveragePooling2D(),
            keras.layers.Dense(10),
        ]
    )
    model.compile(
        optimizer=keras.optimizers.AdamW(learning_rate=1e-3, weight_decay=1e-4),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        metrics=["accuracy"],
    )
    return model


def main():
    started = time.perf_counter()
    keras.utils.set_random_seed(0)
    RUNS.mkdir(parents=True, exist_ok=True)

    x, y = kerasplus.data.load("digits")
    (x_train, y_train), (x_val, y_val), (x_test, y_test) = kerasplus.data.split(x, y, train=0.7, val=0.1, test=0.2)
    print(f"digits: {len(x_train)} train / {len(x_val)} val / {len(x_test)} test images, 8x8, 10 classes")

    model = build_model()
    print("LR range test ...")
    found = kerasplus.lr_find(model, x_train, y_train, start_lr=1e-5, end_lr=1.0, num_steps=60 if FAST else 100)
    plot = found.plot(RUNS / "lr_find.png")
    max_lr = found.suggestion  # fastai's "valley" rule
    print(f"  steep {found.suggestion_steep:.2e}  valley {found.suggestion_valley:.2e}  -> max_lr {max_lr:.2e}")
    print(f"  plot: {plot}")

    history = model.fit(
        x_train,
        y_train,
        validation_data=(x_val, y_val),
        epochs=EPOCHS,
        batch_size=32,
        verbose=2,
        callbacks=[
            kerasplus.callbacks.OneCycleLR(max_lr=max_lr),
            keras.callbacks.EarlyStopping(monitor="val_loss", patience=4, restore_best_weights=True),
        ],
    )
    loss, accuracy = model.evaluate(x_test, y_test, verbose=0)

    print("\nepoch  learning_rate  beta_1   loss    val_accuracy")
    h = history.history
    for epoch in range(len(h["loss"])):
        print(
            f"{epoch + 1:5d}  {h['learning_rate'][epoch]:13.3e}  {h['beta_1'][epoch]:.4f}"
            f"  {h['loss'][epoch]:.4f}  {h['val_accuracy'][epoch]:.4f}"
        )
    print(f"\ntest accuracy: {accuracy:.4f}  (test loss {loss:.4f})")
    print(f"finished in {time.perf_counter() - started:.0f} s")
    return accuracy


if __name__ == "__main__":
    main()
