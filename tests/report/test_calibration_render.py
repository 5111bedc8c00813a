"""The calibration reports' Markdown, line by line, written out by hand from the report's numbers."""

from __future__ import annotations

import numpy as np

from recipekit.eval.calibration import ScoreFile
from recipekit.eval.predictions import Prediction
from recipekit.report.calibration import oof_markdown, swap_markdown, temperature_markdown, threshold_markdown

SUMMARY = {"n": 4, "accuracy": 0.75, "macro_f1": 0.5, "log_loss": 0.123456, "brier": 0.2, "ece": 0.05}
ROWS = ["| n | 4 | 4 |", "| accuracy | 0.7500 | 0.7500 |", "| macro_f1 | 0.5000 | 0.5000 |",
        "| log_loss | 0.1235 | 0.1235 |", "| brier | 0.2000 | 0.2000 |", "| ece | 0.0500 | 0.0500 |"]


def scores(path: str, rows: int, labeled: bool = True) -> ScoreFile:
    return ScoreFile(path, [Prediction(i + 1, "a", "a", "", {}) for i in range(rows)], ["a", "b"],
                     np.zeros((rows, 2)), np.zeros(rows, dtype=int) if labeled else None)


def test_temperature_names_its_interval_both_files_and_the_unlabeled_rows() -> None:
    report = {"temperature": 1.23456, "temperature_ci95": [1.1, 1.4],
              "summaries": {"val_before": SUMMARY, "val_after": SUMMARY, "test_before": None, "test_after": None}}
    lines = temperature_markdown(report, scores("v.jsonl", 4), scores("t.jsonl", 3, labeled=False), "test rows", 200)
    assert lines[:5] == [
        "# Temperature scaling: T = 1.2346 (95% interval [1.1000, 1.4000] over 200 bootstrap refits)", "",
        "Fitted on `v.jsonl` (4 rows, minimum log loss), applied to `t.jsonl` (3 rows, unlabeled). "
        "The argmax does not change.", "The reliability diagram shows the test rows.", ""]
    assert lines[5].splitlines() == [
        "| metric | val_before | val_after | test_before | test_after |", "|---|---|---|---|---|",
        "| n | 4 | 4 | 3 (unlabeled) | 3 (unlabeled) |", "| accuracy | 0.7500 | 0.7500 | - | - |",
        "| macro_f1 | 0.5000 | 0.5000 | - | - |", "| log_loss | 0.1235 | 0.1235 | - | - |",
        "| brier | 0.2000 | 0.2000 | - | - |", "| ece | 0.0500 | 0.0500 | - | - |"]
    assert lines[6:] == [""]
    report["temperature_ci95"] = None  # no bootstrap: no interval, and a labeled test file says nothing more
    lines = temperature_markdown(report, scores("v.jsonl", 4), scores("t.jsonl", 3), "validation rows", 0)
    assert lines[0] == "# Temperature scaling: T = 1.2346"
    assert lines[2] == "Fitted on `v.jsonl` (4 rows, minimum log loss), applied to `t.jsonl` (3 rows). " \
                       "The argmax does not change."


def test_threshold_names_its_rule_and_grid() -> None:
    report = {"rule": "b if p(b) - p(a) > 0.1", "grid": {"low": -0.5, "high": 0.5, "step": 0.05},
              "summaries": {"val_before": SUMMARY, "val_after": SUMMARY, "test_before": SUMMARY, "test_after": SUMMARY}}
    lines = threshold_markdown(report, scores("v.jsonl", 4), scores("t.jsonl", 4))
    assert lines[:4] == ["# Threshold calibration: b if p(b) - p(a) > 0.1", "",
                         "Searched on `v.jsonl` over [-0.5, 0.5] step 0.05 for macro-F1 (ties: nearest 0); applied "
                         "to `t.jsonl`. Threshold 0 is the plain argmax.", ""]
    assert lines[4].splitlines()[2] == "| n | 4 | 4 | 4 | 4 |" and lines[5:] == [""]


def test_swap_names_both_files_the_pairing_and_the_agreement() -> None:
    report = {"paired_by": "id", "flip": "a<->b", "order_consistency": 0.8125,
              "summaries": {"original": SUMMARY, "averaged": SUMMARY}}
    unlabeled = dict(report, summaries={"original": None, "averaged": None})
    assert swap_markdown(unlabeled, scores("ab.jsonl", 16, labeled=False), scores("ba.jsonl", 16, labeled=False))[
        4].splitlines()[2] == "| n | 16 (unlabeled) | 16 (unlabeled) |"
    assert swap_markdown(report, scores("ab.jsonl", 16), scores("ba.jsonl", 16)) == [
        "# A/B swap averaging", "",
        "`ab.jsonl` and its swapped copy `ba.jsonl` (16 rows, paired by id, labels flipped a<->b). The two orders "
        "agree on the top label in 81.2% of rows.", "",
        "\n".join(["| metric | original | averaged |", "|---|---|---|", *ROWS]), ""]


def test_oof_lists_each_file_with_its_rows_and_folds() -> None:
    report = {"files": [{"path": "f0.jsonl", "rows": 3, "folds": ["0", "1"]}, {"path": "f1.jsonl", "rows": 1,
                                                                              "folds": []}],
              "summaries": {"merged": SUMMARY, "file_0": SUMMARY}}
    assert oof_markdown(report, 4) == [
        "# Out-of-fold merge: 4 rows from 2 files", "",
        "\n".join(["| file | path | rows | folds |", "|---|---|---|---|", "| file_0 | f0.jsonl | 3 | 0,1 |",
                   "| file_1 | f1.jsonl | 1 | - |"]),
        "", "\n".join(["| metric | merged | file_0 |", "|---|---|---|", *ROWS]), ""]
