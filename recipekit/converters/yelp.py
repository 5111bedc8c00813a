"""Yelp Review Full -> Alpaca JSONL for five-level sentiment classification, registered in dataset_info.json.

Reads the original CSV release (headerless: stars 1-5, text; line breaks written as the two characters
"\\n"), the hub layout (`label` 0-4, `text` as parquet/JSONL/CSV) or a hub id through `datasets`.

Example:
    llm-recipes convert yelp --input yelp_review_full_csv --max-samples 20000 --val-size 2000
    llm-recipes convert yelp --hf Yelp/yelp_review_full --max-samples 20000 --val-size 2000 \\
        --label-names "1 star,2 stars,3 stars,4 stars,5 stars"
"""

from __future__ import annotations

import argparse

from recipekit.cli import add_instruction_argument, add_source_arguments, parse_names, script_parser
from recipekit.converters.command import run_converter, source_options
from recipekit.data.dataset_info import alpaca_entry
from recipekit.data.pipeline import Conversion, convert_table
from recipekit.data.readers import Record
from recipekit.data.rows import Example, Mapper, Skip, int_label, required_text
from recipekit.data.textclean import unescape_backslash_newlines

LABEL_NAMES = ("strong_negative", "negative", "neutral", "positive", "strong_positive")
ORIGINAL_COLUMNS = ["stars", "text"]
HUB_ID = "Yelp/yelp_review_full"


def instruction(names: list[str]) -> str:
    """The classification prompt listing the label names, lowest rating first."""
    return ("Read the following Yelp review and classify the reviewer's sentiment into exactly one of these five "
            f"levels, from most negative to most positive: {', '.join(names)}.\nAnswer with the level only.")


def level(record: Record) -> int:
    """Sentiment level 0-4 from an original row (stars 1-5) or a hub row (label 0-4)."""
    if "stars" in record.fields:
        return int_label(record.fields, "stars", 1, 5) - 1
    return int_label(record.fields, "label", 0, 4)


def mapper(names: list[str], prompt: str | None = None) -> Mapper:
    prompt = prompt or instruction(names)

    def to_example(record: Record) -> Example:
        label = level(record)
        text = unescape_backslash_newlines(required_text(record.fields, "text"))
        if not text:
            raise Skip("empty text", "text")
        return Example({"instruction": prompt, "input": text, "output": names[label]}, names[label])

    return to_example


def convert(args: argparse.Namespace) -> Conversion:
    """Read, map, split, sample, write and register; returns what was done."""
    names = parse_names(args.label_names, 5, "--label-names")
    return convert_table(source_options(args), mapper(names, args.instruction), alpaca_entry(),
                         headerless=ORIGINAL_COLUMNS, header_names={"label", "text"})


# pragma: no mutate start (argument parsing, like every command's)
def build_parser() -> argparse.ArgumentParser:
    parser = script_parser(__doc__)
    add_source_arguments(parser, "yelp5", HUB_ID, "original CSV folder (train.csv/test.csv)")
    parser.add_argument("--label-names", default=",".join(LABEL_NAMES),
                        help=f"five names, lowest rating first (default: {','.join(LABEL_NAMES)})")
    add_instruction_argument(parser, "a prompt listing the five label names")
    return parser
# pragma: no mutate end


def main(argv: list[str] | None = None) -> Conversion:
    return run_converter(convert, build_parser, argv)

