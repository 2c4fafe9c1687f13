"""kerasplus quickstart: the whole product on scikit-learn's digits, end to end.

split train/val/test -> LR range test (PNG) -> a small CNN initialised by
kerasplus.initializers, with BatchNormalization -> a tf.data pipeline with
Cutout and Mixup -> focal loss -> AdamW with OneCycleLR -> EarlyStopping,
FitDiagnostics, BackupAndRestore, TensorBoard -> test accuracy -> QAT fine-tune
and int8 TFLite export with its accuracy -> a summary table and a
learning-curve PNG.

Run:  python examples/quickstart.py        (about 1-2 minutes on 2 CPU cores)
Fast: KERASPLUS_FAST=1 python examples/quickstart.py   (what the tests run)

Artifacts: the models in ./saved_models/ (KERASPLUS_SAVED_MODELS to change),
plots, TensorBoard logs and the resume checkpoint in ./runs/quickstart/
(KERASPLUS_RUNS to change). Stop it with Ctrl-C during training and run it
again: it skips the range test it already did and resumes training where the
last checkpoint left it, instead of starting over (and says so when training
starts). Once a run has finished, running it again prints that run's results;
``--fresh`` starts over.
"""

import argparse
import json
import os
import pathlib
import shutil
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import keras  # noqa: E402

import kerasplus  # noqa: E402
from kerasplus import callbacks as kp_callbacks  # noqa: E402
from kerasplus import quantization  # noqa: E402
from kerasplus.diagnostics import FitDiagnostics, lint, plot_learning_curves  # noqa: E402

FAST = os.environ.get("KERASPLUS_FAST") == "1"
EPOCHS = 3 if FAST else 30
QAT_EPOCHS = 1 if FAST else 3
BATCH = 32
RUNS = pathlib.Path(os.environ.get("KERASPLUS_RUNS", "runs")) / "quickstart"
SAVED = pathlib.Path(os.environ.get("KERASPLUS_SAVED_MODELS", "saved_models"))


def build_model():
    """A small CNN; every kernel initialised for the activation that follows it."""
    he = kerasplus.initializers.for_activation("relu")
    layers = [keras.Input((8, 8, 1))]
    for filters, pool in ((32, False), (32, True), (64, False)):
        layers += [
            keras.layers.Conv2D(filters, 3, padding="same", use_bias=False, kernel_initializer=he),
            keras.layers.BatchNormalization(),
            keras.layers.ReLU(),
        ]
        if pool:
            layers.append(keras.layers.MaxPooling2D())
    layers += [
        keras.layers.GlobalAveragePooling2D(),
        keras.layers.Dense(10, kernel_initializer=kerasplus.initializers.for_activation(None)),
    ]
    model = keras.Sequential(layers, name="digits_cnn")
    model.compile(
        optimizer=keras.optimizers.AdamW(learning_rate=1e-3, weight_decay=1e-4),
        # Mixup makes the targets soft, so the loss takes dense (one-hot) labels.
        loss=kerasplus.losses.FocalCrossentropy(gamma=2.0, from_logits=True),
        metrics=["accuracy"],
    )
    return model


def range_test(model, x_train, y_train, state, state_path):
    if "max_lr" in state:
        print(f"LR range test: reusing max_lr {state['max_lr']:.2e} from {state_path}")
        return state["max_lr"]
    print("LR range test ...")
    found = kerasplus.lr_find(
        model, x_train, y_train, start_lr=1e-5, end_lr=1.0, num_steps=40 if FAST else 100, batch_size=BATCH
    )
    plot = found.plot(RUNS / "lr_find.png")
    state["max_lr"] = float(found.suggestion)  # fastai's "valley" rule
    state_path.write_text(json.dumps(state))
    print(
        f"  valley {found.suggestion_valley:.2e}, steep {found.suggestion_steep:.2e} -> max_lr "
        f"{state['max_lr']:.2e}; plot: {plot}"
    )
    return state["max_lr"]


