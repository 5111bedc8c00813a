"""The one step runner: logs, stamps, declared inputs and outputs, what makes a step run again, failures."""

from __future__ import annotations

import _thread
import io
import itertools
import os
import re
import shlex
import shutil
import signal
import socket
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from recipekit.errors import InputError
from recipekit.steps import Runner, Step, StepFailed

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
    assert caught.value.reason == "went wrong" and not (tmp_path / "logs" / "fail.done").exists()
    silent = Step("silent", [sys.executable, "-c", "pass"], outputs=[tmp_path / "never.txt"])
    with pytest.raises(StepFailed, match=r"step silent failed \(it wrote no .*never.txt\)"):
        runner.run(silent)


def test_a_failure_says_in_its_one_line_what_the_step_said_last(tmp_path: Path) -> None:
    """The step's last ``error:`` line (a later line that is not one does not hide it), else its last line."""
    runner, logs = Runner(tmp_path / "logs"), tmp_path / "logs"
    said = ("import sys; print('loading'); print('error: the hub is unreachable: pass --input', flush=True); "
            "print('  cleaning up', file=sys.stderr); raise SystemExit(2)")
    with pytest.raises(StepFailed) as caught:
        runner.run(Step("convert", [sys.executable, "-c", said]))
    assert str(caught.value) == (f"step convert failed (exit 2): the hub is unreachable: pass --input; its log: "
                                 f"{logs / 'convert.log'}")
    with pytest.raises(StepFailed) as caught:
        runner.run(Step("crash", [sys.executable, "-c", "print('starting'); raise ValueError('bad value')\n\n"]))
    assert str(caught.value) == f"step crash failed (exit 1): ValueError: bad value; its log: {logs / 'crash.log'}"
    with pytest.raises(StepFailed) as caught:
        runner.run(Step("long", [sys.executable, "-c", "import sys; sys.exit('error: ' + 'x' * 400)"]))
    assert caught.value.reason == "x" * 297 + "..." and "\n" not in str(caught.value)
    with pytest.raises(StepFailed) as caught:
        runner.run(Step("quiet", [sys.executable, "-c", "raise SystemExit(4)"]))
    assert str(caught.value) == f"step quiet failed (exit 4); its log: {logs / 'quiet.log'}"


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


# a trainer writing LLaMA-Factory's trainer_log.jsonl as it goes: one record every 0.2 s, 20 steps
TRAINER = """import json, pathlib, sys, time
log = pathlib.Path(sys.argv[1])
log.parent.mkdir(parents=True, exist_ok=True)
for step in range(1, 21):
    with log.open("a") as handle:
        record = {"current_steps": step, "total_steps": 20, "loss": 2.0 / step,
                  "elapsed_time": f"0:00:{step:02d}", "remaining_time": f"0:00:{20 - step:02d}"}
        handle.write(json.dumps(record) + "\\n")
    time.sleep(0.2)
"""


@pytest.mark.integration  # a real process
def test_a_running_step_shows_its_trainers_progress_every_few_percent(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                                      capsys: pytest.CaptureFixture[str]) -> None:
    import recipekit.steps

    monkeypatch.setattr(recipekit.steps, "POLL_SECONDS", 0.05)
    log = tmp_path / "run" / "trainer_log.jsonl"
    log.parent.mkdir()
    log.write_text('{"current_steps": 99, "total_steps": 99}\n', encoding="utf-8")  # an earlier run's log
    os.utime(log, (time.time() - 60, time.time() - 60))
    step = Step("train", [sys.executable, "-c", TRAINER, str(log)], progress=log)
    Runner(tmp_path / "logs").execute(step)
    shown = [line.strip() for line in capsys.readouterr().out.splitlines()]
    assert len(shown) >= 3, shown  # 4 s of training read every 0.05 s
    assert all(re.fullmatch(r"step \d+/20 \(\d+\.\d%\), loss \d\.\d{4}, elapsed 0:00:\d\d, remaining 0:00:\d\d", line)
               for line in shown), shown  # never the earlier run's 99/99
    steps = [int(line.split()[1].split("/")[0]) for line in shown]
    assert all(later > earlier for earlier, later in itertools.pairwise(steps))  # each a new 5% (1 of 20 steps)
    loss = {int(line.split()[1].split("/")[0]): float(line.split("loss ")[1].split(",")[0]) for line in shown}
    assert all(value == pytest.approx(2.0 / step, abs=5e-5) for step, value in loss.items())


# a quiet step: tqdm's own bars into its log (a named one, then the trainer's), and nothing on the console
QUIET = """import sys, time
from tqdm import tqdm
named = tqdm(total=16, desc="Running tokenizer on dataset", file=sys.stdout)
named.update(16)
named.close()
sys.stdout.flush()
time.sleep(1.5)
bar = tqdm(total=2, file=sys.stdout, mininterval=0)
bar.update(1)
sys.stdout.flush()
time.sleep(1.5)
"""


