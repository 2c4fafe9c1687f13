"""KerasTuner's state files (oracle.json, trial.json, tuner0.json) written so that a kill never leaves half of one."""

from __future__ import annotations

import json
import os


def write_json_atomically(path, state) -> str:
    """Writes `state` as JSON to `path` through a temporary file and a rename: a kill leaves the old file or the
    new one, never half of one. Returns the JSON text (as KerasTuner's writers do)."""
    text = json.dumps(state)
    temporary = f"{path}.tmp{os.getpid()}"
    with open(temporary, "w") as f:
        f.write(text)
        f.flush()
        os.fsync(f.fileno())
    os.replace(temporary, path)
    return text


def readable_json(path) -> bool:
    """Whether `path` holds a whole JSON document."""
    try:
        with open(path) as f:
            json.load(f)
    except ValueError:
        return False
    return True
