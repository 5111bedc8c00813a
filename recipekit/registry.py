"""LLaMA-Factory's dataset registry, ``dataset_info.json``."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from recipekit.errors import InputError
from recipekit.files import write_json

ALPACA_COLUMNS = {"prompt": "instruction", "query": "input", "response": "output"}


def load_registry(path: str | Path) -> dict[str, Any]:
    """Read ``dataset_info.json``; a missing file is an empty registry."""
    source = Path(path)
    if not source.exists():
        return {}
    try:
        data = json.loads(source.read_text(encoding="utf-8") or "{}")
    except json.JSONDecodeError as exc:
        raise InputError(f"not valid JSON ({exc.msg})", str(source), exc.lineno) from None
    if not isinstance(data, dict):
        raise InputError("expected a JSON object of dataset entries", str(source))
    return data


def upsert_dataset_entry(path: str | Path, name: str, entry: dict[str, Any]) -> None:
    """Add or replace one entry, keep every other entry and its order, write atomically."""
    registry = load_registry(path)
    registry[name] = entry
    write_json(path, registry)


def alpaca_entry(file_name: str) -> dict[str, Any]:
    """The registry entry of an Alpaca JSONL file (``instruction``/``input``/``output``)."""
    return {"file_name": file_name, "formatting": "alpaca", "columns": dict(ALPACA_COLUMNS)}