@pytest.mark.integration  # a real process
def test_a_quiet_step_gets_a_heartbeat_with_the_latest_count_in_its_log(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    import recipekit.progress
    import recipekit.steps

    monkeypatch.setattr(recipekit.steps, "POLL_SECONDS", 0.05)
    monkeypatch.setattr(recipekit.progress, "HEARTBEAT_SECONDS", 0.4)
    Runner(tmp_path / "logs").execute(Step("train", [sys.executable, "-c", QUIET]))
    shown = capsys.readouterr().out.splitlines()
    assert len(shown) >= 4, shown  # 3 s quiet, a line every 0.4 s
    assert all(re.fullmatch(r"  train: still running, elapsed 0:00:0\d(; its log: .+)?", line) for line in shown), shown
    counts = [line.split("; its log: ")[1] for line in shown if "; its log: " in line]
    assert "Running tokenizer on dataset 16/16" in counts and counts[-1] == "1/2", counts


def test_progress_lines_by_hand() -> None:
    from recipekit.progress import describe

    record = {"current_steps": 120, "total_steps": 840, "loss": 0.53124, "elapsed_time": "0:02:11",
              "remaining_time": "0:13:05"}
    assert describe(record) == "step 120/840 (14.3%), loss 0.5312, elapsed 0:02:11, remaining 0:13:05"
    assert describe({"current_steps": 5, "total_steps": 0}) == "step 5/0"


def test_an_old_trainer_log_is_not_this_steps_progress(tmp_path: Path) -> None:
    from recipekit.progress import latest

    log = tmp_path / "trainer_log.jsonl"
    log.write_text('{"current_steps": 3, "total_steps": 9}\n{"current_steps": 4, "total_st', encoding="utf-8")
    assert latest(log, since=time.time() - 60) == {"current_steps": 3, "total_steps": 9}  # the half line skipped
    os.utime(log, (time.time() - 120, time.time() - 120))
    assert latest(log, since=time.time() - 60) is None
    assert latest(tmp_path / "none.jsonl", since=0) is None


@pytest.mark.integration  # a real process
def test_ctrl_c_during_a_step_says_what_it_left_and_where(tmp_path: Path) -> None:
    import _thread
    import threading

    out = tmp_path / "run"
    writer = (f"import pathlib, time; pathlib.Path({str(out)!r}).mkdir(); "
              f"pathlib.Path({str(out / 'trainer_log.jsonl')!r}).write_text('{{}}'); time.sleep(30)")
    step = Step("train", [sys.executable, "-c", writer], outputs=[out / "trainer_state.json"],
                progress=out / "trainer_log.jsonl")
    timer = threading.Timer(2.0, _thread.interrupt_main)
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)  # as in a terminal
    timer.start()
    started = time.time()
    try:
        with pytest.raises(KeyboardInterrupt) as caught:
            Runner(tmp_path / "logs").execute(step)
    finally:
        timer.cancel()
        signal.signal(signal.SIGINT, previous)
    assert time.time() - started < 20  # the child was stopped, not waited for
    assert str(caught.value) == (f"interrupted (Ctrl-C) during step train: it had written 1 file(s) under {out} "
                                 f"(left as they are; a rerun redoes the step); its log: {tmp_path / 'logs'}/train.log")


def test_a_torchrun_failure_gives_the_ranks_exception_not_the_summarys_separators() -> None:
    """torchrun ends a failed launch with its own summary (rules of '=' and '-', 'Root Cause', the exit code); the
    reason a user needs is the rank's exception line above it."""
    from recipekit.steps import said_why

    rank_error = "[rank1]: ValueError: Cannot find valid samples, check `data/README.md` for the data format."
    log = "\n".join([
        "[rank1]: Traceback (most recent call last):", '[rank1]:   File "launcher.py", line 23, in <module>',
        rank_error, "E1206 12:00:00.000 api.py:874] failed (exitcode: 1) local_rank: 1 (pid: 77) of binary: python",
        "Traceback (most recent call last):", "torch.distributed.elastic.multiprocessing.errors.ChildFailedError:",
        "=" * 60, "llamafactory/launcher.py FAILED", "-" * 60, "Failures:", "  <NO_OTHER_FAILURES>", "-" * 60,
        "Root Cause (first observed failure):", "[0]:", "  exitcode  : 1 (pid: 77)", "=" * 60, ""])
    assert said_why(log) == rank_error
    assert said_why("loading\nOSError: Failed to load tokenizer.\n") == "OSError: Failed to load tokenizer."
    assert said_why("step 3/8\nerror: the hub is unreachable\nbye\n") == "the hub is unreachable"
    assert said_why("done\n" + "=" * 20 + "\n") == "done"


def test_a_reason_is_cut_only_past_its_length_and_an_error_line_wins() -> None:
    from recipekit.steps import said_why

    exact = "x" * 300
    assert said_why(exact) == exact  # 300 characters: kept whole
    assert said_why(exact + "y") == "x" * 297 + "..."  # 301: cut to 300 with the dots
    assert said_why("") == "" and said_why("---\n===\n") == ""
    assert said_why("error: first\nValueError: boom\nerror: second\nbye") == "second"  # the last error line
    assert said_why("ValueError: one\nKeyError: two\nbye") == "KeyError: two"  # else the last exception
    assert said_why("  padded line  \n") == "padded line"
    assert said_why("Errors: none found: fine\nlast") == "last"  # not an exception's name


