"""Epochs to 97% validation accuracy on digits: OneCycle vs constant-LR Adam, and with vs without BatchNormalization.

For each seed: an LR range test (`kerasplus.lr_find`, fastai's "valley"
suggestion) picks the rate; then the same CNN trains with Adam
(a) at that constant rate and (b) with `OneCycleLR(max_lr=that rate)` over the
same epoch budget, and we record the first epoch whose validation accuracy
reaches the target. The BatchNormalization study does the same constant-rate
run on the CNN with and without BN layers (each with its own range test) and
counts optimizer steps. Medians over seeds; a run that never reaches the target
counts as budget + 1 epochs (reported as such).

Run: python benchmarks/super_convergence.py [--seeds 5] [--budget 30] [--target 0.97]
"""

import argparse
import os
import statistics
import sys

sys.path.insert(0, os.path.dirname(__file__))

from _header import print_header  # noqa: E402

BATCH = 32


def build(batch_norm, seed, rate=1e-3):
    import keras

    keras.utils.set_random_seed(seed)
    layers = [keras.Input((8, 8, 1))]
    for filters, pool in ((32, False), (32, True), (64, False)):
        layers.append(
            keras.layers.Conv2D(filters, 3, padding="same", use_bias=not batch_norm, kernel_initializer="he_normal")
        )
        if batch_norm:
            layers.append(keras.layers.BatchNormalization())
        layers.append(keras.layers.ReLU())
        if pool:
            layers.append(keras.layers.MaxPooling2D())
    layers += [keras.layers.GlobalAveragePooling2D(), keras.layers.Dense(10)]
    model = keras.Sequential(layers)
    model.compile(
        keras.optimizers.Adam(rate), keras.losses.SparseCategoricalCrossentropy(from_logits=True), metrics=["accuracy"]
    )
    return model


def epochs_to_target(model, data, budget, target, callbacks):
    import keras

    (x_train, y_train), (x_val, y_val) = data
    reached = {}

    class StopAtTarget(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            if logs["val_accuracy"] >= target and "epoch" not in reached:
                reached["epoch"] = epoch + 1
                self.model.stop_training = True

    model.fit(
        x_train,
        y_train,
        validation_data=(x_val, y_val),
        epochs=budget,
        batch_size=BATCH,
        verbose=0,
        callbacks=[*callbacks, StopAtTarget()],
    )
    return reached.get("epoch", budget + 1)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--budget", type=int, default=30)
    parser.add_argument("--target", type=float, default=0.97)
    args = parser.parse_args()
    print_header("super_convergence: epochs to a validation accuracy on digits")
    import kerasplus

    x, y = kerasplus.data.load("digits")
    (x_train, y_train), (x_val, y_val), _ = kerasplus.data.split(x, y, train=0.7, val=0.15, test=0.15)
    data = ((x_train, y_train), (x_val, y_val))
    steps_per_epoch = -(-len(x_train) // BATCH)
    rows = {"constant": [], "one_cycle": [], "bn": [], "no_bn": []}
    rates = {"bn": [], "no_bn": []}
    for seed in range(args.seeds):
        for variant, batch_norm in (("bn", True), ("no_bn", False)):
            found = kerasplus.lr_find(
                build(batch_norm, seed),
                x_train,
                y_train,
                start_lr=1e-5,
                end_lr=1.0,
                num_steps=100,
                batch_size=BATCH,
                seed=seed,
            )
            rate = float(found.suggestion)
            rates[variant].append(rate)
            epochs = epochs_to_target(build(batch_norm, seed, rate), data, args.budget, args.target, [])
            rows[variant].append(epochs)
            if batch_norm:
                rows["constant"].append(epochs)
                rows["one_cycle"].append(
                    epochs_to_target(
                        build(True, seed),
                        data,
                        args.budget,
                        args.target,
                        [kerasplus.callbacks.OneCycleLR(max_lr=rate, total_steps=args.budget * steps_per_epoch)],
                    )
                )
        print(
            f"# seed {seed}: "
            + ", ".join(f"{k}={v[-1]}" for k, v in rows.items())
            + f"; lr bn={rates['bn'][-1]:.2e} no_bn={rates['no_bn'][-1]:.2e}",
            flush=True,
        )
    med = {k: statistics.median(v) for k, v in rows.items()}
    never = args.budget + 1
    print(
        f"# seeds={args.seeds} budget={args.budget} epochs target val_accuracy>={args.target}; "
        f"{never} = not reached; {steps_per_epoch} steps/epoch"
    )
    print(f"{'comparison':44s} {'ours':>8s} {'anchor':>8s} {'ratio':>7s}")
    print(
        f"{'epochs: OneCycle vs constant Adam (BN net)':44s} {med['one_cycle']:8.1f} {med['constant']:8.1f} "
        f"{med['constant'] / med['one_cycle']:7.2f}x"
    )
    print(
        f"{'steps: with BN vs without BN (constant Adam)':44s} {med['bn'] * steps_per_epoch:8.0f} "
        f"{med['no_bn'] * steps_per_epoch:8.0f} {med['no_bn'] / med['bn']:7.2f}x"
    )
    print("# per seed: " + "; ".join(f"{k} {v}" for k, v in rows.items()))


if __name__ == "__main__":
    main()
