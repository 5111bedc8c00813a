"""AG News -> Alpaca JSONL for topic classification, registered in data/dataset_info.json.

Reads the original CSV release (headerless: class index 1-4, title, description), the hub layout
(`text`, `label` 0-3 as parquet/JSONL/CSV) or a hub id through `datasets.load_dataset`.

Example:
    python converters/agnews.py --input ../shared/data/ag_news_csv --max-samples 6600 --val-size 1000
    python converters/agnews.py --hf fancyzhx/ag_news --max-samples 6600 --val-size 1000
"""

from __future__ import annotations

import argparse
import html
import re
import sys
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from recipekit.cli import script_parser
from recipekit.convert import Skip, SkipCounter, stratified_sample, stratified_split, write_alpaca_dataset
from recipekit.errors import InputError, exit_on_input_error
from recipekit.tables import (
    Record,
    builder_for,
    csv_has_header,
    dataset_records,
    load_with_datasets,
    read_headerless_csv,
    split_files,
)

CLASS_NAMES = ("World", "Sports", "Business", "Sci/Tech")
PROMPT = (
    "Give you a news headline and corresponding summary description. Understanding this news and then "
    "classify it into one of the following four topics.\n1: World\n2: Sports\n3: Business\n4: Sci/Tech\n"
)
ORIGINAL_COLUMNS = ["class_index", "title", "description"]
HUB_ID = "fancyzhx/ag_news"

# The release lost the '&' of HTML entities, leaving a space: "doesn #39;t", "By  #36;10", " quot;".
_ENTITY = re.compile(r"(?: |^)(#\d+;|quot;|amp;|lt;|gt;)")
_LINE_BREAK = re.compile(r"\\n(?![a-z])|\\+")
_SPACES = re.compile(r"[ \t]+")


def clean_text(text: str) -> str:
    """Undo the release's escapes: backslash line breaks, HTML entities that lost their '&'."""
    text = _LINE_BREAK.sub("\n", text)
    text = _ENTITY.sub(r"&\1", text)
    text = html.unescape(text)
    lines = (_SPACES.sub(" ", line).strip() for line in text.split("\n"))
    return "\n".join(line for line in lines if line)


def label_from_original(record: Record) -> tuple[int, str]:
    """(label 0-3, text) from an original-CSV row: class index 1-4, title, description."""
    if not record.fields:
        raise Skip("wrong number of fields (expected class index, title, description)")
    raw = record.fields["class_index"].strip()
    if raw not in {"1", "2", "3", "4"}:
        raise Skip("class index not in 1-4", "class_index")
    text = " ".join((record.fields["title"], record.fields["description"]))
    return int(raw) - 1, text


def label_from_hub(record: Record) -> tuple[int, str]:
    """(label 0-3, text) from a hub-layout row: `text`, `label` 0-3."""
    for name in ("label", "text"):
        if record.fields.get(name) is None:
            raise Skip("missing value", name)
    label = record.fields["label"]
    if isinstance(label, str) and label.strip().isdigit():
        label = int(label)
    if not isinstance(label, int) or isinstance(label, bool) or not 0 <= label <= 3:
        raise Skip("label not in 0-3", "label")
    if not isinstance(record.fields["text"], str):
        raise Skip("text is not a string", "text")
    return label, record.fields["text"]


def read_split(records: list[Record], original: bool, skips: SkipCounter) -> list[tuple[int, str]]:
    """Map records to (label, cleaned text), counting every skipped row with its reason."""
    mapper = label_from_original if original else label_from_hub
    rows = []
    for record in records:
        try:
            label, text = mapper(record)
            text = clean_text(text)
            if not text:
                raise Skip("empty text", "text" if not original else "title/description")
        except Skip as skip:
            skips.add(skip.reason, record.where, skip.field_name)
            continue
        rows.append((label, text))
    return rows


def read_local(path: Path, skips: SkipCounter) -> tuple[list[tuple[int, str]], int]:
    """Read one local split file in the original or the hub layout; returns rows and rows read."""
    if path.suffix.lower() == ".csv" and not csv_has_header(path, {"text", "label"}):
        records = list(read_headerless_csv(path, ORIGINAL_COLUMNS))
        return read_split(records, original=True, skips=skips), len(records)
    builder = builder_for(path)
    dataset = load_with_datasets(builder, str(path))["train"]
    records = list(dataset_records(dataset, str(path)))
    return read_split(records, original=False, skips=skips), len(records)


