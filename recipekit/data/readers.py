"""Reading raw tables: CSV/TSV and JSONL with exact line numbers, JSON/parquet files and hub ids via `datasets`.

Every row comes back as a :class:`Record` that knows where it came from, so a converter can name the
file and line of a bad row. A row the reader itself cannot use (wrong number of CSV fields, a line that
is not JSON) carries a ``problem``; bytes that are not UTF-8 become U+FFFD and the field is listed in
``repaired``. The shared pipeline counts both.
"""

from __future__ import annotations

import contextlib
import csv
import json
import os
import re
import socket
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any, NamedTuple
from urllib.parse import urlparse

from recipekit.errors import InputError
from recipekit.files import paused_gc, text_encoding

# file suffix -> the `datasets` builder that reads it
BUILDERS = {".csv": "csv", ".tsv": "csv", ".jsonl": "json", ".json": "json", ".parquet": "parquet"}
SPLIT_NAMES = ("train", "validation", "dev", "test")
_SURROGATES = re.compile("[\ud800-\udfff]")
BROKEN_UTF8 = "broken UTF-8 or lone surrogate replaced with U+FFFD"
CSV_FIELD_LIMIT = 2**31 - 1  # csv's cap on a field (its default is 128 KiB): a C long holds it everywhere


class Record(NamedTuple):
    """One raw row, where it came from (``file:line`` or ``source[split] row N``) and what the reader saw."""

    where: str
    fields: dict[str, Any]
    problem: str | None = None
    repaired: tuple[str, ...] = ()


def repair_text(value: str) -> tuple[str, bool]:
    """Replace lone surrogates (undecodable bytes read with surrogateescape, bad JSON escapes) by U+FFFD."""
    if value.isascii() or not _SURROGATES.search(value):
        return value, False
    return _SURROGATES.sub("\ufffd", value), True


def _delimiter(path: Path) -> str:
    return "\t" if path.suffix.lower() == ".tsv" else ","


def csv_reader(handle: Iterable[str], path: Path) -> Any:
    """``csv.reader`` over a CSV/TSV file with no cap on a field's size (the module's default is 128 KiB; pandas
    and ``datasets`` read longer fields)."""
    csv.field_size_limit(CSV_FIELD_LIMIT)
    return csv.reader(handle, delimiter=_delimiter(path))


def read_csv(path: Path, columns: list[str] | None = None) -> Iterator[Record]:
    """CSV/TSV rows with the line each starts on (doubled quotes and quoted newlines handled).

    ``columns`` names the fields of a headerless file; otherwise the first line is the header.
    """
    with path.open(encoding=text_encoding(path), errors="surrogateescape", newline="") as handle:
        reader = csv_reader(handle, path)
        start = 1
        if columns is None:
            header = next(reader, None)
            if header is None:
                raise InputError("empty file (expected a header line)", str(path))
            columns = [name.strip() for name in header]
            start = reader.line_num + 1
        width = len(columns)
        name = str(path)
        for row in reader:
            where = f"{name}:{start}"
            start = reader.line_num + 1
            if not row:
                continue
            if len(row) != width:
                yield Record(where, {}, f"wrong number of fields ({len(row)}, expected {width}: {', '.join(columns)})")
                continue
            if "".join(row).isascii():
                yield Record(where, dict(zip(columns, row, strict=True)))
                continue
            repaired = []
            for index, value in enumerate(row):
                row[index], changed = repair_text(value)
                if changed:
                    repaired.append(columns[index])
            yield Record(where, dict(zip(columns, row, strict=True)), None, tuple(repaired))


def csv_has_header(path: Path, required: set[str]) -> bool:
    """True when the first CSV line names all ``required`` columns."""
    with path.open(encoding=text_encoding(path), errors="surrogateescape", newline="") as handle:
        first = next(csv_reader(handle, path), [])
    return required.issubset({name.strip() for name in first})


def read_json_lines(path: Path) -> Iterator[Record]:
    """JSONL rows by line number; a line that is not a JSON object is a Record with a problem."""
    with path.open(encoding=text_encoding(path), errors="surrogateescape") as handle:
        for number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            where = f"{path}:{number}"
            line, broken = repair_text(line)
            try:
                obj = json.loads(line)
            except json.JSONDecodeError as exc:
                yield Record(where, {}, f"not valid JSON ({exc.msg})")
                continue
            if not isinstance(obj, dict):
                yield Record(where, {}, "not a JSON object")
                continue
            yield Record(where, obj, None, ("(line)",) if broken else ())


def is_json_lines(path: Path) -> bool:
    """A ``.json`` file holding one object per line (CLUE's layout) rather than one JSON array."""
    with path.open(encoding=text_encoding(path), errors="replace") as handle:
        for line in handle:
            if line.strip():
                return not line.lstrip().startswith("[")
    return True


def read_file(path: Path, headerless: list[str] | None = None, header_names: Iterable[str] = ()) -> list[Record]:
    """All records of one local file. ``headerless`` names the columns of a CSV whose first line is not a
    header naming ``header_names`` (the original releases of AG News and Yelp have no header)."""
    suffix = path.suffix.lower()
    if suffix not in BUILDERS:
        raise InputError(f"unsupported file type {path.suffix!r} (use {', '.join(BUILDERS)})", str(path))
    if suffix in (".csv", ".tsv"):
        has_header = headerless is None or csv_has_header(path, set(header_names))
        with paused_gc():
            return list(read_csv(path, None if has_header else headerless))
    if suffix == ".jsonl" or (suffix == ".json" and is_json_lines(path)):
        with paused_gc():
            return list(read_json_lines(path))
    dataset = load_with_datasets(BUILDERS[suffix], str(path))["train"]
    return list(dataset_records(dataset, str(path)))


