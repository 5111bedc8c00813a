"""Plain LLaMA-Factory recipes (no comment header of this repository's kind, their own dataset_dir and registry)
through check recipes, plan and smoke, run from the user's own project folder."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from conftest import ROOT, run_cli

ALPACA = {"columns": {"prompt": "instruction", "query": "input", "response": "output"}}
TRAIN = {"model_name_or_path": "Qwen/Qwen2.5-0.5B-Instruct", "stage": "sft", "do_train": True,
         "finetuning_type": "lora", "lora_target": "all", "dataset": "reviews", "dataset_dir": "mydata",
         "template": "qwen", "cutoff_len": 256, "output_dir": "saves/reviews_lora", "per_device_train_batch_size": 2,
         "gradient_accumulation_steps": 2, "num_train_epochs": 1.0, "learning_rate": 1.0e-4}
PREDICT = {"model_name_or_path": "Qwen/Qwen2.5-0.5B-Instruct", "adapter_name_or_path": "saves/reviews_lora",
           "stage": "sft", "do_predict": True, "predict_with_generate": True, "finetuning_type": "lora",
           "eval_dataset": "reviews", "dataset_dir": "mydata", "template": "qwen", "cutoff_len": 256,
           "output_dir": "saves/reviews_predict"}
ROWS = [{"instruction": f"Is review {i} positive?", "input": f"The food was {'great' if i % 2 else 'awful'} ({i}).",
         "output": "yes" if i % 2 else "no"} for i in range(40)]


def write(path: Path, args: dict, header: str = "") -> Path:
    path.write_text(header + yaml.safe_dump(args, sort_keys=False), encoding="utf-8")
    return path


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """A user's folder: mydata/ with its own dataset_info.json and rows, a train and a predict recipe; and a
    data/dataset_info.json that registers other sets (LLaMA-Factory's default folder, which the recipes do not use)."""
    (tmp_path / "mydata").mkdir()
    (tmp_path / "mydata" / "reviews.jsonl").write_text("".join(json.dumps(r) + "\n" for r in ROWS), encoding="utf-8")
    (tmp_path / "mydata" / "dataset_info.json").write_text(
        json.dumps({"reviews": {"file_name": "reviews.jsonl", **ALPACA}}), encoding="utf-8")
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "dataset_info.json").write_text(
        json.dumps({"elsewhere": {"file_name": "reviews.jsonl", **ALPACA}}), encoding="utf-8")
    (tmp_path / "data" / "reviews.jsonl").write_text("", encoding="utf-8")
    write(tmp_path / "train.yaml", TRAIN)
    write(tmp_path / "predict.yaml", PREDICT)
    return tmp_path


def blocks(out: str) -> dict[str, str]:
    """check recipes' output split per recipe (``NAME.yaml: ...`` and its indented lines)."""
    found: dict[str, str] = {}
    name = None
    for line in out.splitlines():
        if line.endswith(("ok", "error(s)")) or ": ok," in line or ": 1 error" in line:
            name = line.split(":", 1)[0]
            found[name] = ""
        if name:
            found[name] += line + "\n"
    return found


def test_a_plain_recipe_is_checked_against_its_own_dataset_dir(project: Path) -> None:
    write(project / "elsewhere.yaml", {**TRAIN, "dataset": "elsewhere", "output_dir": "saves/elsewhere"})
    result = run_cli("check", "recipes", "train.yaml", "elsewhere.yaml", cwd=project)
    out = blocks(result.stdout)
    assert result.returncode == 1, result.stdout
    assert out["train.yaml"].startswith("train.yaml: ok\n"), out["train.yaml"]
    assert "note: no '# Report:' header line: checked as a plain LLaMA-Factory recipe" in out["train.yaml"]
    assert "header lacks" not in result.stdout
    assert "global batch (2 per device x 2 accumulation): 1 GPU: 4, 2 GPUs: 8, 8 GPUs: 32" in out["train.yaml"]
    # registered in data/ (LLaMA-Factory's default) but not in the recipe's own mydata/
    assert ("error: dataset 'elsewhere' is not in mydata/dataset_info.json: register it in dataset_info.json"
            in out["elsewhere.yaml"])


def test_a_recipe_on_the_same_command_makes_a_predict_recipes_model(project: Path) -> None:
    write(project / "full.yaml", {**TRAIN, "finetuning_type": "full", "output_dir": "saves/reviews_full"})
    write(project / "predict_full.yaml", {**PREDICT, "model_name_or_path": "saves/reviews_full",
                                          "adapter_name_or_path": None, "finetuning_type": "full"})
    result = run_cli("check", "recipes", "train.yaml", "predict.yaml", "full.yaml", "predict_full.yaml", cwd=project)
    out = blocks(result.stdout)
    assert result.returncode == 0, result.stdout
    assert "4 recipe(s) checked, 0 with errors" in result.stdout
    assert "note: adapter_name_or_path saves/reviews_lora is made by train.yaml" in out["predict.yaml"]
    assert "note: model_name_or_path saves/reviews_full is made by full.yaml" in out["predict_full.yaml"]
    alone = run_cli("check", "recipes", "predict.yaml", cwd=project)
    assert alone.returncode == 1
    assert "error: adapter_name_or_path saves/reviews_lora: no such local path, and no recipe writes it" in alone.stdout


