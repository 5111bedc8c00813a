"""The one launcher: every process the repository starts is built and run here. :func:`module_command` is the
argv of a command module, :func:`torchrun_command` the torchrun launch of one on several ranks (as llamafactory-cli
reads ``FORCE_TORCHRUN=1 NPROC_PER_NODE=N``, :func:`torchrun_env`), :func:`run_child` starts a process and waits
for it (Ctrl-C stops it), and every command the repository chains (a report's reproduction, a sweep's points, the
demo, a smoke run, ``plan --measure``'s probe) is a :class:`Step` with its declared inputs and outputs, run by
:class:`Runner`.

A step runs from the repository root with this environment's programs first on PATH; its output goes to its
own log (``<logs>/<step>.log``) and, when it finished, its exact command to its stamp (``<logs>/<step>.done``).
A step is up to date when its stamp holds the same command, every output exists and no input is newer than its
oldest output (a folder counts by the files directly in it, so a folder nested inside another is not read as a
change of it); a runner told so takes existing outputs alone as done. While a step runs, the trainer's progress
and, when nothing else was said for a while, a heartbeat line show that it does (:mod:`recipekit.progress`). A
failure (non-zero exit, or a declared output not written) raises :class:`StepFailed` with the step's own last
``error:`` line (else its last line) and its log; the caller words the one line the user sees.
"""

from __future__ import annotations

import contextlib
import os
import re
import shlex
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from recipekit.errors import InputError
from recipekit.paths import root
from recipekit.progress import Heartbeat, Progress, log_tail
from recipekit.text import clip


@dataclass
class Step:
    """One command: what it reads and writes, its environment, and the recipe it runs (if any)."""

    name: str
    command: list[str]
    env: dict[str, str] = field(default_factory=dict)
    inputs: list[Path] = field(default_factory=list)
    outputs: list[Path] = field(default_factory=list)
    recipe: Path | None = None  # the recipe it trains or predicts with (a tiny copy in a tiny run)
    source_recipe: str | None = None  # that recipe in recipes/
    overrides: dict[str, Any] = field(default_factory=dict)  # its KEY=VALUE overrides of the recipe
    progress: Path | None = None  # the trainer log it appends to as it runs (recipekit.progress)

    def shell(self) -> str:
        """The command as a user would type it."""
        prefix = " ".join(f"{k}={shlex.quote(v)}" for k, v in self.env.items())
        return (prefix + " " if prefix else "") + " ".join(shlex.quote(part) for part in self.command)


@dataclass
class Outcome:
    """What running (or skipping) a step did."""

    step: str
    status: str  # "ran" | "skipped"
    seconds: float
    log: str
    command: str


REASON_CHARS = 300  # a longer line of a step's log is cut to this (with "...") in the failure line


EXCEPTION_LINE = re.compile(r"^(\[rank\d+\]:\s*)?([A-Za-z_][\w.]*)?(Error|Exception|Interrupt|Exit)\b.*: ")


def said_why(log_text: str) -> str:
    """What a failed step said last about why: its last ``error: ...`` line (without ``error:``), else the last
    exception line of a traceback (a torchrun rank's ``[rank0]: ValueError: ...`` too, not the separators of
    torchrun's summary), else its last line with a word in it, cut to ``REASON_CHARS``; empty for an empty log."""
    lines = [line.strip() for line in log_text.splitlines() if any(c.isalnum() for c in line)]
    errors = [line.removeprefix("error:").strip() for line in lines if line.startswith("error:")]
    raised = [line for line in lines if EXCEPTION_LINE.match(line)]
    reason = errors[-1] if errors else raised[-1] if raised else lines[-1] if lines else ""
    return clip(reason, REASON_CHARS, flatten=False, ellipsis="...")


class StepFailed(InputError):
    """A step exited non-zero or did not write a declared output; ``why`` and ``log`` say which and where,
    ``reason`` what the step itself said last (its exit), ``headline`` all but the log in one line."""

    def __init__(self, step: Step, why: str, log: Path, reason: str = "") -> None:
        self.step, self.why, self.log, self.reason = step, why, log, reason
        self.headline = f"step {step.name} failed ({why})" + (f": {reason}" if reason else "")
        super().__init__(f"{self.headline}; its log: {log}")


def free_port() -> str:
    """A TCP port nobody listens on now (a torchrun rendezvous port)."""
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return str(probe.getsockname()[1])