class AnnounceResume(keras.callbacks.Callback):
    """Says, as training starts, whether it resumes from `backup`'s checkpoint (put it after `backup`)."""

    def __init__(self, backup):
        super().__init__()
        self.backup = backup
        self.announced = False

    def on_epoch_begin(self, epoch, logs=None):
        if not self.announced:
            self.announced = True
            if self.backup.restored_from:
                print(
                    f"resuming from epoch {epoch + 1} of {self.backup.backup_dir} "
                    f"(checkpoint {self.backup.restored_from})",
                    flush=True,
                )
            else:
                print(f"training from scratch; checkpoints go to {self.backup.backup_dir}", flush=True)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--fresh", action="store_true", help="discard the last run (checkpoints, range test) and start over"
    )
    args = parser.parse_args(argv)
    started = time.perf_counter()
    keras.utils.set_random_seed(0)
    state_path = RUNS / "state.json"
    if args.fresh and RUNS.exists():
        shutil.rmtree(RUNS)
        print(f"--fresh: removed {RUNS}")
    state = json.loads(state_path.read_text()) if state_path.exists() else {}
    if "finished" in state:
        done = state["finished"]
        print(
            f"already finished: {RUNS} holds a completed run (test accuracy {done['test_accuracy']:.4f}, int8 "
            f"{done['int8_accuracy']:.4f}, models in {done['saved']}). Nothing to resume; rerun with --fresh "
            "to train again from scratch."
        )
        return done["test_accuracy"]
    RUNS.mkdir(parents=True, exist_ok=True)
    SAVED.mkdir(parents=True, exist_ok=True)
    print(f"runs folder: {RUNS.resolve()}\nsaved models: {SAVED.resolve()}")

    x, y = kerasplus.data.load("digits")
    (x_train, y_train), (x_val, y_val), (x_test, y_test) = kerasplus.data.split(x, y, train=0.7, val=0.15, test=0.15)
    one_hot = keras.utils.to_categorical
    y_train_1h, y_val_1h, y_test_1h = one_hot(y_train, 10), one_hot(y_val, 10), one_hot(y_test, 10)
    print(f"digits: {len(x_train)} train / {len(x_val)} val / {len(x_test)} test images, 8x8, 10 classes")

    model = build_model()
    max_lr = range_test(model, x_train, y_train_1h, state, state_path)

    augmentation = [kerasplus.layers.Cutout(0.25, seed=1), kerasplus.layers.Mixup(num_classes=10, seed=2)]
    train = kerasplus.data.augmented_dataset(x_train, y_train_1h, augmentation, batch_size=BATCH, seed=0)
    backup = kp_callbacks.BackupAndRestore(RUNS / "backup", save_freq=20)
    diagnostics = FitDiagnostics(held_batch=(x_val[:256], y_val_1h[:256]), gradient_every=50)
    callbacks = [
        kp_callbacks.OneCycleLR(max_lr=max_lr),
        kp_callbacks.EarlyStopping(monitor="val_loss", patience=6, restore_best_weights=True),
        diagnostics,
        keras.callbacks.TensorBoard(RUNS / "tensorboard"),
        backup,  # last (but for the announcement), so it saves the state of every callback before it
        AnnounceResume(backup),
    ]
    findings = lint(
        model, callbacks=callbacks, batch_size=BATCH, validation_data=(x_val, y_val_1h), augmentation=augmentation
    )
    print(f"lint: {len(findings)} finding(s)" + "".join(f"\n  {f}" for f in findings))

    history = model.fit(
        train, validation_data=(x_val, y_val_1h), epochs=EPOCHS, callbacks=callbacks, verbose=2, shuffle=False
    )
    print(diagnostics.report())
    _, test_accuracy = model.evaluate(x_test, y_test_1h, verbose=0)
    float_path = SAVED / "quickstart_digits.keras"
    model.save(float_path)
    curves = plot_learning_curves(history, RUNS / "learning_curves.png")

    print("\nQAT fine-tune ...")
    qat = quantization.quantize_model(model)
    qat.compile(
        keras.optimizers.Adam(1e-4),
        kerasplus.losses.FocalCrossentropy(gamma=2.0, from_logits=True),
        metrics=["accuracy"],
    )
    qat.fit(x_train, y_train_1h, epochs=QAT_EPOCHS, batch_size=BATCH, verbose=2)
    int8_path = quantization.export_tflite(qat, SAVED / "quickstart_digits_int8.tflite")
    int8 = quantization.evaluate_tflite(int8_path, x_test, y_test)

    print("\nsummary")
    rows = [
        ("max_lr (range test)", f"{max_lr:.2e}"),
        ("epochs", f"stopped after epoch {history.epoch[-1] + 1} of {EPOCHS} ({len(history.epoch)} run this time)"),
        ("FitDiagnostics verdict", f"{diagnostics.verdict} (last epoch)"),
        ("test accuracy, float Keras", f"{test_accuracy:.4f}"),
        ("test accuracy, int8 TFLite", f"{int8['accuracy']:.4f}"),
        ("int8 latency per sample", f"{int8['latency_ms']:.3f} ms"),
        ("float model", f"{float_path} ({os.path.getsize(float_path) // 1024} KiB)"),
        ("int8 model", f"{int8_path} ({os.path.getsize(int8_path) // 1024} KiB)"),
        ("learning curves", str(curves)),
        ("TensorBoard", f"tensorboard --logdir {RUNS / 'tensorboard'}"),
    ]
    for name, value in rows:
        print(f"  {name:28s} {value}")
    print(f"\ntest accuracy: {test_accuracy:.4f}  int8 test accuracy: {int8['accuracy']:.4f}")
    print(f"finished in {time.perf_counter() - started:.0f} s")
    state["finished"] = {
        "test_accuracy": float(test_accuracy),
        "int8_accuracy": float(int8["accuracy"]),
        "saved": str(SAVED),
    }
    state_path.write_text(json.dumps(state))
    return test_accuracy


if __name__ == "__main__":
    try:
        main()
    except KeyboardInterrupt:
        print(f"\ninterrupted; rerun to resume from {RUNS / 'backup'}", file=sys.stderr, flush=True)
        sys.exit(130)
