"""Atomic writes, line-numbered JSONL reading, and a paused garbage collector for loops that build many rows."""

from __future__ import annotations

import contextlib
import gc
import hashlib
import json
import os
import tempfile
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from recipekit.errors import InputError


def atomic_write_bytes(path: str | os.PathLike[str], data: bytes) -> None:
    """Write ``data`` to a temp file beside ``path`` and rename it over ``path``."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def atomic_write_text(path: str | os.PathLike[str], text: str) -> None:
    """Atomically write UTF-8 text."""
    atomic_write_bytes(path, text.encode("utf-8"))


def dumps_json(obj: Any) -> str:
    """The one JSON style for files we write: indented, UTF-8, trailing newline."""
    return json.dumps(obj, ensure_ascii=False, indent=2) + "\n"


def write_json(path: str | os.PathLike[str], obj: Any) -> None:
    """Atomically write ``obj`` as indented JSON."""
    atomic_write_text(path, dumps_json(obj))


_COMPACT = json.JSONEncoder(ensure_ascii=False)  # one encoder: json.dumps(**kwargs) builds a new one per call


def jsonl_lines(rows: Iterable[dict[str, Any]]) -> Iterator[str]:
    """Each row as ``json.dumps(row, ensure_ascii=False) + "\\n"``, byte for byte.

    A value that is the very same object as in the previous row (a shared instruction, say) reuses its
    encoding instead of escaping it again.
    """
    encode = _COMPACT.encode
    previous: dict[str, tuple[Any, str]] = {}
    keys: dict[str, str] = {}
    for row in rows:
        if not all(type(key) is str for key in row):
            yield encode(row) + "\n"
            continue
        parts = []
        for key, value in row.items():
            seen = previous.get(key)
            if seen is not None and seen[0] is value:
                text = seen[1]
            else:
                text = encode(value)
                previous[key] = (value, text)
            name = keys.get(key)
            if name is None:
                name = keys[key] = encode(key)
            parts.append(f"{name}: {text}")
        yield "{" + ", ".join(parts) + "}\n"


def write_jsonl(path: str | os.PathLike[str], rows: Iterable[dict[str, Any]]) -> int:
    """Atomically write one compact JSON object per line (as json.dumps(ensure_ascii=False)); returns the count."""
    lines = list(jsonl_lines(rows))
    atomic_write_text(path, "".join(lines))
    return len(lines)


def read_jsonl(path: str | os.PathLike[str]) -> Iterator[tuple[int, dict[str, Any]]]:
    """Yield ``(line_number, object)`` for each non-blank line; bad lines raise InputError."""
    source = Path(path)
    if not source.is_file():
        raise InputError("no such file", str(source))
    with source.open(encoding="utf-8") as handle:
        for number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            try:
                obj = json.loads(line)
            except json.JSONDecodeError as exc:
                raise InputError(f"not valid JSON ({exc.msg})", str(source), number) from None
            if not isinstance(obj, dict):
                raise InputError("expected a JSON object", str(source), number)
            yield number, obj


def sha256_file(path: str | os.PathLike[str]) -> str:
    """Hex sha256 of a file's bytes."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


@contextlib.contextmanager
def paused_gc() -> Iterator[None]:
    """Pause the cyclic GC while a loop builds many small containers that all stay alive (it would
    otherwise rescan them again and again); reference counting still frees everything else."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()
