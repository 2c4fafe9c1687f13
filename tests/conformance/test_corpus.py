"""Every public component x every corpus model: works exactly, or refuses before training, naming why.

The matrix runs once per test session in fresh processes (`tests/conformance/matrix.py`):
the full one on TensorFlow, a reduced one on JAX and PyTorch. Each cell is a test here;
a cell listed in `KNOWN_GAPS` is expected to fail (strict), so a fix shows up as a
failure until its entry is removed.
"""

from __future__ import annotations

import fcntl
import json
import os
import re
import tempfile
from pathlib import Path

import pytest

from tests.conformance import matrix
from tests.conformance.cells import COMPONENTS
from tests.conformance.models import BUILDERS

pytestmark = pytest.mark.slow

SESSION = os.getpid() if "PYTEST_XDIST_WORKER" not in os.environ else os.getppid()


def _cache(backend):
    return Path(tempfile.gettempdir()) / f"kerasplus-corpus-{SESSION}-{backend}.json"


def _compute(backend, block):
    """Runs `backend`'s matrix unless done or (without `block`) being run by another worker; its result or None."""
    cache = _cache(backend)
    with open(str(cache) + ".lock", "w") as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | (0 if block else fcntl.LOCK_NB))
        except BlockingIOError:
            return None
        if not cache.exists():
            cache.write_text(json.dumps(matrix.run_backend(backend)))
        return json.loads(cache.read_text())


@pytest.fixture(scope="session")
def results():
    """Every backend's cells. Under xdist each worker first runs a backend nobody runs yet, then waits."""
    pytest.importorskip("jax")
    pytest.importorskip("torch")
    for backend in matrix.BACKENDS:
        _compute(backend, block=False)
    return {backend: _compute(backend, block=True) for backend in matrix.BACKENDS}


def _cells():
    for backend in matrix.BACKENDS:
        for component, model in matrix.suite_cells(backend):
            reason = matrix.known_gap(component, model, backend)
            marks = [pytest.mark.xfail(strict=True, reason=reason)] if reason else []
            yield pytest.param(backend, component, model, marks=marks, id=f"{backend}-{component}-{model}")


@pytest.mark.parametrize("backend, component, model", list(_cells()))
def test_cell_works_or_refuses_before_training(results, backend, component, model):
    run = results[backend]
    assert "crashed" not in run, f"the {backend} corpus runner crashed: {run.get('crashed')}"
    outcome = run["cells"][matrix.key(component, model)]
    assert outcome["status"] in ("EXACT", "WORKS", "REFUSES"), f"{component} on {model} ({backend}): {outcome}"


def test_known_gaps_name_a_cell_of_the_matrix_and_a_branch():
    for cell, reason in matrix.KNOWN_GAPS.items():
        component, model = cell[:2]
        assert component in COMPONENTS and model in BUILDERS, cell
        assert reason.startswith("issue 16: ") and re.search(r" — (branch \w+|upstream)", reason), reason


def test_readme_shows_the_matrix_the_generator_writes(results):
    shown = matrix.parse(matrix.readme_section())
    measured = {k: v for k, v in matrix.parse(matrix.render(results)).items() if v != "not run"}
    assert measured and set(measured) <= set(shown), "README lacks corpus cells: run python -m tests.conformance.matrix"
    differ = {k: (shown[k], v) for k, v in measured.items() if shown[k] != v}
    assert not differ, f"README's corpus matrix differs from this run (README, measured): {differ}; rerun the script."


def test_readme_counts_match_the_table():
    shown = matrix.parse(matrix.readme_section())
    assert shown, "README has no corpus matrix: run python -m tests.conformance.matrix"
    silent = {k: v for k, v in shown.items() if "SILENT" in v or "CRASH" in v}
    assert not silent, f"README's corpus matrix shows silent or crashing cells: {silent}"


def test_corpus_has_the_models_the_issue_names():
    applications = {"MobileNetV2", "MobileNetV3Small", "EfficientNetB0", "ResNet50", "DenseNet121", "ConvNeXtTiny"}
    assert applications <= set(BUILDERS) and len(BUILDERS) >= 12
