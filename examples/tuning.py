"""Hyperparameter search with KerasTuner through `kerasplus.tuning.search`, cross-validated.

Random search over width, dropout and the learning-rate schedule (constant,
OneCycle, CyclicLR) of a digits MLP, each trial scored by 3-fold
cross-validation; one hyperparameter value makes the model diverge on purpose,
so the summary shows how a failed trial is reported. TensorBoard HParams logs
land in the runs folder.

Run:  python examples/tuning.py      (a few minutes on 2 CPU cores)
Fast: KERASPLUS_FAST=1 python examples/tuning.py
"""

import os
import pathlib
import warnings

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import keras  # noqa: E402

import kerasplus  # noqa: E402
from kerasplus.tuning import spaces  # noqa: E402

FAST = os.environ.get("KERASPLUS_FAST") == "1"
EPOCHS, TRIALS = (2, 3) if FAST else (8, 12)
RUNS = pathlib.Path(os.environ.get("KERASPLUS_RUNS", "runs")) / "tuning"
STEPS = EPOCHS * 24  # ~ 1257 * 2/3 images per fold / batch 32 ... per epoch, rounded down


def build_model(hp):
    model = keras.Sequential(
        [
            keras.Input((8, 8, 1)),
            keras.layers.Flatten(),
            keras.layers.Dense(hp.Int("units", 16, 128, step=16), activation="relu"),
            keras.layers.Dropout(spaces.dropout(hp)),
            keras.layers.Dense(10),
        ]
    )
    learning_rate = spaces.learning_rate_schedule(hp, steps=STEPS, min_lr=1e-3, max_lr=3e-2)
    # A "too hot" option: SGD at 1e30 overflows to NaN, which search records as a failed trial.
    if hp.Boolean("too_hot"):
        learning_rate = 1e30
    model.compile(
        keras.optimizers.SGD(learning_rate, momentum=0.9),
        keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        metrics=["accuracy"],
    )
    return model


def main():
    x, y = kerasplus.data.load("digits")
    (x_train, y_train), _, (x_test, y_test) = kerasplus.data.split(x, y, train=0.7, val=0.1, test=0.2)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", UserWarning)
        tuner, summary = kerasplus.tuning.search(
            build_model,
            x_train,
            y_train,
            method="random",
            objective="val_accuracy",
            max_trials=TRIALS,
            cv=3,
            directory=str(RUNS),
            project_name="digits",
            overwrite=True,
            seed=3,
            tensorboard_dir=str(RUNS / "tb"),
            epochs=EPOCHS,
            batch_size=32,
            verbose=0,
        )
    print(summary)
    for warning in caught:
        if "trials failed" in str(warning.message):
            print(f"(warned: {str(warning.message).splitlines()[0]})")
    best = tuner.hypermodel.build(tuner.get_best_hyperparameters()[0])
    best.fit(x_train, y_train, epochs=EPOCHS, batch_size=32, verbose=0)
    print(
        f"best hyperparameters retrained on the whole training split: test accuracy "
        f"{best.evaluate(x_test, y_test, verbose=0)[1]:.4f}"
    )
    print(f"TensorBoard HParams: tensorboard --logdir {RUNS / 'tb'}")


if __name__ == "__main__":
    main()