def test_a_steps_command_line_and_failure_headline() -> None:
    assert Step("s", ["python", "-c", "print('a b')"]).shell() == "python -c 'print('\"'\"'a b'\"'\"')'"
    assert Step("s", ["x"], env={"A": "1", "B": "two words"}).shell() == "A=1 B='two words' x"
    failed = StepFailed(Step("train", ["x"]), "exit 3", Path("logs/train.log"))
    assert str(failed) == "step train failed (exit 3); its log: logs/train.log"
    said = StepFailed(Step("train", ["x"]), "exit 3", Path("l.log"), "oops")
    assert said.headline == "step train failed (exit 3): oops"


def test_torchrun_only_when_asked_and_not_inside_a_rank() -> None:
    from recipekit.steps import torchrun_command, torchrun_env

    command = [sys.executable, "-m", "recipekit.commands.train_classifier", "r.yaml"]
    for asked in ({}, {"FORCE_TORCHRUN": "0"}, {"FORCE_TORCHRUN": "yes"},
                  {"FORCE_TORCHRUN": "1", "LOCAL_RANK": "0"}):
        assert torchrun_command(command, asked) is None, asked
    env = {"FORCE_TORCHRUN": "True", "NNODES": "2", "NODE_RANK": "1", "NPROC_PER_NODE": "4",
           "MASTER_ADDR": "10.0.0.1", "MASTER_PORT": "29500"}
    assert torchrun_command(command, env) == [
        sys.executable, "-m", "torch.distributed.run", "--nnodes=2", "--node_rank=1", "--nproc_per_node=4",
        "--master_addr=10.0.0.1", "--master_port=29500", "-m", "recipekit.commands.train_classifier", "r.yaml"]
    plain = torchrun_command(command, {**torchrun_env(2), "MASTER_PORT": ""})
    assert plain[3:7] == ["--nnodes=1", "--node_rank=0", "--nproc_per_node=2", "--master_addr=127.0.0.1"]
    assert re.fullmatch(r"--master_port=\d+", plain[7]) and plain[7] != "--master_port="
    assert torchrun_env(8) == {"FORCE_TORCHRUN": "1", "NPROC_PER_NODE": "8"}
    assert torchrun_command(command, {"FORCE_TORCHRUN": "1"})[5] == "--nproc_per_node=1"


def test_a_module_command_and_the_tool_path() -> None:
    from recipekit.steps import module_command, tool_env

    assert module_command("gen_report") == [sys.executable, "-m", "recipekit.commands.gen_report"]
    assert module_command("agnews") == [sys.executable, "-m", "recipekit.converters.agnews"]
    assert module_command("recipekit.plan.probe") == [sys.executable, "-m", "recipekit.plan.probe"]
    env = tool_env({"PATH_EXTRA": "1"})
    assert env["PATH"].split(os.pathsep)[0] == str(Path(sys.executable).parent) and env["PATH_EXTRA"] == "1"


def test_a_folders_time_is_its_newest_file_directly_inside(tmp_path: Path) -> None:
    from recipekit.steps import newest

    assert newest(tmp_path / "missing") == 0.0 and newest(tmp_path) == 0.0  # empty folder
    (tmp_path / "a").write_text("a")
    (tmp_path / "b").write_text("b")
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "c").write_text("c")
    age(tmp_path / "a", 300)
    age(tmp_path / "b", 200)
    assert newest(tmp_path) == (tmp_path / "b").stat().st_mtime  # sub/c, newer, is not read
    assert newest(tmp_path / "a") == (tmp_path / "a").stat().st_mtime


def test_up_to_date_at_each_of_its_conditions(tmp_path: Path) -> None:
    """No process runs: the stamp and the files are written by hand."""
    source, target = tmp_path / "in.txt", tmp_path / "out.txt"
    step = copy_step(source, target)
    runner = Runner(tmp_path / "logs")
    assert not runner.up_to_date(step)  # no stamp
    (tmp_path / "logs").mkdir()
    runner.stamp(step).write_text(step.shell() + " ", encoding="utf-8")
    source.write_text("x")
    target.write_text("x!")
    assert not runner.up_to_date(step)  # another command
    runner.stamp(step).write_text(step.shell(), encoding="utf-8")
    age(source, 100)
    assert runner.up_to_date(step)
    stamp = time.time() - 50
    os.utime(source, (stamp, stamp))
    os.utime(target, (stamp, stamp))
    assert runner.up_to_date(step)  # an input as old as the oldest output
    os.utime(source, (stamp + 1, stamp + 1))
    assert not runner.up_to_date(step)  # newer by a second
    both = Step("copy", step.command, inputs=[source], outputs=[target, tmp_path / "other.txt"])
    runner.stamp(both).write_text(both.shell(), encoding="utf-8")
    assert not runner.up_to_date(both)  # one output missing
    assert not runner.up_to_date(Step("copy", step.command, outputs=both.outputs))  # even with no inputs
    (tmp_path / "other.txt").write_text("o")
    os.utime(tmp_path / "other.txt", (stamp, stamp))
    os.utime(target, (stamp + 2, stamp + 2))
    assert not runner.up_to_date(both)  # the input is newer than the older output
    gone = Step("copy", step.command, inputs=[tmp_path / "nowhere"], outputs=[target])
    assert runner.up_to_date(gone)  # an input that does not exist changes nothing
    bare = Step("copy", step.command, inputs=[source])  # no outputs: its stamp's time
    runner.stamp(bare).write_text(bare.shell(), encoding="utf-8")
    assert runner.up_to_date(bare)
    age(runner.stamp(bare), 3600)
    assert not runner.up_to_date(bare)
    suffices = Runner(tmp_path / "logs", outputs_suffice=True)
    assert suffices.up_to_date(Step("new", ["x"], inputs=[source], outputs=[target]))  # no stamp, outputs there
    assert not suffices.up_to_date(Step("new", ["x"], outputs=[target, tmp_path / "nowhere"]))
    assert not suffices.up_to_date(Step("new", ["x"]))  # nothing declared: the stamp decides


