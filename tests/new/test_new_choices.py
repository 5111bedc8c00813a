"""`llm-recipes new`'s choice on a card and the recipes it writes for it, on a tiny architecture whose simulated
steps are written here by hand into the plan cache (one per shape the search or the planner asks for): the base
run the search starts from, its card, GPU count, rows, global batch and reference copy, the methods and limits it
searches under; then the training, prediction and export recipes, every header line written out here."""

from __future__ import annotations

import argparse
import json
import os
from collections.abc import Iterator
from dataclasses import asdict, replace
from pathlib import Path

import pytest
from conftest import ascii_locale as in_ascii_locale
from stand_in_model import ROW_ACTIVATIONS, ROW_FLOPS, SEQ, P, T, simulation, tiny_folder

from recipekit.plan.fit import Candidate, Planned, Search, search
from recipekit.plan.gpus import Gpu, resolve_gpu
from recipekit.plan.memory import Setup
from recipekit.plan.models import load_config
from recipekit.plan.planner import Run
from recipekit.plan.simulate import Shape, cache_key
from recipekit.reproduce.new import plan_choice, recipe_texts
from recipekit.reproduce.new_recipes import NewRun, export_args, predict_args, recipe_text, train_args

PEAK = 100.0  # TFLOP/s of the hand-made card; no bandwidth: every operation on the compute roof


@pytest.fixture
def tiny(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The architecture's folder (its config.json), the plan cache in ``tmp_path``."""
    return tiny_folder(tmp_path, monkeypatch)


def base_shape(dpo: bool = False) -> Shape:
    """The shape the planner reads from `new`'s LoRA training recipe: LoRA rank 8, alpha 16, dropout 0.05 on every
    linear layer, checkpointing on, half precision, SDPA attention, batch 1 at the cutoff."""
    return Shape(batch=1, seq=SEQ, method="lora", lora_rank=8, lora_alpha=16, lora_target="all", lora_dropout=0.05,
                 gradient_checkpointing=True, dpo=dpo, head_labels=None, bf16=True, attention="sdpa",
                 fused_loss=False)


def cache_steps(model: Path, dpo: bool = False, batches: int = 16) -> None:
    """Every shape of a search (per-device batch, full or LoRA, checkpointing on or off) into the plan cache."""
    config = load_config(str(model))
    folder = Path(os.environ["LLM_RECIPES_CACHE"]) / "plan"
    folder.mkdir(parents=True, exist_ok=True)
    for batch in range(1, batches + 1):
        for method in ("full", "lora"):
            for gc in (False, True):
                shape = replace(base_shape(dpo), batch=batch, method=method, gradient_checkpointing=gc,
                                lora_dropout=0.0 if method == "full" else 0.05)
                (folder / f"{cache_key(config, shape)}.json").write_text(json.dumps(asdict(simulation(shape))),
                                                                       encoding="utf-8")


def expected_run(model: Path, task: str, gpus: int) -> Run:
    """The base run the planner reads from `new`'s LoRA recipe (batch 1, no accumulation), written out by hand:
    precision left to the card (no bf16/fp16 key), no DeepSpeed, 3 epochs (1 for preference pairs, as DPO)."""
    return Run(str(model), base_shape(task == "preference"), Setup(gpus=gpus, half=True), 1,
               1.0 if task == "preference" else 3.0, -1, ("mine",), "data", None, False, 1024, "half")


def args_of(task: str = "classify", method: str = "auto", hours: float | None = None,
            budget: float | None = None) -> argparse.Namespace:
    return argparse.Namespace(name="mine", task=task, method=method, hours=hours, budget=budget)


@pytest.mark.parametrize(("task", "method", "gpus", "global_batch"), [
    ("classify", "auto", 1, 16), ("generate", "lora", 3, 15), ("preference", "auto", 2, 16),
    ("classify", "full", 16, 16)])
def test_the_search_starts_from_the_lora_recipes_run_on_the_card(
        tiny: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], task: str, method: str, gpus: int,
        global_batch: int) -> None:
    """16 rows a step (15 on 3 GPUs: 5 each; at least one per GPU on 16); a full DPO run holds a reference copy;
    `auto` tries full, LoRA and QLoRA."""
    cache_steps(tiny, dpo=task == "preference")
    planned, found, gpu = plan_choice(args_of(task, method), str(tiny), "qwen", SEQ, 200, "a10", gpus, tmp_path)
    assert gpu == resolve_gpu("a10")
    assert found.run == expected_run(tiny, task, gpus)
    assert (found.gpu, found.gpus, found.rows, found.global_batch, found.full_reference) == (
        gpu, gpus, 200, global_batch, task == "preference")
    assert (tmp_path / "base.yaml").is_file()
    alone = Search(expected_run(tiny, task, gpus), load_config(str(tiny)), resolve_gpu("a10"), gpus, 200,
                   global_batch, task == "preference")
    methods = ("full", "lora", "qlora") if method == "auto" else (method,)
    assert planned == search(alone, methods)
    assert {p.candidate.method for p in planned} == set(methods)
    assert capsys.readouterr().err == ""  # every step came from the cache: nothing was simulated


