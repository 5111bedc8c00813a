"""Edges of a sweep point's metrics: result files without the optional blocks."""

from __future__ import annotations

import json
from pathlib import Path

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
