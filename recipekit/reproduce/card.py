"""The report card's numbers: this run's value of each published number, its 95% interval, the verdict.

Values and intervals are read from the reports the eval scripts wrote (``classify_report.json``,
``gen_report.json``: scikit-learn's and LLaMA-Factory's numbers, and the seeded percentile bootstrap of
``recipekit.eval.bootstrap``, 1,000 resamples); nothing is recomputed here. A published number inside the
interval is reproduced; outside it, the card gives the difference.

Metrics: ``accuracy``, ``macro_precision``, ``macro_recall``, ``macro_f1``, ``f1[LABEL]``, ``log_loss`` (rows
with label probabilities) of a classification report folder; ``bleu-4``, ``rouge-1``, ``rouge-2``,
``rouge-l`` (LLaMA-Factory's definitions, row means) of a generation report folder.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

from recipekit.eval.bootstrap import LEVEL, RESAMPLES, SEED
from recipekit.paths import at_root, root
from recipekit.reproduce.chain import Number

REPORT_FILES = ("classify_report.json", "gen_report.json")


def report_values(folder: Path) -> tuple[int, dict[str, float], dict[str, Any]] | None:
    """(rows, each number the card can cite, the intervals the report wrote) of a classification or generation
    report folder; None when it has neither report yet."""
    for name in REPORT_FILES:
        path = folder / name
        if path.is_file():
            report = json.loads(path.read_bytes())  # bytes: json finds UTF-8 itself, whatever the locale
            break
    else:
        return None
    if name == "gen_report.json":
        values = dict(report["llamafactory"])
    else:
        values = {"accuracy": report["accuracy"],
                  **{f"macro_{m}": report["macro"][m] for m in ("precision", "recall", "f1")},
                  **{f"f1[{label}]": entry["f1"] for label, entry in report["per_class"].items()}}
        if "probabilistic" in report:
            values["log_loss"] = report["probabilistic"]["log_loss"]
    return int(report["n"]), values, report.get("ci") or {}


def verdict(published: float | None, run: float | None, interval: tuple[float, float] | None, tiny: bool) -> str:
    """``reproduced`` when the published number lies in the run's interval, else the difference."""
    if published is None:
        return "no published number"
    if tiny:
        return "no verdict (tiny run)"
    if run is None or interval is None:
        return "not measured"
    if interval[0] <= published <= interval[1]:
        return "reproduced"
    side = "above" if published > interval[1] else "below"
    return f"not reproduced: run {run - published:+.4g} (the report's number is {side} the interval)"


def score_numbers(numbers: list[Number], fill: Callable[[str], Path], tiny: bool) -> list[dict[str, Any]]:
    """Each published number beside this run's value and the interval its report wrote, in the report's unit."""
    cache: dict[Path, tuple[int, dict[str, float], dict[str, Any]] | None] = {}
    scored = []
    for number in numbers:
        folder = fill(number.report)
        if folder not in cache:
            cache[folder] = report_values(folder)
        found = cache[folder]
        scale = 100.0 if number.unit == "%" else 1.0
        run = interval = n = None
        if found is not None:
            n, values, intervals = found
            if number.metric in values:
                run = values[number.metric] * scale
            if number.metric in intervals:
                low, high = intervals[number.metric]
                interval = (low * scale, high * scale)
        scored.append({"name": number.name, "metric": number.metric, "published": number.published,
                       "unit": number.unit, "approx": number.approx, "run": run,
                       "ci95": list(interval) if interval else None, "n": n, "report_folder": str(folder),
                       "verdict": verdict(number.published, run, interval, tiny)})
    return scored


def contamination(scored: list[dict[str, Any]], numbers: list[Number], steps: list[Any]) -> dict[str, Any] | None:
    """The contamination check's counts beside each number scored on a named set (in place: each number's
    ``contamination``), from the chain's ``contamination.json``; the check's settings, or None without one."""
    found = next((at_root(o) for step in steps for o in step.outputs if Path(o).name == "contamination.json"
                  and at_root(o).is_file()), None)
    if found is None:
        return None
    report = json.loads(found.read_text(encoding="utf-8"))
    for entry, number in zip(scored, numbers, strict=True):
        pairs = [p for p in report["pairs"] if number.set and p["scored"] == number.set]
        if not pairs:
            entry["contamination"] = None
            continue
        ids = set().union(*(p["scored_ids"] for p in pairs))
        entry["contamination"] = {
            "set": number.set, "rows": pairs[0]["scored_rows"], "found": len(ids),
            "by_training_set": {p["training"]: {m: v["scored_rows"] for m, v in p["methods"].items()} for p in pairs}}
    return {"file": str(found), "settings": report["settings"]}


