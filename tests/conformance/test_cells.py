"""The cell classifier itself: what counts as works, refuses, silent and crash."""

from __future__ import annotations

import numpy as np
import pytest

from tests.conformance import cells, models, runner


@pytest.fixture(scope="module")
def binary():
    spec = models.binary()
    return spec, runner.initial_state(spec.model)


def classify(binary, function):
    spec, initial = binary
    cells.COMPONENTS["_probe"] = function
    try:
        return cells.run_cell("_probe", spec, initial)
    finally:
        del cells.COMPONENTS["_probe"]


def test_a_refusal_before_training_that_names_the_model_and_a_fix_refuses(binary):
    def refuse(run):
        raise ValueError("labels of shape (n,) are not supported; pass them as (n, 1).")

    assert classify(binary, refuse).status == cells.REFUSES


def test_a_refusal_that_names_nothing_of_the_model_is_a_crash(binary):
    def vague(run):
        raise ValueError("something went wrong; try again.")

    outcome = classify(binary, vague)
    assert outcome.status == cells.CRASH and "naming" in outcome.detail


def test_a_refusal_that_says_nothing_to_do_is_a_crash(binary):
    def no_fix(run):
        raise ValueError("labels of shape (n,) are not supported.")

    outcome = classify(binary, no_fix)
    assert outcome.status == cells.CRASH and "what to do" in outcome.detail


def test_an_error_once_training_started_is_a_crash(binary):
    def mid_training(run):
        x, y = run.spec.data(2)
        run.fit(x, y, epochs=1)
        raise ValueError("labels of shape (n,) are not supported; pass (n, 1).")

    outcome = classify(binary, mid_training)
    assert outcome.status == cells.CRASH and "after training had started" in outcome.detail


def test_a_failed_exactness_check_is_silent_and_other_errors_crash(binary):
    def wrong(run):
        cells.check(False, "rate 0.01, expected 0.002")

    def unrelated(run):
        return {}["loss"]

    assert classify(binary, wrong).status == cells.SILENT
    assert classify(binary, unrelated).status == cells.CRASH


def test_every_cell_starts_from_the_same_weights(binary):
    spec, initial = binary
    seen = []

    def record(run):
        seen.append([np.array(w) for w in run.model.get_weights()])
        x, y = run.spec.data(2)
        run.fit(x, y, epochs=1)

    classify(binary, record)
    classify(binary, record)
    assert all(np.array_equal(a, b) for a, b in zip(*seen))


def test_a_check_against_a_reference_is_exact_and_a_plain_run_works(binary):
    assert classify(binary, lambda run: cells.Exact("rates as scheduled")).status == cells.EXACT
    assert classify(binary, lambda run: "ran").status == cells.WORKS


def test_the_table_shows_a_refusals_first_sentence_and_reads_back():
    from tests.conformance import matrix

    detail = "ValueError: Cutout: `images` must be a batch of rank 4 | 3; received shape (None, 8). Pass images."
    results = {"tensorflow": {"cells": {"Timer|binary": {"status": "EXACT", "detail": ""},
                                        "Cutout/Mixup/CutMix|binary": {"status": "REFUSES", "detail": detail}}}}  # fmt: skip
    shown = matrix.parse(matrix.render(results))
    assert shown[("tensorflow", "binary", "Timer")] == "exact"
    assert shown[("tensorflow", "binary", "Cutout/Mixup/CutMix")] == (
        "refuses: Cutout: `images` must be a batch of rank 4 / 3; received shape (None, 8)"
    )
    assert shown[("tensorflow", "gan", "Timer")] == "not run"
