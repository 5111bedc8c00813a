"""The smoke run's parts that need no training: each run's name (an export's apart from the recipe it exports)
and the tiny model of a recipe's family and template, built once per pair."""

from __future__ import annotations

import json
from pathlib import Path

from conftest import ROOT, write_jsonl

from recipekit.commands.smoke_recipe import Smoke, run_name
from recipekit.recipes.reading import load_recipe


def test_an_exports_run_is_named_apart_from_the_run_of_the_recipe_it_exports() -> None:
    assert run_name(load_recipe(ROOT / "recipes" / "yelp5_lora.yaml")) == "yelp5_lora"
    assert run_name(load_recipe(ROOT / "recipes" / "export" / "yelp5_lora.yaml")) == "export-yelp5_lora"


def test_one_tiny_model_per_family_and_template_built_once(tmp_path: Path) -> None:
    smoke = Smoke(tmp_path / "work", 2)
    write_jsonl(smoke.data / "rows.jsonl", [{"instruction": f"review {i}", "output": "good"} for i in range(20)])
    qwen = load_recipe(ROOT / "recipes" / "yelp5_lora.yaml")  # Qwen2.5, default template
    llama = load_recipe(ROOT / "recipes" / "agnews_full.yaml")  # Llama 3.1, llama3 template
    first = smoke.tiny_model(qwen)
    assert first == smoke.work / "models" / "qwen2_default"
    assert json.loads((first / "config.json").read_text(encoding="utf-8"))["model_type"] == "qwen2"
    built = (first / "config.json").stat().st_mtime_ns
    assert smoke.tiny_model(qwen) == first and (first / "config.json").stat().st_mtime_ns == built
    other = smoke.tiny_model(llama)
    assert other == smoke.work / "models" / "llama_llama3"
    assert json.loads((other / "config.json").read_text(encoding="utf-8"))["model_type"] == "llama"
    assert set(smoke.models) == {("qwen2", "default"), ("llama", "llama3")}
    log = (smoke.work / "model_llama.log").read_text(encoding="utf-8")
    assert log.splitlines()[-1].startswith("wrote llama model") and log.rstrip().endswith(str(other))