def test_run_all_refuses_an_unknown_first_step(tmp_path: Path) -> None:
    with pytest.raises(InputError, match=r"^--from tain: no such step \(steps: convert, train\)$"):
        Runner(tmp_path).run_all([Step("convert", ["x"]), Step("train", ["y"])], "tain")


def test_what_a_step_stopped_by_ctrl_c_left(tmp_path: Path) -> None:
    from recipekit.steps import interrupted_line

    out = tmp_path / "run"
    out.mkdir()
    (out / "old.bin").write_text("o")
    age(out / "old.bin", 100)
    step = Step("train", ["x"], outputs=[out / "model.bin"])
    since = time.time() - 10
    line = interrupted_line(step, Path("l.log"), since)
    assert line == ("interrupted (Ctrl-C) during step train: it had written nothing in its output folders; its log: "
                    "l.log")
    (out / "sub").mkdir()
    (out / "sub" / "part.bin").write_text("p")
    (out / "a.bin").write_text("a")
    assert interrupted_line(step, Path("l.log"), since) == (
        f"interrupted (Ctrl-C) during step train: it had written 2 file(s) under {out} (left as they are; a rerun "
        "redoes the step); its log: l.log")


# The launcher's parts one by one, each with a bare child that ends at once (or is stopped at once).


class Terminal(io.StringIO):
    """A console stream: a step's progress is a tqdm bar there."""

    def isatty(self) -> bool:
        return True


