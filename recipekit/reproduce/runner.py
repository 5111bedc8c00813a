"""Running a chain: each step once, logged to its own file, skipped on a re-run while it is up to date.

A step is up to date when it finished before (its stamp ``logs/<step>.done`` holds the same command), every
output exists, and no input is newer than its outputs. Inputs (``named_inputs``, also shown by a dry run): the
files its command names, the recipe it runs with that recipe's data files, and the model or adapter folder
it reads (by the files directly in it, so a predict folder nested in a training folder does not count).
"""

from __future__ import annotations

import json
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from recipekit.errors import InputError
from recipekit.paths import root
from recipekit.recipes.reading import load_recipe
from recipekit.recipes.tiny_run import tool_env
from recipekit.reproduce.chain import Layout, Step

STATE = "reproduce.json"


def stamp(layout: Layout, step: Step) -> Path:
    return layout.out / "logs" / f"{step.name}.done"


def log_file(layout: Layout, step: Step) -> Path:
    return layout.out / "logs" / f"{step.name}.log"


def newest(path: Path) -> float:
    """A file's time; a folder's newest file directly inside it (0 when there is none)."""
    if path.is_file():
        return path.stat().st_mtime
    if path.is_dir():
        return max((p.stat().st_mtime for p in path.iterdir() if p.is_file()), default=0.0)
    return 0.0


def named_inputs(step: Step, layout: Layout) -> list[str]:
    """What a step reads: the files its command names (existing, or a path with a suffix: made by an earlier
    step), its recipe, that recipe's data files and registry, and the model, adapter or DeepSpeed config it
    loads from this repository or an earlier step."""
    names: list[str] = []
    for token in step.command[1:]:
        value = token.split("=", 1)[1] if "=" in token and not token.startswith("-") else token
        looks_like_file = "/" in value and bool(Path(value).suffix) and not (root() / value).is_dir()
        if value and not value.startswith("-") and Path(value) not in step.outputs and (
                looks_like_file or (root() / value).is_file()):
            names.append(value)
    if step.source_recipe:
        args = {**load_recipe(root() / step.source_recipe).args, **step.overrides}
        data = Path(layout.relocate(str(args.get("dataset_dir", "data"))))
        names.append(str(data / "dataset_info.json"))
        for key in ("dataset", "eval_dataset", "predict_dataset"):
            names += [str(data / f"{n.strip()}.jsonl") for n in str(args.get(key) or "").split(",") if n.strip()]
        for key in ("model_name_or_path", "adapter_name_or_path", "ref_model", "ref_model_adapters", "deepspeed"):
            value = str(args.get(key) or "")
            if value.startswith(("saves/", "recipes/")) or Path(value).is_absolute():
                names.append(layout.relocate(value))
    return list(dict.fromkeys(names))


def step_inputs(step: Step, layout: Layout) -> list[Path]:
    """The inputs that exist now (a folder counts by the files directly in it)."""
    return [root() / name for name in named_inputs(step, layout) if (root() / name).exists()]


def up_to_date(layout: Layout, step: Step) -> bool:
    done = stamp(layout, step)
    if not done.is_file() or done.read_text(encoding="utf-8") != step.shell():
        return False
    outputs = [root() / o for o in step.outputs] or [done]
    if not all(o.exists() for o in outputs):
        return False
    oldest_output = min(newest(o) for o in outputs)
    return all(newest(i) <= oldest_output for i in step_inputs(step, layout))


@dataclass
class Outcome:
    step: str
    status: str  # "ran" | "skipped"
    seconds: float
    log: str
    command: str


def run_step(layout: Layout, step: Step, index: int, total: int, force: bool) -> Outcome:
    """Run one step (or skip it when up to date): a progress line, its log; a failure names the log."""
    from recipekit.reproduce.tiny import prepare

    log = log_file(layout, step)
    print(f"[{index}/{total}] {step.name}: {step.shell()}", flush=True)
    notes: list[str] = []
    prepare(step, layout, notes)
    if not force and up_to_date(layout, step):
        print("  skipped: up to date", flush=True)
        return Outcome(step.name, "skipped", 0.0, str(log), step.shell())
    for note in notes:
        print(f"  note: {note}")
    log.parent.mkdir(parents=True, exist_ok=True)
    stamp(layout, step).unlink(missing_ok=True)
    start = time.perf_counter()
    with log.open("w", encoding="utf-8") as handle:
        done = subprocess.run(step.command, cwd=root(), env=tool_env(step.env), stdout=handle,
                              stderr=subprocess.STDOUT, check=False)
    seconds = time.perf_counter() - start
    missing = [str(o) for o in step.outputs if not (root() / o).exists()]
    if done.returncode != 0 or missing:
        why = f"exit {done.returncode}" if done.returncode else f"it wrote no {missing[0]}"
        raise InputError(f"step {step.name} failed ({why}); its log: {log}; fix it and run the same command again "
                         f"to resume from this step")
    stamp(layout, step).write_text(step.shell(), encoding="utf-8")
    print(f"  done in {seconds:.1f} s (log: {log})", flush=True)
    return Outcome(step.name, "ran", round(seconds, 1), str(log), step.shell())


def run_chain(layout: Layout, steps: list[Step], start_at: str | None) -> list[Outcome]:
    """Every step in order; from ``start_at`` on each step runs even when up to date."""
    names = [s.name for s in steps]
    if start_at is not None and start_at not in names:
        raise InputError(f"--from {start_at}: no such step (steps: {', '.join(names)})")
    forced = names.index(start_at) if start_at else len(names)
    outcomes = []
    for index, step in enumerate(steps):
        outcomes.append(run_step(layout, step, index + 1, len(steps), index >= forced))
        save_state(layout, outcomes)
    return outcomes


def save_state(layout: Layout, outcomes: list[Outcome]) -> None:
    """What ran, how long, from which commands (read by the report card); earlier seconds kept for skips."""
    from recipekit.files import write_json

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
