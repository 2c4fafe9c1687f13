"""Runs a snippet on Keras's JAX backend with N simulated CPU devices, in a fresh process; returns its JSON.

JAX reads ``XLA_FLAGS=--xla_force_host_platform_device_count=N`` once, when it
starts, so every device count needs its own process. The snippet assigns a
JSON-serialisable ``out``; `run_jax` returns it.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PREFIX = "JAX_CHILD_JSON "


def jax_env(devices: int, **extra) -> dict:
    env = {k: v for k, v in os.environ.items() if k not in ("TF_CONFIG", "XLA_FLAGS")}
    env.update(
        KERAS_BACKEND="jax",
        XLA_FLAGS=f"--xla_force_host_platform_device_count={devices}",
        JAX_PLATFORMS="cpu",
        TF_CPP_MIN_LOG_LEVEL="3",
        CUDA_VISIBLE_DEVICES="",
        PYTHONPATH=str(ROOT),
        **extra,
    )
    return env


def run_jax(code: str, devices: int = 2, timeout: float = 300) -> dict:
    """Runs `code` (which sets ``out``) under JAX with `devices` CPU devices; returns ``out``."""
    script = textwrap.dedent(code) + f"\nimport json as _json\nprint({PREFIX!r} + _json.dumps(out), flush=True)\n"
    process = subprocess.Popen(
        [sys.executable, "-c", script],
        cwd=ROOT,
        env=jax_env(devices),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        stdout, stderr = process.communicate(timeout=timeout)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(timeout=30)
    for line in stdout.splitlines():
        if line.startswith(PREFIX):
            return json.loads(line[len(PREFIX) :])
    raise AssertionError(f"the JAX child printed no result (rc={process.returncode}); stderr tail:\n{stderr[-4000:]}")
