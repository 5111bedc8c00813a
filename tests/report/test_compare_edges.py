"""`llm-recipes compare` at its edges: each run's row names the report file it was read from, a report with
non-ASCII labels is read as UTF-8 whatever the locale, the bars keep their own colour under a style with another
colour cycle, and the trend's run names are slanted as the bar chart's are. Reports are written by hand."""

from __future__ import annotations

import json
from pathlib import Path

import matplotlib.colors
import pytest
from conftest import ascii_locale
from cycler import cycler
from drawn_figures import keep_figures, ticks

from recipekit.report import compare
from recipekit.report.compare import load_runs, plot_bars, plot_trend


def put(path: Path, report: dict) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(report, ensure_ascii=False), encoding="utf-8")
    return path


def test_each_row_names_the_report_file_it_was_read_from(tmp_path: Path) -> None:
    inside = put(tmp_path / "v1" / "report" / "classify_report.json",
                 {"accuracy": 0.5, "n": 4, "per_class": {"neg": {}, "pos": {}}})
    given = put(tmp_path / "v2" / "gen_report.json", {"corpus": {"bleu": {"score": 12.5}}, "labels": ["x"]})
    assert load_runs([tmp_path / "v1", given], None) == [
        {"run": "v1", "report": str(inside), "n": 4, "labels": ["neg", "pos"], "predictions": None,
         "accuracy": 0.5},
        {"run": "v2", "report": str(given), "n": None, "labels": ["x"], "predictions": None, "corpus_bleu": 12.5}]


def test_a_report_with_non_ascii_labels_is_read_as_utf8_in_an_ascii_locale(tmp_path: Path) -> None:
    """As a Windows or Latin-1 locale would read it by default: the report is UTF-8 all the same."""
    labels = ["n\u00e9gatif", "positif", "\u4e2d\u6027"]
    put(tmp_path / "fr" / "classify_report.json", {"accuracy": 0.75, "per_class": {k: {} for k in labels}})
    with ascii_locale():
        assert load_runs([tmp_path / "fr"], None)[0]["labels"] == labels


ROWS = [{"run": "v1", "accuracy": 0.5}, {"run": "v8", "accuracy": 0.75}, {"run": "v17", "accuracy": 0.8}]


def test_bars_are_blue_whatever_the_styles_colour_cycle(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    saved = keep_figures(monkeypatch, compare)
    with matplotlib.rc_context({"axes.prop_cycle": cycler(color=["tab:red", "tab:green"])}):
        plot_bars(ROWS, "accuracy", tmp_path / "bars.png")
    ((figure, _),) = saved
    bars = figure.axes[0].patches
    assert len(bars) == 3
    assert {bar.get_facecolor() for bar in bars} == {matplotlib.colors.to_rgba("#1f77b4")}  # tab:blue


def test_the_trends_run_names_are_slanted_and_end_at_their_tick(tmp_path: Path,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    saved = keep_figures(monkeypatch, compare)
    plot_trend(ROWS, ["accuracy"], tmp_path / "trend.png")
    ((figure, _),) = saved
    (ax,) = figure.axes
    assert ticks(ax) == ["v1", "v8", "v17"]
    assert [(label.get_rotation(), label.get_horizontalalignment()) for label in ax.get_xticklabels()] == [
        (30.0, "right")] * 3
