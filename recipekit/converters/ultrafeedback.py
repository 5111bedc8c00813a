"""UltraFeedback binarized -> ShareGPT preference JSONL (`ranking: true`) for DPO, registered in dataset_info.json.

Reads rows with `prompt`, `chosen` and `rejected` (message lists ending with the assistant's answer) and
`score_chosen`/`score_rejected`, from the hub (splits train_prefs/test_prefs) or local files named
train_prefs.parquet/test_prefs.parquet (or train/test). Pairs with equal scores carry no preference and
are skipped and counted; so are pairs whose conversations differ before the answer. A seeded sample
of --max-samples rows is kept (20,000 by default, as in the report); NAME_val comes from test_prefs.

Example:
    llm-recipes convert ultrafeedback --hf HuggingFaceH4/ultrafeedback_binarized --val-size 1000
    llm-recipes convert ultrafeedback --input ultrafeedback_binarized/data --max-samples 5000 --seed 7
"""

from __future__ import annotations

import argparse
import math

from recipekit.cli import add_source_arguments, script_parser
from recipekit.converters.command import run_converter
from recipekit.data.chat import check_alternation, parse_messages
from recipekit.data.dataset_info import sharegpt_entry
from recipekit.data.pipeline import Conversion, read_and_map
from recipekit.data.readers import Record
from recipekit.data.rows import Example, Skip, required
from recipekit.data.splits import select_rows

HUB_ID = "HuggingFaceH4/ultrafeedback_binarized"
SPLITS = {"train_prefs": "train", "test_prefs": "test", "train": "train", "test": "test"}


def score(fields: dict, name: str) -> float:
    value = required(fields, name)
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise Skip(f"{name} is not a number", name) from None
    if math.isnan(number):
        raise Skip(f"{name} is not a number", name)
    return number


def to_example(record: Record) -> Example:
    """A row -> {id, conversations, chosen, rejected} (the shared prompt turns, then the two answers)."""
    fields = record.fields
    chosen = parse_messages(fields.get("chosen"), "chosen")
    rejected = parse_messages(fields.get("rejected"), "rejected")
    check_alternation(chosen, "chosen", last="assistant")
    check_alternation(rejected, "rejected", last="assistant")
    if chosen[:-1] != rejected[:-1]:
        raise Skip("chosen and rejected conversations differ before the answer", "chosen/rejected")
    high, low = score(fields, "score_chosen"), score(fields, "score_rejected")
    if high == low:
        raise Skip("equal scores (no preference)", "score_chosen/score_rejected")
    if high < low:
        raise Skip("score_chosen below score_rejected", "score_chosen/score_rejected")
    return Example({"id": fields.get("prompt_id"), "conversations": chosen[:-1],
                    "chosen": chosen[-1], "rejected": rejected[-1]})


def convert(args: argparse.Namespace) -> Conversion:
    """Read, check, sample, write and register; returns what was done."""
    result = Conversion()
    pools = read_and_map(args.hf or args.input, bool(args.hf), to_example, result, split_names=tuple(SPLITS),
                         hub_splits=("train_prefs", "test_prefs"))
    renamed: dict[str, list[Example]] = {}
    for split, examples in pools.items():
        if split in SPLITS:
            renamed.setdefault(SPLITS[split], []).extend(examples)
    train, val = select_rows(renamed, args.max_samples, args.val_size, args.seed)
    result.write_train_val(args.data_dir, args.name, train, val, sharegpt_entry("conversations", ranking=True))
    return result


# pragma: no mutate start (argument parsing, like every command's)
def build_parser() -> argparse.ArgumentParser:
    parser = script_parser(__doc__)
    add_source_arguments(parser, "ultrafeedback_dpo", HUB_ID, "parquet/JSONL files named train_prefs/test_prefs")
    parser.set_defaults(max_samples=20000)
    return parser
# pragma: no mutate end


def main(argv: list[str] | None = None) -> Conversion:
    return run_converter(convert, build_parser, argv)

