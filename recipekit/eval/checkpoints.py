"""Selecting a training run's checkpoint by a task metric: find each ``checkpoint-N``, score it, pick the best."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from recipekit.errors import InputError

CHECKPOINT = re.compile(r"^checkpoint-(\d+)$")
LOWER_IS_BETTER = ("log_loss",)
METRICS = ("f1", "accuracy", "log_loss")


@dataclass(frozen=True)
class Checkpoint:
    """One saved step of a run: its folder and whether it holds a LoRA adapter or whole weights."""

    step: int
    path: Path

    @property
    def is_adapter(self) -> bool:
        return (self.path / "adapter_config.json").is_file()


def find_checkpoints(run_dir: str | Path) -> list[Checkpoint]:
    """Every ``checkpoint-N`` folder of a run, by step; none is an error naming the folder."""
    root = Path(run_dir)
    if not root.is_dir():
        raise InputError("no such run folder", str(root))
    found = sorted((Checkpoint(int(m.group(1)), p) for p in root.iterdir()
                    if p.is_dir() and (m := CHECKPOINT.match(p.name))), key=lambda c: c.step)
    if not found:
        raise InputError("no checkpoint-N folders (set save_steps, or save_strategy steps/epoch)", str(root))
    return found


def best_row(rows: list[dict[str, Any]], metric: str) -> dict[str, Any]:
    """The row with the best ``metric`` (highest, or lowest for a loss); the earliest step wins a tie."""
    sign = 1.0 if metric in LOWER_IS_BETTER else -1.0
    return min(rows, key=lambda row: (sign * row[metric], row["step"]))
