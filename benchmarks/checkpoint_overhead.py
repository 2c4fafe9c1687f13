"""Whole-`fit` time with a checkpoint every 50 steps on a ResNet50-sized model, against bare `fit` and Keras's checkpointers.

All variants run in this one process, on one model (compiled once, trained on
across runs), interleaved: each repeat runs every variant once, in an order
rotated by one each repeat, so a change of the machine's load falls on all of
them alike. `--model`:
  resnet50  keras.applications.ResNet50(weights=None), 32x32 inputs, 10 classes: 23.6M parameters
            (Adam: ~71M floats, 283 MB of state per checkpoint)
  mlp       Dense 1024 -> 4096 -> 4096 -> 512 -> 10 (relu): 23.1M parameters, Adam; the same state to save
            with a step ~10x shorter, where a save every 50 steps really shows in the fit time
Variants; every run is one `fit` of `--steps` steps of batch `--batch` on random
data, the first (tracing) run excluded:
  bare          no callback (the anchor)
  ours          kerasplus BackupAndRestore(save_freq=50), async_save=True (the default)
  ours-sync     the same with async_save=False
  keras         keras.callbacks.BackupAndRestore(save_freq=50)
  orbax         keras.callbacks.OrbaxCheckpoint(save_freq=50, save_on_background=True), when
                orbax-checkpoint is importable (on TensorFlow and torch Keras hands it numpy)

Every checkpointer's time includes waiting for its last write (ours and Orbax
wait at `on_train_end`; Keras's BackupAndRestore writes in the training
thread). The time is taken from `on_train_begin` to the `on_train_end` of a
timer callback placed after the checkpointer, not around `model.fit`: on
TensorFlow 2.21, as `fit` returns, deleting its `tf.data` iterator waits for the
autotune thread's next wake-up, which comes after 10, 20, 40, ... ms of sleep
(at 20.47 s, 40.95 s, ... after the iterator was made), so the time around
`fit` is the span rounded up to those marks, whatever ran inside (measured:
bare and checkpointed fits of 18.7-24.9 s all took 20.5 s or 41.0 s). The
rest of `fit`'s time (that wait, and `fit`'s setup before `on_train_begin`) is
printed as "teardown" and left out of every ratio. The default 220 steps make
4 saves (steps 50, 100, 150, 200), the last one with 20 steps of training left
to overlap its write. Ratios are medians
over repeats of the ratio within one repeat. "held ms/save" is the time our
callback holds the training thread per save (the snapshot; with
async_save=False, the whole write).

Run: python benchmarks/checkpoint_overhead.py [--backend tensorflow|jax|torch] [--model resnet50|mlp]
     [--repeats 3] [--steps 220] [--batch 16] [--variants bare,ours,...] [--per-save-only] [--train-threads N]
"""

import argparse
import os
import shutil
import statistics
import sys
import tempfile
import time

VARIANTS = ("bare", "ours", "ours-sync", "keras", "orbax")


def parse_args(argv=None):
    parser = argparse.ArgumentParser()
    parser.add_argument(
        "--backend", choices=["tensorflow", "jax", "torch"], default=None, help="default: KERAS_BACKEND"
    )
    parser.add_argument("--model", choices=["resnet50", "mlp"], default="resnet50")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--steps", type=int, default=220)
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--variants", default=",".join(VARIANTS), help="comma-separated, from " + ",".join(VARIANTS))
    parser.add_argument("--per-save-only", action="store_true", help="only time single saves (no fit rows)")
    parser.add_argument(
        "--train-threads",
        type=int,
        default=0,
        help="TensorFlow intra-op threads for training (0: TensorFlow's default, every core); "
        "fewer leaves cores free for a background write, as an accelerator's host does",
    )
    return parser.parse_args(argv)


ARGS = parse_args()
if ARGS.backend:
    os.environ["KERAS_BACKEND"] = ARGS.backend  # before keras is imported
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import keras  # noqa: E402
import numpy as np  # noqa: E402

if ARGS.train_threads and keras.backend.backend() == "tensorflow":
    import tensorflow as tf

    tf.config.threading.set_intra_op_parallelism_threads(ARGS.train_threads)

from benchmarks._header import print_header  # noqa: E402
from kerasplus.callbacks import BackupAndRestore  # noqa: E402

SAVE_FREQ = 50