def hardware_line(gpus: list[str], cores: int | None) -> str:
    """``N x GPU NAME`` (each kind of card counted), or ``CPU only (N cores)`` when there is no GPU."""
    if gpus:
        return ", ".join(f"{count} x {name}" for name, count in Counter(gpus).items())
    return f"CPU only ({cores} cores)"


def run_hardware() -> str:
    """This machine's accelerators (or its CPU), as the card states it."""
    import os

    import torch

    names = [torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())] \
        if torch.cuda.is_available() else []
    return hardware_line(names, os.cpu_count())


def chain_recipes(steps: list[Any]) -> list[str]:
    """The recipes a chain's commands name, in order of first use."""
    from recipekit.reproduce.chain import is_recipe_token

    found: list[str] = []
    for step in steps:
        for token in step.command:
            name = step.source_recipe if step.source_recipe and token == str(step.recipe) else token
            if is_recipe_token(name) and name not in found:
                found.append(name)
    return found


def report_times(facts: dict[str, Any], steps: list[Any]) -> dict[str, dict[str, Any]]:
    """Each recipe's own time in the report, beside the plan the chain made of it (its plan.json) when it made
    one: ``{recipe: {"report": the report's time, "plan": the comparison, "seq": the plan's row length}}``."""
    plans = {}
    for step in steps:
        for output in step.outputs:
            if Path(output).name == "plan.json" and at_root(output).is_file():
                plan = json.loads(at_root(output).read_bytes())
                plans[plan["recipe"]] = plan
    times = {}
    for name, fact in facts.items():
        if fact.time:
            plan = plans.get(name, {})
            times[name] = {"report": fact.time, "plan": plan.get("report_time"),
                           "seq": plan.get("shape", {}).get("seq")}
    return times


def build_card(layout: Any, steps: list[Any], state: dict[str, Any]) -> dict[str, Any]:
    """Everything the card says, as one JSON-ready dict."""
    from recipekit.recipes.reading import load_recipe
    from recipekit.report.writer import versions

    chain = layout.chain
    recipes = chain_recipes(steps)
    loaded = {name: load_recipe(root() / name) for name in recipes}
    facts = {name: recipe.facts() for name, recipe in loaded.items()}
    hardware = sorted({fact.hardware for fact in facts.values() if fact.report})
    seconds = {name: info.get("seconds", 0.0) for name, info in state.get("steps", {}).items()}
    numbers = score_numbers(chain.numbers, lambda text: root() / layout.relocate(layout.fill(text, "numbers")),
                            layout.tiny)
    checked = contamination(numbers, chain.numbers, steps)
    own = bool(chain.numbers) and all(number.published is None for number in chain.numbers)
    if layout.tiny:
        first = (f"Tiny run: a tiny model on small local data ({Path(layout.out) / 'data'}, not the report's), to "
                 "check that the chain works end to end. Its numbers say "
                 + ("nothing about the dataset; there are no published numbers to compare." if own else
                    "nothing about the report and get no verdicts."))
    elif own:
        first = (f"{chain.title}: this run's numbers with their 95% intervals; there are no published numbers to "
                 "compare.")
    else:
        first = f"Reproduction of {chain.title}: the report's numbers beside this run's, with 95% intervals."
    return {
        "first_line": first,
        "report": chain.name,
        "title": chain.title,
        "source": chain.report_title or chain.report,
        "report_file": chain.report,
        "tiny": layout.tiny,
        "numbers": numbers,
        "contamination": checked,
        "interval": {"level": LEVEL, "resamples": RESAMPLES, "seed": SEED,
                     "method": "percentile bootstrap of rows, as each report wrote it"},
        "differences": {"chain": chain.differences,
                        **{name: fact.differences for name, fact in facts.items() if fact.differences}},
        "hardware": {"report": hardware, "run": run_hardware()},
        "time": {"steps_seconds": seconds, "total_seconds": round(sum(seconds.values()), 1),
                 "report": report_times(facts, steps)},
        "versions": versions("torch", "transformers", "llamafactory", "peft", "deepspeed", "datasets",
                             "scikit-learn"),
        "wandb_group": layout.group,
    }
