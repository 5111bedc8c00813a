"""A live line for a long step: the trainer's own progress log (``trainer_log.jsonl``, which LLaMA-Factory and the
classifier append to as they train or predict) read while the step runs, shown as a tqdm bar on a terminal and
as one line every few percent elsewhere; and a heartbeat, so that no stretch passes without a line: at least
every 10 s what runs, for how long, and the latest count of a progress bar in its log."""

from __future__ import annotations

import contextlib
import datetime
import json
import re
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any, TextIO

TRAINER_LOG = "trainer_log.jsonl"
EVERY_PERCENT = 5  # on a non-terminal, one line each time the step passes another 5%
HEARTBEAT_SECONDS = 8.0  # a stretch without a line this long gets one (read each poll: never 10 s without)
LOG_TAIL_BYTES = 65536  # how much of the end of a step's log is read (its latest bar, its last error)
# a tqdm bar as it lands in a log: "Running tokenizer on dataset: 100%|#####| 16/16 [00:00<...", the trainer's
# own without a description: " 50%|#####     | 1/2 [00:10<00:10, ..."; a description is read up to 101 characters (a
# longer one: its end), as unbounded a long line of words took a time quadratic in its length (90 s for 64 KiB); the
# percent is read from the first digit of its run only (a long run of digits, read from each of its digits, was too)
BAR = re.compile(r"(?:([A-Za-z][\w .()/-]{0,100}?):\s*)?(?<!\d)\d+%\|[^|\r\n]*\|\s*(\d+)/(\d+)\s*\[")


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


def elapsed_text(seconds: float) -> str:
    """``0:01:05`` for 65.3 seconds (the trainer's own format)."""
    return str(datetime.timedelta(seconds=int(seconds)))


def log_tail(log: Path) -> str:
    """The last ``LOG_TAIL_BYTES`` of a log (a long run's log can be large), as text; empty when unreadable."""
    try:
        with log.open("rb") as handle:
            handle.seek(max(0, log.stat().st_size - LOG_TAIL_BYTES))
            return handle.read().decode("utf-8", errors="replace")
    except OSError:
        return ""


def bar_count(log: Path) -> str | None:
    """The latest progress bar count in a step's log: ``3/20`` for a bar without a description (the trainer's, an
    evaluation's), ``Running tokenizer on dataset 16/16`` for a named one; None when the log has none (yet)."""
    found = list(BAR.finditer(log_tail(log)))
    if not found:
        return None
    name, done, total = found[-1].groups()
    return f"{name.strip() + ' ' if name else ''}{done}/{total}"


class Heartbeat:
    """A line at least every ``HEARTBEAT_SECONDS`` while ``what`` runs: for how long, and the latest bar count of
    its log (when it has one). ``shown()`` when another line was just printed; ``beat()`` as often as convenient."""

    def __init__(self, what: str, log: Path | None = None, stream: TextIO | None = None, indent: str = "  ") -> None:
        self.what, self.log, self.stream, self.indent = what, log, stream or sys.stdout, indent
        self.start = self.last = time.monotonic()

    def shown(self) -> None:
        self.last = time.monotonic()

    def beat(self) -> str | None:
        """Print the heartbeat line when the last line is ``HEARTBEAT_SECONDS`` old; the line (or None)."""
        now = time.monotonic()
        if now - self.last < HEARTBEAT_SECONDS:
            return None
        count = bar_count(self.log) if self.log else None
        line = f"{self.what}: still running, elapsed {elapsed_text(now - self.start)}" + (f"; its log: {count}"
                                                                                             if count else "")
        print(f"{self.indent}{line}", file=self.stream, flush=True)
        self.last = now
        return line


@contextlib.contextmanager
def working(what: str, stream: TextIO | None = None, indent: str = "") -> Iterator[Heartbeat]:
    """Say that ``what`` starts, then a heartbeat line every ``HEARTBEAT_SECONDS`` until it ends (from a thread:
    for work done in this process, where no loop polls); ``indent`` puts the lines under another's."""
    out = stream or sys.stdout
    print(f"{indent}{what}...", file=out, flush=True)
    heartbeat, stop = Heartbeat(what, stream=out, indent=indent + "  "), threading.Event()

    def beat() -> None:
        while not stop.wait(HEARTBEAT_SECONDS / 8):
            heartbeat.beat()

    thread = threading.Thread(target=beat, name="heartbeat", daemon=True)
    thread.start()
    try:
        yield heartbeat
    finally:
        stop.set()
        thread.join()
