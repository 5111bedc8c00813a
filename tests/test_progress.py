"""The live lines of a long step: the trainer's progress log read back (the last complete record of this run, one
line every 5% off a terminal, a tqdm bar on one), the tail of a step's log and its latest progress bar count, and
the heartbeat line that no quiet stretch goes without. Expected lines are written by hand; the bars in the logs are
tqdm's own output."""

from __future__ import annotations

import io
import json
import os
import re
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from tqdm import tqdm

import recipekit.progress
from recipekit.progress import Heartbeat, Progress, bar_count, describe, elapsed_text, latest, log_tail, working


def record(done: int, total: int, **more: object) -> dict[str, object]:
    return {"current_steps": done, "total_steps": total, **more}


def append(log: Path, *records: dict[str, object]) -> None:
    with log.open("a", encoding="utf-8") as handle:
        handle.write("".join(json.dumps(r) + "\n" for r in records))


class Terminal(io.StringIO):
    """A console stream: tqdm draws its bar there."""

    def isatty(self) -> bool:
        return True


def tqdm_text(total: int, done: int, desc: str | None = None) -> str:
    """What tqdm itself writes for a bar (as it lands in a step's log)."""
    out = io.StringIO()
    bar = tqdm(total=total, desc=desc, file=out, mininterval=0, ascii=True)
    bar.update(done)
    bar.close()
    return out.getvalue()


# latest -------------------------------------------------------------------------------------------------------


def test_the_last_complete_record_with_both_counts_is_read(tmp_path: Path) -> None:
    log = tmp_path / "trainer_log.jsonl"
    log.write_text("\n".join([json.dumps(record(1, 9)), json.dumps(record(2, 9, loss=1.5)), "[2, 9]", "7",
                              '{"current_steps": 3}', '{"total_steps": 9}', '{"current_steps": 4, "tot']) + "\n",
                   encoding="utf-8")
    # a list, a number, a record with one count only, a half-written line: all passed over
    assert latest(log, since=0) == {"current_steps": 2, "total_steps": 9, "loss": 1.5}


def test_a_log_without_a_record_of_both_counts_has_none(tmp_path: Path) -> None:
    log = tmp_path / "trainer_log.jsonl"
    log.write_text('{"current_steps": 3}\n{"loss": 1}\n[1]\n', encoding="utf-8")
    assert latest(log, since=0) is None
    log.write_text("", encoding="utf-8")
    assert latest(log, since=0) is None


def test_a_log_written_at_the_start_is_this_runs_and_one_written_before_is_not(tmp_path: Path) -> None:
    log = tmp_path / "trainer_log.jsonl"
    log.write_text(json.dumps(record(5, 10)) + "\n", encoding="utf-8")
    os.utime(log, (1_700_000_000, 1_700_000_000))
    assert latest(log, since=1_700_000_000.0) == record(5, 10)  # written the very second the step started
    assert latest(log, since=1_700_000_000.5) is None  # half a second before it
    assert latest(log, since=1_699_999_999.0) == record(5, 10)


def test_an_unreadable_log_has_no_record_and_a_bad_byte_does_not_hide_one(tmp_path: Path) -> None:
    assert latest(tmp_path / "missing.jsonl", since=0) is None
    assert latest(tmp_path, since=0) is None  # a folder: read fails, no record
    log = tmp_path / "trainer_log.jsonl"
    log.write_bytes(b'{"current_steps": 1, "total_steps": 2, "tag": "\xff"}\n')
    assert latest(log, since=0) == {"current_steps": 1, "total_steps": 2, "tag": "\ufffd"}


# describe -----------------------------------------------------------------------------------------------------


def test_a_record_described_with_only_what_it_has() -> None:
    assert describe(record(1, 3)) == "step 1/3 (33.3%)"
    assert describe(record(1, 3, loss=None, elapsed_time="", remaining_time=None)) == "step 1/3 (33.3%)"
    assert describe(record(2, 8, loss=0)) == "step 2/8 (25.0%), loss 0.0000"  # a loss of 0 is a loss
    assert describe(record(8, 8, remaining_time="0:00:00")) == "step 8/8 (100.0%), remaining 0:00:00"  # a time
    assert describe(record(0, 8, elapsed_time="0:00:03", loss=2.34567)) == (
        "step 0/8 (0.0%), loss 2.3457, elapsed 0:00:03")
    assert describe(record(7, 0, loss=1.0)) == "step 7/0, loss 1.0000"  # no total: no percent


# Progress off a terminal --------------------------------------------------------------------------------------


