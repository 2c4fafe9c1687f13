"""Runs matrix cells on the backend of this process and prints ``RESULT {json}``.

``python -m tests.conformance.runner [--models a,b] [--components c,d]``, with
``KERAS_BACKEND`` set in the environment. Each model is built once; every cell
starts it from the same initial weights with new optimizers and the global seed
set again.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import time
import warnings

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import keras  # noqa: E402
import numpy as np  # noqa: E402
from keras import ops  # noqa: E402

from tests.conformance import cells  # noqa: E402
from tests.conformance.models import BUILDERS  # noqa: E402


def initial_state(model):
    values = tuple(np.array(ops.convert_to_numpy(v.value)) for v in model.variables)
    return values, [layer.trainable for layer in cells.all_layers(model)]


def run(models, components, log=sys.stderr, only=None) -> dict:
    results = {"backend": keras.backend.backend(), "cells": {}, "seconds": {}}
    for model_name in models:
        started = time.perf_counter()
        spec = BUILDERS[model_name]()
        initial = initial_state(spec.model)
        for name in components or cells.COMPONENTS:
            if only is not None and (name, model_name) not in only:
                continue
            t = time.perf_counter()
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                outcome = cells.run_cell(name, spec, initial)
            results["cells"][f"{name}|{model_name}"] = {"status": outcome.status, "detail": outcome.detail[:600]}
            print(
                f"{model_name:22} {name:28} {outcome.status:8} {time.perf_counter() - t:6.1f}s  {outcome.detail[:150]}",
                file=log,
                flush=True,
            )
        results["seconds"][model_name] = round(time.perf_counter() - started, 1)
        del spec
        keras.backend.clear_session()
    return results


def main(argv=None):
    parser = argparse.ArgumentParser()
    parser.add_argument("--models", default=",".join(BUILDERS))
    parser.add_argument("--components", default=",".join(cells.COMPONENTS))
    parser.add_argument("--cells", default="", help="component|model pairs separated by ';' (overrides the others)")
    args = parser.parse_args(argv)
    logging.disable(logging.WARNING)
    if args.cells:
        pairs = [tuple(cell.split("|")) for cell in args.cells.split(";")]
        results = run(list(dict.fromkeys(m for _, m in pairs)), None, only=set(pairs))
    else:
        results = run(args.models.split(","), args.components.split(","))
    print("RESULT " + json.dumps(results), flush=True)


if __name__ == "__main__":
    main()
