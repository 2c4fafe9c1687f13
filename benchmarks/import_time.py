"""Import time of kerasplus against keras, each in fresh interpreter processes.

Each sample is a new `python -c` that times its own import with perf_counter
(interpreter start-up excluded); medians over repeats, variants interleaved.

Run: python benchmarks/import_time.py [--repeats 9]
"""

import argparse
import os
import statistics
import subprocess
import sys

sys.path.insert(0, os.path.dirname(__file__))

from _header import print_header  # noqa: E402

STATEMENTS = {
    "keras": "import keras",
    "kerasplus": "import kerasplus",
    "kerasplus+namespaces": "import kerasplus; kerasplus.schedules; kerasplus.callbacks",
}


def sample(statement):
    code = f"import time; t = time.perf_counter(); {statement}; print(time.perf_counter() - t)"
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True)
    return float(out.stdout.strip().splitlines()[-1])


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeats", type=int, default=9)
    args = parser.parse_args()
    print_header("import_time: seconds to import, fresh process each")
    times = {name: [] for name in STATEMENTS}
    for name in STATEMENTS:  # warm the file cache
        sample(STATEMENTS[name])
    for _ in range(args.repeats):
        for name, statement in STATEMENTS.items():
            times[name].append(sample(statement))
    med = {name: statistics.median(v) for name, v in times.items()}
    print(f"# repeats={args.repeats}; lower is better; target ratio <= 1.15")
    print(f"{'name':44s} {'ours':>9s} {'anchor':>9s} {'ratio':>7s}")
    print(
        f"{'import kerasplus vs import keras':44s} {med['kerasplus']:9.3f} {med['keras']:9.3f} {med['kerasplus'] / med['keras']:7.3f}"
    )
    print(
        f"{'kerasplus + schedules + callbacks vs keras':44s} {med['kerasplus+namespaces']:9.3f} "
        f"{med['keras']:9.3f} {med['kerasplus+namespaces'] / med['keras']:7.3f}"
    )


if __name__ == "__main__":
    main()
