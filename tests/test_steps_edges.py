"""The step runner at its edges: a failure's reason keeps the step's own spacing, each progress line of ``run_all``
reaches a piped reader before what follows it starts, and a stamp holding a command with non-ASCII text is read
as the UTF-8 it was written in whatever the locale. Expected texts are written by hand."""

from __future__ import annotations

import os
import shlex
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import Piped, ascii_locale

from recipekit.steps import Outcome, Runner, Step, said_why


def test_a_reason_keeps_its_own_spacing_unflattened() -> None:
    """The reason is the step's line as it said it (stripped at its ends only): inner runs of spaces and tabs, as
    in a quoted field, are kept; a longer one is still cut to 300 characters."""
    assert said_why("loading\nerror: column  'text'\tis empty in row 3\n") == "column  'text'\tis empty in row 3"
    assert said_why("ValueError: expected  2   labels\n") == "ValueError: expected  2   labels"
    assert said_why("a  b\t\tc") == "a  b\t\tc"  # the last line, no error line
    spaced = "w " + " " * 298 + "end"  # 303 characters, 299 of them spaces: cut as they are
    assert said_why(spaced) == spaced[:297] + "..."




def test_each_progress_line_of_run_all_is_flushed_before_the_next_thing_happens(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """On a pipe (a CI log, ``| tee``) a line left in the buffer would show only later: the step's line is out
    before the step is prepared, the log line before it starts, the done/skipped line before the next step."""
    monkeypatch.setenv("LLM_RECIPES_ROOT", str(tmp_path))
    out = Piped()
    monkeypatch.setattr(sys, "stdout", out)
    logs = tmp_path.resolve() / "logs"
    seen: list[tuple[str, str]] = []

    class Watched(Runner):
        def execute(self, step: Step) -> Outcome:
            seen.append((f"execute {step.name}", out.seen))
            return super().execute(step)

        def after(self, outcomes: list[Outcome]) -> None:
            seen.append((f"after {outcomes[-1].step}", out.seen))

    def prepare(step: Step, notes: list[str]) -> None:
        seen.append((f"prepare {step.name}", out.seen))

    one = Step("one", [sys.executable, "-c", "pass"])
    two = Step("two", ["never-started"], env={"MODE": "fast"})
    logs.mkdir()
    (logs / "two.done").write_text(two.shell(), encoding="utf-8")  # up to date: skipped
    outcomes = Watched(logs, prepare).run_all([one, two])
    assert [o.status for o in outcomes] == ["ran", "skipped"]
    first = f"[1/2] one: {one.shell()}\n"
    log_line = f"  log: {logs / 'one.log'}\n"
    done = f"  done in {outcomes[0].seconds:.1f} s (log: {logs / 'one.log'})\n"
    second = "[2/2] two: MODE=fast never-started\n"
    assert seen == [("prepare one", first), ("execute one", first + log_line),
                    ("after one", first + log_line + done), ("prepare two", first + log_line + done + second),
                    ("after two", first + log_line + done + second + "  skipped: up to date\n")]
    assert out.seen == out.getvalue()


def test_a_stamp_with_non_ascii_text_is_read_as_utf8_while_this_process_reads_ascii(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Here, in the C locale's character type (a file opened without an encoding reads as ASCII): the stamp of
    the same command still says the step is up to date."""
    monkeypatch.setenv("LLM_RECIPES_ROOT", str(tmp_path))
    step = Step("greet", ["echo", "caf\u00e9 \u4f60\u597d"])
    runner = Runner(tmp_path / "logs")
    runner.stamp(step).parent.mkdir()
    runner.stamp(step).write_text(step.shell(), encoding="utf-8")
    with ascii_locale():
        done = runner.up_to_date(step)
    assert done is True


def test_a_step_run_in_an_ascii_locale_stamps_its_non_ascii_command_as_utf8(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The stamp of a command with non-ASCII text is written as UTF-8 bytes whatever the locale (not refused by
    an ASCII codec), and says the step is up to date afterwards."""
    monkeypatch.setenv("LLM_RECIPES_ROOT", str(tmp_path))
    logs = tmp_path / "logs"
    step = Step("greet", [sys.executable, "-c", "pass", "caf\u00e9 \u4f60\u597d"])
    runner = Runner(logs)
    with ascii_locale():
        assert (runner.execute(step).status, runner.up_to_date(step)) == ("ran", True)
    command = f"{shlex.quote(sys.executable)} -c pass 'caf\u00e9 \u4f60\u597d'"
    assert (logs / "greet.done").read_bytes() == command.encode("utf-8")


def test_a_steps_seconds_are_its_own_run_time_to_a_tenth(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A step that sleeps 0.2 s took at least that, and no longer than the call that ran it (rounding to a tenth
    keeps that order)."""
    import time

    monkeypatch.setenv("LLM_RECIPES_ROOT", str(tmp_path))
    step = Step("nap", [sys.executable, "-c", "import time; time.sleep(0.2)"])
    start = time.perf_counter()
    outcome = Runner(tmp_path / "logs").execute(step)
    elapsed = time.perf_counter() - start
    assert outcome.status == "ran"
    assert 0.2 <= outcome.seconds <= round(elapsed, 1)


def test_the_tool_path_puts_this_environments_programs_before_the_callers_path(
        monkeypatch: pytest.MonkeyPatch) -> None:
    from recipekit.steps import tool_env

    here = str(Path(sys.executable).parent)
    monkeypatch.setenv("PATH", os.pathsep.join(["/opt/one/bin", "/opt/two/bin"]))
    assert tool_env()["PATH"] == os.pathsep.join([here, "/opt/one/bin", "/opt/two/bin"])
    assert tool_env({"PATH": "/only/this", "MODE": "fast"})["PATH"] == "/only/this"  # a step's own PATH wins


@pytest.mark.skipif(not Path("/bin/sh").is_file(), reason="needs a POSIX shell in /bin")
def test_without_a_path_a_step_still_finds_the_systems_programs(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """PATH unset (a bare cron or service environment): after this environment's programs comes the system's
    default search path, as for any program started without PATH (``sh`` is found in /bin), and not the working
    folder (an empty entry would search it)."""
    from recipekit.steps import run_child, tool_env

    monkeypatch.delenv("PATH")
    path = tool_env()["PATH"].split(os.pathsep)
    assert path[0] == str(Path(sys.executable).parent)
    assert "/bin" in path[1:] and "" not in path
    assert run_child(["sh", "-c", "exit 3"], cwd=tmp_path) == 3


def test_without_a_tick_the_child_is_waited_on_until_it_exits(monkeypatch: pytest.MonkeyPatch) -> None:
    """No polling when nobody ticks: one wait without a time limit, which returns at the child's exit (a poll
    with a limit would see it only at its next check)."""
    from recipekit.steps import run_child

    waits: list[float | None] = []
    real_wait = subprocess.Popen.wait

    def wait(self: subprocess.Popen, timeout: float | None = None) -> int:
        waits.append(timeout)
        return real_wait(self, timeout)

    monkeypatch.setattr(subprocess.Popen, "wait", wait)
    assert run_child([sys.executable, "-c", "raise SystemExit(4)"]) == 4
    assert waits == [None]
