"""The demo's stages: each run every time through the one step runner, its command, log and time printed; a stage
that fails stops the demo with one line naming the stage, its exit, its log and the hint."""

from __future__ import annotations

import re
import sys
from pathlib import Path

import pytest

from recipekit.commands.run_demo import Stages


def test_each_stage_prints_its_command_log_and_time_and_runs_again(tmp_path: Path,
                                                                    capsys: pytest.CaptureFixture[str]) -> None:
    stages = Stages(tmp_path / "logs")
    command = [sys.executable, "-c", "print('stage output')"]
    for _ in range(2):  # no stamp skips a demo stage
        stages.run("first", command)
    out = capsys.readouterr().out.splitlines()
    log = tmp_path / "logs" / "first.log"
    assert out[:2] == [f"[first] {' '.join(command)}", f"[first] log: {log}"]
    assert re.fullmatch(rf"\[first\] done in \d+\.\d s \(log: {re.escape(str(log))}\)", out[2])
    assert out[3:5] == out[:2] and len(out) == 6
    assert "stage output" in log.read_text(encoding="utf-8")
    assert list(stages.times) == ["first"] and 0 <= stages.times["first"] < 60
    assert f"{stages.times['first']:.1f} s" in out[5]


def test_a_failed_stage_is_one_line_with_its_log_and_hint(tmp_path: Path) -> None:
    stages = Stages(tmp_path / "logs")
    with pytest.raises(SystemExit) as raised:
        stages.run("convert", [sys.executable, "-c", "import sys; sys.exit('no network')"], hint=". Try offline")
    assert str(raised.value) == (f"error: step convert failed (exit 1): no network; its log: "
                                 f"{tmp_path / 'logs' / 'convert.log'}. Try offline")
    assert stages.times == {}


def test_a_failed_stage_without_a_hint_ends_at_its_log(tmp_path: Path) -> None:
    with pytest.raises(SystemExit) as raised:
        Stages(tmp_path / "logs").run("train", [sys.executable, "-c", "import sys; sys.exit(3)"])
    assert str(raised.value).endswith(f"; its log: {tmp_path / 'logs' / 'train.log'}")


def test_a_stage_with_a_trainer_log_shows_its_progress_while_it_runs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                                     capsys: pytest.CaptureFixture[str]) -> None:
    from recipekit import steps

    monkeypatch.setattr(steps, "POLL_SECONDS", 0.05)  # read the log often, the stage can be short
    log = tmp_path / "sft" / "trainer_log.jsonl"
    code = ("import json, pathlib, time; log = pathlib.Path(__import__('sys').argv[1]); log.parent.mkdir(); "
            "log.write_text(json.dumps({'current_steps': 3, 'total_steps': 6, 'loss': 0.5}) + '\\n'); time.sleep(1)")
    Stages(tmp_path / "logs").run("train", [sys.executable, "-c", code, str(log)], progress=log)
    assert "  step 3/6 (50.0%), loss 0.5000" in capsys.readouterr().out.splitlines()


class Recorded:
    """A stdout that keeps what was written and where each flush fell."""

    def __init__(self) -> None:
        self.parts: list[str] = []

    def write(self, text: str) -> int:
        self.parts.append(text)
        return len(text)

    def flush(self) -> None:
        self.parts.append("<flush>")


def test_each_line_is_pushed_out_as_it_is_printed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A demo stage runs for minutes: its command line and log path show before it ends, even through a pipe."""
    out = Recorded()
    monkeypatch.setattr(sys, "stdout", out)
    Stages(tmp_path / "logs").run("first", [sys.executable, "-c", "pass"])
    monkeypatch.undo()
    text = "".join(out.parts)
    lines = text.split("<flush>")
    assert len(lines) == 4 and lines[-1] == ""
    assert lines[0].startswith("[first] ") and lines[1].startswith("[first] log: ")
    assert lines[2].startswith("[first] done in ")
