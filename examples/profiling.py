"""Profiling a few training steps with Keras's own TensorBoard callback, and reading the trace.

`keras.callbacks.TensorBoard(profile_batch=(start, stop))` writes an XSpace
trace of those batches; TensorBoard's Profile tab (tensorboard-plugin-profile,
a kerasplus dependency) shows it. This example trains the digits CNN with
kerasplus's Cutout + Mixup pipeline and OneCycleLR, profiles batches 5-8, and
prints the ops that took the most device time, read from the trace with the
same converter the Profile tab uses.

Run:  python examples/profiling.py      (under a minute on 2 CPU cores)
Fast: KERASPLUS_FAST=1 python examples/profiling.py
"""

import collections
import json
import os
import pathlib

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import keras  # noqa: E402

import kerasplus  # noqa: E402

FAST = os.environ.get("KERASPLUS_FAST") == "1"
RUNS = pathlib.Path(os.environ.get("KERASPLUS_RUNS", "runs")) / "profiling"


def main():
    x, y = kerasplus.data.load("digits")
    y = keras.utils.to_categorical(y, 10)
    train = kerasplus.data.augmented_dataset(
        x, y, [kerasplus.layers.Cutout(0.25, seed=0), kerasplus.layers.Mixup(num_classes=10, seed=1)], batch_size=64
    )
    model = keras.Sequential(
        [
            keras.Input((8, 8, 1)),
            keras.layers.Conv2D(32, 3, activation="relu"),
            keras.layers.Flatten(),
            keras.layers.Dense(10),
        ]
    )
    model.compile(keras.optimizers.Adam(), keras.losses.CategoricalCrossentropy(from_logits=True))
    logs = RUNS / "logs"
    model.fit(
        train,
        epochs=1 if FAST else 2,
        verbose=0,
        shuffle=False,
        callbacks=[
            kerasplus.callbacks.OneCycleLR(max_lr=3e-3),
            keras.callbacks.TensorBoard(logs, profile_batch=(5, 8), write_graph=False),
        ],
    )
    traces = sorted(logs.glob("train/plugins/profile/*/*.xplane.pb"))
    print(f"trace: {traces[-1]}\nview it: tensorboard --logdir {logs}  (Profile tab)")

    import tensorboard_plugin_profile  # noqa: F401  (installs xprof, the Profile tab's converter)
    from xprof.convert import raw_to_tool_data

    trace, _ = raw_to_tool_data.xspace_to_tool_data([str(traces[-1])], "trace_viewer", {})
    durations = collections.Counter()
    for event in json.loads(trace)["traceEvents"]:
        if event.get("ph") == "X" and "dur" in event:
            durations[event.get("name", "?")] += event["dur"]
    print("most time in the profiled batches (microseconds, summed over threads):")
    for name, total in durations.most_common(8):
        print(f"  {total:10.0f}  {name}")


if __name__ == "__main__":
    main()
