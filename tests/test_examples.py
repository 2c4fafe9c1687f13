import os
import pathlib
import re
import subprocess
import sys

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]


def test_quickstart_runs_end_to_end_and_writes_its_artifacts(tmp_path):
    env = dict(os.environ, KERASPLUS_FAST="1", KERASPLUS_RUNS=str(tmp_path / "runs"),
               KERASPLUS_SAVED_MODELS=str(tmp_path / "saved_models"))
    out = subprocess.run(
        [sys.executable, str(ROOT / "examples" / "quickstart.py")],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
        check=True,
    ).stdout
    accuracy, int8_accuracy = map(float, re.search(r"test accuracy: ([0-9.]+)  int8 test accuracy: ([0-9.]+)",
                                                   out).groups())
    assert accuracy > 0.5 and int8_accuracy > 0.5  # 10 classes: well above chance after 3 fast epochs
    assert "lint: 0 finding(s)" in out and "FitDiagnostics verdict" in out
    runs, saved = tmp_path / "runs" / "quickstart", tmp_path / "saved_models"
    for artifact in (runs / "lr_find.png", runs / "learning_curves.png"):
        assert artifact.stat().st_size > 5_000
    assert list((runs / "tensorboard").rglob("events.out.tfevents.*"))
    assert (saved / "quickstart_digits.keras").exists()
    assert (saved / "quickstart_digits_int8.tflite").stat().st_size < (saved / "quickstart_digits.keras").stat().st_size


def test_transfer_learning_example_beats_training_from_scratch_when_labels_are_scarce():
    env = dict(os.environ, KERASPLUS_FAST="1")
    out = subprocess.run(
        [sys.executable, str(ROOT / "examples" / "transfer_learning.py")],
        capture_output=True, text=True, env=env, timeout=300, check=True,
    ).stdout
    blocks = re.findall(r"\((\d+) per class\).*?\n((?:  .*\n)+)", out)
    assert [int(per_class) for per_class, _ in blocks] == [20, 5]
    scores = {
        int(per_class): {m.group(1).strip(): float(m.group(2)) for m in re.finditer(r"  (.+?)\s+test accuracy ([0-9.]+)", rows)}
        for per_class, rows in blocks
    }
    assert scores[5]["fine-tuning"] > scores[5]["from scratch"]
    assert all(min(row.values()) > 0.8 for row in scores.values())


# Every other example, in fast mode, with a line its output must contain.
EXAMPLES = {
    "schedules_and_lr_finder.py": r"OneCycleLR\s+0\.\d+",
    "augmentation.py": r"Cutout \+ MixupOrCutMix\s+0\.\d+\s+0\.\d+",
    "losses_and_initializers.py": r"lsuv\s+\d\.\d+e[-+]\d+",
    "tuning.py": r"1 x NonFiniteLoss: loss = nan",
    "early_stopping_and_diagnostics.py": r"UP, 2 strips\s+\d+\s+\d\.\d+",
    "resume_after_kill.py": r"1 kill\(s\); final weights bit-identical to the uninterrupted run: True",
    "quantization.py": r"QAT int8\s+0\.[5-9]\d+",
    "distribution.py": r"\(same global batch\): \d\.\d+e-(0[6-9]|[1-9]\d)",
    "profiling.py": r"trace: .*\.xplane\.pb",
}


@pytest.mark.parametrize("name", sorted(EXAMPLES))
def test_example_runs_in_fast_mode(name, tmp_path):
    env = dict(os.environ, KERASPLUS_FAST="1", KERASPLUS_RUNS=str(tmp_path))
    out = subprocess.run(
        [sys.executable, str(ROOT / "examples" / name)], capture_output=True, text=True, env=env, timeout=300,
        check=True, cwd=tmp_path,
    ).stdout
    assert re.search(EXAMPLES[name], out), out


def test_every_example_is_run_by_a_test():
    tested = {"quickstart.py", "transfer_learning.py", *EXAMPLES}
    assert {p.name for p in (ROOT / "examples").glob("*.py")} == tested
