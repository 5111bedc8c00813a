"""Merge a trained LoRA or QLoRA adapter into its base model and save it with a model card (README.md).

An export recipe (recipes/export/) names the base model, the adapter (the training run's output_dir),
export_dir and export_size, as `llamafactory-cli export` reads it; LLaMA-Factory's adapters merge through its
own export, a classifier's (llm-recipes train-classifier) through peft. The card, written with huggingface_hub,
gives the base model, the data, the run's metrics from each --report folder (model-index), the recipes and
every difference from the report. The new folder replaces export_dir only once it is whole; --push uploads it.

Example:
    llm-recipes export recipes/export/yelp5_bert_lora.yaml --report outputs/reproduce/yelp5/reports/lora
    llm-recipes export recipes/export/qwen3_4b_ultrafeedback_dpo_lora.yaml \\
        --report outputs/reproduce/tulu_dpo/reports/dpo --eval-dataset tulu3_personas_if_val \\
        --push your-name/qwen3-4b-tulu-dpo
"""

from __future__ import annotations

import argparse
from pathlib import Path

from recipekit.cli import name_value, script_parser
from recipekit.errors import InputError, exit_on_input_error
from recipekit.files import announce, folder_written
from recipekit.paths import at_root, root, shown
from recipekit.recipes.arguments import parse_overrides
from recipekit.recipes.reading import Recipe, all_recipe_files, load_recipe, recipe_outputs


def repo_id(text: str) -> str:
    """An argparse ``type``: a hub repository id (``name`` or ``owner/name``), checked by huggingface_hub."""
    from huggingface_hub.utils import HFValidationError, validate_repo_id

    try:
        validate_repo_id(text)
    except HFValidationError as exc:
        raise argparse.ArgumentTypeError(" ".join(str(exc).split())) from None
    return text


# pragma: no mutate start
def build_parser() -> argparse.ArgumentParser:
    parser = script_parser(__doc__)
    parser.add_argument("recipe", help="an export recipe (recipes/export/*.yaml)")
    parser.add_argument("overrides", nargs="*", metavar="KEY=VALUE", help="recipe values to change for this run")
    parser.add_argument("--report", action="append", default=[], metavar="FOLDER",
                        help="a report folder of this model's run (classify_report.json or gen_report.json): its "
                             "metrics go into the card's model-index (repeatable); the report must record that its "
                             "predictions were made with this export's adapter")
    parser.add_argument("--eval-dataset", type=name_value,
                        help="the set the reports scored (default: the training recipe's first eval_dataset)")
    parser.add_argument("--push", type=repo_id, metavar="REPO_ID",
                        help="upload the exported folder to this hub model repository (needs a token)")
    parser.add_argument("--private", action="store_true", help="with --push: make the repository private")
    return parser


# pragma: no mutate end
def training_recipe(recipe: Recipe) -> Recipe | None:
    """The recipe that trains the export's (first) adapter, found by its output_dir."""
    from recipekit.export.model_card import trained_by

    adapters = recipe.adapters()
    found = trained_by(adapters[0], recipe_outputs(all_recipe_files(root() / "recipes"))) if adapters else None
    return load_recipe(found) if found is not None else None


def run_data_dir(recipe: Recipe) -> Path | None:
    """The data folder the run that trained the export's adapter read: that of the recipe beside the export
    recipe (under its nearest ``recipes/`` folder: a tiny or smoke run's copies) whose output_dir is exactly the
    adapter; None when there is none."""
    adapters = recipe.adapters()
    folder = next((p for p in recipe.path.resolve().parents if p.name == "recipes"), None)
    if not adapters or folder is None:
        return None
    target = at_root(adapters[0]).resolve()
    for output, path in recipe_outputs(all_recipe_files(folder)).items():
        if at_root(output).resolve() == target:
            return load_recipe(path).data_dir()
    return None


@exit_on_input_error
def main(argv: list[str] | None = None) -> Path:
    args = build_parser().parse_args(argv)
    from recipekit.export.merge import merge
    from recipekit.export.model_card import CARD_FILE, CardFacts, model_card, push, read_report

    recipe = load_recipe(args.recipe).with_values(parse_overrides(args.overrides, args.recipe))
    if not recipe.is_export:
        raise InputError("not an export recipe: it has no export_dir (the export recipes are in recipes/export/)",
                         args.recipe)
    if args.private and not args.push:
        raise InputError("--private goes with --push REPO_ID")
    recipe.parsed()  # LLaMA-Factory's refusal, before any work
    trained = training_recipe(recipe)
    dataset = args.eval_dataset or next(iter(trained.datasets("eval_dataset") if trained else []), "held-out set")
    reports = [read_report(folder, dataset, recipe.adapters()) for folder in args.report]
    target = Path(recipe.output_folder())
    with folder_written(target) as staging:
        pipeline = merge(recipe, staging)
        facts = CardFacts(target.name, recipe, pipeline, trained, reports, run_data_dir(recipe))
        model_card(facts).save(staging / CARD_FILE)
    shards = len(list(target.glob("*.safetensors")))
    announce(f"exported {shown(target)}: {shards} weight file(s), model card {shown(target / CARD_FILE)}"
          + (f" ({sum(len(r.values) > 0 for r in reports)} report(s) in its model-index)" if reports else ""))
    if args.push:
        print(f"pushed to {push(target, args.push, args.private)}")
    return target


if __name__ == "__main__":
    main()
