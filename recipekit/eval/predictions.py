"""The one loader of LLaMA-Factory's ``generated_predictions.jsonl`` (``prompt``, ``predict``, ``label``)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from recipekit.errors import InputError
from recipekit.files import read_jsonl

REQUIRED_FIELDS = ("predict", "label")


@dataclass(frozen=True)
class Prediction:
    """One row of a predictions file, with its line number."""

    line: int
    predict: str
    label: str
    prompt: str
    extra: dict[str, Any]


def load_predictions(path: str | Path) -> list[Prediction]:
    """All rows; a missing file, a non-JSON line, a missing or non-text field or no rows raise InputError."""
    rows = []
    for line, obj in read_jsonl(path):
        for name in REQUIRED_FIELDS:
            if name not in obj:
                raise InputError(f"missing field {name!r}", str(path), line)
            if not isinstance(obj[name], str):
                raise InputError(f"field {name!r} must be a string, got {type(obj[name]).__name__}", str(path), line)
        extra = {k: v for k, v in obj.items() if k not in (*REQUIRED_FIELDS, "prompt")}
        rows.append(Prediction(line, obj["predict"], obj["label"], str(obj.get("prompt", "")), extra))
    if not rows:
        raise InputError("empty file: no prediction rows", str(path))
    return rows
