"""Shared fixtures: AG News files in the original and hub layouts, and a runner for the scripts."""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
NAMES = ("World", "Sports", "Business", "Sci/Tech")
AGNEWS_LABELS = "1: World,2: Sports,3: Business,4: Sci/Tech"


def agnews_rows(per_class: int, prefix: str = "Story") -> list[tuple[str, str, str]]:
    """(class index 1-4, title, description) rows with words that tell the classes apart."""
    topics = {
        "1": ("minister", "election", "troops"), "2": ("match", "coach", "season"),
        "3": ("shares", "profit", "market"), "4": ("software", "chip", "internet"),
    }
    rows = []
    for i in range(per_class):
        for label, words in topics.items():
            word = words[i % 3]
            rows.append((label, f"{prefix} {i} about the {word}", f"The {word} report number {i} for class {label}."))
    return rows


def write_original_csv(path: Path, rows: list[tuple[str, str, str]]) -> Path:
    """The original release's CSV: no header, every field quoted, doubled inner quotes."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle, quoting=csv.QUOTE_ALL, lineterminator="\n")
        writer.writerows(rows)
    return path


def hub_records(rows: list[tuple[str, str, str]]) -> list[dict[str, object]]:
    """The hub layout of the same rows: text = title + ' ' + description, label 0-3."""
    return [{"text": f"{title} {description}", "label": int(label) - 1} for label, title, description in rows]


def write_jsonl(path: Path, records: list[dict[str, object]]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records), encoding="utf-8")
    return path


def run_script(*args: str | Path, env: dict[str, str] | None = None, cwd: Path = ROOT,
               timeout: int = 900) -> subprocess.CompletedProcess[str]:
    """Run ``python <script> args...`` from the repository root, capturing text output."""
    full_env = {**os.environ, "PYTHONPATH": str(ROOT), **(env or {})}
    return subprocess.run([sys.executable, *map(str, args)], capture_output=True, text=True, env=full_env,
                          cwd=cwd, timeout=timeout, check=False)


@pytest.fixture
def agnews_folder(tmp_path: Path) -> Path:
    """A folder with train.csv and test.csv in the original layout."""
    folder = tmp_path / "ag_news_csv"
    write_original_csv(folder / "train.csv", agnews_rows(25))
    write_original_csv(folder / "test.csv", agnews_rows(10, prefix="Test story"))
    return folder
