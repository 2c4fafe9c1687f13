import os
import pathlib
import re
import selectors
import signal
import subprocess
import sys
import time

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]


def test_quickstart_runs_end_to_end_and_writes_its_artifacts(tmp_path):
    env = dict(
        os.environ,
        KERASPLUS_FAST="1",
        KERASPLUS_RUNS=str(tmp_path / "runs"),
        KERASPLUS_SAVED_MODELS=str(tmp_path / "saved_models"),
    )
    out = subprocess.run(
        [sys.executable, str(ROOT / "examples" / "quickstart.py")],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
        check=True,
    ).stdout
    accuracy, int8_accuracy = map(
        float, re.search(r"test accuracy: ([0-9.]+)  int8 test accuracy: ([0-9.]+)", out).groups()
    )
    assert accuracy > 0.5 and int8_accuracy > 0.5  # 10 classes: well above chance after 3 fast epochs
    assert "lint: 0 finding(s)" in out and "FitDiagnostics verdict" in out
    runs, saved = tmp_path / "runs" / "quickstart", tmp_path / "saved_models"
    for artifact in (runs / "lr_find.png", runs / "learning_curves.png"):
        assert artifact.stat().st_size > 5_000
    assert list((runs / "tensorboard").rglob("events.out.tfevents.*"))
    assert (saved / "quickstart_digits.keras").exists()
    assert (saved / "quickstart_digits_int8.tflite").stat().st_size < (saved / "quickstart_digits.keras").stat().st_size
    again = subprocess.run(
        [sys.executable, str(ROOT / "examples" / "quickstart.py")],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=True,
    ).stdout
    assert "already finished" in again and "rerun with --fresh" in again and "Epoch 1/" not in again
    assert f"{accuracy:.4f}" in again  # the finished run's numbers, not a silent retrain
    fresh = _start_quickstart(env, "--fresh")
    try:
        seen = _read_until(fresh, "training from scratch", timeout=120)
        assert any(line.startswith("--fresh: removed") for line in seen)
        assert not (runs / "state.json").exists() or "finished" not in (runs / "state.json").read_text()
    finally:
        _stop(fresh)


def _start_quickstart(env, *args):
    return subprocess.Popen(
        [sys.executable, str(ROOT / "examples" / "quickstart.py"), *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=dict(env, PYTHONUNBUFFERED="1"),
        start_new_session=True,  # our own group: a SIGINT here reaches only this process
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),  # as a terminal's Ctrl-C would find it
    )


def _read_until(process, needle, timeout):
    """stdout lines up to the first containing `needle`; fails after `timeout` seconds."""
    deadline, lines = time.monotonic() + timeout, []
    with selectors.DefaultSelector() as selector:
        selector.register(process.stdout, selectors.EVENT_READ)
        while time.monotonic() < deadline:
            if not selector.select(timeout=max(0.0, deadline - time.monotonic())):
                break
            line = process.stdout.readline()
            if not line:
                break
            lines.append(line.rstrip("\n"))
            if needle in line:
                return lines
    raise AssertionError(f"no line with {needle!r} within {timeout} s; last lines: {lines[-5:]}")


def _stop(process):
    if process.poll() is None:
        os.kill(process.pid, signal.SIGKILL)
    process.communicate(timeout=30)


def _interrupt(process):
    """Ctrl-C: SIGINT to the process, then its (returncode, stderr lines that are not native-library logging)."""
    os.kill(process.pid, signal.SIGINT)
    try:
        _, err = process.communicate(timeout=60)
    finally:
        _stop(process)
    noise = ("I0000", "W0000", "WARNING: All log messages", "INFO: Created TensorFlow Lite")
    return process.returncode, [line for line in err.splitlines() if line.strip() and not line.startswith(noise)]


def test_quickstart_ctrl_c_prints_one_line_and_the_rerun_announces_the_resume_when_it_starts(tmp_path):
    env = dict(
        os.environ,
        KERASPLUS_FAST="1",
        KERASPLUS_RUNS=str(tmp_path / "runs"),
        KERASPLUS_SAVED_MODELS=str(tmp_path / "saved_models"),
    )
    backup = tmp_path / "runs" / "quickstart" / "backup"
    first = _start_quickstart(env)
    try:
        _read_until(first, "val_loss", timeout=180)  # the first epoch has ended: checkpoints exist
    except BaseException:
        _stop(first)
        raise
    returncode, err = _interrupt(first)
    assert returncode == 130
    assert err == [f"interrupted; rerun to resume from {backup}"]  # no traceback
    second = _start_quickstart(env)
    try:
        seen = _read_until(second, "resuming from epoch", timeout=180)
    except BaseException:
        _stop(second)
        raise
    assert re.search(rf"resuming from epoch \d+ of {re.escape(str(backup))}", seen[-1])
    assert not any(line.startswith("Epoch ") for line in seen)  # announced before training, not at the end
    returncode, err = _interrupt(second)
    assert returncode == 130 and err[-1] == f"interrupted; rerun to resume from {backup}"


def test_transfer_learning_example_beats_training_from_scratch_when_labels_are_scarce():
    env = dict(os.environ, KERASPLUS_FAST="1")
    out = subprocess.run(
        [sys.executable, str(ROOT / "examples" / "transfer_learning.py")],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
        check=True,
    ).stdout
    blocks = re.findall(r"\((\d+) per class\).*?\n((?:  .*\n)+)", out)
    assert [int(per_class) for per_class, _ in blocks] == [20, 5]
    scores = {
        int(per_class): {
            m.group(1).strip(): float(m.group(2)) for m in re.finditer(r"  (.+?)\s+test accuracy ([0-9.]+)", rows)
        }
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
        [sys.executable, str(ROOT / "examples" / name)],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
        check=True,
        cwd=tmp_path,
    ).stdout
    assert re.search(EXAMPLES[name], out), out


def test_every_example_is_run_by_a_test():
    tested = {"quickstart.py", "transfer_learning.py", *EXAMPLES}
    assert {p.name for p in (ROOT / "examples").glob("*.py")} == tested
