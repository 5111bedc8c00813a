"""The report card's numbers: this run's value of each published number, its 95% interval, the verdict.

Values are recomputed from the per-row files the eval scripts write (``classify_rows.jsonl``,
``gen_scores.jsonl``) with scikit-learn and numpy, and resampled rows (seeded percentile bootstrap, 1,000
resamples) give the interval. A published number inside the interval is reproduced; outside it, the card
gives the difference.

Metrics: ``accuracy``, ``macro_precision``, ``macro_recall``, ``macro_f1``, ``f1[LABEL]``, ``log_loss`` (rows
with label probabilities) of a classification report folder; ``bleu-4``, ``rouge-1``, ``rouge-2``,
``rouge-l`` (LLaMA-Factory's definitions, row means) of a generation report folder.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from sklearn.metrics import log_loss, precision_recall_fscore_support

from recipekit.eval.generation import METRICS as GEN_METRICS
from recipekit.paths import root
from recipekit.reproduce.chain import Number

RESAMPLES, SEED, LEVEL = 1000, 0, 0.95


@dataclass
class Rows:
    """One report folder's per-row data and the statistics it can give."""

    n: int
    statistics: Callable[[np.ndarray], dict[str, float]]


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def classification_rows(folder: Path) -> Rows:
    report = json.loads((folder / "classify_report.json").read_text(encoding="utf-8"))
    labels = list(report["per_class"])
    rows = read_jsonl(folder / "classify_rows.jsonl")
    codes = {label: i for i, label in enumerate(labels)}
    gold = np.array([codes[r["gold"]] for r in rows])
    predicted = np.array([codes.get(r["matched"], -1) if r["matched"] is not None else -1 for r in rows])
    probs = np.array([r["probs"] for r in rows]) if rows and all("probs" in r for r in rows) else None
    k = list(range(len(labels)))

    def statistics(pick: np.ndarray) -> dict[str, float]:
        g, p = gold[pick], predicted[pick]
        precision, recall, f1, _ = precision_recall_fscore_support(g, p, labels=k, average=None, zero_division=0)
        found = {"accuracy": float(np.mean(g == p)), "macro_precision": float(np.mean(precision)),
                 "macro_recall": float(np.mean(recall)), "macro_f1": float(np.mean(f1)),
                 **{f"f1[{label}]": float(f1[i]) for i, label in enumerate(labels)}}
        if probs is not None:
            found["log_loss"] = float(log_loss(g, probs[pick], labels=k))
        return found

    return Rows(len(rows), statistics)


def generation_rows(folder: Path) -> Rows:
    rows = read_jsonl(folder / "gen_scores.jsonl")
    table = {m: np.array([r[m] for r in rows], dtype=float) for m in GEN_METRICS}
    return Rows(len(rows), lambda pick: {m: float(np.mean(v[pick])) for m, v in table.items()})


def report_rows(folder: Path) -> Rows | None:
    """The per-row data of a classification or generation report folder (None when it has neither yet)."""
    if (folder / "classify_rows.jsonl").is_file():
        return classification_rows(folder)
    if (folder / "gen_scores.jsonl").is_file():
        return generation_rows(folder)
    return None


def bootstrap(rows: Rows) -> tuple[dict[str, float], dict[str, tuple[float, float]]]:
    """Every statistic on all rows, and its seeded percentile interval over resampled rows."""
    value = rows.statistics(np.arange(rows.n))
    rng = np.random.default_rng(SEED)
    draws: dict[str, list[float]] = {k: [] for k in value}
    for _ in range(RESAMPLES):
        for key, v in rows.statistics(rng.integers(0, rows.n, size=rows.n)).items():
            draws[key].append(v)
    tail = (1 - LEVEL) / 2 * 100
    intervals = {k: tuple(float(x) for x in np.percentile(v, [tail, 100 - tail])) for k, v in draws.items()}
    return value, intervals  # type: ignore[return-value]


def verdict(published: float, run: float | None, interval: tuple[float, float] | None, tiny: bool) -> str:
    """``reproduced`` when the published number lies in the run's interval, else the difference."""
    if tiny:
        return "no verdict (tiny run)"
    if run is None or interval is None:
        return "not measured"
    if interval[0] <= published <= interval[1]:
        return "reproduced"
    side = "above" if published > interval[1] else "below"
    return f"not reproduced: run {run - published:+.4g} (the report's number is {side} the interval)"


def score_numbers(numbers: list[Number], fill: Callable[[str], Path], tiny: bool) -> list[dict[str, Any]]:
    """Each published number beside this run's value and interval, in the report's unit."""
    cache: dict[Path, tuple[Rows, dict[str, float], dict[str, tuple[float, float]]] | None] = {}
    scored = []
    for number in numbers:
        folder = fill(number.report)
        if folder not in cache:
            rows = report_rows(folder)
            cache[folder] = (rows, *bootstrap(rows)) if rows and rows.n else None
        found = cache[folder]
        scale = 100.0 if number.unit == "%" else 1.0
        run = interval = None
        n = None
        if found is not None:
            rows, values, intervals = found
            if number.metric in values:
                run = values[number.metric] * scale
                low, high = intervals[number.metric]
                interval = (low * scale, high * scale)
            n = rows.n
        scored.append({"name": number.name, "metric": number.metric, "published": number.published,
                       "unit": number.unit, "approx": number.approx, "run": run,
                       "ci95": list(interval) if interval else None, "n": n, "report_folder": str(folder),
                       "verdict": verdict(number.published, run, interval, tiny)})
    return scored


def run_hardware() -> str:
    """This machine's accelerators (or its CPU), as the card states it."""
    import os

    import torch

    if torch.cuda.is_available():
        names = [torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())]
        return f"{len(names)} x {names[0]}"
    return f"CPU only ({os.cpu_count()} cores)"


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


def build_card(layout: Any, steps: list[Any], state: dict[str, Any]) -> dict[str, Any]:
    """Everything the card says, as one JSON-ready dict."""
    from recipekit.recipes.reading import load_recipe
    from recipekit.report.writer import versions

    chain = layout.chain
    recipes = chain_recipes(steps)
    loaded = {name: load_recipe(root() / name) for name in recipes}
    hardware = sorted({line.split(":", 1)[1].strip() for r in loaded.values() for line in r.header
                       if line.lower().lstrip("# ").startswith("report's hardware")})
    seconds = {name: info.get("seconds", 0.0) for name, info in state.get("steps", {}).items()}
    first = ("Tiny run: a tiny model on small data, to check that the chain works end to end. Its numbers say "
             "nothing about the report and get no verdicts." if layout.tiny else
             f"Reproduction of {chain.title}: the report's numbers beside this run's, with 95% intervals.")
    return {
        "first_line": first,
        "report": chain.name,
        "title": chain.title,
        "source": f"../shared/seeds/{chain.report}",
        "tiny": layout.tiny,
        "numbers": score_numbers(chain.numbers, lambda text: root() / layout.relocate(layout.fill(text, "numbers")),
                                 layout.tiny),
        "interval": {"level": LEVEL, "resamples": RESAMPLES, "seed": SEED, "method": "percentile bootstrap of rows"},
        "differences": {"chain": chain.differences,
                        **{name: r.differences() for name, r in loaded.items() if r.differences()}},
        "hardware": {"report": hardware, "run": run_hardware()},
        "time": {"steps_seconds": seconds, "total_seconds": round(sum(seconds.values()), 1)},
        "versions": versions("torch", "transformers", "llamafactory", "peft", "deepspeed", "datasets",
                             "scikit-learn"),
        "wandb_group": layout.group,
    }
