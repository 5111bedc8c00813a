"""Tulu-3 SFT personas instruction following -> ShareGPT JSONL, registered with its role/content tags.

Reads rows with `id`, `prompt`, `messages` (a list of role/content messages, or its JSON text in a CSV)
and `constraints`, from parquet/JSONL/CSV files or the hub. A leading system message is kept; a
conversation LLaMA-Factory would drop (roles not alternating user/assistant, a misplaced system
message, an empty turn, not ending with the assistant) is skipped and counted with its reason.

Example:
    llm-recipes convert tulu --hf allenai/tulu-3-sft-personas-instruction-following --val-size 500
    llm-recipes convert tulu --input tulu_personas/train.parquet --max-samples 20000 --val-size 500
"""

from __future__ import annotations

import argparse

from recipekit.cli import add_source_arguments, script_parser
from recipekit.converters.command import run_converter, source_options
from recipekit.data.chat import check_alternation, parse_messages
from recipekit.data.dataset_info import sharegpt_entry
from recipekit.data.pipeline import Conversion, convert_table
from recipekit.data.readers import Record
from recipekit.data.rows import Example

HUB_ID = "allenai/tulu-3-sft-personas-instruction-following"


def to_example(record: Record) -> Example:
    """A row -> {id, messages, constraints} after checking the conversation."""
    messages = parse_messages(record.fields.get("messages"), "messages")
    check_alternation(messages, "messages", last="assistant")
    row = {"id": record.fields.get("id"), "messages": messages}
    constraints = record.fields.get("constraints")
    if constraints is not None:
        row["constraints"] = constraints
    return Example(row)


def convert(args: argparse.Namespace) -> Conversion:
    """Read, check, split, sample, write and register; returns what was done."""
    return convert_table(source_options(args), to_example, sharegpt_entry("messages"))


# pragma: no mutate start (argument parsing, like every command's)
def build_parser() -> argparse.ArgumentParser:
    parser = script_parser(__doc__)
    add_source_arguments(parser, "tulu3_personas_if", HUB_ID, "parquet/JSONL/CSV files")
    return parser
# pragma: no mutate end


def main(argv: list[str] | None = None) -> Conversion:
    return run_converter(convert, build_parser, argv)

