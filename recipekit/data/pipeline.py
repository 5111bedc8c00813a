"""The conversion pipeline: read and map every split, select rows, write and register, print the summary."""

from __future__ import annotations

import argparse
from collections import Counter
from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from recipekit.data.dataset_info import upsert_dataset_entry
from recipekit.data.readers import read_source
from recipekit.data.rows import Example, Mapper, RowLog, map_records
from recipekit.data.splits import select_rows
from recipekit.errors import exit_on_input_error
from recipekit.files import write_jsonl


def write_dataset(data_dir: str | Path, name: str, rows: Sequence[dict[str, Any]], entry: dict[str, Any]) -> Path:
    """Write ``data_dir/name.jsonl`` atomically and upsert ``entry`` (its file name added) in dataset_info.json."""
    path = Path(data_dir) / f"{name}.jsonl"
    write_jsonl(path, rows)
    upsert_dataset_entry(Path(data_dir) / "dataset_info.json", name, {"file_name": path.name, **entry})
    return path


@dataclass
class Conversion:
    """What a converter did: rows read, the skip/repair log, files written with row counts, class balance."""

    read: int = 0
    log: RowLog = field(default_factory=RowLog)
    written: dict[str, tuple[Path, int]] = field(default_factory=dict)
    balance: dict[str, Counter[Hashable]] = field(default_factory=dict)

    @property
    def counts(self) -> dict[str, int]:
        return {name: count for name, (_, count) in self.written.items()}

    def write(self, data_dir: str | Path, name: str, examples: Sequence[Example], entry: dict[str, Any]) -> Path:
        """Write and register one dataset, remembering its row count and class balance."""
        path = write_dataset(data_dir, name, [e.row for e in examples], entry)
        self.written[name] = (path, len(examples))
        labels = [e.label for e in examples if e.label is not None]
        if labels:
            self.balance[name] = Counter(labels)
        return path

    def write_train_val(self, data_dir: str | Path, name: str, train: Sequence[Example], val: Sequence[Example],
                        entry: dict[str, Any]) -> None:
        """Write NAME and, when there are validation rows, NAME_val, both with ``entry``."""
        self.write(data_dir, name, train, entry)
        if val:
            self.write(data_dir, f"{name}_val", val, entry)

    def print(self) -> None:
        print(f"read {self.read} rows, skipped {self.log.total}")
        for line in self.log.summary_lines():
            print(line)
        for name, (path, count) in self.written.items():
            print(f"wrote {count} rows to {path} (dataset '{name}')")
            if name in self.balance:
                print("  class balance: " + ", ".join(f"{label} {n} ({n / count:.1%})"
                                                for label, n in sorted(self.balance[name].items(), key=str)))


def read_and_map(source: str, hub: bool, mapper: Mapper, conversion: Conversion,
                 **read_kwargs: Any) -> dict[str, list[Example]]:
    """Read every split of ``source`` and map it, adding to ``conversion``'s read count and log."""
    pools = {}
    for split, records in read_source(source, hub, **read_kwargs).items():
        conversion.read += len(records)
        pools[split] = map_records(records, mapper, conversion.log)
    return pools


def add_source_arguments(parser: argparse.ArgumentParser, name: str | None, hub_id: str, what: str) -> None:
    """The flags every converter shares: --input/--hf, --name, --data-dir, --max-samples, --val-size, --seed."""
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--input", help=f"{what}: a folder of split files (train/validation/dev/test) or one file")
    source.add_argument("--hf", metavar="HUB_ID", help=f"hub id read with datasets.load_dataset (e.g. {hub_id})")
    if name is None:
        parser.add_argument("--name", required=True, help="dataset name: writes DATA_DIR/NAME.jsonl")
    else:
        parser.add_argument("--name", default=name, help=f"dataset name: writes DATA_DIR/NAME.jsonl (default: {name})")
    parser.add_argument("--data-dir", default="data", help="folder holding dataset_info.json (default: data)")
    parser.add_argument("--max-samples", type=int, help="seeded (stratified where labeled) subset of training rows")
    parser.add_argument("--val-size", type=int,
                        help="validation rows (NAME_val), from the held-out split when there is one, else split off")
    parser.add_argument("--seed", type=int, default=42, help="seed of every sample and split (default: 42)")


@dataclass(frozen=True)
class SourceOptions:
    """The flags every converter shares (see :func:`add_source_arguments`), typed."""

    source: str
    hub: bool
    name: str
    data_dir: Path
    max_samples: int | None = None
    val_size: int | None = None
    seed: int = 42

    @classmethod
    def from_args(cls, args: argparse.Namespace) -> SourceOptions:
        """The shared flags out of a converter's parsed arguments."""
        return cls(args.hf or args.input, bool(args.hf), args.name, Path(args.data_dir), args.max_samples,
                   args.val_size, args.seed)


def convert_table(options: SourceOptions, mapper: Mapper, entry: dict[str, Any], **read_kwargs: Any) -> Conversion:
    """The whole run of a one-table converter: read the source, map, select train/validation, write both."""
    result = Conversion()
    pools = read_and_map(options.source, options.hub, mapper, result, **read_kwargs)
    train, val = select_rows(pools, options.max_samples, options.val_size, options.seed)
    result.write_train_val(options.data_dir, options.name, train, val, entry)
    return result


@exit_on_input_error
def run_converter(convert: Callable[[argparse.Namespace], Conversion],
                  build_parser: Callable[[], argparse.ArgumentParser], argv: list[str] | None) -> Conversion:
    """The body of every converter's ``main``: parse, convert, print the summary; bad input exits 2 in one line."""
    result = convert(build_parser().parse_args(argv))
    result.print()
    return result
