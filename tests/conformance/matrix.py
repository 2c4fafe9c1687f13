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
    "schedules.join+CosineRestarts",
    "EarlyStopping",
    "NaNGuard",
    "BackupAndRestore",
    "Timer",
    "StochasticWeightAveraging",
    "reinitialize",
    "lsuv",
    "lint",
)
BACKENDS = {
    "tensorflow": None,
    "jax": (REDUCED_MODELS, REDUCED_COMPONENTS),
    "torch": (REDUCED_MODELS, REDUCED_COMPONENTS),
}

# The applications cost minutes per component on two CPU cores (an eager ConvNeXtTiny step takes
# seconds, a TFLite conversion over a minute; MobileNetV3Small's full row took 15 min of a loaded
# machine, more than every small model together): the test suite runs these components on them;
# their full rows come from `python -m tests.conformance.matrix`, which the README shows.
HEAVY = ("MobileNetV2", "MobileNetV3Small", "EfficientNetB0", "ResNet50", "DenseNet121", "ConvNeXtTiny")
HEAVY_IN_SUITE = ("OneCycleLR", "reinitialize", "lint")

# Cells that are SILENT or CRASH today for a reason another branch (or an upstream project) is fixing.
# The test expects them to fail (strict xfail): once fixed it fails, and the entry is removed.
# Keys: (component, model[, backend]).
KNOWN_GAPS: dict[tuple, str] = {
    ("NaNGuard", "binary", "torch"): "issue 16: on PyTorch, Keras's binary_crossentropy clips a NaN probability to "
    "NaN and torch's binary_cross_entropy raises on it inside the step, before NaNGuard sees the loss — upstream",
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


def run_backend(backend: str, timeout: float = 3600, full: bool = False, cells=None) -> dict:
    """The runner's RESULT for `backend`, in a fresh process: the suite's cells, with `full` every cell,
    or the (component, model) pairs `cells`."""
    command = [sys.executable, "-m", "tests.conformance.runner"]
    if cells:
        command += ["--cells", ";".join(f"{c}|{m}" for c, m in cells)]
    elif BACKENDS[backend] is not None:
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


QAT = "quantize_model+export_tflite"
SHORT = {"EXACT": "exact", "WORKS": "works", "SILENT": "**SILENT**", "CRASH": "**CRASH**"}


def reason(detail: str, limit: int = 110) -> str:
    """A refusal's message, shortened for a table cell: its first sentence, cut at a word."""
    text = re.sub(r"^\w+Error: ", "", detail).replace("|", "/").replace("\n", " ")
    text = re.split(r"(?<=\.)\s(?=[A-Z])", text, maxsplit=1)[0].rstrip(".")
    if len(text) > limit:
        text = text[:limit].rsplit(" ", 1)[0] + " …"
    return text


def cell_text(outcome: dict | None, gap: str | None) -> str:
    if outcome is None:
        return "not run"
    status = outcome["status"]
    if gap and status in ("SILENT", "CRASH"):
        return f"gap ({branch(gap)})"
    if status == "REFUSES":
        return f"refuses: {reason(outcome['detail'])}"
    return SHORT.get(status, status)


def render(results: dict) -> str:
    """Markdown: per backend, one row per component and one column per model (TensorFlow, then the reduced ones)."""
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
        lines.append("| component | " + " | ".join(f"`{m}`" for m in models) + " |")
        lines.append("|---|" + "---|" * len(models))
        for component in components:
            row = [
                cell_text(run["cells"].get(key(component, model)), known_gap(component, model, backend))
                for model in models
            ]
            lines.append(f"| `{component}` | " + " | ".join(row) + " |")
        lines.append("")
        if backend == "tensorflow":  # the agreement kerasplus.quantization gives today, as measured
            measured = [
                f"`{model}` {run['cells'][key(QAT, model)]['detail'].split(': ', 1)[-1]}"
                for model in models
                if run["cells"].get(key(QAT, model), {}).get("status") in ("EXACT", "WORKS")
            ]
            if measured:
                lines += ["Measured Keras QAT model vs its int8 TFLite file: " + "; ".join(measured) + ".", ""]
    return "\n".join(lines).rstrip() + "\n"


def counts(results: dict) -> dict:
    """{backend: {status: number of cells}}."""
    found = {}
    for backend, run in results.items():
        for outcome in run.get("cells", {}).values():
            found.setdefault(backend, {}).setdefault(outcome["status"], 0)
            found[backend][outcome["status"]] += 1
    return found


def parse(table: str) -> dict:
    """{(backend, model, component): cell text} from `render`'s Markdown."""
    cells, backend, header = {}, None, None
    for line in table.splitlines():
        if line.startswith("**"):
            backend = line.split("**")[1]
        elif line.startswith("| component |"):
            header = [c.strip().strip("`") for c in line.strip().strip("|").split("|")][1:]
        elif line.startswith("| `") and header:
            row = [c.strip() for c in line.strip().strip("|").split("|")]
            for model, text in zip(header, row[1:]):
                cells[(backend, model, row[0].strip("`"))] = text
    return cells


def readme_section() -> str:
    text = README.read_text()
    match = re.search(re.escape(START) + r"\n(.*?)" + re.escape(END), text, re.S)
    return match.group(1) if match else ""


def write_readme(table: str) -> None:
    text = README.read_text()
    text = re.sub(re.escape(START) + r"\n.*?" + re.escape(END), lambda _: f"{START}\n{table}{END}", text, flags=re.S)
    README.write_text(text)


def main(argv=None):
    import argparse

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backends", default=",".join(BACKENDS))
    parser.add_argument("--suite", action="store_true", help="only the cells the test suite runs")
    parser.add_argument("--cells", default="", help="component|model pairs separated by ';' (TensorFlow)")
    parser.add_argument(
        "--merge",
        default="",
        help="a JSON file of earlier results: this run's cells are merged into it, and "
        "the README table is written from the whole",
    )
    args = parser.parse_args(argv)
    results = json.loads(Path(args.merge).read_text()) if args.merge and Path(args.merge).exists() else {}
    for backend in args.backends.split(","):
        if args.cells and backend == "tensorflow":
            run = run_backend(backend, cells=[tuple(c.split("|")) for c in args.cells.split(";")])
        else:
            run = run_backend(backend, full=not args.suite)
        if "crashed" in run:
            print(f"{backend}: {run['crashed']}")
            continue
        merged = results.setdefault(backend, {"backend": backend, "cells": {}, "seconds": {}})
        merged["cells"].update(run["cells"])
        merged["seconds"].update(run["seconds"])
        for cell, outcome in sorted(run["cells"].items()):
            print(f"{backend:10} {cell:50} {outcome['status']:8} {outcome['detail'][:160]}")
    if args.merge:
        Path(args.merge).write_text(json.dumps(results, indent=1, sort_keys=True))
    print(json.dumps(counts(results)))
    table = render(results)
    write_readme(table)
    print(table)


if __name__ == "__main__":
    main()
