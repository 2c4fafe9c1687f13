"""Losses and initializers: focal loss on an imbalanced task, label smoothing, and a deep ReLU net's init.

1. Breast-cancer data made imbalanced (1 malignant in 10): cross-entropy vs
   `FocalCrossentropy` vs label-smoothed `SparseCategoricalCrossentropy`, recall
   on the rare class and accuracy on a held-out split.
2. A 30-layer ReLU MLP: the standard deviation of its last activation with
   Keras's default Glorot init, after `kerasplus.initializers.reinitialize`
   (He, chosen from the activation), and after `lsuv`.

Run:  python examples/losses_and_initializers.py     (under a minute on 2 CPU cores)
Fast: KERASPLUS_FAST=1 python examples/losses_and_initializers.py
"""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import keras  # noqa: E402
import numpy as np  # noqa: E402

import kerasplus  # noqa: E402

FAST = os.environ.get("KERASPLUS_FAST") == "1"
EPOCHS = 5 if FAST else 30


def imbalanced_breast_cancer(seed=0):
    x, y = kerasplus.data.load("breast_cancer")  # 0 = malignant (37%)
    rng = np.random.default_rng(seed)
    malignant, benign = np.flatnonzero(y == 0), np.flatnonzero(y == 1)
    keep = np.concatenate([rng.choice(malignant, len(benign) // 9, replace=False), benign])
    x, y = x[keep], y[keep]
    x = (x - x.mean(0)) / x.std(0)
    return kerasplus.data.split(x, y, train=0.6, val=0.2, test=0.2, seed=seed)


def losses_part():
    (x_train, y_train), _, (x_test, y_test) = imbalanced_breast_cancer()
    losses = {
        "cross-entropy": kerasplus.losses.SparseCategoricalCrossentropy(from_logits=True),
        "focal (gamma=2)": kerasplus.losses.FocalCrossentropy(gamma=2.0, from_logits=True, sparse=True),
        "label smoothing 0.1": kerasplus.losses.SparseCategoricalCrossentropy(from_logits=True, label_smoothing=0.1),
    }
    print(f"imbalanced breast cancer: {int((y_train == 0).sum())} malignant of {len(y_train)} training samples")
    print(f"{'loss':22s} {'accuracy':>8s} {'malignant recall':>16s}")
    for name, loss in losses.items():
        keras.utils.set_random_seed(0)
        model = keras.Sequential(
            [keras.Input((x_train.shape[1],)), keras.layers.Dense(16, activation="relu"), keras.layers.Dense(2)]
        )
        model.compile(keras.optimizers.Adam(1e-3), loss)
        model.fit(x_train, y_train, epochs=EPOCHS, batch_size=32, verbose=0)
        predicted = keras.ops.convert_to_numpy(model(x_test)).argmax(-1)
        recall = float((predicted[y_test == 0] == 0).mean())
        print(f"{name:22s} {float((predicted == y_test).mean()):8.4f} {recall:16.4f}")


def deep_relu(depth=30, width=64):
    layers = [keras.Input((width,))]
    layers += [keras.layers.Dense(width, activation="relu") for _ in range(depth)]
    return keras.Sequential(layers)


def initializers_part():
    x = np.random.default_rng(0).normal(size=(256, 64)).astype("float32")
    print("\n30-layer ReLU MLP, std of the last activation on unit-variance input:")
    for name in ("glorot (Keras default)", "reinitialize (He)", "lsuv"):
        keras.utils.set_random_seed(0)
        model = deep_relu()
        if name.startswith("reinitialize"):
            kerasplus.initializers.reinitialize(model, seed=0)
        elif name == "lsuv":
            kerasplus.initializers.lsuv(model, x)
        print(f"  {name:24s} {float(np.std(keras.ops.convert_to_numpy(model(x)))):.2e}")


def main():
    losses_part()
    initializers_part()


if __name__ == "__main__":
    main()
