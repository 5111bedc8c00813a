"""LLaMA-Factory's dataset registry, ``dataset_info.json``."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from recipekit.errors import InputError
from recipekit.files import write_json
from recipekit.paths import root

ALPACA_COLUMNS = {"prompt": "instruction", "query": "input", "response": "output"}
# the converter that wrote a set, kept in its entry (LLaMA-Factory's DatasetAttr reads only the keys it knows)
MAKER_KEY = "converter"


def default_data_dir() -> Path:
    """``data/`` of the repository root (the working directory, or ``llm-recipes --root``)."""
    return root() / "data"


OPENAI_TAGS = {"role_tag": "role", "content_tag": "content", "user_tag": "user", "assistant_tag": "assistant",
               "system_tag": "system"}


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


def maker_of(entry: dict[str, Any]) -> str | None:
    """The converter that wrote a registered set (``convert NAME``), None for an entry no converter recorded."""
    maker = entry.get(MAKER_KEY) if isinstance(entry, dict) else None
    return maker if isinstance(maker, str) and maker else None


def upsert_dataset_entry(path: str | Path, name: str, entry: dict[str, Any]) -> None:
    """Add or replace one entry, keep every other entry and its order, write atomically."""
    registry = load_registry(path)
    registry[name] = entry
    write_json(path, registry)


def alpaca_entry() -> dict[str, Any]:
    """The registry entry (less ``file_name``) of Alpaca rows: ``instruction``/``input``/``output``."""
    return {"formatting": "alpaca", "columns": dict(ALPACA_COLUMNS)}


def alpaca_ranking_entry() -> dict[str, Any]:
    """Alpaca preference rows: ``instruction``/``input`` with ``chosen``/``rejected`` answers."""
    columns = {"prompt": "instruction", "query": "input", "chosen": "chosen", "rejected": "rejected"}
    return {"formatting": "alpaca", "ranking": True, "columns": columns}


def sharegpt_entry(messages: str, ranking: bool = False) -> dict[str, Any]:
    """ShareGPT rows in the OpenAI message style (``role``/``content``; system, user, assistant).

    With ``ranking`` the rows also hold ``chosen``/``rejected`` assistant messages.
    """
    columns = {"messages": messages}
    if ranking:
        columns |= {"chosen": "chosen", "rejected": "rejected"}
    entry: dict[str, Any] = {"formatting": "sharegpt"}
    if ranking:
        entry["ranking"] = True
    entry["columns"] = columns
    entry["tags"] = dict(OPENAI_TAGS)
    return entry


def dataset_base(name: str) -> str:
    """The converter's main dataset of ``name``: ``X_val``, ``X_test`` (and their ``_swapped`` copies) and
    ``X_pref`` are written by the same conversion as ``X``."""
    return re.sub(r"_(?:(?:val|test)(?:_swapped)?|pref)$", "", name)


def alpaca_file(data_dir: str | Path, name: str) -> tuple[Path, dict[str, str]] | None:
    """The file and column names (Alpaca's defaults filled in) of a registered local Alpaca set; None when the
    name is not registered or is not a local Alpaca file."""
    entry = load_registry(Path(data_dir) / "dataset_info.json").get(name)
    if not entry or entry.get("formatting", "alpaca") != "alpaca" or not entry.get("file_name"):
        return None
    return Path(data_dir) / entry["file_name"], {**ALPACA_COLUMNS, **entry.get("columns", {})}


def dataset_answers(data_dir: str | Path, name: str, most: int = 50) -> list[str] | None:
    """The distinct answers of a registered Alpaca set (its label set, sorted), or None when it is not a local
    Alpaca JSONL file or has more than ``most`` distinct answers (not a classification set)."""
    from recipekit.files import read_jsonl

    found = alpaca_file(data_dir, name)
    if found is None or not found[0].is_file():
        return None
    path, columns = found
    column = columns["response"]
    answers = {str(row.get(column, "")).strip() for _, row in read_jsonl(path)} - {""}
    return sorted(answers) if 2 <= len(answers) <= most else None
