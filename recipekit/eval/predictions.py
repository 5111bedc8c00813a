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


def pair_baseline(rows: list[Prediction], baseline: list[Prediction], path: str,
                  baseline_path: str) -> tuple[list[Prediction], str]:
    """The baseline's rows in the order of ``rows``, and how they were paired: by ``id`` when every row of
    both files has one, else by position with the same gold label row by row. Any mismatch is an error."""
    if len(rows) != len(baseline):
        raise InputError(f"the baseline has {len(baseline)} rows and {path} has {len(rows)}: a baseline must "
                         "score the same rows", baseline_path)
    if all("id" in row.extra for row in rows) and all("id" in row.extra for row in baseline):
        by_id = {str(row.extra["id"]): row for row in baseline}
        missing = [row for row in rows if str(row.extra["id"]) not in by_id]
        if missing or len(by_id) != len(baseline):
            where = f"id {missing[0].extra['id']!r} ({path}:{missing[0].line})" if missing else "a repeated id"
            raise InputError(f"the baseline does not hold the same ids: {where}", baseline_path)
        paired = [by_id[str(row.extra["id"])] for row in rows]
        how = "by id"
    else:
        paired, how = baseline, "by position"
    for row, base in zip(rows, paired, strict=True):
        if row.label.strip() != base.label.strip():
            raise InputError(f"row {row.line} of {path} and row {base.line} of the baseline have different gold "
                             f"labels ({row.label.strip()[:40]!r} vs {base.label.strip()[:40]!r}): paired {how}, "
                             "they are not the same rows", baseline_path, base.line)
    return paired, how
