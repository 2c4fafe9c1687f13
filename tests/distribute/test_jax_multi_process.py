"""Two JAX processes on 127.0.0.1 (jax.distributed) train under DataParallel and match one process."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("jax", reason="the [dev] extra installs jax")

ROOT = Path(__file__).resolve().parents[2]
TIMEOUT = 300  # seconds for the whole run; bounds every wait


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def run_all(process_ids, port):
    env = {k: v for k, v in os.environ.items() if k not in ("TF_CONFIG", "XLA_FLAGS")}
    env.update(
        KERAS_BACKEND="jax",
        JAX_PLATFORMS="cpu",
        TF_CPP_MIN_LOG_LEVEL="3",
        CUDA_VISIBLE_DEVICES="",
        PYTHONPATH=str(ROOT),
    )
    processes = [
        subprocess.Popen(
            [sys.executable, "-m", "tests.distribute.jax_multi_process_worker", str(i), str(port)],
            cwd=ROOT,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for i in process_ids
    ]
    try:
        outputs = [p.communicate(timeout=TIMEOUT) for p in processes]
    finally:
        for p in processes:
            if p.poll() is None:
                p.kill()
                p.wait(timeout=30)
    results = []
    for out, err in outputs:
        lines = [line for line in out.splitlines() if line.startswith("RESULT ")]
        assert lines, err[-4000:]
        results.append(json.loads(lines[0][len("RESULT ") :]))
    return results


@pytest.mark.slow
def test_two_jax_processes_under_data_parallel_match_one_process():
    workers = run_all([0, 1], free_port())
    (reference,) = run_all([-1], free_port())
    assert reference["processes"] == 1 and reference["steps"] == 8
    assert reference["backup"] == "ok"
    for index, worker in enumerate(workers):
        assert (worker["process"], worker["processes"], worker["devices"]) == (index, 2, 2)
        info = worker["describe"]
        assert info["strategy"] == "DataParallel" and info["replicas"] == 2
        assert len(info["devices"]) == 1  # the one device this process drives
        assert worker["scale"]["global_batch_size"] == 16
        assert worker["steps"] == 8
        assert "BackupAndRestore does not support JAX multi-process training" in worker["backup"]
        assert "MultiWorkerMirroredStrategy" in worker["backup"] and "one JAX process" in worker["backup"]
        np.testing.assert_allclose(worker["loss"], reference["loss"], rtol=1e-5)
        for got, expected in zip(worker["weights"], reference["weights"], strict=True):
            np.testing.assert_allclose(got, expected, atol=1e-5)
