"""Cutout, Mixup and CutMix in a tf.data pipeline, against the same model without them.

Trains a small digits CNN on a quarter of the training split (where
augmentation matters most) with and without `Cutout` + `MixupOrCutMix`, and
prints validation accuracy and the train/validation gap of each.

Run:  python examples/augmentation.py      (about a minute on 2 CPU cores)
Fast: KERASPLUS_FAST=1 python examples/augmentation.py
"""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import keras  # noqa: E402

import kerasplus  # noqa: E402

FAST = os.environ.get("KERASPLUS_FAST") == "1"
EPOCHS = 4 if FAST else 40


def build():
    model = keras.Sequential(
        [
            keras.Input((8, 8, 1)),
            keras.layers.Conv2D(32, 3, padding="same", activation="relu"),
            keras.layers.Conv2D(32, 3, padding="same", activation="relu"),
            keras.layers.Flatten(),
            keras.layers.Dense(10),
        ]
    )
    # Mixed labels are soft (one-hot weights), so the loss takes dense targets.
    model.compile(
        keras.optimizers.Adam(1e-3), keras.losses.CategoricalCrossentropy(from_logits=True), metrics=["accuracy"]
    )
    return model


def main():
    x, y = kerasplus.data.load("digits")
    (x_train, y_train), (x_val, y_val), _ = kerasplus.data.split(x, y)
    x_train, y_train = x_train[: len(x_train) // 4], y_train[: len(y_train) // 4]
    y_train_1hot, y_val_1hot = keras.utils.to_categorical(y_train, 10), keras.utils.to_categorical(y_val, 10)
    pipelines = {
        "none": [],
        "Cutout + MixupOrCutMix": [
            kerasplus.layers.Cutout(0.25, seed=0),
            kerasplus.layers.MixupOrCutMix(num_classes=10, seed=1),
        ],
    }
    print(f"{len(x_train)} training images, {EPOCHS} epochs")
    print(f"{'augmentation':24s} {'train acc':>9s} {'val acc':>8s} {'gap':>6s}")
    for name, layers in pipelines.items():
        keras.utils.set_random_seed(0)
        train = kerasplus.data.augmented_dataset(x_train, y_train_1hot, layers, batch_size=32, seed=0)
        model = build()
        model.fit(train, validation_data=(x_val, y_val_1hot), epochs=EPOCHS, shuffle=False, verbose=0)
        train_acc = model.evaluate(x_train, y_train_1hot, verbose=0)[1]
        val_acc = model.evaluate(x_val, y_val_1hot, verbose=0)[1]
        print(f"{name:24s} {train_acc:9.4f} {val_acc:8.4f} {train_acc - val_acc:6.3f}")


if __name__ == "__main__":
    main()