def cards_holding(peak_gib: float) -> list[str]:
    """The shipped cards whose memory holds ``peak_gib``, smallest first, read from the cards file itself."""
    cards = yaml.safe_load((ROOT / "recipekit" / "plan" / "cards.yaml").read_text(encoding="utf-8"))
    return [key for key, card in sorted(cards.items(), key=lambda item: item[1]["memory_gib"])
            if card["memory_gib"] >= peak_gib]


def cuda() -> bool:
    import torch

    return torch.cuda.is_available()


@pytest.mark.skipif(cuda(), reason="with a GPU here the plan uses this machine's card")
@pytest.mark.integration  # three plans, one of a 7B model: 10 s
def test_plan_without_a_card_lists_the_cards_the_run_fits(project: Path) -> None:
    write(project / "big.yaml", {**TRAIN, "model_name_or_path": "Qwen/Qwen2.5-7B", "cutoff_len": 1024,
                                 "per_device_train_batch_size": 4})
    on_h200 = run_cli("plan", "big.yaml", "--gpu", "h200", "--out", "planned", cwd=project)
    assert on_h200.returncode == 0, on_h200.stderr
    peak = json.loads((project / "planned" / "plan.json").read_text(encoding="utf-8"))["memory"]["peak_gib"]
    fits = cards_holding(peak)
    assert "t4" not in fits and "h200" in fits  # a list that leaves cards out
    listed = run_cli("plan", "big.yaml", cwd=project)
    assert listed.returncode == 0, listed.stderr
    assert listed.stdout.strip().endswith(
        f"big.yaml: {peak:.1f} GiB peak per GPU on 1 GPU; it fits {', '.join(fits)}; no card is named (--gpu, the "
        "header's 'Hardware:') and this machine has none: name one with --gpu for time, cost and plan files")
    assert not (project / "outputs").exists()
    # a card the header names is the one planned on
    write(project / "named.yaml", TRAIN, header="# Hardware: 1x A100 80GB.\n")
    named = run_cli("plan", "named.yaml", cwd=project)
    assert named.returncode == 0, named.stderr
    assert "planned on a100-80g: the recipe's header names 1x A100 80GB." in named.stdout
    written = json.loads((project / "outputs" / "plan" / "named" / "plan.json").read_text(encoding="utf-8"))
    assert written["gpu"]["name"] == "A100 SXM4 80GB" and written["gpu"]["memory_gib"] == 80.0


@pytest.mark.parametrize(("device", "memory_gib", "card"), [
    ("NVIDIA H100 80GB HBM3", 79.2, "h100-80g"), ("NVIDIA A100-SXM4-40GB", 39.4, "a100-40g"),
    ("NVIDIA A100 80GB PCIe", 79.1, "a100-80g"), ("NVIDIA A10", 22.0, "a10"), ("Tesla T4", 14.6, "t4"),
    ("NVIDIA L4", 22.0, "l4"), ("NVIDIA L40S", 44.4, "l40s"), ("NVIDIA RTX A6000", 47.5, "rtx-a6000"),
    ("NVIDIA GeForce RTX 4090", 23.6, "rtx4090"), ("Tesla V100-SXM2-32GB", 31.7, "v100-32g"),
    ("NVIDIA GeForce GTX 1080", 8.0, None)])
def test_this_machines_gpu_is_matched_to_the_card_table(device: str, memory_gib: float, card: str | None) -> None:
    from recipekit.plan.gpus import GPUS, device_card

    assert device_card(device, memory_gib, GPUS) == card


def test_smoke_refuses_a_dataset_its_registry_lacks_in_one_line(project: Path) -> None:
    write(project / "missing.yaml", {**TRAIN, "dataset": "nothere"})
    result = run_cli("smoke", "missing.yaml", "--work", project / "work", cwd=project)
    assert result.returncode == 2
    assert result.stderr == ("error: mydata/dataset_info.json: dataset 'nothere' is not registered (no smoke fixture "
                             "makes it either)\n")
    registry = json.loads((project / "mydata" / "dataset_info.json").read_text(encoding="utf-8"))
    registry["gone"] = {"file_name": "gone.jsonl", **ALPACA}
    (project / "mydata" / "dataset_info.json").write_text(json.dumps(registry), encoding="utf-8")
    write(project / "gone.yaml", {**TRAIN, "dataset": "gone"})
    result = run_cli("smoke", "gone.yaml", "--work", project / "work", cwd=project)
    assert result.returncode == 2
    assert result.stderr == ("error: mydata/dataset_info.json: dataset 'gone' is registered but "
                             "mydata/gone.jsonl is not there\n")


@pytest.mark.integration
def test_smoke_runs_a_plain_recipe_on_a_sample_of_its_own_rows(project: Path) -> None:
    result = run_cli("smoke", "train.yaml", "predict.yaml", "--work", project / "work", cwd=project)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "train.yaml: ok in" in result.stdout and "predict.yaml: ok in" in result.stdout
    assert "note: data: a sample of 16 rows of the recipe's own sets (mydata)" in result.stdout
    sample = [json.loads(line) for line in (project / "work" / "data" / "reviews.jsonl").read_text().splitlines()]
    assert len(sample) == 16 and all(row in ROWS for row in sample)
    assert len({row["instruction"] for row in sample}) == 16
    registry = json.loads((project / "work" / "data" / "dataset_info.json").read_text(encoding="utf-8"))
    assert registry == {"reviews": {"file_name": "reviews.jsonl", **ALPACA}}
    predictions = (project / "work" / "runs" / "predict" / "generated_predictions.jsonl").read_text().splitlines()
    assert len(predictions) == 16
