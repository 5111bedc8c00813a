"""The figures of `llm-recipes compare` (a bar chart per metric, accuracy against log loss, the trend over ordered
runs) and the command's files, on reports written by hand."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import matplotlib.colors
import pytest
from conftest import run_cli
from drawn_figures import keep_figures, png_size, points, same, ticks

from recipekit.report import compare
from recipekit.report.compare import plot_bars, plot_scatter, plot_trend

ROWS = [{"run": "v1", "accuracy": 0.5, "log_loss": 1.2, "macro_f1": 0.4},
        {"run": "v8", "accuracy": 0.75, "log_loss": 0.9},
        {"run": "v17", "accuracy": 0.8, "log_loss": 0.6, "macro_f1": 0.7}]


def test_a_bar_per_run_nan_where_a_run_lacks_the_metric(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    saved = keep_figures(monkeypatch, compare)
    path = plot_bars(ROWS, "macro_f1", tmp_path / "bars.png")
    assert path == tmp_path / "bars.png" and png_size(path)[0] > 0
    ((figure, _),) = saved
    (ax,) = figure.axes
    assert (ax.get_title(), ax.get_ylabel()) == ("macro_f1 per run", "macro_f1")
    bars = ax.patches
    assert same([bar.get_height() for bar in bars], [0.4, float("nan"), 0.7])
    assert [bar.get_x() + bar.get_width() / 2 for bar in bars] == [0, 1, 2]
    assert all(bar.get_facecolor() == matplotlib.colors.to_rgba("tab:blue") for bar in bars)
    assert ticks(ax) == ["v1", "v8", "v17"] and list(ax.get_xticks()) == [0, 1, 2]
    assert {(label.get_rotation(), label.get_horizontalalignment()) for label in ax.get_xticklabels()} == {
        (30, "right")}
    assert list(figure.get_size_inches()) == [4.4, 3.5]  # 0.8 x 3 runs + 2


def test_bars_of_few_runs_keep_the_least_width(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    saved = keep_figures(monkeypatch, compare)
    plot_bars(ROWS[:2], "accuracy", tmp_path / "a.png")
    plot_bars(ROWS[:1], "accuracy", tmp_path / "b.png")
    assert [list(figure.get_size_inches()) for figure, _ in saved] == [[4.0, 3.5], [4.0, 3.5]]  # 0.8 x 2 + 2 < 4
    five = [{"run": f"r{i}", "accuracy": 0.1} for i in range(5)]
    plot_bars(five, "accuracy", tmp_path / "c.png")
    assert list(saved[-1][0].get_size_inches()) == [6.0, 3.5]


def test_accuracy_against_log_loss_one_labelled_point_per_run(tmp_path: Path,
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    saved = keep_figures(monkeypatch, compare)
    assert plot_scatter(ROWS, tmp_path / "s.png") == tmp_path / "s.png"
    png_size(tmp_path / "s.png")
    ((figure, _),) = saved
    (ax,) = figure.axes
    assert (ax.get_title(), ax.get_xlabel(), ax.get_ylabel()) == ("Accuracy vs log loss", "log loss", "accuracy")
    assert [list(points.get_offsets()[0]) for points in ax.collections] == [[1.2, 0.5], [0.9, 0.75], [0.6, 0.8]]
    notes = ax.texts
    assert [(note.get_text(), note.xy) for note in notes] == [("v1", (1.2, 0.5)), ("v8", (0.9, 0.75)),
                                                             ("v17", (0.6, 0.8))]
    assert {(note.xyann, note.anncoords, note.get_fontsize()) for note in notes} == {
        ((3, 3), "offset points", points("small"))}
    assert list(figure.get_size_inches()) == [5, 4]


def test_the_trend_draws_each_metric_over_the_runs_in_the_order_given(tmp_path: Path,
                                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    saved = keep_figures(monkeypatch, compare)
    plot_trend(ROWS, ["accuracy", "macro_f1"], tmp_path / "t.png")
    png_size(tmp_path / "t.png")
    ((figure, path),) = saved
    assert path == tmp_path / "t.png" and list(figure.get_size_inches()) == [6, 4.8]
    top, bottom = figure.axes
    assert (top.get_ylabel(), bottom.get_ylabel()) == ("accuracy", "macro_f1")
    assert top.get_title() == "Trend over the runs, in the order given" and bottom.get_title() == ""
    (accuracy,), (f1,) = top.get_lines(), bottom.get_lines()
    assert same(accuracy.get_ydata(), [0.5, 0.75, 0.8]) and same(f1.get_ydata(), [0.4, float("nan"), 0.7])
    assert same(f1.get_xdata(), [0, 1, 2]) and f1.get_marker() == "o"
    assert ticks(bottom) == ["v1", "v8", "v17"]
    assert top.get_shared_x_axes().joined(top, bottom)
    plot_trend(ROWS, ["log_loss"], tmp_path / "one.png")  # one metric: one axis, still indexable
    assert len(saved[-1][0].axes) == 1 and list(saved[-1][0].get_size_inches()) == [6, 2.4]


def put(path: Path, report: dict[str, Any]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(report), encoding="utf-8")
    return path


def classify(accuracy: float, log_loss: float, f1: float | None = None, n: int = 4) -> dict[str, Any]:
    report: dict[str, Any] = {"accuracy": accuracy, "n": n, "probabilistic": {"log_loss": log_loss}}
    if f1 is not None:
        report["macro"] = {"f1": f1}
    return report


def test_compare_writes_a_table_a_bar_chart_per_shared_metric_the_scatter_and_the_trend(tmp_path: Path) -> None:
    put(tmp_path / "v1" / "classify_report.json", classify(0.5, 1.25, f1=0.4))
    put(tmp_path / "v2" / "report" / "classify_report.json", classify(0.75, 0.5, n=5))
    out = tmp_path / "out"
    done = run_cli("compare", tmp_path / "v1", tmp_path / "v2", "--ordered", "--out", out)
    assert (done.returncode, done.stderr) == (0, "")
    images = [out / "compare_accuracy.png", out / "compare_log_loss.png", out / "compare_acc_vs_logloss.png",
              out / "compare_trend.png"]
    result = json.loads((out / "compare_runs.json").read_text(encoding="utf-8"))
    assert result["shared_metrics"] == ["accuracy", "log_loss"] and result["ordered"] is True
    assert result["images"] == [str(p) for p in images] and all(png_size(p)[0] > 0 for p in images)
    assert result["notes"] == ["the runs were scored on different numbers of rows: v1 4, v2 5"]
    assert [row["run"] for row in result["runs"]] == ["v1", "v2"]
    markdown = ("# Runs compared\n\n| run | rows | accuracy | log_loss | macro_f1 |\n|---|---|---|---|---|\n"
                "| v1 | 4 | 0.5000 | 1.2500 | 0.4000 |\n| v2 | 5 | 0.7500 | 0.5000 | - |\n\n"
                "**Note:** the runs were scored on different numbers of rows: v1 4, v2 5.\n")
    assert (out / "compare_runs.md").read_text(encoding="utf-8") == markdown
    assert done.stdout == markdown + "\n" + "wrote " + ", ".join(
        map(str, [out / "compare_runs.json", out / "compare_runs.md", *images])) + "\n"


def test_compare_draws_no_trend_unordered_no_scatter_without_log_loss_and_slashes_become_underscores(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    saved = keep_figures(monkeypatch, compare)
    put(tmp_path / "a.json", {"summaries": {"test_after": {"n": 3, "ece": 0.25}}, "n": 3})
    put(tmp_path / "b.json", {"llamafactory": {"bleu/4": 1.5}, "summaries": {"test_after": {"ece": 0.125}}, "n": 0})
    out = tmp_path / "out"
    done = run_cli("compare", tmp_path / "a.json", tmp_path / "b.json", "--names", " one , two", "--out", out)
    assert done.returncode == 0, done.stderr
    result = json.loads((out / "compare_runs.json").read_text(encoding="utf-8"))
    assert (result["shared_metrics"], result["ordered"]) == (["ece"], False)
    assert result["images"] == [str(out / "compare_ece.png")]
    assert [row["run"] for row in result["runs"]] == ["one", "two"]
    assert "| run | rows | ece | llamafactory_bleu/4 |" in done.stdout
    assert "| two | 0 | 0.1250 | 1.5000 |" in done.stdout
    done = run_cli("compare", tmp_path / "b.json", "--ordered", "--out", out)
    assert json.loads((out / "compare_runs.json").read_text(encoding="utf-8"))["images"] == [
        str(out / "compare_llamafactory_bleu_4.png"), str(out / "compare_ece.png"), str(out / "compare_trend.png")]
    assert [ax.get_ylabel() for ax in saved[-1][0].axes] == ["llamafactory_bleu/4", "ece"]
    put(tmp_path / "c.json", {"accuracy": 0.5})  # accuracy without log loss: no scatter
    assert run_cli("compare", tmp_path / "c.json", "--out", out).returncode == 0
    assert json.loads((out / "compare_runs.json").read_text(encoding="utf-8"))["images"] == [
        str(out / "compare_accuracy.png")]
    put(tmp_path / "d.json", {"probabilistic": {"log_loss": 0.5}})  # log loss without accuracy: no scatter either
    assert run_cli("compare", tmp_path / "d.json", "--out", out).returncode == 0
    assert json.loads((out / "compare_runs.json").read_text(encoding="utf-8"))["images"] == [
        str(out / "compare_log_loss.png")]


def test_the_trend_draws_at_most_four_metrics(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    saved = keep_figures(monkeypatch, compare)
    report = {"accuracy": 0.5, "macro": {"f1": 0.5}, "probabilistic": {"log_loss": 1.0, "brier": 0.2, "ece": 0.1}}
    put(tmp_path / "r" / "classify_report.json", report)
    assert run_cli("compare", tmp_path / "r", "--ordered", "--out", tmp_path / "out").returncode == 0
    trend = saved[-1][0]
    assert [ax.get_ylabel() for ax in trend.axes] == ["accuracy", "macro_f1", "log_loss", "brier"]
