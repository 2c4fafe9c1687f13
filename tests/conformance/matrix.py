"""The corpus matrix: which cells are known gaps, how the table reads, and the script that writes it.

``python -m tests.conformance.matrix`` runs the TensorFlow matrix (and the
reduced JAX and PyTorch ones) in fresh processes, prints every cell, and
rewrites the README section between the corpus markers with the table.
``tests/conformance/test_corpus.py`` runs the same and fails on a SILENT or
CRASH cell that is not listed in `KNOWN_GAPS`, on a listed gap that now
passes, and on a README table that differs from `render`.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
README = ROOT / "README.md"
START, END = "<!-- corpus-matrix:start -->", "<!-- corpus-matrix:end -->"

# What the reduced matrices on JAX and PyTorch run: the models whose code runs on every backend
# (the guides' TensorFlow train_steps and string features do not), and the components that do not
# need TensorFlow for their reference (FitDiagnostics' is tf.GradientTape) nor convert to TFLite.
REDUCED_MODELS = ("binary", "multi_output", "custom_layer")
REDUCED_COMPONENTS = (
    "OneCycleLR",
    "CyclicLR",
    "WarmupLR",
    "LRFinder",
    "lr_find",
    "EarlyStopping",
    "NaNGuard",
    "BackupAndRestore",
    "reinitialize",
    "lsuv",
    "lint",
)
BACKENDS = {
    "tensorflow": None,
    "jax": (REDUCED_MODELS, REDUCED_COMPONENTS),
    "torch": (REDUCED_MODELS, REDUCED_COMPONENTS),
}

# Cells that are SILENT or CRASH today for a reason another branch is fixing. The test expects them to
# fail (strict xfail): once fixed it fails, and the entry is removed. Keys: (component, model[, backend]).
_MULTIOPT = "branch multiopt"
KNOWN_GAPS: dict[tuple, str] = {
    ("OneCycleLR", "gan"): "issue 16: LR callbacks schedule model.optimizer, not the GAN's d_/g_optimizer — "
    + _MULTIOPT,
    ("CyclicLR", "gan"): "issue 16: LR callbacks schedule model.optimizer, not the GAN's d_/g_optimizer — " + _MULTIOPT,
    ("WarmupLR", "gan"): "issue 16: WarmupLR warms model.optimizer, the GAN's two optimizers keep their rate — "
    + _MULTIOPT,
    (
        "LRFinder",
        "gan",
    ): "issue 16: LRFinder reads logs['loss'] (the GAN logs d_loss/g_loss) and sweeps an unused optimizer — "
    + _MULTIOPT,
    ("lr_find", "gan"): "issue 16: lr_find calls the GAN (no call()) and sweeps model.optimizer — " + _MULTIOPT,
    ("BackupAndRestore", "gan"): "issue 16: checkpoints hold model.optimizer only, not d_optimizer/g_optimizer — "
    + _MULTIOPT,
    ("FitDiagnostics", "gan"): "issue 16: FitDiagnostics cannot take x-only data (held_batch=(x, None)) — " + _MULTIOPT,
    ("FitDiagnostics", "binary"): "issue 16: FitDiagnostics compares (n,) labels with (n, 1) outputs — " + _MULTIOPT,
    ("reinitialize", "custom_layer"): "issue 16: reinitialize skips the Dense layers inside a custom layer — "
    + _MULTIOPT,
    ("lsuv", "custom_layer"): "issue 16: lsuv skips the Dense layers inside a custom layer — " + _MULTIOPT,
    ("lsuv", "structured_data"): "issue 16: lsuv takes one input array, not a dict of inputs — " + _MULTIOPT,
    ("NaNGuard", "gan"): "issue 16: NaNGuard restores model.optimizer only; the GAN's d_/g_optimizer keep the NaN — "
    "branch perf (NaNGuard's in-step skip)",
}


def branch(reason: str) -> str:
    return re.search(r" — branch (\w+)", reason).group(1)


def key(component: str, model: str) -> str:
    return f"{component}|{model}"


def known_gap(component: str, model: str, backend: str = "tensorflow") -> str | None:
    return KNOWN_GAPS.get((component, model, backend)) or (
        KNOWN_GAPS.get((component, model)) if backend == "tensorflow" else None
    )


def run_backend(backend: str, timeout: float = 1800) -> dict:
    """The runner's RESULT for `backend`, in a fresh process."""
    command = [sys.executable, "-m", "tests.conformance.runner"]
    if BACKENDS[backend] is not None:
        models, components = BACKENDS[backend]
        command += ["--models", ",".join(models), "--components", ",".join(components)]
    env = dict(os.environ, KERAS_BACKEND=backend, PYTHONPATH=str(ROOT), TF_CPP_MIN_LOG_LEVEL="3")
    done = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout)
    lines = [line for line in done.stdout.splitlines() if line.startswith("RESULT ")]
    if done.returncode != 0 or not lines:
        return {"crashed": f"exit {done.returncode}: {done.stderr[-3000:]}"}
    return json.loads(lines[-1][len("RESULT ") :])


SHORT = {"WORKS": "works", "REFUSES": "refuses", "SILENT": "**SILENT**", "CRASH": "**CRASH**"}


def render(results: dict) -> str:
    """The Markdown table: one row per model, one column per component (TensorFlow), then the reduced backends."""
    from tests.conformance.cells import COMPONENTS
    from tests.conformance.models import BUILDERS

    lines = []
    for backend, models, components in (
        ("tensorflow", list(BUILDERS), list(COMPONENTS)),
        *[(b, list(m), list(c)) for b, (m, c) in ((b, v) for b, v in BACKENDS.items() if v is not None)],
    ):
        run = results.get(backend, {})
        if "crashed" in run or "cells" not in run:
            lines.append(f"{backend}: the runner did not finish.")
            continue
        lines.append(f"**{backend}**" + ("" if backend == "tensorflow" else " (reduced)"))
        lines.append("")
        lines.append("| model | " + " | ".join(f"`{c}`" for c in components) + " |")
        lines.append("|---|" + "---|" * len(components))
        for model in models:
            row = []
            for component in components:
                status = run["cells"].get(key(component, model), {}).get("status", "not run")
                text = SHORT.get(status, status)
                reason = known_gap(component, model, backend)
                if reason and status in ("SILENT", "CRASH"):
                    text = f"gap ({branch(reason)})"
                row.append(text)
            lines.append(f"| {model} | " + " | ".join(row) + " |")
        lines.append("")
    return "\n".join(lines).rstrip() + "\n"


def readme_section() -> str:
    text = README.read_text()
    match = re.search(re.escape(START) + r"\n(.*?)" + re.escape(END), text, re.S)
    return match.group(1) if match else ""


def write_readme(table: str) -> None:
    text = README.read_text()
    text = re.sub(re.escape(START) + r"\n.*?" + re.escape(END), lambda _: f"{START}\n{table}{END}", text, flags=re.S)
    README.write_text(text)


def main():
    results = {backend: run_backend(backend) for backend in BACKENDS}
    for backend, run in results.items():
        for cell, outcome in sorted(run.get("cells", {}).items()):
            print(f"{backend:10} {cell:50} {outcome['status']:8} {outcome['detail'][:160]}")
        if "crashed" in run:
            print(f"{backend}: {run['crashed']}")
    table = render(results)
    write_readme(table)
    print(table)


if __name__ == "__main__":
    main()
