"""Which model made a predictions file, as a report records it (``meta.model``): found from the recipe that
predicted, or the adapter the predictions were saved beside; ``llm-recipes export`` takes a report's numbers only
for the adapter recorded there."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from recipekit.paths import at_root, given, shown
from recipekit.recipes.reading import Recipe, all_recipe_files, load_recipe, recipe_outputs

ADAPTER_CONFIG = "adapter_config.json"  # what peft's save_pretrained writes beside an adapter's weights
ADAPTER_WEIGHTS = ("adapter_model.safetensors", "adapter_model.bin")  # its weights, in either of peft's formats


def recipe_writing(folder: Path, recipe_paths: list[Path]) -> Path | None:
    """The recipe whose run writes into ``folder`` (its ``output_dir``), if one of ``recipe_paths`` does."""
    for output_dir, recipe_path in recipe_outputs(recipe_paths).items():
        if at_root(output_dir).resolve() == folder.resolve():
            return recipe_path
    return None


def recipe_models(recipe: Recipe) -> tuple[str | None, str | None]:
    """(model_name_or_path, adapter_name_or_path) a recipe's run predicts with: a run that trains predicts with
    what it trained (its output_dir: the adapter, or the whole model of full and freeze tuning)."""
    model, adapter = recipe.written("model_name_or_path"), recipe.written("adapter_name_or_path")
    if recipe.trains:
        if recipe.saves_whole_model:
            model, adapter = recipe.output_folder(), None
        else:
            adapter = recipe.output_folder()
    return (None if model is None else str(model)), (None if adapter is None else str(adapter))


def repository_path(path: str | Path) -> str:
    """A folder named on the command line or found from one, as a recipe names it: relative to the repository
    root when it lies under it, else absolute (so a report compares the same however it was typed)."""
    return str(shown(given(path).resolve()))


def predicted_by(path: str | Path, recipe: str | None = None, adapter: str | None = None,
                 recipes: str | Path | None = None) -> dict[str, Any] | None:
    """The model that made a predictions file, as its report records it (``model_name_or_path``,
    ``adapter_name_or_path``, ``from``): ``recipe`` (the predict or classifier recipe) when given; else the
    adapter saved beside the file (``llm-recipes train-classifier`` predicts into its output_dir); else the
    recipe under ``recipes`` whose output_dir holds the file; ``adapter`` (a run's command-line
    ``adapter_name_or_path``) replaces the adapter found. None when nothing says."""
    folder = Path(path).parent
    found: dict[str, Any] | None = None
    if recipe is None and (folder / ADAPTER_CONFIG).is_file():
        config = json.loads((folder / ADAPTER_CONFIG).read_text(encoding="utf-8"))
        found = {"model_name_or_path": config.get("base_model_name_or_path"),
                 "adapter_name_or_path": repository_path(folder),
                 "from": f"the adapter beside the predictions ({folder / ADAPTER_CONFIG})"}
    else:
        source = Path(recipe) if recipe else recipe_writing(folder, all_recipe_files(recipes or at_root("recipes")))
        if source is not None:
            model, recipe_adapter = recipe_models(load_recipe(source))
            found = {"model_name_or_path": model, "adapter_name_or_path": recipe_adapter,
                     "from": f"{'--recipe ' if recipe else 'the recipe whose output_dir holds the predictions, '}"
                             f"{source}"}
    if adapter:
        found = {"model_name_or_path": None, **(found or {}),
                 "adapter_name_or_path": ",".join(map(repository_path, adapter.split(","))),
                 "from": f"{found['from'] + '; ' if found else ''}--adapter"}
    return found
