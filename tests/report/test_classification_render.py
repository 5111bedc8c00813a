"""The classification report's probability section, cell by cell, from metrics written by hand."""

from __future__ import annotations

from pathlib import Path

import pytest
from drawn_figures import keep_figures, png_size, ticks

from recipekit.report.classification import _probability_section, render_markdown

METRICS = {"log_loss": 0.5, "brier": 0.25, "ece": 0.125, "ece_bins": 10, "mean_confidence": 0.75,
           "argmax_accuracy": 0.625,
           "reliability": [{"low": 0.5, "high": 0.6, "count": 3, "confidence": 0.55, "accuracy": 2 / 3},
                           {"low": 0.9, "high": 1.0, "count": 5, "confidence": 0.95, "accuracy": 1.0}]}


def test_the_probability_section_gives_each_score_and_each_reliability_bin() -> None:
    assert _probability_section(METRICS) == [
        "## Probabilities (rows' `probs`)", "",
        "| metric | value |\n|---|---|\n| log loss | 0.5000 |\n| Brier score | 0.2500 |\n"
        "| ECE (10 equal-width bins) | 0.1250 |\n| mean top-label confidence | 0.7500 |\n"
        "| accuracy of the argmax | 0.6250 |", "",
        "Reliability (top label; `reliability.png`):", "",
        "| confidence bin | rows | mean confidence | accuracy |\n|---|---|---|---|\n"
        "| (0.50, 0.60] | 3 | 0.5500 | 0.6667 |\n| (0.90, 1.00] | 5 | 0.9500 | 1.0000 |", ""]


def report(n: int, **more: object) -> dict:
    """A report of ``n`` rows written by hand: two labels, one invalid answer, intervals on both headline scores."""
    return {
        "meta": {"predictions": {"path": "out/p.jsonl", "sha256": "0123456789abcdef" * 4}, "matching": "exact match",
                 "versions": {"scikit-learn": "1.8.0"}},
        "n": n, "n_invalid": 1, "repeats": {"by": "id", "repeated": 0, "counted_once": True},
        "accuracy": 0.75, "ci": {"accuracy": [0.5, 0.875], "macro_f1": [0.25, 0.625]},
        "macro": {"precision": 0.5, "recall": 0.375, "f1": 0.4375},
        "micro": {"precision": 0.75, "recall": 0.75, "f1": 0.75},
        "weighted": {"precision": 0.625, "recall": 0.75, "f1": 0.6875},
        "per_class": {"neg": {"precision": 1.0, "recall": 0.5, "f1": 2 / 3, "support": 2},
                      "pos": {"precision": 0.0, "recall": 0.25, "f1": 0.0, "support": 2}},
        "confusion_matrix": {"labels": ["neg", "pos"], "predicted": ["neg", "pos", "(invalid)"],
                             "matrix": [[1, 0, 1], [0, 2, 0]]},
        **more}


def test_a_report_renders_headline_classes_matrix_invalid_answers_and_the_baseline() -> None:
    base = report(10, accuracy=0.5, n_invalid=3, macro={"precision": 0.5, "recall": 0.5, "f1": 0.375},
                  probabilistic={"log_loss": 0.75, "brier": 0.5})
    shown = report(4, repeats={"by": "id", "repeated": 2, "counted_once": True}, probabilistic=METRICS,
                   invalid_groups=[{"text": "maybe  |  so", "count": 2, "lines": [3, 9]}], baseline=base,
                   delta={"accuracy": 0.25, "macro_f1": 0.0625, "n_invalid": -2, "log_loss": -0.25},
                   label_shift={"neg->pos": 2, "pos->(invalid)": 1})
    assert render_markdown(shown).split("\n") == [
        "# Classification report: `out/p.jsonl`", "",
        "| metric | value |", "|---|---|", "| n | 4 |", "| repeated rows | 2 (same id: each id counted once) |",
        "| invalid predictions | 1 |", "| accuracy (95% CI) | 0.7500 [0.5000, 0.8750] |",
        "| macro F1 (95% CI) | 0.4375 [0.2500, 0.6250] |", "| macro P / R / F1 | 0.5000 / 0.3750 / 0.4375 |",
        "| micro P / R / F1 | 0.7500 / 0.7500 / 0.7500 |", "| weighted P / R / F1 | 0.6250 / 0.7500 / 0.6875 |", "",
        "**Note:** only 4 row(s) (under 30): the 95% intervals, resampled from so few rows, mean little; score more "
        "rows before trusting a difference.", "",
        "## Per class", "", "| label | precision | recall | f1 | support |", "|---|---|---|---|---|",
        "| neg | 1.0000 | 0.5000 | 0.6667 | 2 |", "| pos | 0.0000 | 0.2500 | 0.0000 | 2 |", "",
        "## Confusion matrix (rows: label, columns: prediction)", "",
        "| label \\ predicted | neg | pos | (invalid) |", "|---|---|---|---|", "| neg | 1 | 0 | 1 |",
        "| pos | 0 | 2 | 0 |", "",
        *"\n".join(_probability_section(METRICS)).split("\n"),
        "## Invalid predictions (1 of 4, 25.0%), grouped by text", "",
        "| answer given (normalised) | rows | first lines |", "|---|---|---|", "| 'maybe \\| so' | 2 | 3, 9 |", "",
        "Every row's verdict is in `classify_rows.jsonl`.", "",
        "## Against baseline `out/p.jsonl`", "", "| metric | baseline | this | delta |", "|---|---|---|---|",
        "| accuracy | 0.5000 | 0.7500 | +0.2500 |", "| macro F1 | 0.3750 | 0.4375 | +0.0625 |",
        "| invalid | 3 | 1 | -2 |", "| log loss | 0.7500 | 0.5000 | -0.2500 |", "",
        "### Label shift (baseline -> this), 3 rows changed", "", "| from->to | rows |", "|---|---|",
        "| neg->pos | 2 |", "| pos->(invalid) | 1 |", "",
        "_exact match; sha256 0123456789ab; scikit-learn 1.8.0_", ""]


