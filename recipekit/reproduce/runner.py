"""Running a chain on the one step runner (:mod:`recipekit.steps`): logs and stamps under ``{out}/logs``, the
tiny copy of a recipe written just before the step that runs it, and ``reproduce.json`` (what ran, how long)
saved after every step for the report card."""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from recipekit.errors import InputError
from recipekit.files import write_json
from recipekit.paths import at_root, lock_path
from recipekit.reproduce.chain import Layout
from recipekit.steps import Outcome, Runner, Step, StepFailed

STATE = "reproduce.json"


def named_inputs(step: Step) -> list[str]:
    """What a step reads, as the dry run shows it."""
    return [str(path) for path in step.inputs]


class ChainRunner(Runner):
    """The runner of one reproduction: its state file is updated after each step."""

    def __init__(self, layout: Layout) -> None:
        from recipekit.reproduce.tiny import prepare

        super().__init__(at_root(layout.out) / "logs", lambda step, notes: prepare(step, layout, notes))
        self.layout = layout

    def after(self, outcomes: list[Outcome]) -> None:
        save_state(self.layout, outcomes)


@contextlib.contextmanager
def held(layout: Layout) -> Iterator[None]:
    """Hold the reproduction's folder while this run works in it (``filelock``): a second run into the same folder
    refuses at once, in one line, having changed nothing."""
    from filelock import FileLock, Timeout

    folder = at_root(layout.out)
    path = lock_path(folder, "reproduction")
    path.parent.mkdir(parents=True, exist_ok=True)
    lock, holder = FileLock(path), path.with_suffix(".who")
    try:
        lock.acquire(timeout=0)
    except Timeout:
        who = holder.read_text(encoding="utf-8").strip() if holder.is_file() else "another process"
        raise InputError(f"another run holds this reproduction's folder ({who}): wait for it to end, or give "
                         "another --out", str(folder)) from None
    try:
        holder.write_text(f"pid {os.getpid()}, reproduce {layout.chain.name}", encoding="utf-8")
        yield
    finally:
        holder.unlink(missing_ok=True)
        lock.release()


def run_chain(layout: Layout, steps: list[Step], start_at: str | None) -> list[Outcome]:
    """Every step in order; from ``start_at`` on each step runs even when up to date. A failure is one line
    naming the step's log; the same command resumes there."""
    try:
        return ChainRunner(layout).run_all(steps, start_at)
    except StepFailed as exc:
        raise InputError(f"{exc.headline}; its log: {exc.log}; fix it and run the same command again to resume "
                         "from this step") from None


def save_state(layout: Layout, outcomes: list[Outcome]) -> None:
    """What ran, how long, from which commands (read by the report card); earlier seconds kept for skips."""
    path = at_root(layout.out) / STATE
    before = load_state(path.parent).get("steps", {})
    steps: dict[str, Any] = {}
    for o in outcomes:
        kept = before.get(o.step, {}).get("seconds", 0.0) if o.status == "skipped" else o.seconds
        steps[o.step] = {"status": o.status, "seconds": kept, "log": o.log, "command": o.command}
    write_json(path, {"chain": layout.chain.name, "tiny": layout.tiny, "group": layout.group,
                      "out": str(layout.out), "steps": {**before, **steps}})


def load_state(out: Path) -> dict[str, Any]:
    path = out / STATE
    return json.loads(path.read_text(encoding="utf-8")) if path.is_file() else {}