def load_splits(source: str, from_hub: bool, skips: SkipCounter) -> tuple[dict[str, list[tuple[int, str]]], int]:
    """Split name -> rows, from a hub id, a folder of split files or one file; plus rows read."""
    splits: dict[str, list[tuple[int, str]]] = {}
    read = 0
    if from_hub:
        for split, dataset in sorted(load_with_datasets(source).items()):
            records = list(dataset_records(dataset, f"{source}[{split}]"))
            splits[split] = read_split(records, original=False, skips=skips)
            read += len(records)
        return splits, read
    path = Path(source)
    if not path.exists():
        raise InputError("no such file or folder", str(path))
    files = split_files(path) if path.is_dir() else {"train": path}
    for split, file in files.items():
        splits[split], count = read_local(file, skips)
        read += count
    return splits, read


def output_text(label: int, label_style: str) -> str:
    """'3: Business' (numbered, the report's style) or 'Business' (name)."""
    name = CLASS_NAMES[label]
    return f"{label + 1}: {name}" if label_style == "numbered" else name


def to_alpaca(rows: list[tuple[int, str]], label_style: str) -> list[dict[str, str]]:
    return [{"instruction": PROMPT, "input": text, "output": output_text(label, label_style)} for label, text in rows]


def convert(args: argparse.Namespace) -> dict[str, object]:
    """Run the conversion; returns counts for printing and tests."""
    skips = SkipCounter()
    splits, read = load_splits(args.hf or args.input, bool(args.hf), skips)
    if "train" in splits and "test" in splits:
        train_pool, val_pool = splits["train"], splits["test"]
        val_rows = [val_pool[i] for i in stratified_sample([r[0] for r in val_pool], args.val_size, args.seed)]
    else:
        only = splits.get("train", splits.get("test", next(iter(splits.values()))))
        rest, held = stratified_split([r[0] for r in only], args.val_size or 0, args.seed)
        train_pool, val_rows = [only[i] for i in rest], [only[i] for i in held]
    train_rows = [train_pool[i] for i in stratified_sample([r[0] for r in train_pool], args.max_samples, args.seed)]

    data_dir = Path(args.data_dir)
    written = {args.name: write_alpaca_dataset(data_dir, args.name, to_alpaca(train_rows, args.label_style))}
    if val_rows:
        val_name = f"{args.name}_val"
        written[val_name] = write_alpaca_dataset(data_dir, val_name, to_alpaca(val_rows, args.label_style))
    return {
        "read": read,
        "skipped": skips.total,
        "skips": skips,
        "written": {name: path for name, path in written.items()},
        "counts": {args.name: len(train_rows), f"{args.name}_val": len(val_rows)},
    }


def build_parser() -> argparse.ArgumentParser:
    parser = script_parser(__doc__)
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--input", help="original CSV folder (train.csv/test.csv), or one CSV/JSONL/parquet file")
    source.add_argument("--hf", metavar="HUB_ID", help=f"hub id read with datasets.load_dataset (e.g. {HUB_ID})")
    parser.add_argument("--name", default="agnews", help="dataset name; writes data/NAME.jsonl and NAME_val.jsonl")
    parser.add_argument("--data-dir", default="data", help="folder holding dataset_info.json (default: data)")
    parser.add_argument("--max-samples", type=int, help="stratified subset of this many training rows")
    parser.add_argument("--val-size", type=int, help="held-out rows (from the test split when there is a train split)")
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--label-style", choices=("numbered", "name"), default="numbered",
                        help="output '3: Business' (numbered, the report's) or 'Business' (name)")
    return parser


@exit_on_input_error
def main(argv: list[str] | None = None) -> dict[str, object]:
    args = build_parser().parse_args(argv)
    result = convert(args)
    print(f"read {result['read']} rows, skipped {result['skipped']}")
    for line in result["skips"].summary_lines():
        print(line)
    for name, path in result["written"].items():
        print(f"wrote {result['counts'][name]} rows to {path} (dataset '{name}')")
    return result


if __name__ == "__main__":
    main()
