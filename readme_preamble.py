"""What the README's snippets assume: data and a model, small enough to run every block in seconds.

`tests/test_readme.py` runs each fenced Python block of README.md after this
preamble, in a fresh process inside a scratch folder. Names defined here are the
ones the README's prose introduces ("your model", `x_train`, ...).
"""

import keras

import kerasplus
from kerasplus.schedules import CyclicLR, OneCycle, Warmup  # noqa: F401  (blocks refer to them)

keras.utils.set_random_seed(0)
x, y = kerasplus.data.load("digits")  # (1797, 8, 8, 1) float32 in [0, 1]
x, y = x[:480], y[:480]  # a few batches per epoch keep each block short
(x_tr, y_tr), (x_va, y_va), (x_te, y_te) = kerasplus.data.split(x, y, train=0.7, val=0.15, test=0.15, seed=0)
x_train, y_train = x_tr, y_tr
x_few, y_few = x_tr[y_tr < 5][:25], y_tr[y_tr < 5][:25]  # a few examples of digits 0-4
loss = keras.losses.SparseCategoricalCrossentropy(from_logits=True)


def make_model():
    """A small CNN for the 8x8 digits, with BatchNormalization; uncompiled."""
    return keras.Sequential(
        [
            keras.Input((8, 8, 1)),
            keras.layers.Conv2D(8, 3, padding="same", use_bias=False),
            keras.layers.BatchNormalization(),
            keras.layers.Activation("relu"),
            keras.layers.Flatten(),
            keras.layers.Dense(10),
        ]
    )


model = make_model()
model.compile(keras.optimizers.Adam(1e-3), loss, metrics=["accuracy"])
callbacks = [kerasplus.callbacks.OneCycleLR(max_lr=1e-2)]
