"""Any CSV/TSV/JSONL/JSON/parquet table or hub dataset -> Alpaca or ShareGPT JSONL, from flags only.

The user turn is a fixed --instruction plus the text of --input-column, or a --template filled from the
row's columns ({title}, {text} ...). The answer is --output-column, mapped through --label-map
(`0=World,1=Sports`) for classification; then rows are split off and sampled stratified by answer.
A row with a missing column, a value that is not text (a number where text is read; --output-column may
hold integer class ids), an empty answer or a label outside the map is skipped and counted.
Preference pairs: --chosen-column and --rejected-column instead of --output-column write Alpaca ranking rows
(for DPO); their --test-size rows keep the chosen answer as the reference a generation is scored against.

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

from recipekit.cli import add_source_arguments, at_least, parse_pairs, script_parser
from recipekit.converters.command import run_converter, source_options
from recipekit.data.dataset_info import alpaca_entry, alpaca_ranking_entry, sharegpt_entry
from recipekit.data.pipeline import Conversion, read_and_map
from recipekit.data.readers import Record
from recipekit.data.rows import Example, Mapper, Skip, required_text
from recipekit.data.splits import select_rows, stratified_split
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


def label_of(fields: dict[str, Any], name: str) -> str:
    """The answer or raw label of --output-column: text, or an integer class id (as hub and parquet labels are)
    as its digits; any other value (a float, a list) is a Skip naming the field."""
    value = fields.get(name)
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    return required_text(fields, name)


def mapper(args: argparse.Namespace) -> Mapper:
    label_map = parse_label_map(args.label_map)
    names = template_fields(args.template) if args.template else []

    def to_example(record: Record) -> Example:
        fields = record.fields
        if args.template:
            query = args.template.format_map({name: required_text(fields, name) for name in names})
        else:
            query = required_text(fields, args.input_column) if args.input_column else ""
        if args.chosen_column:
            chosen, rejected = (required_text(fields, c).strip() for c in (args.chosen_column, args.rejected_column))
            if not chosen or not rejected:
                raise Skip("empty answer", args.chosen_column if not chosen else args.rejected_column)
            if chosen == rejected:
                raise Skip("chosen equals rejected (no preference)", args.chosen_column)
            return Example({"instruction": args.instruction or "", "input": query, "chosen": chosen,
                            "rejected": rejected})
        raw = label_of(fields, args.output_column).strip()
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
    pairs = bool(args.chosen_column or args.rejected_column)
    if pairs and not (args.chosen_column and args.rejected_column):
        raise InputError("give both --chosen-column and --rejected-column (a preference pair)")
    if pairs == bool(args.output_column):
        raise InputError("give --output-column, or --chosen-column and --rejected-column (preference pairs)")
    if pairs and args.format != "alpaca":
        raise InputError("preference pairs are written as Alpaca ranking rows: leave out --format sharegpt")
    entry = alpaca_ranking_entry() if pairs else alpaca_entry() if args.format == "alpaca" else \
        sharegpt_entry("messages")
    options, result = source_options(args), Conversion()
    pools = read_and_map(options.source, options.hub, mapper(args), result)
    test = split_test(pools, args.test_size or 0, options.seed)
    train, val = select_rows(pools, options.max_samples, options.val_size, options.seed)
    result.write_train_val(options.data_dir, options.name, train, val, entry)
    if test:
        reference = [Example({"instruction": e.row["instruction"], "input": e.row["input"], "output": e.row["chosen"]})
                     for e in test] if pairs else test  # pairs carry no label
        result.write(options.data_dir, f"{options.name}_test", reference, alpaca_entry() if pairs else entry)
    return result


def split_test(pools: dict[str, list[Example]], size: int, seed: int) -> list[Example]:
    """``size`` rows split off the training rows (stratified by answer where labeled) for NAME_test; the
    training pool keeps the rest."""
    if not size:
        return []
    split = "train" if "train" in pools else next(iter(pools), None)
    if split is None:
        return []
    rows = pools[split]
    rest, held = stratified_split([e.label for e in rows], size, seed)
    pools[split] = [rows[i] for i in rest]
    return [rows[i] for i in held]


# pragma: no mutate start (argument parsing, like every command's)
def build_parser() -> argparse.ArgumentParser:
    parser = script_parser(__doc__)
    add_source_arguments(parser, None, "stanfordnlp/imdb", "a table")
    parser.add_argument("--format", choices=("alpaca", "sharegpt"), default="alpaca")
    parser.add_argument("--instruction", help="fixed instruction text for every row")
    parser.add_argument("--input-column", help="column whose text follows the instruction")
    parser.add_argument("--template", help="user text built from columns, e.g. 'Title: {title}\\nBody: {body}'")
    parser.add_argument("--output-column", help="column holding the answer or raw label")
    parser.add_argument("--chosen-column", help="preference pairs: column of the preferred answer")
    parser.add_argument("--rejected-column", help="preference pairs: column of the answer not preferred")
    parser.add_argument("--test-size", type=at_least(0),
                        help="test rows (NAME_test), split off the training rows before --val-size and --max-samples")
    parser.add_argument("--label-map", help="raw label -> answer, e.g. '0=World,1=Sports,2=Business'")
    parser.add_argument("--system", help="system message (sharegpt only)")
    parser.add_argument("--stratify", action="store_true",
                        help="stratify splits by answer without a --label-map (on with a --label-map)")
    return parser
# pragma: no mutate end


def main(argv: list[str] | None = None) -> Conversion:
    return run_converter(convert, build_parser, argv)

