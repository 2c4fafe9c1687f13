"""The tree is `ruff check` and `ruff format` clean (configuration in pyproject.toml)."""

import pathlib
import shutil
import subprocess
import sys

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]


def _ruff() -> list[str]:
    beside = pathlib.Path(sys.executable).with_name("ruff")
    found = str(beside) if beside.exists() else shutil.which("ruff")
    assert found, "ruff is not installed: it is in the [dev] extra (pip install -e '.[dev]')"
    return [found]


@pytest.mark.parametrize("command", [["check", "--no-fix"], ["format", "--check", "--diff"]], ids=["lint", "format"])
def test_ruff(command):
    result = subprocess.run([*_ruff(), *command, "."], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, f"ruff {' '.join(command)} found:\n{result.stdout[-6000:]}{result.stderr[-2000:]}"
