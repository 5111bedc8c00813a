"""Edges of a sweep point's metrics: result files without the optional blocks."""

from __future__ import annotations

import json
from pathlib import Path

from conftest import ascii_locale

from recipekit.recipes.sweep import point_metrics


def write(path: Path, data: object) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data), encoding="utf-8")


def test_generation_report_without_a_llamafactory_block_adds_no_metric(tmp_path: Path) -> None:
    write(tmp_path / "report" / "gen_report.json", {"n": 3, "note": "no scores"})
    assert point_metrics(tmp_path) == {}


def test_trainer_state_without_a_log_history_adds_no_metric(tmp_path: Path) -> None:
    write(tmp_path / "report" / "gen_report.json", {"llamafactory": {"bleu-4": 12.5, "rouge-l": 30, "name": "x"}})
    write(tmp_path / "train" / "trainer_state.json", {"global_step": 4})
    assert point_metrics(tmp_path) == {"lf_bleu-4": 12.5, "lf_rouge-l": 30}


def test_trainer_state_history_gives_last_losses_and_largest_step(tmp_path: Path) -> None:
    write(tmp_path / "train" / "trainer_state.json", {"log_history": [
        {"loss": 2.0, "step": 1}, {"eval_loss": 1.9, "step": 2}, {"loss": 1.5, "step": 3}, {"train_runtime": 1.0}]})
    assert point_metrics(tmp_path) == {"final_train_loss": 1.5, "final_eval_loss": 1.9, "steps": 3}


def test_result_files_with_non_ascii_text_are_read_as_utf8_in_an_ascii_locale(tmp_path: Path) -> None:
    """Both the report and the trainer state are UTF-8 whatever the locale: a note in another script is read."""
    for path, data in ((tmp_path / "report" / "gen_report.json",
                        {"note": "caf\u00e9 \u4f60\u597d", "llamafactory": {"bleu-4": 7.25, "label": "\u00e9t\u00e9"}}),
                       (tmp_path / "train" / "trainer_state.json",
                        {"log_history": [{"loss": 0.75, "step": 2, "note": "na\u00efve"}]})):
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(data, ensure_ascii=False), encoding="utf-8")
    assert "\u00e9".encode() in (tmp_path / "report" / "gen_report.json").read_bytes()
    with ascii_locale():
        assert point_metrics(tmp_path) == {"lf_bleu-4": 7.25, "final_train_loss": 0.75, "steps": 2}
