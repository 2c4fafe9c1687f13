"""`--backend {tensorflow,jax,torch,all}` for the benchmark scripts.

Keras fixes its backend when it is first imported, so `select_backend()` must run
before `import keras`: with one backend it sets KERAS_BACKEND (and single-thread
settings for JAX's XLA CPU client, which also only apply before import); with
several (`all` or a comma-separated list) it re-runs the script once per backend
in a subprocess and exits with the worst return code.
"""

import argparse
import os
import subprocess
import sys

BACKENDS = ("tensorflow", "jax", "torch")
HELP = "tensorflow, jax, torch, all, or a comma-separated list (default: $KERAS_BACKEND or tensorflow)"


def add_argument(parser):
    """Lists --backend in the script's own parser (select_backend has acted on it already)."""
    parser.add_argument("--backend", default=os.environ.get("KERAS_BACKEND", "tensorflow"), help=HELP)


def select_backend(single_thread_jax=False):
    """Sets KERAS_BACKEND from --backend, or re-runs this script once per listed backend and exits."""
    parser = argparse.ArgumentParser(add_help=False)
    add_argument(parser)
    known, rest = parser.parse_known_args()
    names = list(BACKENDS) if known.backend == "all" else [n.strip() for n in known.backend.split(",") if n.strip()]
    unknown = [n for n in names if n not in BACKENDS]
    if unknown or not names:
        sys.exit(f"--backend: unknown {unknown or known.backend!r}; choose from {', '.join(BACKENDS)} or all")
    if len(names) == 1:
        os.environ["KERAS_BACKEND"] = names[0]
        if names[0] == "jax" and single_thread_jax:
            flags = "--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1"
            os.environ["XLA_FLAGS"] = (os.environ.get("XLA_FLAGS", "") + " " + flags).strip()
        return names[0]
    worst = 0
    for name in names:
        sys.stdout.flush()
        env = {**os.environ, "KERAS_BACKEND": name}
        worst = max(worst, subprocess.run([sys.executable, sys.argv[0], *rest, "--backend", name], env=env).returncode)
        print(flush=True)
    sys.exit(worst)


CPU_HELP = "pin the process to this core (default: the last one); -1 leaves it unpinned"


def add_cpu_argument(parser):
    """Lists --cpu in the script's own parser (pin_to_cpu has acted on it already)."""
    parser.add_argument("--cpu", type=int, default=os.cpu_count() - 1, help=CPU_HELP)


def pin_to_cpu():
    """Pins this process to the core of --cpu (before imports start threads, which inherit it); returns it or None."""
    parser = argparse.ArgumentParser(add_help=False)
    add_cpu_argument(parser)
    known, _ = parser.parse_known_args()
    if known.cpu < 0:
        return None
    if known.cpu >= os.cpu_count():
        sys.exit(f"--cpu: {known.cpu} is not a core of this machine (0..{os.cpu_count() - 1}, or -1)")
    os.sched_setaffinity(0, {known.cpu})
    return known.cpu
