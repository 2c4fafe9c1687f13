"""NaNGuard's cost per train step on MobileNetV2, bare and guarded steps interleaved call by call.

`real_architecture_overhead.py` times whole fits; on a shared 2-core VM bare
fit's own rate moves ±5 % from fit to fit, so a 2 % cost needs many fits to
see. Here three models of the same architecture and weights (MobileNetV2
alpha=0.5, weights=None, 32x32x3, batch 64, Adam) are each stepped with
`train_on_batch` on one batch, in a random order every round, for `--calls`
rounds:

  bare                    no callback
  NaNGuard()              installed as `fit` installs it (`on_train_begin`)
  NaNGuard(check_weights=False)

Rows: the median time of one call, its quartiles, and the ratio of bare's
median to the variant's (the per-step throughput ratio; target >= 0.98). The
models run the same steps on the same data, so their weights stay equal: the
script checks that at the end (a guard that skipped or changed a step fails it).

Run: python benchmarks/nan_guard_step.py [--backend tensorflow] [--calls 250]
"""

import argparse
import os
import random
import statistics
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
sys.path.insert(0, os.path.dirname(__file__))

import _backends  # noqa: E402

BACKEND = _backends.select_backend()

import keras  # noqa: E402
import numpy as np  # noqa: E402
from _header import print_header  # noqa: E402

from kerasplus.callbacks import NaNGuard  # noqa: E402


def make_model(guard):
    keras.utils.set_random_seed(0)
    net = keras.applications.MobileNetV2(input_shape=(32, 32, 3), alpha=0.5, weights=None, classes=10)
    model = keras.Model(net.inputs, net.outputs)
    model.compile(keras.optimizers.Adam(1e-3), keras.losses.SparseCategoricalCrossentropy())
    if guard is not None:
        guard.set_model(model)
        guard.on_train_begin()
    return model


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--calls", type=int, default=250, help="rounds; each steps every model once")
    parser.add_argument("--warmup", type=int, default=3)
    _backends.add_argument(parser)
    args = parser.parse_args()
    print_header(f"nan_guard_step [{BACKEND}]: MobileNetV2(alpha=0.5, weights=None) 32x32x3, batch 64, Adam")
    rng = np.random.default_rng(0)
    x = rng.normal(size=(64, 32, 32, 3)).astype("float32")
    y = rng.integers(0, 10, 64)
    models = {
        "bare": make_model(None),
        "NaNGuard()": make_model(NaNGuard()),
        "NaNGuard(check_weights=False)": make_model(NaNGuard(check_weights=False)),
    }
    for model in models.values():
        for _ in range(args.warmup):
            model.train_on_batch(x, y)
    times = {name: [] for name in models}
    order = list(models)
    shuffle = random.Random(0).shuffle
    for _ in range(args.calls):
        shuffle(order)
        for name in order:
            start = time.perf_counter()
            models[name].train_on_batch(x, y)
            times[name].append(time.perf_counter() - start)
    bare = statistics.median(times["bare"])
    print(f"# calls={args.calls} per model, interleaved in a random order each round; times in ms")
    print(f"{'name':32s} {'median':>8s} {'q1':>8s} {'q3':>8s} {'extra':>8s} {'ratio':>6s}")
    for name, values in times.items():
        median = statistics.median(values)
        q1, q3 = np.percentile(values, [25, 75])
        print(
            f"{name:32s} {median * 1e3:8.2f} {q1 * 1e3:8.2f} {q3 * 1e3:8.2f} "
            f"{(median - bare) * 1e3:+8.2f} {bare / median:6.3f}"
        )
    reference = models["bare"].get_weights()
    for name, model in models.items():
        difference = max(float(np.abs(a - b).max()) for a, b in zip(model.get_weights(), reference))
        if difference != 0.0:
            sys.exit(f"{name}: weights differ from bare's by {difference} after the same steps")
    print("# weights after the run: every variant equal to bare's (bit for bit)")


if __name__ == "__main__":
    main()
