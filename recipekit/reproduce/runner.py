"""Running a chain on the one step runner (:mod:`recipekit.steps`): logs and stamps under ``{out}/logs``, the
tiny copy of a recipe written just before the step that runs it, and ``reproduce.json`` (what ran, how long)
saved after every step for the report card."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from recipekit.errors import InputError
from recipekit.files import write_json
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

        super().__init__(layout.out / "logs", lambda step, notes: prepare(step, layout, notes))
        self.layout = layout

    def after(self, outcomes: list[Outcome]) -> None:
        save_state(self.layout, outcomes)


def run_chain(layout: Layout, steps: list[Step], start_at: str | None) -> list[Outcome]:
    """Every step in order; from ``start_at`` on each step runs even when up to date. A failure is one line
    naming the step's log; the same command resumes there."""
    try:
        return ChainRunner(layout).run_all(steps, start_at)
    except StepFailed as exc:
        raise InputError(f"step {exc.step.name} failed ({exc.why}); its log: {exc.log}; fix it and run the same "
                         "command again to resume from this step") from None


def save_state(layout: Layout, outcomes: list[Outcome]) -> None:
    """What ran, how long, from which commands (read by the report card); earlier seconds kept for skips."""
    path = layout.out / STATE
    before = load_state(layout.out).get("steps", {})
    steps: dict[str, Any] = {}
    for o in outcomes:
        kept = before.get(o.step, {}).get("seconds", 0.0) if o.status == "skipped" else o.seconds
        steps[o.step] = {"status": o.status, "seconds": kept, "log": o.log, "command": o.command}
    write_json(path, {"chain": layout.chain.name, "tiny": layout.tiny, "group": layout.group,
                      "out": str(layout.out), "steps": {**before, **steps}})


def load_state(out: Path) -> dict[str, Any]:
    path = out / STATE
    return json.loads(path.read_text(encoding="utf-8")) if path.is_file() else {}
