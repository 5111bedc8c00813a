"""Reading raw tables: headerless CSVs with line numbers, and anything ``datasets`` loads.

Every row comes back as a :class:`Record` that knows where it came from, so a converter can
name the file and line of a bad row.
"""

from __future__ import annotations

import csv
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from recipekit.errors import InputError

# file suffix -> the `datasets` builder that reads it
BUILDERS = {".csv": "csv", ".tsv": "csv", ".jsonl": "json", ".json": "json", ".parquet": "parquet"}
SPLIT_NAMES = ("train", "validation", "dev", "test")


@dataclass(frozen=True)
class Record:
    """One raw row and where it came from (``file:line`` or ``source[split] row N``)."""

    where: str
    fields: dict[str, Any]


def read_headerless_csv(path: Path, columns: list[str]) -> Iterator[Record]:
    """Rows of a CSV without a header (doubled quotes, quoted newlines) with their line numbers.

    A row with the wrong number of fields is yielded with ``fields == {}`` so the caller can
    count it as a skip with its location.
    """
    with path.open(encoding="utf-8", newline="") as handle:
        reader = csv.reader(handle)
        start = 1
        for row in reader:
            where = f"{path}:{start}"
            start = reader.line_num + 1
            if not row:
                continue
            if len(row) != len(columns):
                yield Record(where, {})
                continue
            yield Record(where, dict(zip(columns, row, strict=True)))


def csv_has_header(path: Path, required: set[str]) -> bool:
    """True when the first CSV line names all ``required`` columns."""
    with path.open(encoding="utf-8", newline="") as handle:
        first = next(csv.reader(handle), [])
    return required.issubset({name.strip() for name in first})


def load_with_datasets(builder_or_id: str, data_files: str | None = None, **kwargs: Any) -> dict[str, Any]:
    """``datasets.load_dataset`` for a local file (builder + data_files) or a hub id; split -> Dataset."""
    import logging

    import datasets

    datasets.disable_progress_bars()
    datasets.logging.set_verbosity(logging.CRITICAL)  # failures are re-raised below with their cause
    try:
        if data_files is not None:
            if builder_or_id == "csv" and data_files.endswith(".tsv"):
                kwargs.setdefault("delimiter", "\t")
            loaded = datasets.load_dataset(builder_or_id, data_files={"train": data_files}, **kwargs)
        else:
            loaded = datasets.load_dataset(builder_or_id, **kwargs)
    except Exception as exc:  # datasets wraps parser errors; name the file and the root cause
        raise InputError(f"datasets could not load it: {root_cause(exc)}", data_files or builder_or_id) from None
    return dict(loaded)


def root_cause(exc: BaseException) -> str:
    """The messages of the exceptions chained under ``exc`` (innermost last), on one line."""
    messages: list[str] = []
    cause = exc.__cause__ or exc.__context__
    while cause is not None:
        text = " ".join(str(cause).split()) or type(cause).__name__
        if text not in messages:
            messages.append(text)
        cause = cause.__cause__ or cause.__context__
    return "; ".join(messages) or " ".join(str(exc).split())


def dataset_records(dataset: Any, source: str) -> Iterator[Record]:
    """Records of a ``datasets.Dataset``; JSONL rows are named by line, others by row number."""
    by_line = source.endswith(".jsonl")
    for index, row in enumerate(_rows(dataset)):
        where = f"{source}:{index + 1}" if by_line else f"{source} row {index + 1}"
        yield Record(where, row)


def _rows(dataset: Any) -> Iterator[dict[str, Any]]:
    for batch in dataset.iter(batch_size=2048):
        names = list(batch)
        for values in zip(*(batch[name] for name in names), strict=True):
            yield dict(zip(names, values, strict=True))


def split_files(folder: Path) -> dict[str, Path]:
    """Map split name -> file for ``train.csv``, ``test.parquet`` ... found in ``folder``."""
    found: dict[str, Path] = {}
    for split in SPLIT_NAMES:
        for suffix in BUILDERS:
            candidate = folder / f"{split}{suffix}"
            if candidate.is_file():
                found[split] = candidate
                break
    if not found:
        names = ", ".join(f"{s}{{{','.join(BUILDERS)}}}" for s in ("train", "test"))
        raise InputError(f"no split files found (looked for {names})", str(folder))
    return found


def builder_for(path: Path) -> str:
    """The `datasets` builder name for a local file, by suffix."""
    try:
        return BUILDERS[path.suffix.lower()]
    except KeyError:
        raise InputError(f"unsupported file type {path.suffix!r} (use {', '.join(BUILDERS)})", str(path)) from None
