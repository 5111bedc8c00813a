"""A step's progress lines off a terminal at their edges: each line reaches a piped reader at once, a count just
short of the next 5% mark prints nothing, a log without a total counts against a total of one, a count below zero
is no progress yet; and a trainer log with non-ASCII text is read as UTF-8 whatever the locale. Expected lines are
written by hand."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest
from conftest import Piped, ascii_locale

import recipekit.progress
from recipekit.progress import Heartbeat, Progress


def follow(tmp_path: Path) -> tuple[Path, Piped, Progress]:
    log, out = tmp_path / "trainer_log.jsonl", Piped()
    return log, out, Progress(log, since=0, stream=out)


def add(log: Path, done: float, total: float) -> None:
    with log.open("a", encoding="utf-8") as handle:
        handle.write(json.dumps({"current_steps": done, "total_steps": total}) + "\n")


def test_a_progress_line_is_flushed_as_it_is_printed(tmp_path: Path) -> None:
    log, out, progress = follow(tmp_path)
    add(log, 1, 20)
    assert progress.update() == "step 1/20 (5.0%)"
    assert out.seen == "  step 1/20 (5.0%)\n"  # a CI log shows it now, not when the buffer fills


def test_a_count_just_short_of_the_next_five_percent_prints_nothing(tmp_path: Path) -> None:
    log, out, progress = follow(tmp_path)
    add(log, 190, 200)
    assert progress.update() == "step 190/200 (95.0%)"
    add(log, 199, 200)  # 99.5%: still the 95% stretch
    assert progress.update() is None
    add(log, 200, 200)
    assert progress.update() == "step 200/200 (100.0%)"
    assert out.getvalue() == "  step 190/200 (95.0%)\n  step 200/200 (100.0%)\n"


def test_a_log_without_a_total_counts_against_a_total_of_one(tmp_path: Path) -> None:
    """total_steps 0: the count itself is the fraction done, so 0.1 is 10% and 0.15 is past the 15% mark."""
    log, out, progress = follow(tmp_path)
    add(log, 0.1, 0)
    assert progress.update() == "step 0.1/0"
    add(log, 0.12, 0)  # 12%: the same 10% stretch
    assert progress.update() is None
    add(log, 0.15, 0)
    assert progress.update() == "step 0.15/0"
    assert out.getvalue() == "  step 0.1/0\n  step 0.15/0\n"


def test_a_count_below_zero_is_no_progress_yet_and_zero_is_the_first_line(tmp_path: Path) -> None:
    log, out, progress = follow(tmp_path)
    add(log, -1, 100)
    assert progress.update() is None
    add(log, 0, 100)
    assert progress.update() == "step 0/100 (0.0%)"
    assert out.getvalue() == "  step 0/100 (0.0%)\n"


def test_a_trainer_log_with_non_ascii_text_is_read_as_utf8_in_an_ascii_locale(tmp_path: Path) -> None:
    log = tmp_path / "trainer_log.jsonl"
    record = {"current_steps": 3, "total_steps": 4, "loss": 0.25, "stage": "\u00e9valuation \u8bc4\u4f30"}
    log.write_text(json.dumps(record, ensure_ascii=False) + "\n", encoding="utf-8")
    with ascii_locale():
        assert recipekit.progress.latest(log, 0) == record


def test_a_trainer_log_with_non_ascii_text_is_read_as_utf8_while_this_process_reads_ascii(tmp_path: Path) -> None:
    """Here, in the C locale's character type (a file opened without an encoding reads as ASCII): the record's
    non-ASCII text comes back as written."""
    from recipekit.progress import latest

    log = tmp_path / "trainer_log.jsonl"
    record = {"current_steps": 1, "total_steps": 2, "stage": "\u00e9tape \u8bad\u7ec3"}
    log.write_text(json.dumps(record, ensure_ascii=False) + "\n", encoding="utf-8")
    with ascii_locale():
        read = latest(log, 0)
    assert read == record


def test_a_heartbeat_line_is_flushed_as_it_is_printed(tmp_path: Path) -> None:
    """On a pipe the heartbeat must show at once, with the log's latest bar count: a reader sees it before
    ``beat`` returns."""
    import time

    from recipekit.progress import HEARTBEAT_SECONDS, Heartbeat

    log = tmp_path / "train.log"
    log.write_text("loading\n 15%|###       | 3/20 [00:01<00:05,  3.1it/s]\n", encoding="utf-8")
    out = Piped()
    heartbeat = Heartbeat("train", log, stream=out)
    heartbeat.start = time.monotonic() - 65.5  # 0:01:05 so far
    heartbeat.last = time.monotonic() - HEARTBEAT_SECONDS
    assert heartbeat.beat() == "train: still running, elapsed 0:01:05; its log: 3/20"
    assert out.seen == "  train: still running, elapsed 0:01:05; its log: 3/20\n"


class Flushed(io.StringIO):
    """A stream that marks where each flush fell."""

    def flush(self) -> None:
        self.write("<flush>")


def test_a_heartbeat_line_is_pushed_out_at_once(monkeypatch: pytest.MonkeyPatch) -> None:
    """The line is for someone watching a long step through a pipe: it is flushed as it is printed."""
    class Clock:
        now = 100.0

        def monotonic(self) -> float:
            return self.now

    clock = Clock()
    monkeypatch.setattr(recipekit.progress, "time", clock)
    out = Flushed()
    heartbeat = Heartbeat("train", stream=out)
    clock.now += recipekit.progress.HEARTBEAT_SECONDS
    assert heartbeat.beat() == "train: still running, elapsed 0:00:08"
    assert out.getvalue() == "  train: still running, elapsed 0:00:08\n<flush>"