@pytest.fixture
def at_tmp_root(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The repository root is ``tmp_path``: steps run there and their relative paths are read there."""
    monkeypatch.setenv("LLM_RECIPES_ROOT", str(tmp_path))
    return tmp_path.resolve()


def test_the_documented_waits_of_a_running_step() -> None:
    import recipekit.steps

    assert recipekit.steps.POLL_SECONDS == 2.0 and recipekit.steps.STOP_SECONDS == 30  # as the docs promise


def test_a_program_beside_this_python_then_on_path_then_its_bare_name() -> None:
    from recipekit.steps import program

    assert program("llm-recipes") == str(Path(sys.executable).parent / "llm-recipes")
    assert not (Path(sys.executable).parent / "sh").exists()
    assert program("sh") == shutil.which("sh") and Path(program("sh")).is_absolute()
    assert program("no-such-program-anywhere") == "no-such-program-anywhere"


def test_a_free_port_can_be_listened_on() -> None:
    from recipekit.steps import free_port

    port = free_port()
    assert port.isdigit() and 1024 <= int(port) < 65536
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", int(port)))
        listener.listen()


REPORT = ("import os, sys; print(os.environ['GREETING'], os.environ['FROM_PARENT'], flush=True); "
          "print(os.getcwd(), flush=True); print(os.environ['PATH'].split(os.pathsep)[0], flush=True); "
          "print('on stderr', file=sys.stderr, flush=True); raise SystemExit(5)")


def test_a_child_gets_its_environment_folder_and_tools_and_writes_both_streams_to_the_log(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from recipekit.steps import run_child

    monkeypatch.setenv("FROM_PARENT", "inherited")
    log = tmp_path / "child.log"
    with log.open("w", encoding="utf-8") as handle:
        code = run_child([sys.executable, "-c", REPORT], {"GREETING": "hello"}, handle, tmp_path)
    assert code == 5
    assert log.read_text(encoding="utf-8").splitlines() == [
        "hello inherited", str(tmp_path.resolve()), str(Path(sys.executable).parent), "on stderr"]


def test_without_a_log_a_childs_output_is_this_processs_own(capfd: pytest.CaptureFixture[str]) -> None:
    from recipekit.steps import run_child

    code = run_child([sys.executable, "-c", "import os, sys; print(os.getcwd()); print('err', file=sys.stderr)"])
    assert code == 0
    assert tuple(capfd.readouterr()) == (os.getcwd() + "\n", "err\n")  # run from here, each stream its own


def test_a_tick_comes_every_poll_and_once_after_the_child_ends(monkeypatch: pytest.MonkeyPatch) -> None:
    import recipekit.steps
    from recipekit.steps import run_child

    ticks: list[float] = []
    monkeypatch.setattr(recipekit.steps, "POLL_SECONDS", 60.0)
    started = time.perf_counter()
    assert run_child([sys.executable, "-c", "raise SystemExit(2)"], tick=lambda: ticks.append(1)) == 2
    assert len(ticks) == 1 and time.perf_counter() - started < 30  # the exit is seen at once, then one tick
    monkeypatch.setattr(recipekit.steps, "POLL_SECONDS", 0.02)
    ticks.clear()
    assert run_child([sys.executable, "-c", "import time; time.sleep(0.3)"], tick=lambda: ticks.append(1)) == 0
    assert len(ticks) >= 5, ticks


SLEEPER = "import os, pathlib, sys, time; pathlib.Path(sys.argv[1]).write_text(str(os.getpid())); time.sleep(30)"
STUBBORN = ("import os, pathlib, signal, sys, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); "
            "pathlib.Path(sys.argv[1]).write_text(str(os.getpid())); time.sleep(30)")


def process_state(pid: int) -> str:
    """A process's state letter (``Z``: ended, not yet reaped), or ``gone``."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, ProcessLookupError):
        return "gone"


def ctrl_c_when_written(ready: Path, pressed: list[float]) -> Callable[[], None]:
    """A tick that raises KeyboardInterrupt (as Ctrl-C does) once the child has written ``ready``."""
    def tick() -> None:
        if ready.is_file() and ready.read_text():
            pressed.append(time.perf_counter())
            raise KeyboardInterrupt
    return tick


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="reads a process's state in /proc")
def test_ctrl_c_stops_the_child_and_goes_on(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import recipekit.steps
    from recipekit.steps import run_child

    monkeypatch.setattr(recipekit.steps, "POLL_SECONDS", 0.01)
    ready, pressed = tmp_path / "pid", []
    with pytest.raises(KeyboardInterrupt):
        run_child([sys.executable, "-c", SLEEPER, str(ready)], tick=ctrl_c_when_written(ready, pressed))
    assert time.perf_counter() - pressed[0] < 10  # stopped, not waited for (30 s)
    assert process_state(int(ready.read_text())) == "gone"  # ended and reaped before the interrupt went on


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="reads a process's state in /proc")
def test_a_child_that_ignores_the_stop_is_killed_after_the_grace_time(tmp_path: Path,
                                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    import recipekit.steps
    from recipekit.steps import run_child

    monkeypatch.setattr(recipekit.steps, "POLL_SECONDS", 0.01)
    monkeypatch.setattr(recipekit.steps, "STOP_SECONDS", 0.3)
    ready, pressed = tmp_path / "pid", []
    try:
        with pytest.raises(KeyboardInterrupt):
            run_child([sys.executable, "-c", STUBBORN, str(ready)], tick=ctrl_c_when_written(ready, pressed))
        assert 0.3 <= time.perf_counter() - pressed[0] < 10  # the grace time, then no longer
        pid = int(ready.read_text())
        deadline = time.monotonic() + 3
        while process_state(pid) not in ("Z", "gone") and time.monotonic() < deadline:
            time.sleep(0.01)
        assert process_state(pid) in ("Z", "gone")  # killed
    finally:
        if ready.is_file() and ready.read_text() and process_state(int(ready.read_text())) not in ("Z", "gone"):
            os.kill(int(ready.read_text()), signal.SIGKILL)


def test_ctrl_c_names_the_files_written_in_the_output_and_progress_folders(at_tmp_root: Path) -> None:
    from recipekit.steps import interrupted_line

    for name in "abcde":
        (at_tmp_root / "saves" / name).mkdir(parents=True)
    outputs = [Path(f"saves/{name}/model.bin") for name in "ecdb"]  # folders listed in order whatever their order
    step = Step("train", ["x"], outputs=outputs, progress=Path("saves/a/trainer_log.jsonl"))
    since = 1_700_000_000
    for name, when in (("saves/b/w.bin", since), ("saves/a/trainer_log.jsonl", since + 5), ("saves/a/old", since - 1)):
        (at_tmp_root / name).write_text("x")
        os.utime(at_tmp_root / name, (when, when))
    # w.bin written the very second the step started counts; old, a second before, does not
    folders = ", ".join(f"{at_tmp_root}/saves/{name}" for name in "abcde")
    assert interrupted_line(step, Path("logs/train.log"), since) == (
        f"interrupted (Ctrl-C) during step train: it had written 2 file(s) under {folders} (left as they are; a "
        "rerun redoes the step); its log: logs/train.log")
    assert interrupted_line(step, Path("l.log"), since + 6) == (
        "interrupted (Ctrl-C) during step train: it had written nothing in its output folders; its log: l.log")


MAKE = ("import os, pathlib, sys, time; time.sleep(0.25); print('made in', os.getcwd(), flush=True); "
        "print('size', os.environ['SIZE'], file=sys.stderr, flush=True); pathlib.Path('made.txt').write_text('m')")


def test_a_step_runs_in_the_root_with_its_environment_and_leaves_its_log_and_stamp(at_tmp_root: Path) -> None:
    step = Step("make", [sys.executable, "-c", MAKE], env={"SIZE": "tiny"}, outputs=[Path("made.txt")])
    logs = at_tmp_root / "deep" / "logs"
    runner = Runner(logs)
    assert (runner.log(step), runner.stamp(step)) == (logs / "make.log", logs / "make.done")
    outcome = runner.execute(step)
    assert (logs / "make.log").read_text(encoding="utf-8") == f"made in {at_tmp_root}\nsize tiny\n"
    command = f"SIZE=tiny {shlex.quote(sys.executable)} -c {shlex.quote(MAKE)}"
    assert (logs / "make.done").read_text(encoding="utf-8") == command
    assert (at_tmp_root / "made.txt").read_text(encoding="utf-8") == "m"
    assert (outcome.step, outcome.status, outcome.log, outcome.command) == ("make", "ran", str(logs / "make.log"),
                                                                            command)
    assert 0.2 <= outcome.seconds < 10 and outcome.seconds == round(outcome.seconds, 1)  # to a tenth of a second


def test_a_failed_rerun_drops_the_earlier_stamp_and_names_the_first_output_it_did_not_write(
        at_tmp_root: Path) -> None:
    runner = Runner(at_tmp_root / "logs")
    log = at_tmp_root / "logs" / "s.log"
    step = Step("s", [sys.executable, "-c", "print('error: said but exit 0')"], outputs=[Path("a.txt"), Path("b.txt")])
    (at_tmp_root / "logs").mkdir()
    runner.stamp(step).write_text(step.shell(), encoding="utf-8")
    with pytest.raises(StepFailed) as caught:
        runner.execute(step)
    assert str(caught.value) == f"step s failed (it wrote no a.txt); its log: {log}"  # no reason: it exited 0
    assert caught.value.reason == "" and not runner.stamp(step).exists()
    assert log.read_text(encoding="utf-8") == "error: said but exit 0\n"
    (at_tmp_root / "a.txt").write_text("a")
    with pytest.raises(StepFailed, match=r"^step s failed \(it wrote no b\.txt\); its log: "):
        runner.execute(step)
    step.command = [sys.executable, "-c", "import sys; sys.exit('error: disk full')"]
    with pytest.raises(StepFailed) as caught:
        runner.execute(step)  # an exit code first, with what it said
    assert str(caught.value) == f"step s failed (exit 1): disk full; its log: {log}"
    assert caught.value.step is step and caught.value.why == "exit 1" and caught.value.log == log


LONG_LOG = ("import sys; print('error: early'); print('\\n'.join(f'filler line {i:06d}' for i in range(5000))); "
            "sys.exit(3)")


def test_a_failures_reason_is_read_from_the_end_of_a_long_log(at_tmp_root: Path) -> None:
    with pytest.raises(StepFailed) as caught:
        Runner(at_tmp_root / "logs").execute(Step("long", [sys.executable, "-c", LONG_LOG]))
    assert (at_tmp_root / "logs" / "long.log").stat().st_size > 65536  # the error line is past the tail read
    assert caught.value.reason == "filler line 004999"


WATCH_SECONDS = 20  # the longest a test waits for a child to say it started


@pytest.fixture
def interrupt_when() -> Iterator[Callable[[Callable[[], bool]], None]]:
    """Press Ctrl-C in this process (KeyboardInterrupt in its main thread) once ``ready()``; the watch ends with its
    test, so that a test that ends early leaves no Ctrl-C to land in a later one."""
    stop, guard, watchers = threading.Event(), threading.Lock(), []
    # Ctrl-C raises KeyboardInterrupt, as in a terminal (a test runner's worker may ignore SIGINT)
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)

    def watch(ready: Callable[[], bool]) -> None:
        deadline = time.monotonic() + WATCH_SECONDS
        while time.monotonic() < deadline and not stop.wait(0.01):
            with guard:
                if not stop.is_set() and ready():
                    _thread.interrupt_main()
                    return

    def arm(ready: Callable[[], bool]) -> None:
        watchers.append(threading.Thread(target=watch, args=(ready,), daemon=True))
        watchers[-1].start()

    yield arm
    with guard:
        stop.set()
    for watcher in watchers:
        watcher.join()
    signal.signal(signal.SIGINT, previous)


