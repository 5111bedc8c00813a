"""The shared conversion core: map records, count skips and repairs, split and sample, write and register.

A dataset module declares only how one raw record becomes an :class:`Example` (raising :class:`Skip`
with a reason for rows it cannot use); everything else lives here.
"""

from __future__ import annotations

import argparse
from collections import Counter
from collections.abc import Callable, Hashable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple

from recipekit.errors import InputError, exit_on_input_error
from recipekit.files import write_jsonl
from recipekit.gcpause import paused_gc
from recipekit.registry import upsert_dataset_entry
from recipekit.tables import BROKEN_UTF8, Record, read_source

EXAMPLES_PER_REASON = 3
HELD_OUT_SPLITS = ("validation", "dev", "test")


class Skip(Exception):
    """Raised by a row mapping: the row is skipped and counted under ``reason``."""

    def __init__(self, reason: str, field_name: str | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.field_name = field_name


class Example(NamedTuple):
    """One output row, its class (for stratified splits and balance; None when unlabeled) and its repairs."""

    row: dict[str, Any]
    label: Hashable | None = None
    fixes: tuple[tuple[str, str], ...] = ()  # (reason, field) of changes made to keep the row


@dataclass
class RowLog:
    """Counts skipped rows and repaired fields by reason, keeping the first few locations of each."""

    counts: Counter[str] = field(default_factory=Counter)
    examples: dict[str, list[str]] = field(default_factory=dict)
    fixes: Counter[str] = field(default_factory=Counter)
    fix_examples: dict[str, list[str]] = field(default_factory=dict)
    omitted: Counter[str] = field(default_factory=Counter)
    omit_examples: dict[str, list[str]] = field(default_factory=dict)

    def add(self, reason: str, where: str, field_name: str | None = None) -> None:
        """Count one skipped row."""
        self.counts[reason] += 1
        _remember(self.examples, reason, where, field_name)

    def fix(self, reason: str, where: str, field_name: str | None = None) -> None:
        """Count one repair of a row that is kept."""
        self.fixes[reason] += 1
        _remember(self.fix_examples, reason, where, field_name)

    def omit(self, reason: str, where: str, field_name: str | None = None) -> None:
        """Count one kept row left out of one of the outputs (e.g. a tie from a preference set)."""
        self.omitted[reason] += 1
        _remember(self.omit_examples, reason, where, field_name)

    @property
    def total(self) -> int:
        return sum(self.counts.values())

    def summary_lines(self) -> list[str]:
        lines = [f"  skipped {n} row(s): {reason}; e.g. {'; '.join(self.examples[reason])}"
                 for reason, n in sorted(self.counts.items())]
        lines += [f"  repaired {n} time(s), row kept: {reason}; e.g. {'; '.join(self.fix_examples[reason])}"
                  for reason, n in sorted(self.fixes.items())]
        lines += [f"  left out {n} row(s): {reason}; e.g. {'; '.join(self.omit_examples[reason])}"
                  for reason, n in sorted(self.omitted.items())]
        return lines


def _remember(store: dict[str, list[str]], reason: str, where: str, field_name: str | None) -> None:
    shown = store.setdefault(reason, [])
    if len(shown) < EXAMPLES_PER_REASON:
        shown.append(f"{where} (field {field_name})" if field_name else where)


Mapper = Callable[[Record], Example]


def map_records(records: Iterable[Record], mapper: Mapper, log: RowLog) -> list[Example]:
    """Apply ``mapper`` to every record; reader problems and Skips are counted, repairs logged."""
    examples = []
    with paused_gc():
        for record in records:
            if record.problem:
                log.add(record.problem, record.where)
                continue
            try:
                example = mapper(record)
            except Skip as skip:
                log.add(skip.reason, record.where, skip.field_name)
                continue
            for name in record.repaired:
                log.fix(BROKEN_UTF8, record.where, name)
            for reason, name in example.fixes:
                log.fix(reason, record.where, name)
            examples.append(example)
    return examples


def stratified_sample(labels: Sequence[Hashable], size: int | None, seed: int) -> list[int]:
    """Indices of a seeded, label-stratified subset of ``size`` rows (all rows, shuffled, if None or too big)."""
    import numpy as np
    from sklearn.model_selection import train_test_split

    indices = np.arange(len(labels))
    if size is None or size >= len(labels):
        return np.random.default_rng(seed).permutation(indices).tolist()
    if size <= 0:
        return []
    stratify = _stratify(labels)
    picked, _ = train_test_split(indices, train_size=size, stratify=stratify, random_state=seed)
    return picked.tolist()


def stratified_split(labels: Sequence[Hashable], test_size: int, seed: int) -> tuple[list[int], list[int]]:
    """Seeded, label-stratified disjoint (rest, held_out) index lists with ``test_size`` held out."""
    import numpy as np
    from sklearn.model_selection import train_test_split

    indices = np.arange(len(labels))
    if test_size <= 0:
        return np.random.default_rng(seed).permutation(indices).tolist(), []
    if test_size >= len(labels):
        raise InputError(f"cannot hold out {test_size} rows from {len(labels)} usable rows (lower --val-size)")
    rest, held_out = train_test_split(indices, test_size=test_size, stratify=_stratify(labels), random_state=seed)
    return rest.tolist(), held_out.tolist()


def _stratify(labels: Sequence[Hashable]) -> list[Hashable] | None:
    """Labels to stratify by: None when unlabeled; an error naming a class too small to split."""
    if all(label is None for label in labels):
        return None
    rare = [str(label) for label, n in Counter(labels).items() if n < 2]
    if rare:
        raise InputError(f"cannot stratify: class {', '.join(sorted(rare))} has only one row (add rows or lower "
                         "--max-samples/--val-size)")
    return list(labels)


def select_rows(pools: dict[str, list[Example]], max_samples: int | None, val_size: int | None, seed: int,
                held_out_splits: Sequence[str] = HELD_OUT_SPLITS) -> tuple[list[Example], list[Example]]:
    """(train, validation) rows: validation is sampled from a held-out split when there is one next to
    ``train``, else ``val_size`` rows are split off; then ``max_samples`` training rows are sampled."""
    held_name = next((name for name in held_out_splits if name in pools), None)
    if "train" in pools and held_name is not None:
        train_pool, val_pool = pools["train"], pools[held_name]
        val = [val_pool[i] for i in stratified_sample([e.label for e in val_pool], val_size, seed)]
    else:
        only = pools.get("train") if "train" in pools else pools.get(held_name or "", [])
        rest, held = stratified_split([e.label for e in only], val_size or 0, seed)
        train_pool, val = [only[i] for i in rest], [only[i] for i in held]
    train = [train_pool[i] for i in stratified_sample([e.label for e in train_pool], max_samples, seed)]
    return train, val


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


def parse_label_names(text: str, count: int, flag: str) -> list[str]:
    """``a,b,c`` -> names, exactly ``count`` distinct non-empty ones."""
    names = [name.strip() for name in text.split(",")]
    if len(names) != count or len(set(names)) != count or not all(names):
        raise InputError(f"{flag} needs {count} distinct comma-separated names, got {text!r}")
    return names


def required(fields: dict[str, Any], name: str) -> Any:
    """``fields[name]``, or a Skip('missing value') naming the field."""
    value = fields.get(name)
    if value is None:
        raise Skip("missing value", name)
    return value


def required_text(fields: dict[str, Any], name: str) -> str:
    """A string field, or a Skip for a missing or non-string value."""
    value = required(fields, name)
    if not isinstance(value, str):
        raise Skip(f"{name} is not a string", name)
    return value


def int_label(fields: dict[str, Any], name: str, low: int, high: int) -> int:
    """An integer label in ``low..high`` (ints or digit strings), or a Skip naming the field."""
    value = required(fields, name)
    if isinstance(value, str) and value.strip().lstrip("-").isdigit():
        value = int(value)
    if not isinstance(value, int) or isinstance(value, bool) or not low <= value <= high:
        raise Skip(f"{name} not in {low}-{high}", name)
    return value


def convert_table(args: argparse.Namespace, mapper: Mapper, entry: dict[str, Any], **read_kwargs: Any) -> Conversion:
    """The whole run of a one-table converter: read --input/--hf, map, select train/validation, write both."""
    result = Conversion()
    pools = read_and_map(args.hf or args.input, bool(args.hf), mapper, result, **read_kwargs)
    train, val = select_rows(pools, args.max_samples, args.val_size, args.seed)
    result.write_train_val(args.data_dir, args.name, train, val, entry)
    return result


@exit_on_input_error
def run_converter(convert: Callable[[argparse.Namespace], Conversion],
                  build_parser: Callable[[], argparse.ArgumentParser], argv: list[str] | None) -> Conversion:
    """The body of every converter's ``main``: parse, convert, print the summary; bad input exits 2 in one line."""
    result = convert(build_parser().parse_args(argv))
    result.print()
    return result