def tool_env(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """The environment for the repository's commands: this environment's programs first on PATH."""
    path = os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", os.defpath)])
    return {**os.environ, "PATH": path, **(extra or {})}


def module_command(name: str) -> list[str]:
    """The argv that runs module ``name`` in a new interpreter, whatever the working directory: a command
    (``gen_report``: ``python -m recipekit.commands.gen_report``), a converter (``agnews``, under
    ``recipekit.converters``) or a module named in full (``recipekit.plan.probe``)."""
    if "." not in name:
        from recipekit.commands import converter_modules

        name = f"{'recipekit.converters' if name in converter_modules() else 'recipekit.commands'}.{name}"
    return [sys.executable, "-m", name]


def program(name: str) -> str:
    """A program of this environment (``llamafactory-cli``): beside this Python, else on PATH, else the bare name."""
    beside = Path(sys.executable).with_name(name)
    return str(beside) if beside.exists() else shutil.which(name) or name


def torchrun_env(ranks: int) -> dict[str, str]:
    """The environment that launches a recipe's trainer (llamafactory-cli, train-classifier) on ``ranks``
    processes of this machine under torchrun."""
    return {"FORCE_TORCHRUN": "1", "NPROC_PER_NODE": str(ranks)}


def torchrun_command(command: list[str], env: Mapping[str, str]) -> list[str] | None:
    """``command`` (a module's, :func:`module_command`) under torchrun when ``env`` asks for it as llamafactory-cli
    reads it (``FORCE_TORCHRUN=1``, and not already a rank of a launch): NPROC_PER_NODE processes (1 if unset) on
    each of NNODES nodes, this one NODE_RANK, meeting at MASTER_ADDR:MASTER_PORT (a free port here when unset);
    None when ``env`` does not ask for torchrun."""
    if env.get("FORCE_TORCHRUN", "0").lower() not in ("1", "true") or "LOCAL_RANK" in env:
        return None
    return [sys.executable, "-m", "torch.distributed.run", f"--nnodes={env.get('NNODES', '1')}",
            f"--node_rank={env.get('NODE_RANK', '0')}", f"--nproc_per_node={env.get('NPROC_PER_NODE', '1')}",
            f"--master_addr={env.get('MASTER_ADDR', '127.0.0.1')}",
            f"--master_port={env.get('MASTER_PORT') or free_port()}", *command[1:]]


POLL_SECONDS = 2.0  # how often a running step's progress is read
STOP_SECONDS = 30  # how long a child stopped by Ctrl-C may take to end before it is killed


def run_child(command: list[str], env: Mapping[str, str] | None = None, log: IO[bytes] | None = None,
              cwd: Path | None = None, tick: Callable[[], None] | None = None) -> int:
    """Run ``command`` with this environment's programs first on PATH (``env`` added) and return its exit code:
    its output into ``log`` (else this process's own), ``tick()`` every ``POLL_SECONDS`` while it runs (without a
    tick its exit is seen at once, so a timed command is timed to its exit). On Ctrl-C (which the child got too)
    the child is stopped (SIGTERM, SIGKILL after ``STOP_SECONDS``) before the KeyboardInterrupt goes on."""
    child = subprocess.Popen(command, cwd=cwd, env=tool_env(env), stdout=log,
                             stderr=None if log is None else subprocess.STDOUT)
    try:
        while child.poll() is None:
            with contextlib.suppress(subprocess.TimeoutExpired):
                child.wait(timeout=POLL_SECONDS if tick else None)
            if tick:
                tick()
    except KeyboardInterrupt:
        child.terminate()  # make sure it ends before the caller says what it left
        try:
            child.wait(timeout=STOP_SECONDS)
        except subprocess.TimeoutExpired:
            child.kill()
        raise
    return child.returncode


def interrupted_line(step: Step, log: Path, since: float) -> str:
    """What a step stopped by Ctrl-C left behind: the files it had written in its output folders (kept: a
    rerun redoes the step) and its log."""
    folders = {(root() / o).parent for o in step.outputs}
    if step.progress:
        folders.add((root() / step.progress).parent)
    left = sum(1 for folder in folders if folder.is_dir() for p in folder.rglob("*")
               if p.is_file() and p.stat().st_mtime >= since)
    where = (f"it had written {left} file(s) under {', '.join(sorted(map(str, folders)))} (left as they are; "
             "a rerun redoes the step)") if left else "it had written nothing in its output folders"
    return f"interrupted (Ctrl-C) during step {step.name}: {where}; its log: {log}"


def newest(path: Path) -> float:
    """A file's time; a folder's newest file directly inside it (0 when there is none)."""
    if path.is_file():
        return path.stat().st_mtime
    if path.is_dir():
        return max((p.stat().st_mtime for p in path.iterdir() if p.is_file()), default=0.0)
    return 0.0


class Runner:
    """Runs steps with their logs and stamps under ``logs``; ``prepare(step, notes)`` runs before each step
    (a tiny run writes the recipe copy the step reads there). ``outputs_suffice``: a step whose outputs all
    exist is done, stamp or not (a sweep's points, each an expensive run, are never redone for a newer input)."""

    def __init__(self, logs: Path, prepare: Callable[[Step, list[str]], None] | None = None,
                 outputs_suffice: bool = False) -> None:
        self.logs, self.prepare, self.outputs_suffice = Path(logs), prepare, outputs_suffice

    def log(self, step: Step) -> Path:
        return self.logs / f"{step.name}.log"

    def stamp(self, step: Step) -> Path:
        return self.logs / f"{step.name}.done"

    def up_to_date(self, step: Step) -> bool:
        if self.outputs_suffice and step.outputs:
            return all((root() / o).exists() for o in step.outputs)
        done = self.stamp(step)
        if not done.is_file() or done.read_text(encoding="utf-8") != step.shell():
            return False
        outputs = [root() / o for o in step.outputs] or [done]
        if not all(o.exists() for o in outputs):
            return False
        oldest = min(newest(o) for o in outputs)
        return all(newest(root() / i) <= oldest for i in step.inputs if (root() / i).exists())

    def ready(self, step: Step, force: bool = False, notes: list[str] | None = None) -> bool:
        """Prepare ``step`` and say whether it has to run (``force``: yes, even when up to date)."""
        if self.prepare:
            self.prepare(step, notes if notes is not None else [])
        return force or not self.up_to_date(step)

    def skipped(self, step: Step) -> Outcome:
        return Outcome(step.name, "skipped", 0.0, str(self.log(step)), step.shell())

    def execute(self, step: Step) -> Outcome:
        """Run ``step`` now: its log, then its stamp; StepFailed on a non-zero exit or a missing output."""
        log = self.log(step)
        log.parent.mkdir(parents=True, exist_ok=True)
        self.stamp(step).unlink(missing_ok=True)
        start, started = time.perf_counter(), time.time()
        progress = Progress(root() / step.progress, started) if step.progress else None
        heartbeat = Heartbeat(step.name, log)

        def tick() -> None:
            if progress and (progress.update() or progress.bar is not None):
                heartbeat.shown()  # the trainer's own line (or its live bar) says it runs
            heartbeat.beat()

        with log.open("wb") as handle:  # the child writes into it
            try:
                returncode = run_child(step.command, step.env, handle, root(), tick)
            except KeyboardInterrupt:
                raise KeyboardInterrupt(interrupted_line(step, log, started)) from None
            finally:
                if progress:
                    progress.close()
        seconds = time.perf_counter() - start
        missing = [str(o) for o in step.outputs if not (root() / o).exists()]
        if returncode != 0 or missing:
            why = f"exit {returncode}" if returncode else f"it wrote no {missing[0]}"
            reason = said_why(log_tail(log)) if returncode else ""
            raise StepFailed(step, why, log, reason)
        self.stamp(step).write_text(step.shell(), encoding="utf-8")
        return Outcome(step.name, "ran", round(seconds, 1), str(log), step.shell())

    def run(self, step: Step, force: bool = False) -> Outcome:
        """Run ``step`` unless it is up to date (``force``: run it anyway); raise StepFailed on failure."""
        if not self.ready(step, force):
            return self.skipped(step)
        return self.execute(step)

    def run_all(self, steps: list[Step], start_at: str | None = None) -> list[Outcome]:
        """Every step in order with a progress line each; from ``start_at`` on each step runs even when up to
        date; ``after(outcomes)`` is called after each step."""
        names = [s.name for s in steps]
        if start_at is not None and start_at not in names:
            raise InputError(f"--from {start_at}: no such step (steps: {', '.join(names)})")
        forced = names.index(start_at) if start_at else len(names)
        outcomes: list[Outcome] = []
        for index, step in enumerate(steps):
            print(f"[{index + 1}/{len(steps)}] {step.name}: {step.shell()}", flush=True)
            notes: list[str] = []
            if self.ready(step, index >= forced, notes):
                for note in notes:
                    print(f"  note: {note}")
                print(f"  log: {self.log(step)}", flush=True)
                outcome = self.execute(step)
                print(f"  done in {outcome.seconds:.1f} s (log: {outcome.log})", flush=True)
            else:
                outcome = self.skipped(step)
                print("  skipped: up to date", flush=True)
            outcomes.append(outcome)
            self.after(outcomes)
        return outcomes

    def after(self, outcomes: list[Outcome]) -> None:
        """Called after each step of ``run_all`` (a reproduction saves its state there)."""


def run_logged(command: list[str], log: Path, env: dict[str, str] | None = None) -> None:
    """Run a command from the repository root as one step of the runner (its output in ``log``, a ``.log``
    file); a failure is one line naming it, the log and what the command said last."""
    try:
        Runner(log.parent).execute(Step(log.stem, command, dict(env or {})))
    except StepFailed as exc:
        said = f": {exc.reason}" if exc.reason else ""
        raise InputError(f"{' '.join(command[:3])} failed ({exc.why}){said}", str(log)) from None
