"""The one step runner: logs, stamps, declared inputs and outputs, what makes a step run again, failures."""

from __future__ import annotations

import itertools
import os
import re
import sys
import time
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


@pytest.mark.integration  # a real process
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


@pytest.mark.integration  # a real process
def test_outputs_suffice_for_a_runner_told_so(tmp_path: Path) -> None:
    source, target = tmp_path / "in.txt", tmp_path / "out.txt"
    source.write_text("a", encoding="utf-8")
    target.write_text("made elsewhere", encoding="utf-8")
    assert Runner(tmp_path / "logs", outputs_suffice=True).run(copy_step(source, target)).status == "skipped"
    assert Runner(tmp_path / "logs").run(copy_step(source, target)).status == "ran"  # no stamp: run


@pytest.mark.integration  # a real process
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


@pytest.mark.integration  # a real process
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


@pytest.mark.integration  # a real process
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


@pytest.mark.integration  # waits for its heartbeats
def test_work_in_this_process_says_what_it_does_and_beats_until_it_ends(monkeypatch: pytest.MonkeyPatch) -> None:
    import io

    import recipekit.progress
    from recipekit.progress import working

    monkeypatch.setattr(recipekit.progress, "HEARTBEAT_SECONDS", 0.2)
    said = io.StringIO()
    with working("building a tiny model", stream=said, indent="  "):
        time.sleep(0.9)
    lines = said.getvalue().splitlines()
    assert lines[0] == "  building a tiny model..." and 3 <= len(lines) <= 6, lines
    assert set(lines[1:]) == {"    building a tiny model: still running, elapsed 0:00:00"}
    time.sleep(0.5)
    assert said.getvalue().splitlines() == lines  # nothing after it ended


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
    timer.start()
    started = time.time()
    with pytest.raises(KeyboardInterrupt) as caught:
        Runner(tmp_path / "logs").execute(step)
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
