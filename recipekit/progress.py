"""A live line for a long step: the trainer's own progress log (``trainer_log.jsonl``, which LLaMA-Factory and the
classifier append to as they train or predict) read while the step runs, shown as a tqdm bar on a terminal and
as one line every few percent elsewhere."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any, TextIO

TRAINER_LOG = "trainer_log.jsonl"
EVERY_PERCENT = 5  # on a non-terminal, one line each time the step passes another 5%


def latest(path: Path, since: float) -> dict[str, Any] | None:
    """The last complete record of a trainer log written after ``since`` (a log left by an earlier run is not
    this step's), or None."""
    try:
        if path.stat().st_mtime < since:
            return None
        lines = path.read_text(encoding="utf-8", errors="replace").splitlines()
    except OSError:
        return None
    for line in reversed(lines):
        try:
            record = json.loads(line)
        except json.JSONDecodeError:
            continue  # a line being written
        if isinstance(record, dict) and "current_steps" in record and "total_steps" in record:
            return record
    return None


def describe(record: dict[str, Any]) -> str:
    """``step 120/840 (14.3%), loss 0.5312, elapsed 0:02:11, remaining 0:13:05`` from one record."""
    done, total = record["current_steps"], record["total_steps"]
    parts = [f"step {done}/{total}" + (f" ({done / total:.1%})" if total else "")]
    if record.get("loss") is not None:
        parts.append(f"loss {record['loss']:.4f}")
    parts += [f"{key.split('_')[0]} {record[key]}" for key in ("elapsed_time", "remaining_time") if record.get(key)]
    return ", ".join(parts)


class Progress:
    """Follows one step's trainer log; ``update()`` as often as convenient, ``close()`` at the end."""

    def __init__(self, path: Path, since: float, stream: TextIO | None = None) -> None:
        self.path, self.since = path, since
        self.stream = stream or sys.stdout
        self.terminal = self.stream.isatty()
        self.bar: Any = None
        self.shown = -1  # the last multiple of EVERY_PERCENT printed (non-terminal)
        self.last: dict[str, Any] | None = None

    def update(self) -> str | None:
        """Read the log; show what is new; the line shown (None when nothing new)."""
        record = latest(self.path, self.since)
        if record is None or record == self.last:
            return None
        self.last = record
        line = describe(record)
        if self.terminal:
            from tqdm import tqdm

            if self.bar is None:
                self.bar = tqdm(total=record["total_steps"], unit="step", file=self.stream, leave=False)
            self.bar.n = record["current_steps"]
            self.bar.set_postfix_str(line.split(", ", 1)[1] if ", " in line else "", refresh=True)
            return line
        total = record["total_steps"] or 1
        reached = int(record["current_steps"] / total * 100) // EVERY_PERCENT
        if reached <= self.shown:
            return None
        self.shown = reached
        print(f"  {line}", file=self.stream, flush=True)
        return line

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
