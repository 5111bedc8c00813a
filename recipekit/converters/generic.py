"""Any CSV/TSV/JSONL/JSON/parquet table or hub dataset -> Alpaca or ShareGPT JSONL, from flags only.

The user turn is a fixed --instruction plus the text of --input-column, or a --template filled from the
row's columns ({title}, {text} ...). The answer is --output-column, mapped through --label-map
(`0=World,1=Sports`) for classification; then rows are split off and sampled stratified by answer.
A row with a missing column, an empty answer or a label outside the map is skipped and counted.

Example:
    llm-recipes convert generic --input reviews.csv --name reviews --instruction "Rate the sentiment." \\
        --input-column text --output-column label --label-map "0=negative,1=positive" --val-size 500
    llm-recipes convert generic --hf stanfordnlp/imdb --format sharegpt --template "Review: {text}\\nPositive?" \\
        --output-column label --label-map "0=no,1=yes" --max-samples 2000 --name imdb
"""

from __future__ import annotations

import argparse
import string
from typing import Any

from recipekit.cli import parse_pairs, script_parser
from recipekit.data.dataset_info import alpaca_entry, sharegpt_entry
from recipekit.data.pipeline import Conversion, add_source_arguments, convert_table, run_converter
from recipekit.data.readers import Record
from recipekit.data.rows import Example, Mapper, Skip
from recipekit.errors import InputError


def parse_label_map(text: str | None) -> dict[str, str] | None:
    """``0=World,1=Sports`` -> {"0": "World", "1": "Sports"}."""
    return parse_pairs(text, "--label-map", "RAW=NAME") if text else None


def template_fields(template: str) -> list[str]:
    """The column names a --template uses."""
    try:
        return [name for _, name, _, _ in string.Formatter().parse(template) if name]
    except ValueError as exc:
        raise InputError(f"--template is not a valid format string ({exc})") from None


def text_of(fields: dict[str, Any], name: str) -> str:
    value = fields.get(name)
    if value is None:
        raise Skip("missing value", name)
    return value if isinstance(value, str) else str(value)


def mapper(args: argparse.Namespace) -> Mapper:
    label_map = parse_label_map(args.label_map)
    names = template_fields(args.template) if args.template else []

    def to_example(record: Record) -> Example:
        fields = record.fields
        if args.template:
            query = args.template.format_map({name: text_of(fields, name) for name in names})
        else:
            query = text_of(fields, args.input_column) if args.input_column else ""
        raw = text_of(fields, args.output_column).strip()
        if label_map is not None:
            if raw not in label_map:
                raise Skip("label not in --label-map", args.output_column)
            answer = label_map[raw]
        else:
            answer = raw
        if not answer:
            raise Skip("empty answer", args.output_column)
        if not (args.instruction or query).strip():
            raise Skip("empty prompt", args.input_column or "template")
        label = answer if label_map is not None or args.stratify else None
        if args.format == "alpaca":
            return Example({"instruction": args.instruction or "", "input": query, "output": answer}, label)
        user = "\n\n".join(part for part in (args.instruction, query) if part)
        messages = ([{"role": "system", "content": args.system}] if args.system else []) + [
            {"role": "user", "content": user}, {"role": "assistant", "content": answer}]
        return Example({"messages": messages}, label)

    return to_example


def convert(args: argparse.Namespace) -> Conversion:
    """Map every row from the flags, split, sample, write and register; returns what was done."""
    if not (args.instruction or args.template or args.input_column):
        raise InputError("give --instruction, --input-column or --template (what the model reads)")
    if args.template and args.input_column:
        raise InputError("give --input-column or --template, not both")
    if args.system and args.format == "alpaca":
        raise InputError("--system needs --format sharegpt")
    entry = alpaca_entry() if args.format == "alpaca" else sharegpt_entry("messages")
    return convert_table(args, mapper(args), entry)


def build_parser() -> argparse.ArgumentParser:
    parser = script_parser(__doc__)
    add_source_arguments(parser, None, "stanfordnlp/imdb", "a table")
    parser.add_argument("--format", choices=("alpaca", "sharegpt"), default="alpaca")
    parser.add_argument("--instruction", help="fixed instruction text for every row")
    parser.add_argument("--input-column", help="column whose text follows the instruction")
    parser.add_argument("--template", help="user text built from columns, e.g. 'Title: {title}\\nBody: {body}'")
    parser.add_argument("--output-column", required=True, help="column holding the answer or raw label")
    parser.add_argument("--label-map", help="raw label -> answer, e.g. '0=World,1=Sports,2=Business'")
    parser.add_argument("--system", help="system message (sharegpt only)")
    parser.add_argument("--stratify", action="store_true",
                        help="stratify splits by answer without a --label-map (on with a --label-map)")
    return parser


def main(argv: list[str] | None = None) -> Conversion:
    return run_converter(convert, build_parser, argv)

