"""scripts/plot_training.py on a real tiny LLaMA-Factory DPO run (and an SFT run to overlay)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest import agnews_rows, hub_records, llamafactory, run_script, write_jsonl

pytestmark = pytest.mark.integration  # trains tiny models or starts processes

REWARD_KEYS = ("rewards/chosen", "rewards/rejected", "rewards/margins", "rewards/accuracies")


@pytest.fixture(scope="module")
def dpo_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 4-step DPO run of a tiny model on a few preference rows, logging every step."""
    tmp = tmp_path_factory.mktemp("dpo")
    texts = write_jsonl(tmp / "texts.jsonl", hub_records(agnews_rows(10)))
    model = tmp / "model"
    built = run_script("scripts/make_tiny_model.py", "--texts", texts, "--out", model, "--vocab-size", "400",
                       "--hidden", "32", "--intermediate", "64", "--layers", "1", "--heads", "2")
    assert built.returncode == 0, built.stderr
    data = tmp / "data"
    rows = [{"instruction": f"Which topic is story {i}?", "input": "",
             "chosen": f"It is about {r['label']}.", "rejected": "I do not know."}
            for i, r in enumerate(hub_records(agnews_rows(4)))]
    write_jsonl(data / "prefs.jsonl", rows)
    (data / "dataset_info.json").write_text(json.dumps({"prefs": {
        "file_name": "prefs.jsonl", "ranking": True,
        "columns": {"prompt": "instruction", "query": "input", "chosen": "chosen", "rejected": "rejected"}}}))
    out = tmp / "dpo"
    recipe = tmp / "dpo.yaml"
    recipe.write_text("\n".join([
        f"model_name_or_path: {model}", "stage: dpo", "do_train: true", "finetuning_type: full",
        "pref_beta: 0.1", "pref_loss: sigmoid", "dataset: prefs", f"dataset_dir: {data}", "template: default",
        "cutoff_len: 128", f"output_dir: {out}", "logging_steps: 1", "save_strategy: 'no'", "report_to: none",
        "per_device_train_batch_size: 4", "learning_rate: 1.0e-3", "max_steps: 4", "overwrite_output_dir: true",
    ]) + "\n")
    llamafactory(recipe, tmp / "dpo.log")
    return out


def test_dpo_reward_series_and_files(dpo_run: Path, tmp_path: Path) -> None:
    out = tmp_path / "curves"
    result = run_script("scripts/plot_training.py", dpo_run, "--out", out)
    assert result.returncode == 0, result.stderr
    state = json.loads((dpo_run / "trainer_state.json").read_text(encoding="utf-8"))
    logged = [entry for entry in state["log_history"] if "loss" in entry]
    assert len(logged) == 4 and all(key in logged[0] for key in REWARD_KEYS)
    summary = json.loads((out / "training_summary.json").read_text(encoding="utf-8"))
    (run,) = summary["runs"]
    assert run["steps"] == 4
    assert run["initial_loss"] == logged[0]["loss"] and run["final_loss"] == logged[-1]["loss"]
    assert run["min_loss"] == min(entry["loss"] for entry in logged)
    assert run["dpo"] == {"first_reward_accuracy": logged[0]["rewards/accuracies"],
                          "last_reward_accuracy": logged[-1]["rewards/accuracies"]}
    assert run["runtime_s"] > 0
    assert sorted(p.name for p in out.glob("*.png")) == ["grad_norm.png", "learning_rate.png", "loss.png",
                                                         "reward_accuracy.png", "rewards.png"]
    assert "reward accuracy" in result.stdout


def test_runs_overlay_and_trainer_log_fallback(dpo_run: Path, tmp_path: Path) -> None:
    sft = tmp_path / "sft"
    sft.mkdir()
    write_jsonl(sft / "trainer_log.jsonl", [
        {"current_steps": 1, "total_steps": 3, "loss": 2.0, "lr": 1e-3, "epoch": 0.3},
        {"current_steps": 2, "total_steps": 3, "loss": 1.5, "eval_loss": 1.7, "lr": 8e-4, "epoch": 0.6},
        {"current_steps": 3, "total_steps": 3, "loss": 1.6, "lr": 5e-4, "epoch": 1.0},
    ])
    out = tmp_path / "both"
    result = run_script("scripts/plot_training.py", sft, dpo_run, "--out", out)
    assert result.returncode == 0, result.stderr
    summary = json.loads((out / "training_summary.json").read_text(encoding="utf-8"))
    first = summary["runs"][0]
    assert (first["initial_loss"], first["final_loss"], first["min_loss"], first["steps"]) == (2.0, 1.6, 1.5, 3)
    assert first["final_eval_loss"] == 1.7 and "dpo" not in first
    assert "dpo" in summary["runs"][1]
    assert (out / "loss.png").is_file() and (out / "rewards.png").is_file()


@pytest.mark.parametrize(("files", "message"), [
    ({}, "no trainer_state.json or trainer_log.jsonl"),
    ({"trainer_state.json": "{bad"}, "trainer_state.json:1: not valid JSON"),
    ({"trainer_state.json": '{"log_history": [{"step": 1, "learning_rate": 0.1}]}'}, "no training loss logged"),
])
def test_bad_run_folder_is_a_one_line_error(tmp_path: Path, files: dict[str, str], message: str) -> None:
    for name, text in files.items():
        (tmp_path / name).write_text(text, encoding="utf-8")
    result = run_script("scripts/plot_training.py", tmp_path)
    assert result.returncode == 2 and message in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_help_shows_an_example() -> None:
    result = run_script("scripts/plot_training.py", "--help")
    assert result.returncode == 0 and "llm-recipes plot saves/" in result.stdout


def test_wandb_offline_gets_the_plots(dpo_run: Path, tmp_path: Path) -> None:
    result = run_script("scripts/plot_training.py", dpo_run, "--out", tmp_path, "--wandb",
                        env={"WANDB_MODE": "offline", "WANDB_SILENT": "true"})
    assert result.returncode == 0, result.stderr
    (run,) = (tmp_path / "wandb").glob("offline-run-*")
    assert len(list((run / "files" / "media" / "images").glob("*.png"))) == 5
