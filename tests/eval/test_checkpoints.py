"""eval/checkpoints.py: every checkpoint of a real tiny LLaMA-Factory LoRA run scored, the best named by F1."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from conftest import llamafactory, run_cli, run_script

from recipekit.converters.catalog import make_fixture_dataset
from recipekit.eval.checkpoints import best_row

pytestmark = pytest.mark.integration  # trains tiny models or starts processes


@pytest.fixture(scope="module")
def lf_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    work = tmp_path_factory.mktemp("checkpoints")
    make_fixture_dataset("afqmc", work / "raw", work / "data")
    model = work / "tiny"
    built = run_cli("tiny-model", "--texts", work / "data" / "afqmc.jsonl", "--out", model, "--vocab-size", "512",
                    "--hidden", "32", "--intermediate", "64", "--layers", "2", "--heads", "2")
    assert built.returncode == 0, built.stderr
    recipe = work / "lora.yaml"
    recipe.write_text(yaml.safe_dump({
        "model_name_or_path": str(model), "stage": "sft", "do_train": True, "finetuning_type": "lora",
        "lora_rank": 4, "lora_target": "all", "dataset": "afqmc", "eval_dataset": "afqmc_val",
        "dataset_dir": str(work / "data"), "template": "default", "cutoff_len": 128, "output_dir": str(work / "run"),
        "per_device_train_batch_size": 4, "learning_rate": 1.0e-2, "max_steps": 6, "save_steps": 2,
        "eval_strategy": "steps", "eval_steps": 2, "logging_steps": 1, "report_to": "none"}), encoding="utf-8")
    llamafactory(recipe, work / "train.log")
    return work, recipe


def test_every_checkpoint_is_scored_and_the_best_named(lf_run: tuple[Path, Path]) -> None:
    work, recipe = lf_run
    done = run_cli("checkpoints", "--recipe", recipe, "--labels", "是,否", "--no-progress")
    assert done.returncode == 0, done.stderr[-3000:]
    out = work / "run" / "checkpoint_scores"
    report = json.loads((out / "checkpoints.json").read_text(encoding="utf-8"))
    assert [row["step"] for row in report["rows"]] == [2, 4, 6] and report["n"] == 8
    assert all(row["eval_loss"] is not None for row in report["rows"])  # the trainer's own, from trainer_state
    best = max(report["rows"], key=lambda r: (r["f1"], -r["step"]))
    assert report["best"]["step"] == best["step"]
    assert (out / "checkpoints.png").stat().st_size > 0
    assert f"**{best['step']}**" in (out / "checkpoints.md").read_text(encoding="utf-8")
    scored = run_cli("report", "classify", out / "checkpoint-4.jsonl", "--out", out / "report4")
    assert scored.returncode == 0, scored.stderr
    accuracy = json.loads((out / "report4" / "classify_report.json").read_text(encoding="utf-8"))["accuracy"]
    assert accuracy == pytest.approx(report["rows"][1]["accuracy"])


def test_best_row_rules() -> None:
    rows = [{"step": 2, "f1": 0.5, "log_loss": 0.7}, {"step": 4, "f1": 0.6, "log_loss": 0.9},
            {"step": 6, "f1": 0.6, "log_loss": 0.6}]
    assert best_row(rows, "f1")["step"] == 4  # a tie goes to the earlier step
    assert best_row(rows, "log_loss")["step"] == 6  # a loss is best lowest


def test_a_run_without_checkpoints_is_a_one_line_error(tmp_path: Path) -> None:
    (tmp_path / "run").mkdir()
    done = run_script("eval/checkpoints.py", tmp_path / "run", "--template", "default", "--dataset", "x")
    assert done.returncode == 2 and "no checkpoint-N folders" in done.stderr and "Traceback" not in done.stderr
    assert "llm-recipes checkpoints --recipe" in run_script("eval/checkpoints.py", "--help").stdout
