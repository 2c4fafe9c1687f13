"""Pretrains the small CNN backbone shipped as saved_models/digits_backbone.keras.

Trained on scikit-learn's digits 0-4 only, with one-pixel random shifts, (digits 5-9 are left for the transfer
learning example), seeded and with deterministic ops, so rerunning this script
rebuilds the same file contents (weights) on the same software versions.

Run: python saved_models/train_backbone.py    (about a minute on 2 CPU cores)
"""

import os
import pathlib

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

import kerasplus  # noqa: E402

HERE = pathlib.Path(__file__).resolve().parent
PRETRAIN_CLASSES = (0, 1, 2, 3, 4)


def build_backbone():
    """Input (8, 8, 1) -> 512 features (a 4x4x32 map, flattened); He-initialised for its ReLUs."""
    init = kerasplus.initializers.for_activation("relu")
    layers = [keras.Input((8, 8, 1), name="image")]
    for index, filters in enumerate((16, 32, 32)):
        layers += [
            keras.layers.Conv2D(
                filters, 3, padding="same", use_bias=False, kernel_initializer=init, name=f"conv{index}"
            ),
            keras.layers.BatchNormalization(name=f"bn{index}"),
            keras.layers.ReLU(name=f"relu{index}"),
        ]
        if index == 1:
            layers.append(keras.layers.MaxPooling2D(name="pool"))
    layers.append(keras.layers.Flatten(name="features"))
    return keras.Sequential(layers, name="digits_backbone")


def main(path=HERE / "digits_backbone.keras", epochs=20):
    keras.utils.set_random_seed(0)
    tf.config.experimental.enable_op_determinism()
    x, y = kerasplus.data.load("digits")
    keep = np.isin(y, PRETRAIN_CLASSES)
    (x_train, y_train), (x_val, y_val), _ = kerasplus.data.split(x[keep], y[keep], train=0.8, val=0.1, test=0.1)
    backbone = build_backbone()
    # Shifting the images by up to one pixel while pretraining keeps the
    # features general (measured: fine-tuning on digits 5-9 gains about a point).
    model = keras.Sequential(
        [
            keras.Input((8, 8, 1)),
            keras.layers.RandomTranslation(0.125, 0.125, fill_mode="constant", seed=0),
            backbone,
            keras.layers.Dense(len(PRETRAIN_CLASSES), name="pretrain_head"),
        ]
    )
    model.compile(
        keras.optimizers.Adam(3e-3), keras.losses.SparseCategoricalCrossentropy(from_logits=True), metrics=["accuracy"]
    )
    model.fit(
        x_train,
        y_train,
        validation_data=(x_val, y_val),
        epochs=epochs,
        batch_size=32,
        verbose=2,
        callbacks=[kerasplus.callbacks.OneCycleLR(max_lr=3e-3)],
    )
    _, accuracy = model.evaluate(x_val, y_val, verbose=0)
    backbone.save(path)
    print(
        f"pretrained on digits {PRETRAIN_CLASSES}: val accuracy {accuracy:.4f}; "
        f"backbone ({backbone.count_params()} weights) saved to {path} ({os.path.getsize(path)} bytes)"
    )


if __name__ == "__main__":
    main()
