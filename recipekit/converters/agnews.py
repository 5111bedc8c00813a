"""AG News -> Alpaca JSONL for topic classification, registered in data/dataset_info.json.

Reads the original CSV release (headerless: class index 1-4, title, description), the hub layout
(`text`, `label` 0-3 as parquet/JSONL/CSV) or a hub id through `datasets.load_dataset`.

Example:
    llm-recipes convert agnews --input ../shared/data/ag_news_csv --max-samples 6600 --val-size 1000
    llm-recipes convert agnews --input ag_news_csv --name agnews_v1 --instruction "Classify it.\\n1: World\\n..."
    llm-recipes convert agnews --hf fancyzhx/ag_news --max-samples 6600 --val-size 1000
"""

from __future__ import annotations

import argparse

from recipekit.cli import add_instruction_argument, add_source_arguments, script_parser
from recipekit.converters.command import run_converter, source_options
from recipekit.data.dataset_info import alpaca_entry
from recipekit.data.pipeline import Conversion, convert_table
from recipekit.data.readers import Record
from recipekit.data.rows import Example, Skip, int_label, required_text
from recipekit.data.textclean import clean_release_text

CLASS_NAMES = ("World", "Sports", "Business", "Sci/Tech")
PROMPT = (
    "Give you a news headline and corresponding summary description. Understanding this news and then "
    "classify it into one of the following four topics.\n1: World\n2: Sports\n3: Business\n4: Sci/Tech\n"
)
ORIGINAL_COLUMNS = ["class_index", "title", "description"]
HUB_ID = "fancyzhx/ag_news"


def label_and_text(record: Record) -> tuple[int, str, str]:
    """(label 0-3, raw text, field to blame) from an original-CSV row or a hub-layout row."""
    fields = record.fields
    if "class_index" in fields:
        raw = fields["class_index"].strip()
        if raw not in {"1", "2", "3", "4"}:
            raise Skip("class index not in 1-4", "class_index")
        return int(raw) - 1, f"{fields['title']} {fields['description']}", "title/description"
    label = int_label(fields, "label", 0, 3)
    return label, required_text(fields, "text"), "text"


def mapper(label_style: str, instruction: str = PROMPT):
    """The row mapping for one label style, '3: Business' (numbered, the report's) or 'Business', and one
    instruction (the report's v2 prompt by default)."""
    outputs = [f"{i + 1}: {name}" if label_style == "numbered" else name for i, name in enumerate(CLASS_NAMES)]

    def to_example(record: Record) -> Example:
        label, text, blame = label_and_text(record)
        text = clean_release_text(text)
        if not text:
            raise Skip("empty text", blame)
        return Example({"instruction": instruction, "input": text, "output": outputs[label]}, outputs[label])

    return to_example


def convert(args: argparse.Namespace) -> Conversion:
    """Read, map, split, sample, write and register; returns what was done."""
    return convert_table(source_options(args), mapper(args.label_style, args.instruction), alpaca_entry(),
                         headerless=ORIGINAL_COLUMNS, header_names={"text", "label"})


# pragma: no mutate start (argument parsing, like every command's)
def build_parser() -> argparse.ArgumentParser:
    parser = script_parser(__doc__)
    add_source_arguments(parser, "agnews", HUB_ID, "original CSV folder (train.csv/test.csv)")
    parser.add_argument("--label-style", choices=("numbered", "name"), default="numbered",
                        help="output '3: Business' (numbered, the report's) or 'Business' (name)")
    add_instruction_argument(parser, "the report's v2 prompt", PROMPT)
    return parser
# pragma: no mutate end


def main(argv: list[str] | None = None) -> Conversion:
    return run_converter(convert, build_parser, argv)