def test_ctrl_c_during_a_step_says_at_once_what_it_left_and_where(
        at_tmp_root: Path, monkeypatch: pytest.MonkeyPatch,
        interrupt_when: Callable[[Callable[[], bool]], None]) -> None:
    import recipekit.steps

    monkeypatch.setattr(recipekit.steps, "POLL_SECONDS", 0.02)
    (at_tmp_root / "run").mkdir()
    (at_tmp_root / "run" / "old.bin").write_text("from an earlier run")
    age(at_tmp_root / "run" / "old.bin", 60)
    writer = ("import pathlib, time; pathlib.Path('run/trainer_log.jsonl').write_text('{}'); "
              "pathlib.Path('started').write_text('1'); time.sleep(30)")
    step = Step("train", [sys.executable, "-c", writer], outputs=[Path("run/trainer_state.json")],
                progress=Path("run/trainer_log.jsonl"))
    interrupt_when((at_tmp_root / "started").is_file)
    started = time.perf_counter()
    with pytest.raises(KeyboardInterrupt) as caught:
        Runner(at_tmp_root / "logs").execute(step)
    assert time.perf_counter() - started < WATCH_SECONDS  # the child was stopped, not waited for
    assert str(caught.value) == (  # the earlier run's file is not counted
        f"interrupted (Ctrl-C) during step train: it had written 1 file(s) under {at_tmp_root / 'run'} (left as "
        f"they are; a rerun redoes the step); its log: {at_tmp_root / 'logs' / 'train.log'}")
    assert caught.value.__cause__ is None and caught.value.__suppress_context__  # one line, no chained traceback
    assert not (at_tmp_root / "logs" / "train.done").exists()


