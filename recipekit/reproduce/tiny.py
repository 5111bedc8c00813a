"""A chain's tiny run on this CPU: tiny copies of the recipes, written just before the step that runs them
(the raw data in the real format comes from ``converters.catalog.tiny_source_flags``)."""

from __future__ import annotations

from pathlib import Path

import yaml

from recipekit.errors import InputError
from recipekit.paths import root
from recipekit.recipes.reading import load_recipe
from recipekit.recipes.tiny_run import MODEL_KEYS, make_tiny_model, tiny_args, tiny_family
from recipekit.reproduce.chain import RELOCATED, Layout
from recipekit.steps import Step

TINY_STEPS = 2


def prepare(step: Step, layout: Layout, notes: list[str]) -> None:
    """Write the tiny copy of the recipe a step runs (unchanged text keeps its time, so a re-run can skip)."""
    if not (layout.tiny and step.recipe and step.source_recipe):
        return
    recipe = load_recipe(root() / step.source_recipe)
    out = root() / layout.out
    data = out / "data"

    def made_elsewhere(key: str, value: str) -> str:
        if value.split("/", 1)[0] in RELOCATED:
            return layout.relocate(value)
        if key in MODEL_KEYS:  # a hub model: the tiny model of its family (made only when a recipe needs one)
            arch, template = tiny_family(recipe)
            return str(make_tiny_model(out / "models" / f"{arch}_{template}", arch, template, data,
                                       out / "logs" / f"tiny_model_{arch}_{template}.log"))
        raise InputError(f"{key} {value}: a tiny run needs it made by a step of the chain", str(recipe.path))

    args = tiny_args(recipe, Path(layout.relocate(str(recipe.setting("dataset_dir")))),
                     Path(layout.relocate(recipe.output_folder() or "saves/run")), TINY_STEPS,
                     made_elsewhere, notes)
    text = yaml.safe_dump(args, sort_keys=False)
    target = root() / step.recipe
    if not target.is_file() or target.read_text(encoding="utf-8") != text:
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text, encoding="utf-8")
