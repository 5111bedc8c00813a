"""A report's own training time (its chain file's `time:` for a recipe) beside the plan: per optimizer step, for
the report's steps, and which cards' plans match a report that names no GPU."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import yaml
from conftest import ROOT, run_cli

from recipekit.errors import InputError
from recipekit.plan.planner import reported_step_seconds
from recipekit.recipes.reading import load_recipe

SMALL = {"architectures": ["LlamaForCausalLM"], "model_type": "llama", "vocab_size": 8192, "hidden_size": 512,
         "intermediate_size": 1376, "num_hidden_layers": 4, "num_attention_heads": 8, "num_key_value_heads": 8,
         "max_position_embeddings": 1024, "tie_word_embeddings": False}


def test_the_shipped_reports_times_are_their_own_figures() -> None:
    """The Qwen3-4B report: SFT about 6-8 h, checkpoint-2532; DPO about 2.4 h, 1,875 steps; the Yelp report:
    31 samples/s, 1.96 steps/s, 12.7 minutes (figures as the reports print them)."""
    sft = load_recipe(ROOT / "recipes" / "qwen3_4b_tulu_sft_lora.yaml").facts().time
    dpo = load_recipe(ROOT / "recipes" / "qwen3_4b_ultrafeedback_dpo_lora.yaml").facts().time
    yelp = load_recipe(ROOT / "recipes" / "classifier" / "yelp5_bert_lora.yaml").facts().time
    assert (sft["hours"], sft["steps"], dpo["hours"], dpo["steps"]) == ([6, 8], 2532, 2.4, 1875)
    assert (yelp["minutes"], yelp["steps_per_second"], yelp["samples_per_second"]) == (12.7, 1.96, 31)
    assert "111.05 s" in sft["eval"] and all(t["said"].startswith("section") for t in (sft, dpo, yelp))


def test_seconds_per_step_from_the_reports_own_figures() -> None:
    assert reported_step_seconds({"hours": [6, 8], "steps": 2532}) == ([6 * 3600 / 2532, 8 * 3600 / 2532], 2532)
    per_step, steps = reported_step_seconds({"minutes": 12.7, "steps_per_second": 1.96})
    assert per_step == [pytest.approx(0.5102, abs=1e-4)] and steps == pytest.approx(12.7 * 60 * 1.96)
    assert reported_step_seconds({"hours": 2.4}) == ([], None)  # no steps: nothing per step to compare


def mini_repository(tmp_path: Path, time: dict | None, rows: dict | None = None, tokens: dict | None = None) -> Path:
    """recipes/small.yaml (a small local architecture) whose header names recipes/reproduce/mini.yaml, whose
    entry for it carries ``time`` (and ``rows``, ``tokens``)."""
    (tmp_path / "small").mkdir(exist_ok=True)
    (tmp_path / "small" / "config.json").write_text(json.dumps(SMALL), encoding="utf-8")
    entry = {"hardware": "1 unnamed GPU", "global_batch": "8 per device x 2 accumulation x 1 GPU = 16 rows",
             "target": "none"}
    if time is not None:
        entry["time"] = time
    if rows is not None:
        entry["rows"] = rows
    if tokens is not None:
        entry["tokens"] = tokens
    (tmp_path / "recipes" / "reproduce").mkdir(parents=True, exist_ok=True)
    (tmp_path / "recipes" / "reproduce" / "mini.yaml").write_text(yaml.safe_dump(
        {"report": "mini.txt", "title": "mini", "recipes": {"recipes/small.yaml": entry}}), encoding="utf-8")
    recipe = tmp_path / "recipes" / "small.yaml"
    recipe.write_text("# A small recipe.\n#\n# Report: recipes/reproduce/mini.yaml\n" + yaml.safe_dump({
        "model_name_or_path": str(tmp_path / "small"), "stage": "sft", "do_train": True, "finetuning_type": "full",
        "dataset": "x", "template": "default", "cutoff_len": 512, "output_dir": "saves/x",
        "per_device_train_batch_size": 8, "gradient_accumulation_steps": 2, "bf16": True}), encoding="utf-8")
    return recipe


@pytest.mark.parametrize(("time", "message"), [
    ({"hours": 2.0, "steps": 10, "said": "s1", "gpu": "a100"}, "recipes: recipes/small.yaml: time: unknown key(s) "
                                                                "['gpu']"),
    ({"hours": 2.0, "steps": 10}, "recipes: recipes/small.yaml: time: lacks said"),
    ({"hours": [1, 2, 3], "said": "s1"}, "time: hours must be a positive number or [low, high]"),
    ({"minutes": -4, "said": "s1"}, "time: minutes must be a positive number or [low, high]"),
])
def test_a_malformed_report_time_is_one_error_naming_the_chain(tmp_path: Path, time: dict, message: str) -> None:
    recipe = mini_repository(tmp_path, time)
    with pytest.raises(InputError, match=re.escape(message)) as error:
        load_recipe(recipe).facts()
    assert error.value.path == str(tmp_path / "recipes" / "reproduce" / "mini.yaml")


@pytest.mark.integration
def test_plan_puts_the_reports_time_beside_its_own(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """At a measured MFU (--mfu) the plan's step is FLOPs / (peak x MFU), so the ratio to the report's own step
    is computed by hand; the cards listed as matching are exactly those whose own plan is within 0.67-1.5x."""
    monkeypatch.setenv("LLM_RECIPES_CACHE", str(tmp_path / "cache"))
    recipe = mini_repository(tmp_path, {"hours": 0.5, "steps": 3000, "said": "section 9"})
    done = run_cli("plan", recipe, "--gpu", "a100-40g", "--rows", "1000", "--mfu", "0.38", "--out", tmp_path / "out",
                   "--write-header")
    assert done.returncode == 0, done.stderr[-2000:]
    plan = json.loads((tmp_path / "out" / "plan.json").read_text(encoding="utf-8"))
    step = plan["flops_per_micro_batch"] * 2 / (312e12 * 0.38)
    reported = 0.5 * 3600 / 3000
    time = plan["report_time"]
    assert time["seconds_per_step"] == [pytest.approx(reported)] and time["steps"] == 3000
    assert time["planned_seconds_per_step"] == pytest.approx(step)
    assert time["ratio"] == [pytest.approx(step / reported)]
    assert time["planned_hours"] == pytest.approx(3000 * step / 3600)
    assert "The report's own time (section 9): 0.5 h for 3,000 steps, 0.6 s per optimizer step" in done.stdout
    assert "; the report: 0.5 h)." in recipe.read_text(encoding="utf-8")
    for key in ("t4", "a100-40g", "h100-80g", "h200"):
        other = run_cli("plan", recipe, "--gpu", key, "--rows", "1000", "--out", tmp_path / key)
        assert other.returncode == 0, other.stderr[-2000:]
        own = json.loads((tmp_path / key / "plan.json").read_text(encoding="utf-8"))["step_seconds"]
        assert (key in time["matching_cards"]) == (0.67 <= own / reported <= 1.5), (key, own / reported)


def test_a_gpu_count_that_changes_the_global_batch_says_so_and_what_keeps_it() -> None:
    from recipekit.plan.planner import batch_note

    assert batch_note(128, 4, 4, 64) == ("global batch 64 on 4 GPU(s), the report's is 128: "
                                         "gradient_accumulation_steps=8 keeps it (the step count and time above are "
                                         "for the recipe as written)")
    assert batch_note(128, 4, 3, 48).endswith("no whole gradient_accumulation_steps keeps it at per-device batch 4; "
                                              "choose a GPU count that divides it, or say the batch changed")


@pytest.mark.integration
def test_the_report_batch_and_a_tight_fit_are_said(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The mini report trains 8 x 2 x 1 = 16 rows a step: on 2 GPUs the plan says accumulation 1 keeps it; a card
    2% larger than the peak fits only just (flagged), one 20% larger fits plainly."""
    monkeypatch.setenv("LLM_RECIPES_CACHE", str(tmp_path / "cache"))
    recipe = mini_repository(tmp_path, None)
    done = run_cli("plan", recipe, "--gpu", "a100-40g", "--gpus", "2", "--out", tmp_path / "two")
    plan = json.loads((tmp_path / "two" / "plan.json").read_text(encoding="utf-8"))
    assert plan["global_batch"] == 32 and "gradient_accumulation_steps=1 keeps it" in plan["global_batch_note"]
    assert "**Global batch**: global batch 32 on 2 GPU(s), the report's is 16" in done.stdout
    peak = plan["memory"]["peak_gib"]
    for size, tight in ((peak * 1.02, True), (peak * 1.2, False)):
        done = run_cli("plan", recipe, "--gpu-mem", f"{size:.4f}", "--gpu-tflops", "100", "--out", tmp_path / "t")
        plan = json.loads((tmp_path / "t" / "plan.json").read_text(encoding="utf-8"))
        assert plan["fits"] and plan["tight"] is tight and ("fits only just" in done.stdout) is tight
        assert "global_batch_note" not in plan  # one GPU: the report's batch
