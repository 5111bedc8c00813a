"""scripts/smoke_recipe.py: every recipe no report chain runs, trained (or predicted) for real on a tiny model,
2 steps. The recipes the chains run are trained the same way by tests/e2e/test_reproduce_tiny.py, the demo's
by tests/e2e/test_llamafactory_e2e.py."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from conftest import ROOT, run_script

from recipekit.recipes.reading import all_recipe_files, classifier_recipe_files
from recipekit.recipes.tiny_run import KEPT
from recipekit.reproduce.chain import Layout, chain_names, load_chain

IN_CHAINS = {step.source_recipe for name in chain_names()
             for step in Layout(load_chain(name), Path("x"), tiny=False).steps() if step.source_recipe}
DEMO = {str(p.relative_to(ROOT)) for p in (ROOT / "recipes" / "demo").glob("*.yaml")}  # run in the fast suite
RECIPES = [str(p.relative_to(ROOT)) for p in all_recipe_files(ROOT / "recipes")
           if str(p.relative_to(ROOT)) not in IN_CHAINS | DEMO]
CLASSIFIERS = {str(p.relative_to(ROOT)) for p in classifier_recipe_files(ROOT / "recipes")}


@pytest.fixture(scope="module")
def smoke(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, Path]:
    work = tmp_path_factory.mktemp("smoke")
    result = run_script("scripts/smoke_recipe.py", *RECIPES, "--work", work, timeout=3000)
    assert result.returncode == 0, result.stdout + result.stderr[-4000:]
    return result.stdout, work


@pytest.mark.slow(minutes=7)  # the fixture: every recipe
def test_every_recipe_runs_for_real(smoke: tuple[str, Path]) -> None:
    out, work = smoke
    for recipe in RECIPES:
        assert f"{recipe}: ok in " in out, recipe
        config = yaml.safe_load((ROOT / recipe).read_text(encoding="utf-8"))
        run_dir = work / "runs" / Path(recipe).stem
        if config.get("export_dir"):  # merged weights, the tokenizer and the model card, beside the adapter's run
            run_dir = work / "runs" / f"export-{Path(recipe).stem}"
            assert list(run_dir.glob("*.safetensors")) and (run_dir / "tokenizer_config.json").is_file()
            assert (run_dir / "README.md").read_text(encoding="utf-8").startswith("---\n")  # the card's metadata
            assert (work / "runs" / Path(recipe).stem / "adapter_config.json").is_file()  # the adapter is kept
        if config.get("do_train"):
            state = json.loads((run_dir / "trainer_state.json").read_text(encoding="utf-8"))
            assert state["global_step"] == 2
            assert all(math_ok(entry.get("loss", 0.0)) for entry in state["log_history"])
        if recipe in CLASSIFIERS:  # label probabilities of the evaluation set, as score_labels writes them
            rows = (run_dir / f"predictions_{config['eval_dataset']}.jsonl").read_text(encoding="utf-8").splitlines()
            assert 0 < len(rows) <= 16
            assert {"prompt", "predict", "label", "probs", "logprobs"} <= set(json.loads(rows[0]))
        elif config.get("do_predict"):
            rows = (run_dir / "generated_predictions.jsonl").read_text(encoding="utf-8").splitlines()
            assert 0 < len(rows) <= 16 and {"prompt", "predict", "label"} <= set(json.loads(rows[0]))


def math_ok(value: float) -> bool:
    return value == value and abs(value) < 1e6  # not NaN, not exploded


@pytest.mark.slow
def test_lora_targets_stage_and_deepspeed_are_kept(smoke: tuple[str, Path]) -> None:
    out, work = smoke
    for recipe in ("recipes/yelp5_lora.yaml", "recipes/afqmc_qlora.yaml"):
        config = yaml.safe_load((ROOT / recipe).read_text(encoding="utf-8"))
        adapter = json.loads((work / "runs" / Path(recipe).stem / "adapter_config.json").read_text(encoding="utf-8"))
        assert sorted(adapter["target_modules"]) == sorted(config["lora_target"].split(","))
        assert (adapter["r"], adapter["lora_alpha"]) == (config["lora_rank"], config["lora_alpha"])
    assert "stage sft, full, ds_z3_config, 2 steps" in out
    assert "classifier, full, 2 steps, predict" in out
    assert "note: DeepSpeed on 2 CPU ranks (FORCE_TORCHRUN=1 NPROC_PER_NODE=2)" in out
    assert "note: 4-bit quantisation dropped: bitsandbytes with a GPU is not available here (LoRA kept)" in out
    full = work / "runs" / "agnews_qwen2.5_7b_full"
    assert list(full.glob("*.safetensors")), "ZeRO-3 run saved no gathered weights"
    configs = [yaml.safe_load((ROOT / r).read_text(encoding="utf-8")) for r in RECIPES]
    reporting = sum(1 for c in configs if c.get("do_train") and c.get("report_to") == "wandb")
    assert reporting >= 3
    runs = list((work / "wandb").glob("offline-run-*"))
    # the recipes' own runs, and those trained first for an export recipe's adapter: each its own offline run
    assert len(runs) == out.count("note: wandb offline run:") >= reporting
    assert all(list(run.glob("run-*.wandb")) for run in runs)


@pytest.mark.integration
def test_a_dataset_neither_fixture_nor_registered_is_a_one_line_error(tmp_path: Path) -> None:
    config = yaml.safe_load((ROOT / "recipes" / "yelp5_lora.yaml").read_text(encoding="utf-8"))
    config["dataset"] = "mystery"
    recipe = tmp_path / "mystery.yaml"
    recipe.write_text(yaml.safe_dump(config), encoding="utf-8")
    result = run_script("scripts/smoke_recipe.py", recipe, "--work", tmp_path / "work")
    assert result.returncode == 2
    assert result.stderr == ("error: data/dataset_info.json: dataset 'mystery' is not registered (no smoke fixture "
                             "makes it either)\n")


@pytest.mark.integration
def test_help_shows_an_example() -> None:
    result = run_script("scripts/smoke_recipe.py", "--help")
    assert result.returncode == 0 and "llm-recipes smoke recipes/yelp5_lora.yaml" in result.stdout


@pytest.mark.slow
def test_the_smoke_configs_keep_every_method_setting(smoke: tuple[str, Path]) -> None:
    """Only model, data, paths and sizes are swapped: dropout, early stopping and DPO settings stay the recipe's."""
    _, work = smoke
    checked = 0
    for recipe in RECIPES:
        config = yaml.safe_load((ROOT / recipe).read_text(encoding="utf-8"))
        ran = yaml.safe_load((work / "recipes" / f"{Path(recipe).stem}.yaml").read_text(encoding="utf-8"))
        for key in KEPT:
            if key in config:
                assert ran[key] == config[key], (recipe, key)
                checked += 1
    afqmc = yaml.safe_load((work / "recipes" / "afqmc_qlora.yaml").read_text(encoding="utf-8"))
    assert (afqmc["early_stopping_steps"], afqmc["load_best_model_at_end"], afqmc["lora_dropout"]) == (3, True, 0.1)
    assert checked > 60