def test_ctrl_c_on_a_terminal_wipes_the_live_bar_before_the_line(
        at_tmp_root: Path, monkeypatch: pytest.MonkeyPatch,
        interrupt_when: Callable[[Callable[[], bool]], None]) -> None:
    import recipekit.steps

    monkeypatch.setattr(recipekit.steps, "POLL_SECONDS", 0.02)
    screen = Terminal()
    monkeypatch.setattr(sys, "stdout", screen)
    (at_tmp_root / "run").mkdir()
    writer = ("import json, time; open('run/trainer_log.jsonl', 'a').write(json.dumps({'current_steps': 1, "
              "'total_steps': 2}) + '\\n'); time.sleep(30)")
    step = Step("train", [sys.executable, "-c", writer], progress=Path("run/trainer_log.jsonl"))
    interrupt_when(lambda: "1/2" in screen.getvalue())  # once the bar is drawn
    with pytest.raises(KeyboardInterrupt) as caught:
        Runner(at_tmp_root / "logs").execute(step)
    assert str(caught.value).startswith("interrupted (Ctrl-C) during step train: it had written 1 file(s) under ")
    assert re.search(r"\r +\r$", screen.getvalue())  # closed by the step itself (its frame is still held here)


APPEND_RECORD = ("import json, time; time.sleep({delay}); open('run/trainer_log.jsonl', 'a').write(json.dumps("
                 "{{'current_steps': 2, 'total_steps': 2, 'loss': 0.5}}) + '\\n')")


