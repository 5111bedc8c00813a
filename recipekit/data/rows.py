"""Rows: how a dataset module maps one raw record to an output row, and the log of skips and repairs."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Hashable, Iterable
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from recipekit.data.readers import BROKEN_UTF8, Record
from recipekit.errors import InputError
from recipekit.files import paused_gc
from recipekit.text import clip

EXAMPLES_PER_REASON = 3


class Skip(Exception):
    """Raised by a row mapping: the row is skipped and counted under ``reason`` (the log shows the field's
    value beside the row's location)."""

    def __init__(self, reason: str, field_name: str | None = None, detail: str | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.field_name = field_name
        self.detail = detail  # where in the value (a JSON error's position), shown beside the value


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

    def add(self, reason: str, where: str, field_name: str | None = None, value: str | None = None) -> None:
        """Count one skipped row (``value``: the offending value, already shown)."""
        self.counts[reason] += 1
        _remember(self.examples, reason, where, field_name, value)

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


def _remember(store: dict[str, list[str]], reason: str, where: str, field_name: str | None,
              value: str | None = None) -> None:
    kept = store.setdefault(reason, [])
    if len(kept) < EXAMPLES_PER_REASON:
        field_text = f" = {clip(value, 80, flatten=False)}" if value is not None else ""
        kept.append(f"{where} (field {field_name}{field_text})" if field_name else where)


Mapper = Callable[[Record], Example]


def map_records(records: Iterable[Record], mapper: Mapper, log: RowLog) -> list[Example]:
    """Apply ``mapper`` to every record; reader problems and Skips are counted (with the field's value),
    repairs logged. When no row maps because rows lack a column the mapping asks for (wrong column names),
    that is an error naming the column and the columns the rows have."""
    examples = []
    absent: Counter[str] = Counter()
    found: dict[str, Any] = {}
    with paused_gc():
        for record in records:
            if record.problem:
                log.add(record.problem, record.where)
                continue
            try:
                example = mapper(record)
            except Skip as skip:
                name = skip.field_name
                if name in record.fields:
                    value = clip(repr(record.fields[name]), 40, flatten=False, ellipsis="...")
                    log.add(skip.reason, record.where, name, f"{value}, {skip.detail}" if skip.detail else value)
                else:
                    log.add(skip.reason, record.where, name)
                    if name and record.fields:
                        absent[name] += 1
                        found = found or {"where": record.where, "columns": list(record.fields)}
                continue
            for name in record.repaired:
                log.fix(BROKEN_UTF8, record.where, name)
            for reason, name in example.fixes:
                log.fix(reason, record.where, name)
            examples.append(example)
    if not examples and absent:
        name = absent.most_common(1)[0][0]
        source = found["where"].rsplit(":", 1)[0] if ":" in found["where"] else found["where"]
        raise InputError(f"no row could be used: {absent[name]} row(s) have no column {name!r} (columns found: "
                         f"{', '.join(map(str, found['columns']))})", source)
    return examples


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