def test_off_a_terminal_a_line_is_printed_each_time_another_five_percent_is_passed(tmp_path: Path) -> None:
    log = tmp_path / "trainer_log.jsonl"
    out = io.StringIO()
    progress = Progress(log, since=0, stream=out)
    assert not progress.terminal and progress.bar is None
    assert progress.update() is None  # no log yet
    said = []
    for done in (0, 0, 4, 5, 9, 10, 10, 14, 15, 99, 100):
        append(log, record(done, 100, loss=done / 100))
        said.append(progress.update())
    assert said == ["step 0/100 (0.0%), loss 0.0000", None, None, "step 5/100 (5.0%), loss 0.0500", None,
                    "step 10/100 (10.0%), loss 0.1000", None, None, "step 15/100 (15.0%), loss 0.1500",
                    "step 99/100 (99.0%), loss 0.9900", "step 100/100 (100.0%), loss 1.0000"]
    assert out.getvalue().splitlines() == ["  " + line for line in said if line]
    assert progress.update() is None  # the same record read again
    progress.close()  # no bar: nothing to close
    assert progress.bar is None


def test_one_step_of_twenty_is_five_percent_and_a_run_without_a_total_still_shows(tmp_path: Path) -> None:
    log = tmp_path / "trainer_log.jsonl"
    out = io.StringIO()
    progress = Progress(log, since=0, stream=out)
    for done in range(4):
        append(log, record(done, 20))
        progress.update()
    assert out.getvalue().splitlines() == ["  step 0/20 (0.0%)", "  step 1/20 (5.0%)", "  step 2/20 (10.0%)",
                                           "  step 3/20 (15.0%)"]
    blind = Progress(tmp_path / "other.jsonl", since=0, stream=io.StringIO())
    append(blind.path, record(0, 0))
    assert blind.update() == "step 0/0"  # a total of 0 read as 1: no division by zero


