"""`plan RECIPE --measure` with no card named: the plan is of the device it measures (on the CPU, the peak per
GPU and the cards that hold it, beside the measured steps)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
import yaml
from conftest import ROOT, run_cli

pytestmark = [pytest.mark.integration, pytest.mark.mutation]

SMALL = {"architectures": ["LlamaForCausalLM"], "model_type": "llama", "vocab_size": 2048, "hidden_size": 128,
         "intermediate_size": 344, "num_hidden_layers": 2, "num_attention_heads": 4, "num_key_value_heads": 2,
         "max_position_embeddings": 512, "tie_word_embeddings": False}
BERT = {"architectures": ["BertForMaskedLM"], "model_type": "bert", "vocab_size": 1024, "hidden_size": 64,
        "intermediate_size": 128, "num_hidden_layers": 2, "num_attention_heads": 2, "max_position_embeddings": 128}


@pytest.mark.skipif(torch.cuda.is_available(), reason="the CPU's answer (a GPU plans on its own card)")
def test_measure_needs_no_card_on_the_cpu(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The demo recipe (its tiny model's architecture, random weights) measured on this CPU without --gpu: both
    files written, the measured steps beside the run's peak per GPU, the same peak as the plan on a named card."""
    monkeypatch.setenv("LLM_RECIPES_CACHE", str(tmp_path / "cache"))
    (tmp_path / "small").mkdir()
    (tmp_path / "small" / "config.json").write_text(json.dumps(SMALL), encoding="utf-8")
    text = (ROOT / "recipes" / "demo" / "agnews_tiny_sft.yaml").read_text(encoding="utf-8")
    recipe = tmp_path / "agnews_tiny_sft.yaml"
    recipe.write_text(text.replace("model_name_or_path: outputs/demo/tiny_model",
                                   f"model_name_or_path: {tmp_path / 'small'}")
                      .replace("per_device_train_batch_size: 32", "per_device_train_batch_size: 2"),
                      encoding="utf-8")
    assert yaml.safe_load(recipe.read_text(encoding="utf-8"))["model_name_or_path"] == str(tmp_path / "small")
    done = run_cli("plan", recipe, "--measure", "--measure-steps", "2", "--rows", "100", "--out", tmp_path / "out")
    assert done.returncode == 0, done.stderr[-3000:]
    assert "name one with --gpu" not in done.stdout
    written = json.loads((tmp_path / "out" / "plan.json").read_text(encoding="utf-8"))
    measured = written["measured"]
    assert measured["device"] == "cpu" and measured["steps"] == 2 and measured["step_seconds"] > 0
    assert measured["planned_step_seconds"] is None and measured["shape"]["batch"] == 2
    assert measured["shape"]["seq"] == 192
    named = run_cli("plan", recipe, "--gpu", "t4", "--rows", "100", "--out", tmp_path / "t4")
    assert named.returncode == 0, named.stderr[-3000:]
    on_t4 = json.loads((tmp_path / "t4" / "plan.json").read_text(encoding="utf-8"))
    assert written["peak_gib"] == pytest.approx(on_t4["memory"]["peak_gib"])
    assert "t4" in written["fits_cards"]
    markdown = (tmp_path / "out" / "plan.md").read_text(encoding="utf-8")
    assert "## Measured on cpu" in markdown and (tmp_path / "out" / "measure.log").is_file()


def probe_work(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, recipe_file: Path, config: dict, cutoff: int) -> tuple:
    """What ``plan --measure`` prepares before it starts the probe, for ``recipe_file`` on a model of ``config``
    (batch 2, 3 steps): the measured arguments in ``work/args.json``, synthetic rows, the random model; (work, args)."""
    from recipekit.plan.measure import cached_random_model, measured_args, write_synthetic_data
    from recipekit.recipes.reading import load_recipe

    monkeypatch.setenv("LLM_RECIPES_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("WANDB_MODE", "disabled")
    monkeypatch.delenv("RANK", raising=False)
    (tmp_path / "small").mkdir()
    (tmp_path / "small" / "config.json").write_text(json.dumps(config), encoding="utf-8")
    recipe = load_recipe(recipe_file).with_values(
        {"model_name_or_path": str(tmp_path / "small"), "per_device_train_batch_size": 2, "cutoff_len": cutoff})
    work = tmp_path / "work"
    args = measured_args(recipe, work, 3, [])
    write_synthetic_data(recipe, work / "data", 2 * int(recipe.setting("gradient_accumulation_steps")) * 4, cutoff)
    cached_random_model(str(tmp_path / "small"), str(recipe.template), work / "model", recipe.is_classifier)
    (work / "args.json").write_text(json.dumps(args), encoding="utf-8")
    return work, args


@pytest.mark.skipif(torch.cuda.is_available(), reason="the CPU's file (a GPU adds its allocator's peaks)")
def test_the_probe_trains_the_measured_arguments_and_writes_one_time_per_step(tmp_path: Path,
                                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    """What ``plan --measure`` starts as a process, run in this one: LLaMA-Factory's trainer on the measured
    arguments (random weights, synthetic rows), the probe's file with a time per optimizer step."""
    from recipekit.plan.probe import main

    work, _ = probe_work(tmp_path, monkeypatch, ROOT / "recipes" / "demo" / "agnews_tiny_sft.yaml", SMALL, 64)
    main([str(work / "args.json"), str(work / "probe")])
    written = json.loads((work / "probe.rank0.json").read_text(encoding="utf-8"))
    assert written["device"] == "cpu" and len(written["step_seconds"]) == 3
    assert all(seconds > 0 for seconds in written["step_seconds"])
    assert written["rss_peak"] >= written["rss_before"] > 0


@pytest.mark.skipif(torch.cuda.is_available(), reason="the CPU's file (a GPU adds its allocator's peaks)")
def test_the_probe_trains_a_classifier_recipe_with_the_classifiers_own_trainer(tmp_path: Path,
                                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    """The probe as ``plan --measure`` starts it for a classifier (arguments file, output prefix, ``classifier``,
    read from the command line): the classifier's trainer on arguments LLaMA-Factory's parser would refuse (its
    ``labels``), one time per step."""
    import sys

    from recipekit.plan.probe import main

    work, args = probe_work(tmp_path, monkeypatch, ROOT / "recipes" / "classifier" / "yelp5_bert_lora.yaml", BERT, 32)
    assert "labels" in args
    monkeypatch.setattr(sys, "argv", ["probe.py", str(work / "args.json"), str(work / "probe"), "classifier"])
    main()
    written = json.loads((work / "probe.rank0.json").read_text(encoding="utf-8"))
    assert written["device"] == "cpu" and len(written["step_seconds"]) == 3
    assert written["rss_peak"] >= written["rss_before"] > 0
