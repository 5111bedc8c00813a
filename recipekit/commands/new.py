"""A dataset of your own to a fitted, checked run: convert it, fit the recipes to a card by the planner, write the
recipes and a chain, and print the one command that runs it all.

Converts FILE (or --hf ID) through `convert generic` into NAME, NAME_val and NAME_test (stratified by class for
classify); measures every row's tokens (the model's tokenizer when it is on this machine, else a tiny BPE, said)
for cutoff_len; then plans method (full, LoRA, QLoRA), ZeRO stage and offload, gradient checkpointing and
per-device batch (global batch kept) on the card and picks the fastest that fits with a margin, printing the
runners-up and why each lost. Writes recipes/NAME/ (train, predict, export; DPO for preference pairs) and the
chain recipes/reproduce/NAME.yaml (convert, check, contamination, plan, train, predict, score, report, export).

Example:
    llm-recipes new reviews --data reviews.csv --task classify --input-column review_text \\
        --output-column sentiment --instruction "Is this review positive, negative or neutral?" --gpu t4
    llm-recipes new answers --data qa.jsonl --task generate --input-column question --output-column answer \\
        --gpu a100-80g --gpus 2 --hours 4
    llm-recipes new prefs --hf ORG/pairs --task preference --input-column prompt --chosen-column chosen \\
        --rejected-column rejected --gpu rtx4090 --method lora
"""

from __future__ import annotations

import argparse
from typing import Any

from recipekit.cli import at_least, escaped_text, name_value, number_above, script_parser
from recipekit.errors import exit_on_input_error
from recipekit.plan.fit import METHODS
from recipekit.plan.gpus import GPUS
from recipekit.reproduce.new_recipes import TASKS


# pragma: no mutate start
def build_parser() -> argparse.ArgumentParser:
    parser = script_parser(__doc__)
    parser.add_argument("name", type=name_value, help="the dataset's and the recipes' name (recipes/NAME/)")
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--data", metavar="FILE", help="a CSV / TSV / JSONL / JSON / parquet table (or a folder)")
    source.add_argument("--hf", metavar="HUB_ID", help="a hub dataset, read with datasets.load_dataset")
    parser.add_argument("--task", required=True, choices=TASKS)
    parser.add_argument("--input-column", help="column whose text the model reads (after --instruction)")
    parser.add_argument("--template", help="the model's text built from columns, e.g. 'Title: {title}\\n{body}'")
    parser.add_argument("--output-column", help="classify: the label column; generate: the answer column")
    parser.add_argument("--label-map", help="classify: raw label -> answer, e.g. '0=negative,1=positive'")
    parser.add_argument("--chosen-column", help="preference: the preferred answer's column")
    parser.add_argument("--rejected-column", help="preference: the other answer's column")
    parser.add_argument("--instruction", type=escaped_text, help="fixed instruction of every row (\\n: a line break)")
    parser.add_argument("--model", help="base model (default: Qwen/Qwen2.5-0.5B-Instruct, whose config ships with "
                                        "the package)")
    parser.add_argument("--gpu", help=f"the card the run will use ({', '.join(GPUS)}; default: this machine's)")
    parser.add_argument("--gpus", type=at_least(1), help="GPUs in the run (default: this machine's count, else 1)")
    parser.add_argument("--method", choices=("auto", *METHODS), default="auto",
                        help="full, lora or qlora; auto (default): the fastest that fits")
    parser.add_argument("--hours", type=number_above(0), help="reject plans that take longer")
    parser.add_argument("--budget", type=number_above(0), metavar="USD", help="reject plans that cost more")
    parser.add_argument("--force", action="store_true", help="replace recipes/NAME/ and its chain if they exist")
    return parser


# pragma: no mutate end
@exit_on_input_error
def main(argv: list[str] | None = None) -> dict[str, Any]:
    from recipekit.reproduce.new import create

    return create(build_parser().parse_args(argv))


if __name__ == "__main__":
    main()
