"""Every public kerasplus component on TensorFlow, JAX and PyTorch (a fresh process each).

`tests/backends/matrix_runner.py` runs the component list once per backend
(``KERAS_BACKEND`` set before Keras is imported) and prints JSON; the tests
below compare JAX's and PyTorch's values with TensorFlow's within each
component's tolerance and fail naming the component and the backend. The
three subprocesses run in parallel, once per test session (cached in a file
shared by pytest-xdist workers). Absorbs the former `tests/test_jax_backend.py`
(schedules, LR callbacks, losses, LSUV, augmentation layers on JAX), whose
assertion that momentum cycling raises NotImplementedError on JAX is replaced
by a check of the update against a hand computation on every backend.
"""

from __future__ import annotations

import fcntl
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import pytest

from tests.backends.matrix_runner import COMPONENTS

ROOT = Path(__file__).resolve().parents[2]
BACKENDS = ("tensorflow", "jax", "torch")
TIMEOUT = 600  # seconds for the three runs together (about 3 minutes on two loaded cores)
CACHE = (
    Path(tempfile.gettempdir())
    / f"kerasplus-backend-matrix-{os.getpid() if 'PYTEST_XDIST_WORKER' not in os.environ else os.getppid()}.json"
)

# Cells that fail (raise, or differ from TensorFlow) for a reason owned elsewhere, with that reason;
# the test asserts they still fail, so fixing one turns its cell red here until it is removed.
KNOWN_FAILURES: dict[tuple[str, str], str] = {}

# Cells that refuse by design, naming the backend and what to do (none today: export_tflite on JAX and
# PyTorch hands the model to a TensorFlow child process).
EXPECTED_REFUSALS: dict[tuple[str, str], str] = {}


def run_all() -> dict:
    env = dict(os.environ, PYTHONPATH=str(ROOT), TF_CPP_MIN_LOG_LEVEL="3")
    processes = {}
    for backend in BACKENDS:
        processes[backend] = subprocess.Popen(
            [sys.executable, "-m", "tests.backends.matrix_runner"],
            cwd=ROOT,
            env=dict(env, KERAS_BACKEND=backend),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
    results = {}
    try:
        for backend, process in processes.items():
            out, err = process.communicate(timeout=TIMEOUT)
            lines = [line for line in out.splitlines() if line.startswith("RESULT ")]
            if process.returncode != 0 or not lines:
                results[backend] = {"crashed": f"exit {process.returncode}: {err[-3000:]}"}
            else:
                results[backend] = json.loads(lines[-1][len("RESULT ") :])
    finally:
        for process in processes.values():
            if process.poll() is None:
                process.kill()
                process.wait(timeout=30)
    return results


@pytest.fixture(scope="session")
def matrix():
    pytest.importorskip("jax")
    pytest.importorskip("torch")
    with open(str(CACHE) + ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if CACHE.exists():
            return json.loads(CACHE.read_text())
        results = run_all()
        CACHE.write_text(json.dumps(results))
        return results


def cell(matrix, name, backend):
    run = matrix[backend]
    assert "crashed" not in run, f"the {backend} matrix process crashed: {run.get('crashed')}"
    assert run["backend"] == backend
    return run["components"][name]


def compare(ours, reference, rtol, atol, where):
    if isinstance(reference, dict):
        assert isinstance(ours, dict), where
        for key in ours:  # PyTorch skips the torch.compile variants; every key it has must match
            assert key in reference, f"{where}: {key!r} only on this backend"
            compare(ours[key], reference[key], rtol, atol, f"{where}[{key!r}]")
        assert ours, f"{where}: no values"
    elif isinstance(reference, (list, tuple)) and reference and not all(isinstance(v, (int, float)) for v in reference):
        assert len(ours) == len(reference), f"{where}: {len(ours)} entries, TensorFlow has {len(reference)}"
        for index, (a, b) in enumerate(zip(ours, reference)):
            compare(a, b, rtol, atol, f"{where}[{index}]")
    elif isinstance(reference, (bool, str)) or reference is None:
        assert ours == reference, f"{where}: {ours!r}, TensorFlow gives {reference!r}"
    else:
        np.testing.assert_allclose(
            np.asarray(ours, dtype="float64"),
            np.asarray(reference, dtype="float64"),
            rtol=rtol,
            atol=atol,
            err_msg=where,
        )


def problem_with(matrix, component, backend):
    """None when the cell is green, else what is wrong with it."""
    result = cell(matrix, component.name, backend)
    if (component.name, backend) in EXPECTED_REFUSALS:
        if result["status"] != "refused" or "KERAS_BACKEND=tensorflow" not in result["reason"]:
            return f"{component.name} on {backend} should refuse naming KERAS_BACKEND=tensorflow: {result}"
        return None
    if result["status"] == "refused":
        return f"{component.name} refuses on {backend}: {result.get('reason')}"
    if result["status"] != "ok":
        return f"{component.name} fails on {backend}: {result.get('reason')}\n{result.get('trace', '')}"
    if backend == "tensorflow":
        return None
    reference = cell(matrix, component.name, "tensorflow")
    if reference["status"] != "ok":
        return f"{component.name} fails on tensorflow: {reference.get('reason')}"
    try:
        compare(result["values"], reference["values"], component.rtol, component.atol, f"{component.name} on {backend}")
    except AssertionError as error:
        return str(error)
    return None


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("component", COMPONENTS, ids=[c.name for c in COMPONENTS])
def test_component_runs_and_agrees_with_tensorflow(matrix, component, backend):
    problem = problem_with(matrix, component, backend)
    known = KNOWN_FAILURES.get((component.name, backend))
    if known is not None:
        assert problem is not None, f"{component.name} now works on {backend}: remove it from KNOWN_FAILURES"
        pytest.xfail(f"{known}: {problem[:300]}")
    assert problem is None, problem


def test_matrix_stays_small(matrix):
    """Each backend's run fits the budget the suite gives it (the three run side by side)."""
    for backend in BACKENDS:
        seconds = sum(c["seconds"] for c in matrix[backend]["components"].values())
        assert seconds < 400, f"{backend}: the components took {seconds:.0f}s"
