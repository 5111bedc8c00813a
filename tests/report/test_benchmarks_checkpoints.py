"""The capability-benchmark report (its Markdown table, the radar chart) and the checkpoint selection (its table,
the curves), rendered from reports written by hand; the expected text is written out in full."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import matplotlib.colors
import pytest
from drawn_figures import keep_figures, legend_texts, png_size, points, same

from recipekit.report import benchmarks, checkpoints


def stage(name: str, fmt: str, knowledge: tuple[float, float], tasks: tuple[float, float],
          mmlu_stderr: float) -> dict[str, Any]:
    return {"name": name, "prompt_format": fmt, "dimensions": {
        "knowledge": {"shots": 5, "score": knowledge[0], "stderr": mmlu_stderr,
                      "tasks": [{"task": "mmlu", "metric": "acc", "score": knowledge[0], "stderr": mmlu_stderr}]},
        "reasoning": {"shots": 0, "score": knowledge[1], "stderr": None,
                      "tasks": [{"task": "arc", "metric": "acc_norm", "score": tasks[0], "stderr": None},
                                {"task": "hellaswag", "metric": "acc_norm", "score": tasks[1], "stderr": 0.02}]}}}


def suite_report(**changes: Any) -> dict[str, Any]:
    report = {"suite": "core", "aggregation": "the mean of its tasks' scores", "limit": None,
              "stages": [stage("base", "plain (no chat template)", (0.5, 0.25), (0.2, 0.3), 0.01),
                         stage("sft", "chat template", (0.55, 0.31), (0.3, 0.32), 0.012)],
              "reported": {"knowledge": 0.6}, "raw_folder": "out/lm_eval",
              "deltas": {"sft": {"knowledge": 0.05, "reasoning": 0.06}}, "versions": {"lm-eval": "0.4.8"}}
    return {**report, **changes}


def test_a_score_with_its_standard_error_or_alone() -> None:
    # 0.00015 is stored just below itself: it rounds down
    assert benchmarks.with_error({"score": 0.12345, "stderr": 0.00015}) == "0.1235 ± 0.0001"
    assert benchmarks.with_error({"score": 0.5, "stderr": 0.0}) == "0.5000 ± 0.0000"
    assert benchmarks.with_error({"score": 0.5, "stderr": None}) == "0.5000"
    assert benchmarks.with_error({"score": 0.5}) == "0.5000"


def test_the_benchmark_table_a_column_per_stage_the_deltas_and_the_reports_numbers() -> None:
    assert benchmarks.render_markdown(suite_report()) == "\n".join([
        "# Capability benchmarks: core", "",
        "lm-evaluation-harness 0.4.8; prompts: base: plain (no chat template), sft: chat template; limit: none.", "",
        "| dimension / task | base | sft | Δ sft | report |",
        "|---|---|---|---|---|",
        "| **knowledge** (5-shot) | 0.5000 ± 0.0100 | 0.5500 ± 0.0120 | +0.0500 | 0.6000 |",
        "|   mmlu (acc) | 0.5000 ± 0.0100 | 0.5500 ± 0.0120 | +0.0500 |  |",
        "| **reasoning** (0-shot) | 0.2500 | 0.3100 | +0.0600 | - |",
        "|   arc (acc_norm) | 0.2000 | 0.3000 | +0.1000 |  |",
        "|   hellaswag (acc_norm) | 0.3000 ± 0.0200 | 0.3200 ± 0.0200 | +0.0200 |  |", "",
        "A dimension's score is the mean of its tasks' scores. Scores are lm-eval's, ± its standard error; Δ is "
        "against base. lm-eval's own results per stage and shot count are in `out/lm_eval`."]) + "\n"


def test_one_stage_without_reported_numbers_has_no_delta_or_report_column() -> None:
    report = suite_report(reported=None, limit=10, versions={}, deltas={})
    report["stages"] = report["stages"][:1]
    markdown = benchmarks.render_markdown(report)
    assert "lm-evaluation-harness ?; prompts: base: plain (no chat template); limit: 10.\n" in markdown
    assert "| dimension / task | base |\n|---|---|\n| **knowledge** (5-shot) | 0.5000 ± 0.0100 |\n" in markdown
    assert "|   hellaswag (acc_norm) | 0.3000 ± 0.0200 |\n\n" in markdown and "Δ is against base." in markdown


def test_a_negative_delta_keeps_its_sign() -> None:
    report = suite_report(deltas={"sft": {"knowledge": -0.05, "reasoning": 0.0}})
    report["stages"][1]["dimensions"]["reasoning"]["tasks"][0]["score"] = 0.1
    markdown = benchmarks.render_markdown(report)
    assert "| **knowledge** (5-shot) | 0.5000 ± 0.0100 | 0.5500 ± 0.0120 | -0.0500 | 0.6000 |" in markdown
    assert "| **reasoning** (0-shot) | 0.2500 | 0.3100 | +0.0000 | - |" in markdown
    assert "|   arc (acc_norm) | 0.2000 | 0.1000 | -0.1000 |  |" in markdown


def closed(values: list[float]) -> list[float]:
    return [*values, values[0]]


def test_the_radar_draws_a_filled_polygon_per_stage(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    saved = keep_figures(monkeypatch, benchmarks)
    path = benchmarks.plot_radar(suite_report(), tmp_path / "radar.png")  # reasoning not reported: no report line
    assert path == tmp_path / "radar.png" and png_size(path)[0] > 0
    ((figure, _),) = saved
    (ax,) = figure.axes
    assert ax.name == "polar" and ax.get_title() == "Capabilities" and list(figure.get_size_inches()) == [6, 6]
    base, sft = ax.get_lines()
    assert same(base.get_xdata(), [0, math.pi, 0]) and same(base.get_ydata(), [0.5, 0.25, 0.5])
    assert same(sft.get_ydata(), [0.55, 0.31, 0.55])
    assert {(line.get_linestyle(), line.get_marker()) for line in (base, sft)} == {("-", "o")}
    assert [patch.get_alpha() for patch in ax.patches] == [0.1, 0.1]
    assert same(ax.get_xticks(), [0, math.pi]) and [t.get_text() for t in ax.get_xticklabels()] == [
        "knowledge", "reasoning"]
    assert ax.get_ylim() == (0, 1)
    assert legend_texts(ax) == ["base", "sft"]
    legend = ax.get_legend()
    assert legend._loc == 1 and legend.get_texts()[0].get_fontsize() == points("small")


def test_the_radar_adds_the_reports_numbers_dashed_and_unfilled(tmp_path: Path,
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    saved = keep_figures(monkeypatch, benchmarks)
    report = suite_report(reported={"knowledge": 0.6, "reasoning": 0.4, "coding": 0.1})
    report["stages"] = report["stages"][:1]
    for dimension in ("coding", "maths"):  # four dimensions: angles a quarter turn apart
        report["stages"][0]["dimensions"][dimension] = {"score": 0.125, "shots": 0, "tasks": []}
    report["reported"]["maths"] = 0.2
    benchmarks.plot_radar(report, tmp_path / "radar.png")
    ax = saved[0][0].axes[0]
    base, published = ax.get_lines()
    quarter = [0, math.pi / 2, math.pi, 3 * math.pi / 2]
    assert same(base.get_xdata(), closed(quarter)) and same(published.get_xdata(), closed(quarter))
    assert same(published.get_ydata(), closed([0.6, 0.4, 0.1, 0.2]))
    assert (published.get_linestyle(), published.get_label()) == ("--", "report (base)")
    assert len(ax.patches) == 1  # only the stage is filled
    assert legend_texts(ax) == ["base", "report (base)"]


def rows() -> list[dict[str, Any]]:
    return [{"step": 10, "checkpoint": "checkpoint-10", "accuracy": 0.5, "f1": 0.4, "log_loss": 0.9, "eval_loss": 1.1},
            {"step": 20, "checkpoint": "checkpoint-20", "accuracy": 0.75, "f1": 0.7, "log_loss": 0.6,
             "eval_loss": None},
            {"step": 30, "checkpoint": "checkpoint-30", "accuracy": 0.625, "f1": 0.6, "log_loss": 0.7,
             "eval_loss": 0.8}]


def selection(best: int = 1, by_loss: int | None = 30, metric: str = "f1") -> dict[str, Any]:
    found = rows()
    return {"run_dir": "saves/qwen/run", "dataset": "agnews_val", "n": 8, "labels": ["a", "b"], "metric": metric,
            "rows": found, "best": found[best], "best_by_eval_loss": by_loss}


def test_the_checkpoint_table_marks_the_best_step_and_says_when_eval_loss_picks_another() -> None:
    assert checkpoints.render_markdown(selection()) == "\n".join([
        "# Checkpoints of saves/qwen/run", "",
        "Label scoring of every checkpoint on agnews_val (8 rows, labels a, b); macro-F1 over every label; log loss "
        "of the label probabilities. eval_loss is the trainer's own, from trainer_state.json.", "",
        "| step | accuracy | macro-F1 | log loss | eval_loss | checkpoint |",
        "|---|---|---|---|---|---|",
        "| 10 | 0.5000 | 0.4000 | 0.9000 | 1.1000 | checkpoint-10 |",
        "| **20** | 0.7500 | 0.7000 | 0.6000 | - | checkpoint-20 |",
        "| 30 | 0.6250 | 0.6000 | 0.7000 | 0.8000 | checkpoint-30 |", "",
        "Best by f1: step 20 (checkpoint-20), f1 0.7000.",
        "Lowest eval_loss is at step 30: selecting by eval loss would keep a different checkpoint."]) + "\n"


def test_no_eval_loss_line_when_it_agrees_or_there_is_none() -> None:
    agreeing = checkpoints.render_markdown(selection(best=2, by_loss=30, metric="log_loss"))
    assert agreeing.endswith("\nBest by log_loss: step 30 (checkpoint-30), log_loss 0.7000.\n")
    assert "| **30** |" in agreeing and "| 20 |" in agreeing
    unlogged = selection(by_loss=None)
    del unlogged["rows"][0]["eval_loss"]  # a row without the key at all
    markdown = checkpoints.render_markdown(unlogged)
    assert markdown.endswith(", f1 0.7000.\n") and "| 10 | 0.5000 | 0.4000 | 0.9000 | - | checkpoint-10 |" in markdown


def test_the_checkpoint_curves_two_axes_and_the_best_step_marked(tmp_path: Path,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    saved = keep_figures(monkeypatch, checkpoints)
    path = checkpoints.plot_checkpoints(selection(), tmp_path / "checkpoints.png")
    assert path == tmp_path / "checkpoints.png" and png_size(path)[0] > 0
    ((figure, _),) = saved
    left, right = figure.axes
    assert (left.get_title(), left.get_xlabel(), left.get_ylabel(), right.get_ylabel()) == (
        "run: agnews_val", "step", "accuracy / macro-F1", "log loss")
    accuracy, f1, best = left.get_lines()
    assert same(accuracy.get_xdata(), [10, 20, 30]) and same(accuracy.get_ydata(), [0.5, 0.75, 0.625])
    assert same(f1.get_ydata(), [0.4, 0.7, 0.6]) and {accuracy.get_marker(), f1.get_marker()} == {"o"}
    assert same(best.get_xdata(), [20, 20]) and best.get_linestyle() == "--"
    assert best.get_color() == "grey"
    (loss,) = right.get_lines()
    assert same(loss.get_xdata(), [10, 20, 30]) and same(loss.get_ydata(), [0.9, 0.6, 0.7]) and loss.get_marker() == "s"
    assert matplotlib.colors.same_color(loss.get_color(), "tab:red")
    assert legend_texts(left) == ["accuracy", "f1", "best by f1", "log loss"]
    assert list(figure.get_size_inches()) == [7, 4]