def test_a_plain_report_has_no_repeats_note_probabilities_invalid_table_or_baseline() -> None:
    lines = render_markdown(report(30, n_invalid=0)).split("\n")
    assert "| n | 30 |" in lines and not any(line.startswith(("| repeated rows", "**Note:**")) for line in lines)
    shown = report(30, ci=None)  # written with --bootstrap 0: no intervals
    shown["meta"] = dict(shown["meta"], versions={"scikit-learn": "1.8.0", "numpy": "2.3.0"})
    bare = render_markdown(shown).split("\n")
    assert bare[6:8] == ["| accuracy (95% CI) | 0.7500 |", "| macro F1 (95% CI) | 0.4375 |"]
    assert bare[-2] == "_exact match; sha256 0123456789ab; scikit-learn 1.8.0, numpy 2.3.0_"
    assert not [line for line in lines if line.startswith("## ") and line != "## Per class"
                and not line.startswith("## Confusion matrix")]
    unchanged = report(30, baseline=report(30), delta={"accuracy": 0.0, "macro_f1": 0.0, "n_invalid": 0},
                       label_shift={})
    assert render_markdown(unchanged).split("\n")[-6:-2] == [
        "### Label shift (baseline -> this), 0 rows changed", "", "No prediction changed.", ""]


def test_the_confusion_matrix_heat_map_its_counts_colours_and_axes(tmp_path: Path,
                                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    from recipekit.report import classification

    saved = keep_figures(monkeypatch, classification)
    shown = report(5, accuracy=0.6, confusion_matrix={"labels": ["neg", "pos"],
                                                           "predicted": ["neg", "pos", "(invalid)"],
                                                           "matrix": [[3, 1, 1], [1, 5, 2]]})
    path = classification.plot_confusion_matrix(shown, tmp_path / "cm.png")
    assert path == tmp_path / "cm.png" and png_size(path)[0] > 0
    figure, _ = saved[0]
    (ax,) = figure.axes
    assert tuple(figure.get_size_inches()) == pytest.approx((4.7, 4.7 * 2 / 3 + 0.5))  # 0.9 a column + 2
    (image,) = ax.get_images()
    assert image.get_array().tolist() == [[3, 1, 1], [1, 5, 2]] and image.get_cmap().name == "Blues"
    assert (image.norm.vmin, image.norm.vmax) == (0, 5)  # the scale starts at zero, not at the smallest count
    # white on the dark cells only: above the middle of the smallest and largest counts (3, itself black)
    cells = {(t.get_position(), t.get_text(), t.get_color()) for t in ax.texts}
    assert cells == {((0, 0), "3", "black"), ((1, 0), "1", "black"), ((2, 0), "1", "black"),
                     ((0, 1), "1", "black"), ((1, 1), "5", "white"), ((2, 1), "2", "black")}
    assert {(t.get_horizontalalignment(), t.get_verticalalignment()) for t in ax.texts} == {("center", "center")}
    assert ticks(ax) == ["neg", "pos", "(invalid)"] and list(ax.get_xticks()) == [0, 1, 2]
    assert {(t.get_rotation(), t.get_horizontalalignment()) for t in ax.get_xticklabels()} == {(45.0, "right")}
    assert [t.get_text() for t in ax.get_yticklabels()] == ["neg", "pos"] and list(ax.get_yticks()) == [0, 1]
    assert (ax.get_xlabel(), ax.get_ylabel(), ax.get_title()) == ("Predicted label", "True label",
                                                                  "accuracy 0.6000 (n=5)")
