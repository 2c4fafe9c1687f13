"""Bit-exact resume after SIGKILL: kerasplus BackupAndRestore against Keras's, same harness.

A small MLP (Dropout, Adam, OneCycleLR, EarlyStopping with best weights) trains
in a subprocess on made-up numpy data with `keras.utils.set_random_seed` and
op determinism; the parent SIGKILLs it when it reaches each of `--kills`
random optimizer steps, restarts it until it finishes, and compares the final
weights with an uninterrupted run. Target: max |difference| == 0 for ours.

    .venv/bin/python benchmarks/resume.py --kills 10
"""

import argparse
import os
import shutil
import sys
import tempfile
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from benchmarks._header import print_header
from tests.callbacks import _resume_script as harness


def max_difference(a, b):
    return max(float(np.max(np.abs(x.astype(np.float64) - y))) for x, y in zip(a, b))


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--kills", type=int, default=10)
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--save-freq", default="4")
    parser.add_argument("--seed", type=int, default=2026)
    parser.add_argument("--data", choices=["numpy", "tfdata"], default="numpy")
    parser.add_argument("--backups", default="ours,keras,keras-double")
    args = parser.parse_args()
    print_header("resume.py: SIGKILL at random steps, restart until done, compare final weights")
    steps = args.epochs * harness.SAMPLES // harness.BATCH
    rng = np.random.default_rng(args.seed)
    kills = sorted(rng.choice(np.arange(2, steps), size=args.kills, replace=False).tolist())
    print(f"# data={args.data} epochs={args.epochs} steps={steps} save_freq={args.save_freq} kill steps={kills}")
    root = tempfile.mkdtemp(prefix="kerasplus-resume-")
    options = dict(data=args.data, epochs=args.epochs, save_freq=args.save_freq)
    try:
        reference = harness.start(os.path.join(root, "reference"), "none", **options)
        harness.finish(reference, 600)
        expected = harness.final_weights(os.path.join(root, "reference"))
        # crashes: restarts that died on an unreadable checkpoint; the harness then
        # deletes the backup directory and starts over, as a user would have to.
        print(f"{'backup':<16}{'kills':>6}{'crashes':>9}{'bit-exact':>11}{'max |dw|':>12}{'seconds':>9}")
        for backup in args.backups.split(","):
            workdir = os.path.join(root, backup)
            start = time.monotonic()
            weights, landed, crashes = harness.run_with_kills(
                workdir, kills, backup, timeout=1500, restart_after_crash=True, **options
            )
            same = all(np.array_equal(x, y) for x, y in zip(weights, expected))
            print(
                f"{backup:<16}{landed:>6}{crashes:>9}{same!s:>11}{max_difference(weights, expected):>12.3g}"
                f"{time.monotonic() - start:9.0f}",
                flush=True,
            )
    finally:
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
