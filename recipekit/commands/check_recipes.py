"""Check LLaMA-Factory and classifier recipes in seconds, without a GPU or model weights.

For each recipe: its comment header (launch line, report) and the report's facts in the chain file it names
(settings followed or listed as differences, hardware, global batch that adds up, target), when its header
names a report (a '# Report:' line; a plain LLaMA-Factory recipe needs no header); its
arguments through LLaMA-Factory's own argument parser (classifier recipes: the classifier's HfArgumentParser,
and their labels against the registered answers) (unknown keys, bad values); its datasets against
dataset_info.json in its own dataset_dir (naming the converter that makes a missing one); its local paths
(a model or adapter another recipe on the same command line writes counts as made); its DeepSpeed JSON
through DeepSpeed's own config class at each GPU count; known incompatibilities (predict_with_generate
with ZeRO-3, quantisation with ZeRO-3 or full fine-tuning, DeepSpeed without FORCE_TORCHRUN, a chat
template on a base model); and the global batch on 1/2/8 GPUs, or the accumulation that keeps the
report's global batch on --gpus N. Exits 1 when any recipe has an error; warnings do not fail.

Example:
    llm-recipes check recipes                       # every recipes/**/*.yaml (classifier/ too)
    llm-recipes check recipes recipes/qwen3_4b_tulu_sft_lora.yaml --gpus 4
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from recipekit.cli import at_least, script_parser
from recipekit.converters.catalog import converter_commands
from recipekit.errors import InputError, exit_on_input_error
from recipekit.paths import at_root, given, root_hint
from recipekit.progress import working
from recipekit.recipes.checks import GPU_COUNTS, CheckContext, Findings, batch_lines, check_recipe
from recipekit.recipes.reading import all_recipe_files, load_recipe, producers


# pragma: no mutate start
def build_parser() -> argparse.ArgumentParser:
    parser = script_parser(__doc__)
    parser.add_argument("paths", nargs="*", metavar="PATH", help="recipe files (default: every recipes/**/*.yaml)")
    parser.add_argument("--data-dir", help="folder holding dataset_info.json (default: each recipe's dataset_dir, "
                                            "LLaMA-Factory's default data when it sets none)")
    parser.add_argument("--gpus", type=at_least(1),
                        help="print the accumulation that keeps the report's global batch on N GPUs")
    parser.add_argument("--gpu", help="also plan each recipe on N (--gpus, default 1) of this card (scripts/plan.py "
                                      "--gpu) and fail a recipe that does not fit")
    return parser


# pragma: no mutate end
def fit_line(recipe: object, args: argparse.Namespace, made_by: dict, found: Findings) -> str:
    """The planner's verdict on --gpus x --gpu; a recipe that does not fit is an error."""
    from recipekit.plan.gpus import resolve_gpu
    from recipekit.plan.planner import plan
    from recipekit.report.plan import header_line

    try:
        result = plan(recipe, resolve_gpu(args.gpu), args.gpus or 1, made_by)  # type: ignore[arg-type]
    except InputError as exc:
        return f"plan: not planned ({exc})"
    if not result["fits"]:
        found.errors.append(f"does not fit {args.gpus or 1}x {result['gpu']['name']} "
                            f"({result['memory']['peak_gib']:.1f} GiB per GPU): see scripts/plan.py for the changes")
    return f"plan: {header_line(result)}"


@exit_on_input_error
def main(argv: list[str] | None = None) -> dict[str, Findings]:
    args = build_parser().parse_args(argv)
    os.environ.setdefault("LLAMAFACTORY_VERBOSITY", "ERROR")
    paths = [Path(p) for p in args.paths] or all_recipe_files()
    if not paths:
        raise InputError(f"no recipes found ({root_hint()})", f"{at_root('recipes')}/")
    recipes, unread = [], []
    for path in paths:  # one recipe that cannot be read (not YAML, a batch of 0) does not hide the others' findings
        try:
            recipes.append(load_recipe(path))
        except InputError as exc:
            if len(paths) == 1:
                raise
            unread.append(str(exc))
            print(f"{exc.path or path}: not read: {exc.message}")
    made_by = producers([recipe.path for recipe in recipes])
    data_dir = given(args.data_dir) if args.data_dir else None
    gpu_counts = sorted({*GPU_COUNTS, *([args.gpus] if args.gpus else [])})
    context = CheckContext(data_dir, made_by, gpu_counts, converter_commands())
    results: dict[str, Findings] = {}
    with working(f"checking {len(recipes)} recipe(s)"):  # LLaMA-Factory's parser loads first: seconds
        for recipe in recipes:
            found = check_recipe(recipe, context)
            planned = fit_line(recipe, args, made_by, found) if args.gpu else None
            results[str(recipe.path)] = found
            status = f"{len(found.errors)} error(s)" if found.errors else "ok"
            print(f"{recipe.path}: {status}" + (f", {len(found.warnings)} warning(s)" if found.warnings else ""))
            for kind, items in (("error", found.errors), ("warning", found.warnings), ("note", found.notes)):
                for item in items:
                    print(f"  {kind}: {item}")
            for line in batch_lines(recipe, args.gpus):
                print(f"  {line}")
            if planned:
                print(f"  {planned}")
    failed = sum(1 for f in results.values() if f.errors)
    print(f"{len(results)} recipe(s) checked, {failed} with errors")
    if unread:
        raise InputError(f"{len(unread)} recipe(s) could not be read, the first: {unread[0]}")
    if failed:
        raise SystemExit(1)
    return results


if __name__ == "__main__":
    main()
