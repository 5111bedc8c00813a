"""The one step runner: logs, stamps, declared inputs and outputs, what makes a step run again, failures."""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

import pytest

from recipekit.steps import Runner, Step, StepFailed

pytestmark = pytest.mark.integration  # each step is a real process

WRITE = "import pathlib, sys; pathlib.Path(sys.argv[2]).write_text(pathlib.Path(sys.argv[1]).read_text() + '!')"


def copy_step(source: Path, target: Path) -> Step:
    return Step("copy", [sys.executable, "-c", WRITE, str(source), str(target)], inputs=[source], outputs=[target])


def age(path: Path, seconds: float) -> None:
    """Move a file's time ``seconds`` into the past (file times are coarse on some filesystems)."""
    stamp = time.time() - seconds
    os.utime(path, (stamp, stamp))


def test_a_step_runs_once_then_again_only_when_its_command_or_an_input_changes(tmp_path: Path) -> None:
    source, target = tmp_path / "in.txt", tmp_path / "out.txt"
    source.write_text("a", encoding="utf-8")
    runner = Runner(tmp_path / "logs")
    first = runner.run(copy_step(source, target))
    assert first.status == "ran" and target.read_text(encoding="utf-8") == "a!"
    assert (tmp_path / "logs" / "copy.done").read_text(encoding="utf-8") == copy_step(source, target).shell()
    assert runner.run(copy_step(source, target)).status == "skipped"
    age(target, 100)
    source.write_text("b", encoding="utf-8")  # newer than the output
    assert runner.run(copy_step(source, target)).status == "ran" and target.read_text(encoding="utf-8") == "b!"
    changed = copy_step(source, target)
    changed.env = {"EXTRA": "1"}  # another command line: the stamp no longer matches
    assert runner.run(changed).status == "ran"
    assert runner.run(changed, force=True).status == "ran"
    target.unlink()
    assert runner.run(changed).status == "ran" and target.is_file()  # a missing output is redone


def test_outputs_suffice_for_a_runner_told_so(tmp_path: Path) -> None:
    source, target = tmp_path / "in.txt", tmp_path / "out.txt"
    source.write_text("a", encoding="utf-8")
    target.write_text("made elsewhere", encoding="utf-8")
    assert Runner(tmp_path / "logs", outputs_suffice=True).run(copy_step(source, target)).status == "skipped"
    assert Runner(tmp_path / "logs").run(copy_step(source, target)).status == "ran"  # no stamp: run


def test_a_failure_names_the_log_and_leaves_no_stamp(tmp_path: Path) -> None:
    runner = Runner(tmp_path / "logs")
    failing = Step("fail", [sys.executable, "-c", "print('went wrong'); raise SystemExit(3)"])
    with pytest.raises(StepFailed) as caught:
        runner.run(failing)
    assert caught.value.why == "exit 3" and caught.value.log == tmp_path / "logs" / "fail.log"
    assert "went wrong" in caught.value.tail and not (tmp_path / "logs" / "fail.done").exists()
    silent = Step("silent", [sys.executable, "-c", "pass"], outputs=[tmp_path / "never.txt"])
    with pytest.raises(StepFailed, match=r"step silent failed \(it wrote no .*never.txt\)"):
        runner.run(silent)


def test_run_all_starts_from_a_step_and_prints_progress(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    source = tmp_path / "in.txt"
    source.write_text("a", encoding="utf-8")
    steps = [copy_step(source, tmp_path / "one.txt"), copy_step(tmp_path / "one.txt", tmp_path / "two.txt")]
    steps[1].name = "again"
    runner = Runner(tmp_path / "logs")
    assert [o.status for o in runner.run_all(steps)] == ["ran", "ran"]
    assert [o.status for o in runner.run_all(steps)] == ["skipped", "skipped"]
    assert [o.status for o in runner.run_all(steps, start_at="again")] == ["skipped", "ran"]
    out = capsys.readouterr().out
    assert out.count("[2/2] again: ") == 3 and out.count("  skipped: up to date") == 3
    with pytest.raises(Exception, match=r"--from nope: no such step \(steps: copy, again\)"):
        runner.run_all(steps, start_at="nope")