def test_progress_prints_to_standard_output_by_default(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    log = tmp_path / "trainer_log.jsonl"
    append(log, record(3, 4, loss=0.25))
    progress = Progress(log, since=0)
    assert progress.stream is sys.stdout
    assert progress.update() == "step 3/4 (75.0%), loss 0.2500"
    assert capsys.readouterr().out == "  step 3/4 (75.0%), loss 0.2500\n"


# Progress on a terminal ---------------------------------------------------------------------------------------


def test_on_a_terminal_one_tqdm_bar_follows_the_steps_with_the_rest_as_its_postfix(tmp_path: Path) -> None:
    log = tmp_path / "trainer_log.jsonl"
    screen = Terminal()
    progress = Progress(log, since=0, stream=screen)
    assert progress.terminal
    append(log, record(5, 20, loss=0.4, elapsed_time="0:00:05", remaining_time="0:00:15"))
    assert progress.update() == "step 5/20 (25.0%), loss 0.4000, elapsed 0:00:05, remaining 0:00:15"
    bar = progress.bar
    assert (bar.total, bar.n, bar.unit, bar.leave) == (20, 5, "step", False)
    assert bar.postfix == "loss 0.4000, elapsed 0:00:05, remaining 0:00:15"
    assert "5/20" in screen.getvalue() and "loss 0.4000, elapsed 0:00:05, remaining 0:00:15" in screen.getvalue()
    assert "step 5/20" not in screen.getvalue()  # the bar, not the plain line
    assert progress.update() is None and bar.n == 5  # nothing new
    append(log, record(6, 20))  # a step within the same 5%: a bar shows it anyway
    assert progress.update() == "step 6/20 (30.0%)"
    assert progress.bar is bar and bar.n == 6 and bar.postfix == ""
    assert not bar.disable
    progress.close()
    assert bar.disable  # closed (and, leave=False, wiped from the screen)


# log_tail and bar_count ---------------------------------------------------------------------------------------


def test_a_logs_tail_is_its_last_64_kib(tmp_path: Path) -> None:
    log = tmp_path / "step.log"
    assert recipekit.progress.LOG_TAIL_BYTES == 65536
    log.write_bytes(b"a" * 5 + b"b" * 65536)
    assert log_tail(log) == "b" * 65536
    log.write_bytes(b"c" + b"b" * 65535)  # exactly 64 KiB: all of it
    assert log_tail(log) == "c" + "b" * 65535
    log.write_bytes(b"short\n\xffend")
    assert log_tail(log) == "short\n\ufffdend"
    assert log_tail(tmp_path / "missing.log") == ""
    assert log_tail(tmp_path) == ""  # a folder: unreadable


def test_the_latest_bar_count_of_a_log_with_its_name(tmp_path: Path) -> None:
    log = tmp_path / "step.log"
    named = tqdm_text(16, 16, "Running tokenizer on dataset")
    assert "Running tokenizer on dataset: 100%|" in named
    log.write_text("loading\n" + named, encoding="utf-8")
    assert bar_count(log) == "Running tokenizer on dataset 16/16"
    log.write_text("loading\n" + named + "\n" + tqdm_text(2, 1), encoding="utf-8")
    assert bar_count(log) == "1/2"  # the trainer's bar, after it, has no name
    log.write_text(tqdm_text(4, 2, "Map "), encoding="utf-8")  # tqdm writes "Map : 50%|..."
    assert bar_count(log) == "Map 2/4"
    log.write_text(tqdm_text(20, 3) + "\nwarning: slow\n", encoding="utf-8")
    assert bar_count(log) == "3/20"
    log.write_text("no bar here: 50% done, 1/2\n", encoding="utf-8")
    assert bar_count(log) is None
    assert bar_count(tmp_path / "missing.log") is None


def test_a_bar_older_than_the_logs_tail_is_not_read(tmp_path: Path) -> None:
    log = tmp_path / "step.log"
    log.write_text(tqdm_text(8, 2) + "\n" + "=" * 65536, encoding="utf-8")
    assert bar_count(log) is None
    log.write_text(tqdm_text(8, 2) + "\n" + "=" * 65000, encoding="utf-8")
    assert bar_count(log) == "2/8"


def test_a_long_line_of_words_in_a_log_is_read_at_once(tmp_path: Path) -> None:
    """A heartbeat reads the log's last 64 KiB every few seconds; a line of plain words as long as that is no bar,
    and reading it takes well under a second (a description read back without bound took over a minute)."""
    log = tmp_path / "step.log"
    log.write_text("word " * 13107, encoding="utf-8")
    started = time.perf_counter()
    assert bar_count(log) is None
    assert time.perf_counter() - started < 3


def test_a_long_run_of_digits_in_a_log_is_read_at_once(tmp_path: Path) -> None:
    """64 KiB of digits (a dump of numbers, a hash) is no bar and is read in well under a second (a percent read
    from each of its digits took a time quadratic in their number: 15 s), and a bar after them is still read."""
    log = tmp_path / "step.log"
    log.write_text("7" * 65536, encoding="utf-8")
    started = time.perf_counter()
    assert bar_count(log) is None
    assert time.perf_counter() - started < 3
    log.write_text("7" * 60000 + tqdm_text(8, 3, "Map"), encoding="utf-8")
    started = time.perf_counter()
    assert bar_count(log) == "Map 3/8"
    assert time.perf_counter() - started < 3


def test_a_bar_with_a_long_description_gives_its_end(tmp_path: Path) -> None:
    log = tmp_path / "step.log"
    log.write_text(tqdm_text(4, 1, "a" * 101), encoding="utf-8")
    assert bar_count(log) == "a" * 101 + " 1/4"  # 101 characters: whole
    log.write_text(tqdm_text(4, 1, "Tokenizing " + "b" * 100), encoding="utf-8")
    assert bar_count(log) == "b" * 100 + " 1/4"  # longer: its end


def test_elapsed_time_in_the_trainers_format() -> None:
    assert elapsed_text(65.3) == "0:01:05"
    assert elapsed_text(59.999) == "0:00:59"  # whole seconds, never rounded up
    assert elapsed_text(3600) == "1:00:00"
    assert elapsed_text(0) == "0:00:00"


# Heartbeat ----------------------------------------------------------------------------------------------------


class Clock:
    """A monotonic clock that moves only when told: the heartbeat's threshold read exactly."""

    def __init__(self) -> None:
        self.now = 1000.0

    def monotonic(self) -> float:
        return self.now


def test_a_heartbeat_comes_when_the_last_line_is_exactly_its_interval_old(monkeypatch: pytest.MonkeyPatch) -> None:
    clock = Clock()
    monkeypatch.setattr(recipekit.progress, "time", clock)
    assert recipekit.progress.HEARTBEAT_SECONDS == 8.0
    out = io.StringIO()
    heartbeat = Heartbeat("train", stream=out)
    clock.now += 7.999
    assert heartbeat.beat() is None and out.getvalue() == ""
    clock.now += 0.001  # 8 s since the start
    assert heartbeat.beat() == "train: still running, elapsed 0:00:08"
    assert heartbeat.beat() is None  # the line just printed counts as the last line
    clock.now += 5
    heartbeat.shown()  # another line was printed: the next heartbeat is 8 s after it
    clock.now += 7.5
    assert heartbeat.beat() is None
    clock.now += 0.5
    assert heartbeat.beat() == "train: still running, elapsed 0:00:21"  # elapsed counts from the start
    assert out.getvalue() == "  train: still running, elapsed 0:00:08\n  train: still running, elapsed 0:00:21\n"


def test_a_heartbeat_names_the_latest_bar_in_the_steps_log(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    clock = Clock()
    monkeypatch.setattr(recipekit.progress, "time", clock)
    log = tmp_path / "train.log"
    out = io.StringIO()
    heartbeat = Heartbeat("train", log, stream=out, indent="    ")
    clock.now += 75
    assert heartbeat.beat() == "train: still running, elapsed 0:01:15"  # no log yet
    log.write_text("starting\n", encoding="utf-8")
    clock.now += 8
    assert heartbeat.beat() == "train: still running, elapsed 0:01:23"  # a log without a bar
    log.write_text("starting\n" + tqdm_text(40, 12), encoding="utf-8")
    clock.now += 8
    assert heartbeat.beat() == "train: still running, elapsed 0:01:31; its log: 12/40"
    assert out.getvalue().splitlines() == ["    train: still running, elapsed 0:01:15",
                                           "    train: still running, elapsed 0:01:23",
                                           "    train: still running, elapsed 0:01:31; its log: 12/40"]


def test_a_heartbeat_prints_to_standard_output_by_default(capsys: pytest.CaptureFixture[str],
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    clock = Clock()
    monkeypatch.setattr(recipekit.progress, "time", clock)
    heartbeat = Heartbeat("eval")
    assert heartbeat.start == heartbeat.last == 1000.0 and heartbeat.indent == "  "
    clock.now += 9.9
    heartbeat.beat()
    assert capsys.readouterr().out == "  eval: still running, elapsed 0:00:09\n"


# working ------------------------------------------------------------------------------------------------------


def heartbeat_thread() -> threading.Thread:
    """The one thread that beats for ``working`` (other tests' threads may run beside it)."""
    (beating,) = [thread for thread in threading.enumerate() if thread.name == "heartbeat"]
    return beating


ELAPSED_SECONDS = r"elapsed 0:00:0\d"  # a few seconds at most, however slow the machine


def wait_for(ready: Callable[[], bool], seconds: float = 10) -> None:
    """Wait until ``ready()`` (a loaded machine may be slow to run a thread), at most ``seconds``."""
    deadline = time.monotonic() + seconds
    while not ready() and time.monotonic() < deadline:
        time.sleep(0.01)


def test_work_in_this_process_says_what_it_does_and_beats_until_it_ends(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(recipekit.progress, "HEARTBEAT_SECONDS", 0.04)  # polled every 0.005 s
    said = io.StringIO()
    started = time.monotonic()
    with working("building a tiny model", stream=said, indent="  ") as heartbeat:
        assert (heartbeat.what, heartbeat.stream, heartbeat.indent, heartbeat.log) == (
            "building a tiny model", said, "    ", None)
        beating = heartbeat_thread()
        wait_for(lambda: said.getvalue().count("\n") >= 3)  # the line it starts with and two beats
    took = time.monotonic() - started
    lines = said.getvalue().splitlines()
    assert not beating.is_alive()  # its thread ended with the block
    assert lines[0] == "  building a tiny model..." and len(lines) >= 3, lines
    assert len(lines) - 1 <= took / 0.04 + 1, (took, lines)  # one beat per interval at most, not one per poll
    assert all(re.fullmatch(rf"    building a tiny model: still running, {ELAPSED_SECONDS}", line)
               for line in lines[1:]), lines
    time.sleep(0.1)
    assert said.getvalue().splitlines() == lines  # nothing after it ended


def test_work_that_fails_still_stops_its_heartbeat(monkeypatch: pytest.MonkeyPatch,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setattr(recipekit.progress, "HEARTBEAT_SECONDS", 0.04)
    said: list[str] = []
    with pytest.raises(ValueError, match=r"^broke$"), working("scoring"):
        beating = heartbeat_thread()
        wait_for(lambda: said.append(capsys.readouterr().out) or "".join(said).count("\n") >= 2)
        raise ValueError("broke")
    assert not beating.is_alive()
    lines = ("".join(said) + capsys.readouterr().out).splitlines()
    assert lines[0] == "scoring..." and len(lines) >= 2, lines  # to standard output, not indented
    assert all(re.fullmatch(rf"  scoring: still running, {ELAPSED_SECONDS}", line) for line in lines[1:]), lines
    time.sleep(0.1)
    assert capsys.readouterr().out == ""
