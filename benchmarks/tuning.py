"""Wall time of the same random search through kerasplus.tuning.search and plain KerasTuner.

Both search the same space with the same seed, trials, data and fit arguments
in one process, interleaved (ours, plain, ours, ...), each in a fresh
directory; the ratio is the median of per-repeat ratios ours / plain.
Target: <= 1.05.

Run: python benchmarks/tuning.py [--repeats 5] [--trials 4]
"""

import argparse
import os
import statistics
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(__file__))

from _header import print_header  # noqa: E402


def build(hp):
    import keras

    model = keras.Sequential(
        [
            keras.Input((8, 8, 1)),
            keras.layers.Flatten(),
            keras.layers.Dense(hp.Int("units", 16, 64, step=16), activation="relu"),
            keras.layers.Dense(10),
        ]
    )
    model.compile(
        keras.optimizers.Adam(hp.Float("learning_rate", 1e-3, 1e-2, sampling="log")),
        keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        metrics=["accuracy"],
    )
    return model


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--trials", type=int, default=4)
    args = parser.parse_args()
    print_header("tuning: random search wall time, kerasplus.tuning.search vs keras_tuner.RandomSearch")
    import keras_tuner

    import kerasplus

    x, y = kerasplus.data.load("digits")
    (x_train, y_train), (x_val, y_val), _ = kerasplus.data.split(x, y)
    fit = dict(epochs=3, batch_size=64, validation_data=(x_val, y_val), verbose=0)

    def ours(directory):
        kerasplus.tuning.search(
            build,
            x_train,
            y_train,
            method="random",
            objective="val_accuracy",
            max_trials=args.trials,
            directory=directory,
            project_name="p",
            seed=1,
            **fit,
        )

    def plain(directory):
        tuner = keras_tuner.RandomSearch(
            build, objective="val_accuracy", max_trials=args.trials, directory=directory, project_name="p", seed=1
        )
        tuner.search(x_train, y_train, **fit)

    times = {"ours": [], "plain": []}
    ours(tempfile.mkdtemp())  # warm-up: imports, first graph traces
    plain(tempfile.mkdtemp())
    for _ in range(args.repeats):
        for name, run in (("ours", ours), ("plain", plain)):
            start = time.perf_counter()
            run(tempfile.mkdtemp())
            times[name].append(time.perf_counter() - start)
    ratios = [a / b for a, b in zip(times["ours"], times["plain"])]
    print(
        f"# repeats={args.repeats} trials={args.trials} epochs=3 (digits, 1257 train images); lower is better; "
        "target ratio <= 1.05"
    )
    print(f"{'name':40s} {'ours s':>8s} {'plain s':>8s} {'ratio':>7s}")
    print(
        f"{'random search, median':40s} {statistics.median(times['ours']):8.2f} "
        f"{statistics.median(times['plain']):8.2f} {statistics.median(ratios):7.3f}"
    )
    print(f"# per-repeat ratios: {', '.join(f'{r:.3f}' for r in ratios)}")


if __name__ == "__main__":
    main()