def test_the_search_keeps_to_the_hours_and_the_budget_given(tiny: Path, tmp_path: Path) -> None:
    cache_steps(tiny)
    free, _, _ = plan_choice(args_of(method="lora"), str(tiny), "qwen", SEQ, 200, "a10", 1, tmp_path)
    fastest, slower = sorted(p.hours for p in free if p.fits)[:2]
    assert fastest < slower
    limited, _, _ = plan_choice(args_of(method="lora", hours=(fastest + slower) / 2), str(tiny), "qwen", SEQ, 200,
                                "a10", 1, tmp_path)
    assert sum(p.why.startswith("over --hours ") for p in limited) >= 1
    costs = sorted(p.cost for p in free if p.fits)
    budget, _, _ = plan_choice(args_of(method="lora", budget=(costs[0] + costs[1]) / 2), str(tiny), "qwen", SEQ,
                               200, "a10", 1, tmp_path)
    assert sum(p.why.startswith("over --budget $") for p in budget) >= 1


# --- the recipes


def tiny_card(memory_gib: float = 80.0) -> Gpu:
    return Gpu("Tiny", memory_gib, PEAK, PEAK, link="nvlink", link_gb_s=100.0, price_per_hour=2.0)


def chosen(candidate: Candidate) -> Planned:
    return Planned(candidate, 0.0, 0.0, 0.0, 0, 0.0, None, True)


def gib(total_bytes: float) -> float:
    return total_bytes / 2**30


def test_the_recipes_of_a_lora_classifier_on_one_card(tiny: Path, tmp_path: Path) -> None:
    """LoRA with checkpointing at batch 4 x 2 on one card, 200 rows: the plan's line worked out by hand."""
    candidate = Candidate("lora", 0, False, True, 4, 2)
    cache_steps(tiny, batches=4)
    run = NewRun("mine", "classify", str(tiny), "qwen", SEQ, "bf16", candidate)
    texts = recipe_texts(run, "tiny", tiny_card(), 1, chosen(candidate), tmp_path, 200)
    # the frozen base in 16 bits, 16 bytes per adapter parameter (fp32 weight, gradient, two Adam moments), 4 rows
    # of activations, 10% on top for fragmentation and 1 GiB of context
    peak = 2**30 + 1.1 * (2 * (P - T) + 16 * T + 4 * ROW_ACTIVATIONS[True])
    # 200 rows in batches of 4: 50 micro-steps, 25 optimizer steps an epoch, 3 epochs; each micro-step on the roof
    hours = 75 * 2 * 4 * ROW_FLOPS[("lora", True)] / (PEAK * 1e12 * 0.9) / 3600
    assert f"{gib(peak):.1f}" == "4.7" and f"{hours:.1f}" == "0.9" and f"{hours * 2.0:.2f}" == "1.85"
    train_header = [
        f"mine: classify (SFT, lora) of {tiny}, written by llm-recipes new; change a value, then re-check with "
        "llm-recipes check recipes and llm-recipes plan recipes/mine/train.yaml --gpu tiny --gpus 1.", "",
        "Launch (from the repository root, after the chain's convert step):",
        "  llamafactory-cli train recipes/mine/train.yaml", "",
        "Report: none (your own dataset mine: no published numbers; its chain is recipes/reproduce/mine.yaml).",
        "Hardware: 1x Tiny",
        "Global batch: 4 per device x 2 accumulation x 1 GPU = 8 rows per optimizer step",
        "Target: this run's numbers on mine_test with 95% intervals (llm-recipes reproduce mine).",
        f"Plan (planned on 1x Tiny: 4.7 GiB peak per GPU at 4 x {SEQ} tokens, fits; 0.9 h, $1.85)."]
    predict_header = [
        "mine: greedy answers of the trained model for mine_test (llm-recipes new).", "",
        "Launch (from the repository root, after the chain's convert step):",
        "  llamafactory-cli train recipes/mine/predict.yaml", "",
        "Report: none (your own dataset mine: no published numbers; its chain is recipes/reproduce/mine.yaml).",
        "Hardware: 1x Tiny",
        "Global batch: none (prediction only).",
        "Target: saves/mine/lora/predict/generated_predictions.jsonl, scored by the chain's report step."]
    export_header = [
        f"mine: the adapter of recipes/mine/train.yaml merged into {tiny} (llm-recipes new).", "",
        "Launch (from the repository root, after the chain's convert step):",
        "  llamafactory-cli export recipes/mine/export.yaml   # the merge alone", "",
        "Report: none (exports what recipes/mine/train.yaml trains).",
        "Hardware: CPU (export_device cpu).", "Global batch: none (an export trains nothing).",
        "Target: saves/mine/lora/merged: the merged weights, the tokenizer and a model card."]
    assert texts == {"train.yaml": recipe_text(train_header, train_args(run)),
                     "predict.yaml": recipe_text(predict_header, predict_args(run)),
                     "export.yaml": recipe_text(export_header, export_args(run))}
    assert list(texts) == ["train.yaml", "predict.yaml", "export.yaml"]


