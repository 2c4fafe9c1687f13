import os
import pathlib
import re
import subprocess
import sys

ROOT = pathlib.Path(__file__).resolve().parents[1]


def test_quickstart_runs_and_reports_test_accuracy(tmp_path):
    env = dict(os.environ, KERASPLUS_FAST="1", KERASPLUS_RUNS=str(tmp_path))
    out = subprocess.run(
        [sys.executable, str(ROOT / "examples" / "quickstart.py")],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
        check=True,
    ).stdout
    accuracy = float(re.search(r"test accuracy: ([0-9.]+)", out).group(1))
    assert accuracy > 0.3  # 10 classes: well above chance after 3 fast epochs
    assert (tmp_path / "quickstart" / "lr_find.png").stat().st_size > 5_000
