"""Stochastic weight averaging vs the final weights vs Keras's EMA, on sklearn's digits over several seeds.

One training run per seed gives all three: an MLP with BatchNormalization, SGD
with momentum at a constant rate, Keras's ``use_ema=True`` on the optimizer,
and `kerasplus.callbacks.StochasticWeightAveraging` (from epoch `--swa-start`,
SWALR to `--swa-lr`, statistics recomputed by `update_bn`). The final weights
are read at the last epoch end (before Keras writes the EMA into the model),
the EMA weights when `fit` ends (Keras has written them then; the BN statistics
are the training ones, as Keras leaves them), the SWA weights after `fit`.
Rows: test accuracy medians over the seeds, ``ours`` is SWA.

    python benchmarks/swa.py [--seeds 5] [--epochs 30]
"""

from __future__ import annotations

import argparse
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import keras  # noqa: E402
import numpy as np  # noqa: E402

import kerasplus  # noqa: E402
from benchmarks._header import print_header  # noqa: E402


class Snapshot(keras.callbacks.Callback):
    """Every variable of the model at the last epoch end, and when fit ends (Keras's EMA written by then)."""

    def on_epoch_end(self, epoch, logs=None):
        if epoch == self.params["epochs"] - 1:
            self.final = [keras.ops.convert_to_numpy(v).copy() for v in self.model.variables]

    def on_train_end(self, logs=None):
        self.ema = [keras.ops.convert_to_numpy(v).copy() for v in self.model.variables]


def accuracy(model, weights, x, y):
    for variable, value in zip(model.variables, weights):
        variable.assign(value)
    return float(np.mean(np.argmax(model.predict(x, verbose=0, batch_size=512), axis=-1) == y))


def run(seed, args, data):
    (x_train, y_train), (x_test, y_test) = data
    keras.utils.set_random_seed(seed)
    model = keras.Sequential(
        [
            keras.Input((64,)),
            keras.layers.Dense(128),
            keras.layers.BatchNormalization(),
            keras.layers.ReLU(),
            keras.layers.Dropout(0.2),
            keras.layers.Dense(10),
        ]
    )
    model.compile(
        keras.optimizers.SGD(args.lr, momentum=0.9, use_ema=True, ema_momentum=args.ema_momentum),
        keras.losses.SparseCategoricalCrossentropy(from_logits=True),
    )
    snapshot = Snapshot()
    swa = kerasplus.callbacks.StochasticWeightAveraging(
        swa_start=args.swa_start, swa_lr=args.swa_lr, anneal_epochs=args.anneal_epochs, bn_data=x_train
    )
    model.fit(x_train, y_train, batch_size=32, epochs=args.epochs, verbose=0, callbacks=[snapshot, swa])
    averaged = [keras.ops.convert_to_numpy(v).copy() for v in model.variables]
    return {
        "swa": accuracy(model, averaged, x_test, y_test),
        "final": accuracy(model, snapshot.final, x_test, y_test),
        "ema": accuracy(model, snapshot.ema, x_test, y_test),
    }


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--epochs", type=int, default=30)
    parser.add_argument("--lr", type=float, default=0.1)
    parser.add_argument("--swa-start", type=float, default=0.75)
    parser.add_argument("--swa-lr", type=float, default=0.05)
    parser.add_argument("--anneal-epochs", type=int, default=2)
    parser.add_argument("--ema-momentum", type=float, default=0.99)
    args = parser.parse_args()

    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    digits = load_digits()
    x, y = (digits.data / 16.0).astype("float32"), digits.target.astype("int32")
    x_train, x_test, y_train, y_test = train_test_split(x, y, test_size=0.3, random_state=0, stratify=y)
    data = (x_train, y_train), (x_test, y_test)

    print_header("SWA vs final weights vs Keras EMA (sklearn digits, test accuracy)")
    print(
        f"# seeds={args.seeds} epochs={args.epochs} lr={args.lr} swa_start={args.swa_start} swa_lr={args.swa_lr} "
        f"anneal_epochs={args.anneal_epochs} ema_momentum={args.ema_momentum}; train {len(x_train)}, test {len(x_test)}"
    )
    results = [run(seed, args, data) for seed in range(args.seeds)]
    print("# seed   swa     final   ema")
    for seed, r in enumerate(results):
        print(f"# {seed:4d}   {r['swa']:.4f}  {r['final']:.4f}  {r['ema']:.4f}")
    med = {k: float(np.median([r[k] for r in results])) for k in ("swa", "final", "ema")}
    wins_final = sum(r["swa"] >= r["final"] for r in results)
    wins_ema = sum(r["swa"] >= r["ema"] for r in results)
    print(f"{'name':48s}{'ours':>8s}{'anchor':>9s}{'ratio':>8s}")
    print(
        f"{'test accuracy: SWA / final weights':48s}{med['swa']:8.4f}{med['final']:9.4f}{med['swa'] / med['final']:8.3f}"
    )
    print(f"{'test accuracy: SWA / Keras EMA':48s}{med['swa']:8.4f}{med['ema']:9.4f}{med['swa'] / med['ema']:8.3f}")
    print(f"# SWA >= final in {wins_final}/{args.seeds} seeds, >= EMA in {wins_ema}/{args.seeds}")


if __name__ == "__main__":
    main()