def header_of(text: str) -> list[str]:
    return [line[2:] if line.startswith("# ") else "" for line in text.split("\n\n", 1)[0].splitlines()]


@pytest.mark.parametrize(("candidate", "task", "gpus", "launch", "batch_line"), [
    (Candidate("full", 0, False, False, 2, 4), "preference", 2,
     "  FORCE_TORCHRUN=1 llamafactory-cli train recipes/mine/train.yaml",
     "Global batch: 2 per device x 4 accumulation x 2 GPUs = 16 rows per optimizer step"),
    (Candidate("lora", 3, True, True, 1, 3), "generate", 1,
     "  FORCE_TORCHRUN=1 llamafactory-cli train recipes/mine/train.yaml",
     "Global batch: 1 per device x 3 accumulation x 1 GPU = 3 rows per optimizer step")])
def test_deepspeed_or_several_cards_launch_through_torchrun(
        tiny: Path, tmp_path: Path, candidate: Candidate, task: str, gpus: int, launch: str, batch_line: str) -> None:
    """A DPO run says so; a full run writes no export recipe; ZeRO-3 on one card still needs torchrun."""
    cache_steps(tiny, dpo=task == "preference", batches=2)
    run = NewRun("mine", task, str(tiny), "qwen", SEQ, "bf16", candidate)
    texts = recipe_texts(run, "a10", tiny_card(), gpus, chosen(candidate), tmp_path, 200)
    assert list(texts) == (["train.yaml", "predict.yaml"] if candidate.method == "full" else
                           ["train.yaml", "predict.yaml", "export.yaml"])
    header = header_of(texts["train.yaml"])
    stage = "DPO" if task == "preference" else "SFT"
    assert header[0] == (f"mine: {task} ({stage}, {candidate.method}) of {tiny}, written by llm-recipes new; change a "
                         f"value, then re-check with llm-recipes check recipes and llm-recipes plan "
                         f"recipes/mine/train.yaml --gpu a10 --gpus {gpus}.")
    assert header[3] == launch and header[6] == f"Hardware: {gpus}x Tiny" and header[7] == batch_line
    assert header[9].startswith(f"Plan (planned on {gpus}x Tiny: ")
    assert f" at {candidate.batch} x {SEQ} tokens, fits; " in header[9]
    assert len(header) == 10


@pytest.fixture
def ascii_locale() -> Iterator[str]:
    with in_ascii_locale() as encoding:
        yield encoding


def test_a_model_folder_with_a_non_ascii_name_is_planned_and_written_in_an_ascii_locale(
        tiny: Path, tmp_path: Path, ascii_locale: str) -> None:
    """The base recipe and the draft the planner reads are UTF-8 files, whatever the locale's encoding."""
    assert ascii_locale == "ANSI_X3.4-1968"
    model = tiny.rename(tmp_path / "模型")
    cache_steps(model)
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    planned, found, _ = plan_choice(args_of(method="lora"), str(model), "qwen", SEQ, 200, "a10", 1, scratch)
    assert found.run == expected_run(model, "classify", 1)
    assert {p.candidate.method for p in planned} == {"lora"} and any(p.fits for p in planned)
    assert f"model_name_or_path: {model}\n" in (scratch / "base.yaml").read_text(encoding="utf-8")
    candidate = Candidate("lora", 0, False, True, 4, 2)
    run = NewRun("mine", "classify", str(model), "qwen", SEQ, "bf16", candidate)
    texts = recipe_texts(run, "tiny", tiny_card(), 1, chosen(candidate), scratch, 200)
    assert header_of(texts["train.yaml"])[0] == (
        f"mine: classify (SFT, lora) of {tmp_path}/模型, written by llm-recipes new; change a value, then re-check "
        "with llm-recipes check recipes and llm-recipes plan recipes/mine/train.yaml --gpu tiny --gpus 1.")
    assert header_of(texts["train.yaml"])[9] == (f"Plan (planned on 1x Tiny: 4.7 GiB peak per GPU at 4 x {SEQ} "
                                                 "tokens, fits; 0.9 h, $1.85).")
    assert (scratch / "train.yaml").read_text(encoding="utf-8").startswith(f"# mine: classify (SFT, lora) of {model},")