class TimedBackup(BackupAndRestore):
    """Ours, recording how long each save holds the training thread."""

    blocked = {True: [], False: []}  # by async_save

    def _save(self, *args, **kwargs):
        start = time.perf_counter()
        try:
            return super()._save(*args, **kwargs)
        finally:
            TimedBackup.blocked[self.async_save].append(time.perf_counter() - start)


class Span(keras.callbacks.Callback):
    """Seconds from `on_train_begin` to `on_train_end` (placed last, after the other callbacks' ends)."""

    def on_train_begin(self, logs=None):
        self.start = time.perf_counter()

    def on_train_end(self, logs=None):
        self.seconds = time.perf_counter() - self.start


def orbax_version():
    """orbax-checkpoint's version, or None when it is not importable."""
    try:
        from importlib.metadata import version

        import orbax.checkpoint  # noqa: F401
    except ImportError:
        return None
    return version("orbax-checkpoint")


def make_callback(name, directory):
    if name == "bare":
        return []
    if name == "ours":
        return [TimedBackup(directory, save_freq=SAVE_FREQ)]
    if name == "ours-sync":
        return [TimedBackup(directory, save_freq=SAVE_FREQ, async_save=False)]
    if name == "keras":
        return [keras.callbacks.BackupAndRestore(directory, save_freq=SAVE_FREQ)]
    if name == "orbax":
        return [keras.callbacks.OrbaxCheckpoint(directory, save_freq=SAVE_FREQ, save_on_background=True)]
    raise ValueError(name)


def orbax_state(model):
    """The state tree as keras.callbacks.OrbaxCheckpoint hands it to Orbax (numpy, scalars as numbers, off JAX)."""
    if keras.backend.backend() == "jax":
        return model.get_state_tree()
    return keras.tree.map_structure(
        lambda a: a.item() if np.ndim(a) == 0 else a, model.get_state_tree(value_format="numpy_array")
    )


def per_save(model, repeats):
    """Seconds one save holds the training thread, and until it is on disk, for each checkpointer (medians).

    Less sensitive to the machine's load than whole fits: each save is timed alone, on the trained model.
    """
    from kerasplus.callbacks import _background_write, _training_state
    from kerasplus.callbacks._checkpoint_store import CheckpointStore

    root = tempfile.mkdtemp(prefix="kerasplus-save-bench-")
    store = CheckpointStore(os.path.join(root, "ours"), keep=2)
    results = {}

    def record(name, blocked, done):
        results.setdefault(name, []).append((blocked, done))

    try:
        for _ in range(repeats):
            start = time.perf_counter()
            arrays, meta = _training_state.assemble(model, 0, 1, None, {}, defer_host_copy=True)  # as async_save
            arrays = _background_write.snapshot(arrays)
            snapshot = time.perf_counter()
            store.write(arrays, meta)
            record("ours", snapshot - start, time.perf_counter() - start)
            start = time.perf_counter()
            model.save_weights(os.path.join(root, "keras.weights.h5"))  # what keras.callbacks.BackupAndRestore does
            elapsed = time.perf_counter() - start
            record("keras save_weights", elapsed, elapsed)
            if orbax_version():
                from orbax.checkpoint.experimental import v1 as ocp  # what keras's OrbaxCheckpoint uses

                path = os.path.join(root, f"orbax-{len(results['ours'])}")
                start = time.perf_counter()
                future = ocp.save_pytree_async(path, orbax_state(model))
                blocked = time.perf_counter() - start
                future.result()
                record("orbax save_pytree_async", blocked, time.perf_counter() - start)
                shutil.rmtree(path, ignore_errors=True)
    finally:
        shutil.rmtree(root, ignore_errors=True)
    print(f"# one save, medians of {repeats}: seconds the training thread is held / seconds until on disk")
    print(f"{'checkpointer':<44}{'held':>9}{'on disk':>9}")
    for name, values in results.items():
        held = statistics.median(v[0] for v in values)
        done = statistics.median(v[1] for v in values)
        print(f"{name:<44}{held:9.2f}{done:9.2f}")


def build_model(name):
    """The benchmark's model and its input shape (see the module docstring)."""
    if name == "resnet50":
        return keras.applications.ResNet50(weights=None, input_shape=(32, 32, 3), classes=10), (32, 32, 3)
    layers = [keras.Input((1024,))] + [keras.layers.Dense(units, activation="relu") for units in (4096, 4096, 512)]
    return keras.Sequential([*layers, keras.layers.Dense(10, activation="softmax")]), (1024,)


