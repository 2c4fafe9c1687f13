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

# The five larger applications cost minutes per component on two CPU cores (an eager ConvNeXtTiny step
# takes seconds, one TFLite conversion of ResNet50 over a minute): the test suite runs these components
# on them; their full rows come from `python -m tests.conformance.matrix`, which the README shows.
HEAVY = ("MobileNetV2", "EfficientNetB0", "ResNet50", "DenseNet121", "ConvNeXtTiny")
HEAVY_IN_SUITE = ("OneCycleLR", "reinitialize", "lint")

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
    ("reinitialize", "ResNet50"): "issue 16: reinitialize stops at Add: a conv before BN -> Add -> ReLU gets Glorot, "
    "not He — " + _MULTIOPT,
    ("reinitialize", "DenseNet121"): "issue 16: reinitialize stops at Concatenate: a conv before Concatenate -> BN "
    "-> ReLU gets Glorot, not He — " + _MULTIOPT,
    ("NaNGuard", "binary", "torch"): "issue 16: on PyTorch, binary_crossentropy raises on a NaN probability inside "
    "the step (torch's own range check), before NaNGuard can undo it — upstream",
    ("NaNGuard", "gan"): "issue 16: NaNGuard restores model.optimizer only; the GAN's d_/g_optimizer keep the NaN — "
    "branch perf (NaNGuard's in-step skip)",
}


def branch(reason: str) -> str:
    found = re.search(r" — (?:branch )?(\w+)", reason)
    return found.group(1)


def key(component: str, model: str) -> str:
    return f"{component}|{model}"


def known_gap(component: str, model: str, backend: str = "tensorflow") -> str | None:
    """The reason (component, model) fails on `backend` today: a (component, model) entry holds on every backend."""
    return KNOWN_GAPS.get((component, model, backend)) or KNOWN_GAPS.get((component, model))


def suite_cells(backend: str) -> list[tuple[str, str]]:
    """(component, model) pairs the test suite runs on `backend`."""
    from tests.conformance.cells import COMPONENTS
    from tests.conformance.models import BUILDERS

    if BACKENDS[backend] is not None:
        models, components = BACKENDS[backend]
        return [(c, m) for m in models for c in components]
    return [(c, m) for m in BUILDERS for c in COMPONENTS if m not in HEAVY or c in HEAVY_IN_SUITE]


def run_backend(backend: str, timeout: float = 3600, full: bool = False) -> dict:
    """The runner's RESULT for `backend`, in a fresh process: the suite's cells, or with `full` every cell."""
    command = [sys.executable, "-m", "tests.conformance.runner"]
    if BACKENDS[backend] is not None:
        models, components = BACKENDS[backend]
        command += ["--models", ",".join(models), "--components", ",".join(components)]
    elif not full:
        command += ["--cells", ";".join(f"{c}|{m}" for c, m in suite_cells(backend))]
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


def parse(table: str) -> dict:
    """{(backend, model, component): cell text} from `render`'s Markdown."""
    cells, backend, header = {}, None, None
    for line in table.splitlines():
        if line.startswith("**"):
            backend = line.split("**")[1]
        elif line.startswith("| model |"):
            header = [c.strip().strip("`") for c in line.strip().strip("|").split("|")][1:]
        elif line.startswith("| ") and header:
            row = [c.strip() for c in line.strip().strip("|").split("|")]
            for component, text in zip(header, row[1:]):
                cells[(backend, row[0], component)] = text
    return cells


def readme_section() -> str:
    text = README.read_text()
    match = re.search(re.escape(START) + r"\n(.*?)" + re.escape(END), text, re.S)
    return match.group(1) if match else ""


def write_readme(table: str) -> None:
    text = README.read_text()
    text = re.sub(re.escape(START) + r"\n.*?" + re.escape(END), lambda _: f"{START}\n{table}{END}", text, flags=re.S)
    README.write_text(text)


def main():
    results = {backend: run_backend(backend, full=True) for backend in BACKENDS}
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