def test_a_step_shows_its_own_runs_trainer_progress_never_an_earlier_runs(
        at_tmp_root: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    import recipekit.steps

    monkeypatch.setattr(recipekit.steps, "POLL_SECONDS", 0.02)
    trainer_log = at_tmp_root / "run" / "trainer_log.jsonl"
    trainer_log.parent.mkdir()
    trainer_log.write_text('{"current_steps": 99, "total_steps": 99}\n', encoding="utf-8")  # an earlier run's
    age(trainer_log, 60)
    runner = Runner(at_tmp_root / "logs")
    runner.execute(Step("predict", [sys.executable, "-c", "pass"], progress=Path("run/trainer_log.jsonl")))
    assert capsys.readouterr().out == ""
    runner.execute(Step("train", [sys.executable, "-c", APPEND_RECORD.format(delay=0)],
                        progress=Path("run/trainer_log.jsonl")))
    assert capsys.readouterr().out == "  step 2/2 (100.0%), loss 0.5000\n"  # read once more after its exit


def test_a_progress_line_counts_as_a_sign_of_life_and_a_quiet_step_gets_a_heartbeat(
        at_tmp_root: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    """One tick, at the child's exit (the poll is longer than the child), 0.3 s after the step began: past the
    heartbeat's 0.2 s unless the trainer's line was just shown."""
    import recipekit.progress
    import recipekit.steps

    monkeypatch.setattr(recipekit.steps, "POLL_SECONDS", 60.0)
    monkeypatch.setattr(recipekit.progress, "HEARTBEAT_SECONDS", 0.2)
    (at_tmp_root / "run").mkdir()
    runner = Runner(at_tmp_root / "logs")
    runner.execute(Step("train", [sys.executable, "-c", APPEND_RECORD.format(delay=0.3)],
                        progress=Path("run/trainer_log.jsonl")))
    assert capsys.readouterr().out == "  step 2/2 (100.0%), loss 0.5000\n"
    bar = "import time; time.sleep(0.3); print(' 50%|#####     | 1/2 [00:01<00:01, 1.00it/s]', flush=True)"
    runner.execute(Step("quiet", [sys.executable, "-c", bar]))
    assert re.fullmatch(r"  quiet: still running, elapsed 0:00:0\d; its log: 1/2\n", capsys.readouterr().out)


def test_on_a_terminal_the_live_bar_counts_as_a_sign_of_life_and_is_closed_at_the_end(
        at_tmp_root: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import recipekit.progress
    import recipekit.steps

    monkeypatch.setattr(recipekit.steps, "POLL_SECONDS", 0.02)
    monkeypatch.setattr(recipekit.progress, "HEARTBEAT_SECONDS", 0.1)
    screen = Terminal()
    monkeypatch.setattr(sys, "stdout", screen)
    (at_tmp_root / "run").mkdir()
    first = ("import json, time; open('run/trainer_log.jsonl', 'a').write(json.dumps({'current_steps': 1, "
             "'total_steps': 2}) + '\\n'); time.sleep(0.4)")
    Runner(at_tmp_root / "logs").execute(Step("train", [sys.executable, "-c", first],
                                              progress=Path("run/trainer_log.jsonl")))
    shown = screen.getvalue()
    # once the bar is up, 0.4 s of it unchanged brings no heartbeat (a slow start may bring one before it)
    assert "1/2" in shown and "still running" not in shown.partition("0/2")[2]
    assert re.search(r"\r +\r$", shown)  # the bar wiped when the step ended


def test_ready_prepares_each_step_and_says_whether_it_has_to_run(at_tmp_root: Path) -> None:
    seen: list[tuple[str, list[str]]] = []

    def prepare(step: Step, notes: list[str]) -> None:
        seen.append((step.name, notes))
        notes.append("tiny copy written")

    runner = Runner(at_tmp_root / "logs", prepare)
    step = Step("convert", ["x"])
    notes: list[str] = []
    assert runner.ready(step, notes=notes) is True  # no stamp
    assert notes == ["tiny copy written"] and seen[0][1] is notes
    (at_tmp_root / "logs").mkdir()
    runner.stamp(step).write_text(step.shell(), encoding="utf-8")
    assert runner.ready(step) is False and seen[-1] == ("convert", ["tiny copy written"])  # a list of its own
    assert runner.ready(step, force=True) is True and len(seen) == 3
    assert Runner(at_tmp_root / "logs").ready(step) is False  # nothing to prepare


def test_run_skips_an_up_to_date_step_without_starting_it(at_tmp_root: Path) -> None:
    from recipekit.steps import Outcome

    step = Step("check", [sys.executable, "-c", "raise SystemExit(9)"])
    runner = Runner(at_tmp_root / "logs")
    (at_tmp_root / "logs").mkdir()
    runner.stamp(step).write_text(step.shell(), encoding="utf-8")
    assert runner.run(step) == Outcome("check", "skipped", 0.0, str(at_tmp_root / "logs" / "check.log"), step.shell())
    assert not runner.log(step).exists()  # never started
    with pytest.raises(StepFailed, match=r"^step check failed \(exit 9\); its log: "):
        runner.run(step, force=True)


def test_run_all_prints_each_steps_lines_and_hands_the_outcomes_over_after_each(
        at_tmp_root: Path, capsys: pytest.CaptureFixture[str]) -> None:
    class Recording(Runner):
        def after(self, outcomes: list) -> None:
            seen.append([(o.step, o.status) for o in outcomes])

    def prepare(step: Step, notes: list[str]) -> None:
        if step.name == "one":
            notes.extend(["first note", "second note"])

    seen: list[list[tuple[str, str]]] = []
    logs = at_tmp_root / "logs"
    runner = Recording(logs, prepare)
    steps = [Step("one", [sys.executable, "-c", "import time; time.sleep(0.15)"]),
             Step("two", [sys.executable, "-c", "pass"], env={"MODE": "fast"})]
    outcomes = runner.run_all(steps)
    lines = capsys.readouterr().out.splitlines()
    assert lines[:4] == [f"[1/2] one: {shlex.quote(sys.executable)} -c 'import time; time.sleep(0.15)'",
                         "  note: first note", "  note: second note", f"  log: {logs / 'one.log'}"]
    done = re.fullmatch(rf"  done in (\d+\.\d) s \(log: {re.escape(str(logs / 'one.log'))}\)", lines[4])
    assert done and float(done.group(1)) == outcomes[0].seconds and outcomes[0].seconds >= 0.1
    assert lines[5:7] == [f"[2/2] two: MODE=fast {shlex.quote(sys.executable)} -c pass", f"  log: {logs / 'two.log'}"]
    assert re.fullmatch(rf"  done in \d+\.\d s \(log: {re.escape(str(logs / 'two.log'))}\)", lines[7])
    assert len(lines) == 8
    assert seen == [[("one", "ran")], [("one", "ran"), ("two", "ran")]]
    seen.clear()
    assert [o.status for o in runner.run_all(steps)] == ["skipped", "skipped"]
    assert capsys.readouterr().out.splitlines() == [  # notes only for a step that runs
        f"[1/2] one: {steps[0].shell()}", "  skipped: up to date", f"[2/2] two: {steps[1].shell()}",
        "  skipped: up to date"]
    assert seen == [[("one", "skipped")], [("one", "skipped"), ("two", "skipped")]]
    assert [o.status for o in runner.run_all(steps, start_at="two")] == ["skipped", "ran"]  # from it on
    assert [o.status for o in runner.run_all(steps, start_at="one")] == ["ran", "ran"]  # the first: all


def test_run_logged_keeps_the_log_and_a_failure_is_one_line_naming_it(at_tmp_root: Path) -> None:
    from recipekit.steps import run_logged

    log = at_tmp_root / "logs" / "probe.log"
    code = "import os; print('probe', os.environ['RANKS'])"
    run_logged([sys.executable, "-c", code], log, {"RANKS": "2"})
    assert log.read_text(encoding="utf-8") == "probe 2\n"
    assert (at_tmp_root / "logs" / "probe.done").read_text(encoding="utf-8") == (
        f"RANKS=2 {shlex.quote(sys.executable)} -c {shlex.quote(code)}")
    said = "import sys; print('loading'); sys.exit('error: no tokenizer')"
    with pytest.raises(InputError) as caught:
        run_logged([sys.executable, "-c", said, "extra"], log)
    assert str(caught.value) == f"{log}: {sys.executable} -c {said} failed (exit 1): no tokenizer"
    assert caught.value.path == str(log) and caught.value.__suppress_context__
    with pytest.raises(InputError) as caught:
        run_logged([sys.executable, "-c", "raise SystemExit(4)"], log)
    assert str(caught.value) == f"{log}: {sys.executable} -c raise SystemExit(4) failed (exit 4)"  # nothing said