def main(args):
    print_header("checkpoint_overhead.py: whole fit with a checkpoint every 50 steps vs bare fit, ResNet50-sized")
    version = orbax_version()
    print(f"# orbax-checkpoint {version or 'not installed (no orbax rows)'}")
    load = os.getloadavg()
    keras.utils.set_random_seed(0)
    model, shape = build_model(args.model)
    model.compile(keras.optimizers.Adam(1e-4), "sparse_categorical_crossentropy")
    n = args.steps * args.batch
    rng = np.random.default_rng(0)
    x = rng.normal(size=(n, *shape)).astype("float32")
    y = rng.integers(0, 10, size=(n,))
    variants = [name for name in args.variants.split(",") if name != "orbax" or version]
    unknown = set(variants) - set(VARIANTS)
    if unknown:
        raise SystemExit(f"unknown variants {sorted(unknown)}; choose from {VARIANTS}")
    print(
        f"# model={args.model} params={model.count_params()} steps={args.steps} batch={args.batch} "
        f"save_freq={SAVE_FREQ} repeats={args.repeats} variants={variants} train_threads={args.train_threads or 'default'} "
        f"loadavg(1,5,15)={load[0]:.1f},{load[1]:.1f},{load[2]:.1f}"
    )
    if args.per_save_only:
        model.fit(x[: args.batch], y[: args.batch], batch_size=args.batch, verbose=0)
        per_save(model, max(args.repeats, 3))
        return
    root = tempfile.mkdtemp(prefix="kerasplus-ckpt-bench-")

    def run(name):
        directory = os.path.join(root, name)
        shutil.rmtree(directory, ignore_errors=True)
        span = Span()
        start = time.perf_counter()
        model.fit(
            x,
            y,
            batch_size=args.batch,
            epochs=1,
            shuffle=False,
            verbose=0,
            callbacks=[*make_callback(name, directory), span],
        )
        teardown = time.perf_counter() - start - span.seconds
        shutil.rmtree(directory, ignore_errors=True)
        return span.seconds, teardown

    started = time.perf_counter()
    try:
        run("bare")  # tracing
        times = {name: [] for name in variants}
        for repeat in range(args.repeats):
            order = variants[repeat % len(variants) :] + variants[: repeat % len(variants)]
            for name in order:
                seconds, teardown = run(name)
                times[name].append(seconds)
                print(
                    f"# repeat {repeat} {name:<10} {seconds:7.2f} s  (teardown after on_train_end {teardown:5.2f} s)",
                    flush=True,
                )
    finally:
        shutil.rmtree(root, ignore_errors=True)
    print(
        f"# loadavg(1,5,15) at the end={','.join(f'{v:.1f}' for v in os.getloadavg())}; "
        f"fit rows took {time.perf_counter() - started:.0f} s"
    )
    print(
        "# ours/anchor: median seconds on_train_begin..on_train_end; ratio: median of per-repeat ratios (lower is better)"
    )
    print(f"{'name':<48}{'ours':>9}{'anchor':>9}{'ratio':>8}")

    def row(label, mine, anchor):
        if mine not in times or anchor not in times:
            return
        ratio = statistics.median(a / b for a, b in zip(times[mine], times[anchor]))
        print(f"{label:<48}{statistics.median(times[mine]):9.2f}{statistics.median(times[anchor]):9.2f}{ratio:8.3f}")

    row("fit s: ours (async) / bare fit", "ours", "bare")
    row("fit s: ours (async) / keras OrbaxCheckpoint", "ours", "orbax")
    row("fit s: ours (async) / keras BackupAndRestore", "ours", "keras")
    row("fit s: ours (async_save=False) / bare fit", "ours-sync", "bare")
    row("fit s: keras OrbaxCheckpoint / bare fit", "orbax", "bare")
    row("fit s: keras BackupAndRestore / bare fit", "keras", "bare")
    for asynchronous, blocked in TimedBackup.blocked.items():
        if blocked:
            print(
                f"# ours (async_save={asynchronous}) held the training thread {1000 * statistics.median(blocked):.0f} "
                f"ms per save (median of {len(blocked)}; the last save's wait at on_train_end not included)"
            )
    per_save(model, args.repeats)


if __name__ == "__main__":
    main(ARGS)
