"""Per-batch cost of SIGTERM handling under MultiWorkerMirroredStrategy: two workers on 127.0.0.1.

Each worker trains a small MLP (batch 64, `--steps` steps per `fit`) with
kerasplus `BackupAndRestore` (no save during the measured fits), variants
rotated each repeat, the first (tracing) fit excluded:
  none        BackupAndRestore(save_on_signals=()): no signal handling (the anchor)
  ours        BackupAndRestore() (SIGTERM): the workers agree through TF's coordination
              service; a batch boundary checks a threading.Event
  allreduce   the alternative design, for comparison: `none` plus a callback that
              all-reduces a "signal seen" flag across the workers at every batch end
              (a compiled `strategy.run` + `all_reduce`, then `.numpy()`)

Rows: ms per step (medians over repeats) and the ratio to `none` (median of the
per-repeat ratios); and the time the training thread spends per batch boundary
in the stop check itself (ours: `BackupAndRestore._signal_to_stop_with`; the
alternative: the all-reduce call). Worker 0 prints.

Run: python benchmarks/preemption_overhead.py [--repeats 5] [--steps 100]
"""

import argparse
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)


def worker(args):
    import keras
    import numpy as np
    import tensorflow as tf

    import kerasplus
    from benchmarks._header import print_header
    from kerasplus.callbacks import BackupAndRestore

    index = json.loads(os.environ["TF_CONFIG"])["task"]["index"]
    strategy = kerasplus.distribute.auto_strategy(cluster_timeout=60, communication_timeout=120)
    rng = np.random.default_rng(0)
    x = rng.normal(size=(64 * args.steps * 2, 32)).astype("float32")  # 2 workers' shards: `steps` each
    y = rng.normal(size=(len(x), 1)).astype("float32")
    options = tf.data.Options()
    options.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.DATA
    data = tf.data.Dataset.from_tensor_slices((x, y)).batch(64).with_options(options)
    with strategy.scope():
        model = keras.Sequential([keras.Input((32,)), keras.layers.Dense(64, activation="relu"), keras.layers.Dense(1)])
        model.compile("sgd", "mse")

    @tf.function
    def flag_all_reduce(flag):
        return strategy.run(lambda: tf.distribute.get_replica_context().all_reduce("SUM", tf.identity(flag)))

    checks = {"ours": [], "allreduce": []}

    class TimedBackup(BackupAndRestore):
        def _signal_to_stop_with(self):
            start = time.perf_counter()
            try:
                return super()._signal_to_stop_with()
            finally:
                if self.save_on_signals:
                    checks["ours"].append(time.perf_counter() - start)

    class AllReduceFlag(keras.callbacks.Callback):
        def on_train_batch_end(self, batch, logs=None):
            start = time.perf_counter()
            seen = strategy.experimental_local_results(flag_all_reduce(tf.constant(0.0)))[0].numpy()
            checks["allreduce"].append(time.perf_counter() - start)
            if seen:
                self.model.stop_training = True

    directory = tempfile.mkdtemp(prefix="kerasplus_preemption_bench_")

    def variant(name):
        backup_dir = os.path.join(directory, name)
        if name == "ours":
            return [TimedBackup(backup_dir, save_freq=10**9)]
        callbacks = [TimedBackup(backup_dir, save_freq=10**9, save_on_signals=())]
        return callbacks + ([AllReduceFlag()] if name == "allreduce" else [])

    names = ["none", "ours", "allreduce"]
    for name in names:  # tracing, and the first fit of each variant
        model.fit(data.take(5), epochs=1, verbose=0, callbacks=variant(name))
    for values in checks.values():
        values.clear()
    per_step = {name: [] for name in names}
    for repeat in range(args.repeats):
        order = names[repeat % 3 :] + names[: repeat % 3]
        for name in order:
            start = time.perf_counter()
            model.fit(data, epochs=1, verbose=0, callbacks=variant(name))
            per_step[name].append((time.perf_counter() - start) / args.steps)
    if index != 0:
        return
    print_header("preemption_overhead: SIGTERM handling under MultiWorkerMirroredStrategy, 2 workers on 127.0.0.1")
    print(f"# {args.steps} steps per fit, batch 64 (32 per worker), {args.repeats} repeats, worker 0's timings")
    print(f"{'variant':<12}{'ms/step':>10}{'none ms/step':>14}{'ratio':>8}")
    for name in names:
        ratios = [a / b for a, b in zip(per_step[name], per_step["none"])]
        print(
            f"{name:<12}{statistics.median(per_step[name]) * 1e3:>10.2f}"
            f"{statistics.median(per_step['none']) * 1e3:>14.2f}{statistics.median(ratios):>8.3f}"
        )
    print(f"{'stop check per batch boundary':<34}{'median':>10}{'p90':>10}")
    for name, values in checks.items():
        values = sorted(values)
        print(f"{name:<34}{values[len(values) // 2] * 1e6:>8.1f}us{values[int(len(values) * 0.9)] * 1e6:>8.1f}us")


def launch(args):
    sockets = [socket.socket() for _ in range(2)]
    for s in sockets:
        s.bind(("127.0.0.1", 0))
    cluster = {"worker": [f"127.0.0.1:{s.getsockname()[1]}" for s in sockets]}
    for s in sockets:
        s.close()
    processes = []
    for index in range(2):
        env = {k: v for k, v in os.environ.items() if k != "KERAS_BACKEND"}
        env.update(
            TF_CONFIG=json.dumps({"cluster": cluster, "task": {"type": "worker", "index": index}}),
            CUDA_VISIBLE_DEVICES="",
            PYTHONPATH=ROOT,
        )
        command = [sys.executable, os.path.abspath(__file__), "--worker"]
        command += ["--repeats", str(args.repeats), "--steps", str(args.steps)]
        processes.append(subprocess.Popen(command, env=env, cwd=ROOT))
    try:
        for process in processes:
            process.wait(timeout=args.timeout)
    finally:
        for process in processes:
            if process.poll() is None:
                process.kill()
                process.wait(timeout=10)
    sys.exit(max(p.returncode for p in processes))


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--steps", type=int, default=100)
    parser.add_argument("--timeout", type=float, default=900)
    parser.add_argument("--worker", action="store_true")
    parsed = parser.parse_args()
    worker(parsed) if parsed.worker else launch(parsed)
