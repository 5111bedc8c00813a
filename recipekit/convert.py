"""The shared conversion core: skip counting, seeded stratified splits, writing and registering."""

from __future__ import annotations

from collections import Counter
from collections.abc import Hashable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from recipekit.files import write_jsonl
from recipekit.registry import alpaca_entry, upsert_dataset_entry

EXAMPLES_PER_REASON = 3


class Skip(Exception):
    """Raised by a row mapping: the row is skipped and counted under ``reason``."""

    def __init__(self, reason: str, field_name: str | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.field_name = field_name


@dataclass
class SkipCounter:
    """Counts skipped rows by reason and keeps the first few locations of each."""

    counts: Counter[str] = field(default_factory=Counter)
    examples: dict[str, list[str]] = field(default_factory=dict)

    def add(self, reason: str, where: str, field_name: str | None = None) -> None:
        self.counts[reason] += 1
        shown = self.examples.setdefault(reason, [])
        if len(shown) < EXAMPLES_PER_REASON:
            shown.append(f"{where} (field {field_name})" if field_name else where)

    @property
    def total(self) -> int:
        return sum(self.counts.values())

    def summary_lines(self) -> list[str]:
        lines = []
        for reason, count in sorted(self.counts.items()):
            lines.append(f"  skipped {count} row(s): {reason}; e.g. {'; '.join(self.examples[reason])}")
        return lines


def stratified_sample(labels: Sequence[Hashable], size: int | None, seed: int) -> list[int]:
    """Indices of a seeded, label-stratified subset of ``size`` rows (all rows, shuffled, if None or too big)."""
    import numpy as np
    from sklearn.model_selection import train_test_split

    indices = np.arange(len(labels))
    if size is None or size >= len(labels):
        return np.random.default_rng(seed).permutation(indices).tolist()
    if size <= 0:
        return []
    picked, _ = train_test_split(indices, train_size=size, stratify=list(labels), random_state=seed)
    return picked.tolist()


def stratified_split(labels: Sequence[Hashable], test_size: int, seed: int) -> tuple[list[int], list[int]]:
    """Seeded, label-stratified disjoint (rest, held_out) index lists with ``test_size`` held out."""
    import numpy as np
    from sklearn.model_selection import train_test_split

    indices = np.arange(len(labels))
    if test_size <= 0:
        return np.random.default_rng(seed).permutation(indices).tolist(), []
    rest, held_out = train_test_split(indices, test_size=test_size, stratify=list(labels), random_state=seed)
    return rest.tolist(), held_out.tolist()


def write_alpaca_dataset(data_dir: Path, name: str, rows: list[dict[str, Any]]) -> Path:
    """Write ``data_dir/name.jsonl`` and upsert its entry in ``data_dir/dataset_info.json``."""
    path = data_dir / f"{name}.jsonl"
    write_jsonl(path, rows)
    upsert_dataset_entry(data_dir / "dataset_info.json", name, alpaca_entry(path.name))
    return path
