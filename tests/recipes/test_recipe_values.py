"""A recipe that writes only the keys it must: every command that shows or uses a setting sees the value
LLaMA-Factory's own parser gives it (expected values from ``_parse_train_args`` called here, not from our code)."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import run_cli

from recipekit.errors import InputError
from recipekit.recipes.arguments import parse_overrides
from recipekit.recipes.reading import load_recipe

BARE = """model_name_or_path: Qwen/Qwen2.5-0.5B
do_train: true
dataset: agnews
output_dir: saves/bare
"""
BARE_PREDICT = """model_name_or_path: Qwen/Qwen2.5-0.5B
do_predict: true
predict_with_generate: true
eval_dataset: agnews_val
output_dir: saves/bare/predict
"""


def parsed_by_llamafactory(text: str, tmp_path: Path) -> dict[str, object]:
    """Every field of LLaMA-Factory's argument classes for the recipe ``text``, as its parser reads it."""
    import dataclasses

    import yaml
    from llamafactory.hparams.parser import _parse_train_args

    values = {**yaml.safe_load(text), "output_dir": str(tmp_path / "parsed")}
    groups = _parse_train_args(values)
    return {f.name: getattr(group, f.name) for group in reversed(groups) for f in dataclasses.fields(group)}


@pytest.fixture
def bare(tmp_path: Path) -> tuple[Path, dict[str, object]]:
    path = tmp_path / "bare.yaml"
    path.write_text(BARE, encoding="utf-8")
    return path, parsed_by_llamafactory(BARE, tmp_path)


def test_left_out_keys_are_llamafactorys_own_through_every_reader(bare: tuple[Path, dict[str, object]],
                                                                  tmp_path: Path) -> None:
    from recipekit.commands.smoke_recipe import describe
    from recipekit.export.model_card import method_line
    from recipekit.plan.planner import read_run
    from recipekit.recipes.tiny_run import tiny_args
    from recipekit.report.provenance import recipe_models

    path, expected = bare
    recipe = load_recipe(path)
    stage, method, template = expected["stage"], expected["finetuning_type"], expected["template"]
    assert (stage, method, template, expected["cutoff_len"]) == ("sft", "lora", None, 2048)  # LLaMA-Factory 0.9.5

    # the recipe object, with and without a parse
    assert (recipe.stage, recipe.finetuning_type, recipe.template) == (stage, method, template)
    for key in ("stage", "finetuning_type", "template", "cutoff_len", "lora_rank", "lora_alpha", "dataset_dir",
                "per_device_eval_batch_size", "per_device_train_batch_size"):
        assert recipe.value(key) == expected[key] == recipe.setting(key), key
    assert recipe.trains == expected["do_train"] and recipe.predicts == expected["do_predict"]
    assert recipe.data_dir().name == expected["dataset_dir"]

    # the planner (plan.json's shape)
    run, _ = read_run(recipe, 1, {})
    assert (run.shape.method, run.shape.seq, run.shape.lora_rank, run.shape.dpo) == (
        method, expected["cutoff_len"], expected["lora_rank"], False)
    assert run.shape.batch == expected["per_device_train_batch_size"]

    # smoke's description of its tiny run
    tiny = tiny_args(recipe, tmp_path / "data", tmp_path / "out", 2, lambda key, value: "model", [])
    assert describe(recipe.with_values(tiny)) == f"stage {stage}, {method}, 2 steps"

    # what a report records as the model that predicts: an adapter run's output_dir is its adapter
    assert recipe_models(recipe) == ("Qwen/Qwen2.5-0.5B", "saves/bare")

    # the export card's method line
    assert method_line(recipe).startswith(f"stage {stage}, LoRA rank {expected['lora_rank']}, "
                                          f"alpha {expected['lora_alpha']}, ")

    # check recipes: no template warning for LLaMA-Factory's own (the tokenizer's) template, the trainer's batch
    done = run_cli("check", "recipes", path, "--data-dir", tmp_path / "no_data")
    assert "template" not in done.stdout
    per_device, accumulation = expected["per_device_train_batch_size"], expected["gradient_accumulation_steps"]
    assert f"global batch ({per_device} per device x {accumulation} accumulation)" in done.stdout


def test_a_scoring_command_takes_the_predict_recipes_values_as_llamafactory_reads_them(tmp_path: Path) -> None:
    from recipekit.commands import score_labels

    path = tmp_path / "predict.yaml"
    path.write_text(BARE_PREDICT, encoding="utf-8")
    expected = parsed_by_llamafactory(BARE_PREDICT, tmp_path)
    args = score_labels.apply_recipe(score_labels.build_parser().parse_args(
        ["--recipe", str(path), "--template", "default"]))
    assert (args.batch_size, args.cutoff_len, args.dataset_dir, args.dataset) == (
        expected["per_device_eval_batch_size"], expected["cutoff_len"], expected["dataset_dir"], "agnews_val")
    assert args.batch_size == 8  # the Trainer's default, by hand


def test_a_classifier_recipe_takes_its_own_parsers_defaults(tmp_path: Path) -> None:
    from recipekit.recipes.classifier import parse_values

    text = "model_name_or_path: bert-base-chinese\ndo_train: true\ndataset: afqmc\noutput_dir: saves/c\n"
    path = tmp_path / "c.yaml"
    path.write_text(text, encoding="utf-8")
    recipe = load_recipe(path, classifier=True)
    head, _ = parse_values({"model_name_or_path": "bert-base-chinese", "output_dir": str(tmp_path / "o")})
    assert (recipe.finetuning_type, recipe.value("cutoff_len")) == (head.finetuning_type, head.cutoff_len)
    assert recipe.stage is None and recipe.template is None


def test_overrides_are_read_as_llamafactorys_command_line_reads_them(tmp_path: Path) -> None:
    values = parse_overrides(["max_steps=2", "do_train=false", "learning_rate=2e-5", "dataset=a,b", "run_name="])
    assert values == {"max_steps": 2, "do_train": False, "learning_rate": 2e-5, "dataset": "a,b", "run_name": None}
    with pytest.raises(InputError) as caught:
        parse_overrides(["max_steps"], "r.yaml")
    assert str(caught.value) == "r.yaml: expected KEY=VALUE after the recipe, got 'max_steps'"