def read_source(source: str, hub: bool = False, headerless: list[str] | None = None,
                header_names: Iterable[str] = (), split_names: Iterable[str] = SPLIT_NAMES,
                hub_splits: Iterable[str] | None = None, **hub_kwargs: Any) -> dict[str, list[Record]]:
    """Split name -> records from a hub id (``datasets.load_dataset``), a folder of split files or one file.

    One file is the split its name says (``test.jsonl`` -> test), else ``train``. ``hub_splits`` loads
    only those splits of a hub dataset.
    """
    if hub:
        loaded = load_with_datasets(source, splits=tuple(hub_splits) if hub_splits else None, **hub_kwargs)
        return {split: list(dataset_records(dataset, f"{source}[{split}]"))
                for split, dataset in sorted(loaded.items())}
    path = Path(source)
    if not path.exists():
        raise InputError("no such file or folder", str(path))
    names = tuple(split_names)
    files = split_files(path, names) if path.is_dir() else {path.stem if path.stem in names else "train": path}
    return {split: read_file(file, headerless, header_names) for split, file in files.items()}


def load_with_datasets(builder_or_id: str, data_files: str | None = None, splits: tuple[str, ...] | None = None,
                       **kwargs: Any) -> dict[str, Any]:
    """``datasets.load_dataset`` for a local file (builder + data_files) or a hub id; split -> Dataset.

    ``splits`` loads only those splits of a hub dataset.
    """
    import logging

    import datasets

    datasets.disable_progress_bars()
    datasets.logging.set_verbosity(logging.CRITICAL)  # failures are re-raised below with their cause
    local = data_files is not None or Path(builder_or_id).exists()
    if local:  # datasets' cache key of a local folder misses edits to its files: always read them afresh
        kwargs.setdefault("download_mode", "force_redownload")
    offline = not local and not hub_reachable()
    # offline, only the local cache can answer: datasets must not retry the network for half a minute
    with hub_offline(offline):
        try:
            if data_files is not None:
                if builder_or_id == "csv" and data_files.endswith(".tsv"):
                    kwargs.setdefault("delimiter", "\t")
                loaded = datasets.load_dataset(builder_or_id, data_files={"train": data_files}, **kwargs)
            elif splits:
                parts = datasets.load_dataset(builder_or_id, split=list(splits), **kwargs)
                loaded = dict(zip(splits, parts, strict=True))
            else:
                loaded = datasets.load_dataset(builder_or_id, **kwargs)
        except Exception as exc:  # datasets wraps parser errors; name the file and the root cause
            if offline:
                raise InputError("the hub is unreachable and this dataset is not in the local datasets cache: load "
                                 "it once where the hub is reachable, or pass --input with a local copy of its files",
                                 builder_or_id) from None
            raise InputError(f"datasets could not load it: {root_cause(exc)}", data_files or builder_or_id) \
                from None
    return dict(loaded)


@contextlib.contextmanager
def hub_offline(offline: bool = True) -> Iterator[None]:
    """While inside, ``datasets`` and ``huggingface_hub`` answer from the local cache only (when ``offline``), even
    if already imported; their settings and the environment are put back on leaving."""
    if not offline:
        yield
        return
    import datasets
    import huggingface_hub.constants

    names = ("HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE")
    saved = {name: os.environ.get(name) for name in names}, datasets.config.HF_HUB_OFFLINE, \
        huggingface_hub.constants.HF_HUB_OFFLINE
    os.environ.update(dict.fromkeys(names, "1"))
    datasets.config.HF_HUB_OFFLINE = huggingface_hub.constants.HF_HUB_OFFLINE = True
    try:
        yield
    finally:
        environment, datasets.config.HF_HUB_OFFLINE, huggingface_hub.constants.HF_HUB_OFFLINE = saved
        for name, value in environment.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def hub_reachable(timeout: float = 3.0) -> bool:
    """Whether the hub (``HF_ENDPOINT``, default huggingface.co) accepts a connection; False in offline mode."""
    if os.environ.get("HF_HUB_OFFLINE", "0") not in ("0", "") or os.environ.get("HF_DATASETS_OFFLINE", "0") not in (
            "0", ""):
        return False
    endpoint = urlparse(os.environ.get("HF_ENDPOINT", "https://huggingface.co"))
    try:
        socket.create_connection((endpoint.hostname or "huggingface.co", endpoint.port or 443), timeout).close()
    except OSError:
        return False
    return True


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


def split_files(folder: Path, split_names: tuple[str, ...] = SPLIT_NAMES) -> dict[str, Path]:
    """Map split name -> file for ``train.csv``, ``test.parquet`` ... found in ``folder``."""
    found: dict[str, Path] = {}
    for split in split_names:
        for suffix in BUILDERS:
            candidate = folder / f"{split}{suffix}"
            if candidate.is_file():
                found[split] = candidate
                break
    if not found:
        names = ", ".join(f"{s}{{{','.join(BUILDERS)}}}" for s in split_names)
        raise InputError(f"no split files found (looked for {names})", str(folder))
    return found
