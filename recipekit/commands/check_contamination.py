"""Is a scored set in the training data? Each training set against each set a report is scored on, by exact
match after normalisation, 13-gram overlap (lm-evaluation-harness's decontamination rule) and MinHash LSH
near-duplicates (datasketch), with counts per pair and method, examples side by side and the rows' ids.

Given recipes, the training sets are the `dataset` of those that train, the scored sets every `eval_dataset`
and `predict_dataset`, and each training set's registered held-out sets (NAME_val, NAME_test, ...); --suite adds
the benchmark tasks of a suite file, loaded by lm-evaluation-harness. --drop writes each training set without
its flagged rows, registered under a new name (NAME_decon) through the converters' transaction, and prints the
override that trains on it; the scored side is never touched. Writes contamination.json and .md in --out.

Example:
    llm-recipes check contamination recipes/classifier/yelp5_bert_lora.yaml --out outputs/contamination/yelp5
    llm-recipes check contamination recipes/qwen3_4b_tulu_sft_lora.yaml --suite recipes/benchmarks/capabilities.yaml
    llm-recipes check contamination --train agnews --against agnews_val --drop --name agnews_clean
"""

from __future__ import annotations

import argparse
import functools
from pathlib import Path
from typing import Any

from recipekit.cli import fraction, name_value, script_parser
from recipekit.errors import InputError
from recipekit.files import announce, ensure_folder, writing_command
from recipekit.paths import at_root


def names(text: str) -> list[str]:
    """An argparse ``type``: comma-separated dataset names."""
    found = [name_value(part.strip()) for part in text.split(",") if part.strip()]
    if not found:
        raise argparse.ArgumentTypeError("expected NAME[,NAME...]")
    return found


# pragma: no mutate start
def build_parser() -> argparse.ArgumentParser:
    from recipekit.contamination.check import THRESHOLD
    from recipekit.contamination.sources import FIELDS

    parser = script_parser(__doc__)
    parser.add_argument("recipes", nargs="*", metavar="RECIPE", help="recipes whose sets to compare")
    parser.add_argument("--train", type=names, default=[], help="training sets (registered names) to compare")
    parser.add_argument("--against", type=names, default=[], help="scored sets (registered names) to compare with")
    parser.add_argument("--suite", help="a benchmark suite file (recipes/benchmarks/): its tasks are scored sets")
    parser.add_argument("--include-path", help="a folder of lm-eval task YAMLs for --suite's local tasks")
    parser.add_argument("--data-dir", help="the data folder (default: the recipes' dataset_dir, else data)")
    parser.add_argument("--fields", choices=FIELDS, default="prompt",
                        help="prompt: what the model is asked (default); all: the answers too")
    parser.add_argument("--threshold", type=fraction, default=THRESHOLD,
                        help=f"near-duplicate Jaccard threshold on token-bigram shingles (default {THRESHOLD})")
    parser.add_argument("--out", default=str(at_root("outputs/contamination")),
                        help="report folder (default: outputs/contamination)")
    parser.add_argument("--drop", action="store_true", help="write each training set without its flagged rows")
    parser.add_argument("--name", type=name_value, help="with --drop and one training set: the new set's name "
                                                        "(default: NAME_decon)")
    return parser


# pragma: no mutate end
def recipe_sets(paths: list[str]) -> tuple[list[str], list[str], Path | None]:
    """(training sets, scored sets, the first recipe's dataset_dir) of the recipes, as their parsers read them."""
    from recipekit.recipes.reading import load_recipe

    training: list[str] = []
    scored: list[str] = []
    data_dir = None
    for path in paths:
        recipe = load_recipe(path)
        if recipe.is_export:
            continue
        data_dir = data_dir or recipe.data_dir()
        if recipe.trains:
            training += recipe.datasets("dataset")
        scored += recipe.datasets("eval_dataset", "predict_dataset")
    return list(dict.fromkeys(training)), list(dict.fromkeys(scored)), data_dir


@writing_command
def main(argv: list[str] | None = None) -> dict[str, Any]:
    args = build_parser().parse_args(argv)
    from tqdm import tqdm

    from recipekit.contamination.check import Settings, check, result_json
    from recipekit.contamination.sources import drop_flagged, held_out, registered, set_rows, suite_tasks, task_rows
    from recipekit.report.contamination import render_markdown
    from recipekit.report.writer import write_report

    training, scored, recipe_dir = recipe_sets(args.recipes)
    data_dir = Path(args.data_dir) if args.data_dir else recipe_dir or at_root("data")
    training = list(dict.fromkeys(training + args.train))
    scored = [name for name in dict.fromkeys(scored + held_out(data_dir, training) + args.against)
              if name not in training]
    tasks = suite_tasks(args.suite) if args.suite else []
    if not training or not (scored or tasks):
        raise InputError("nothing to compare: give recipes that train and evaluate, or --train and --against "
                         "(or --suite)")
    if args.name and (not args.drop or len(training) != 1):
        raise InputError("--name goes with --drop and one training set")
    new_names = {train: args.name or f"{train}_decon" for train in training} if args.drop else {}
    clash = [name for name in new_names.values() if name in scored]
    if clash:
        raise InputError(f"--name {clash[0]} is a scored set: the scored side is never written")
    files = {name: registered(data_dir, name)[0] for name in training + scored}  # every set is there before any work
    out = ensure_folder(args.out, "--out")
    settings = Settings(args.fields, threshold=args.threshold)
    scored_rows = {name: list(set_rows(data_dir, name, args.fields)) for name in scored}
    for task in tasks:
        scored_rows[f"lm-eval:{task}"] = task_rows(task, args.include_path)
    with tqdm(desc="training rows", unit="row", disable=None) as bar:
        readers = {name: functools.partial(set_rows, data_dir, name, args.fields) for name in training}
        result = check(readers, scored_rows, settings, bar)
    report = result_json(result)
    for name, path in files.items():
        report["sets"][name]["file"] = str(path)
    if new_names:
        report["dropped"] = [drop_flagged(data_dir, train, result.flagged[train], name)
                             for train, name in new_names.items()]
    markdown = render_markdown(report)
    json_path, md_path = write_report(out, "contamination", report, markdown)
    print(markdown)
    announce(f"wrote {json_path}, {md_path}")
    return report


if __name__ == "__main__":
    main()
