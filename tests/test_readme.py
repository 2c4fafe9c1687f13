"""Every fenced Python block in README.md runs as written, after `readme_preamble.py`."""

import os
import pathlib
import re
import subprocess
import sys

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text()
BLOCKS = re.findall(r"^```python\n(.*?)^```", README, flags=re.S | re.M)
# Blocks that train many models: in the full run only.
SLOW = ("kerasplus.tuning.search(", "quantize_model(model)", "prune_model(model")


def test_blocks_are_found():
    assert len(BLOCKS) >= 10


def _heading(index: int) -> str:
    start = README.index(BLOCKS[index])
    headings = re.findall(r"^#+ (.*)$", README[:start], flags=re.M)
    return headings[-1] if headings else "top"


@pytest.mark.parametrize(
    "index",
    [
        pytest.param(i, marks=[pytest.mark.slow] if any(s in block for s in SLOW) else [], id=f"{i}")
        for i, block in enumerate(BLOCKS)
    ],
)
def test_readme_block_runs(index, tmp_path):
    (tmp_path / "saved_models").symlink_to(ROOT / "saved_models")
    script = tmp_path / "block.py"
    script.write_text((ROOT / "readme_preamble.py").read_text() + "\n# --- README block ---\n" + BLOCKS[index])
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
    result = subprocess.run(
        [sys.executable, str(script)],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert result.returncode == 0, (
        f"README block {index} (section '{_heading(index)}') failed:\n{BLOCKS[index]}\n"
        f"--- stderr ---\n{result.stderr[-5000:]}"
    )
