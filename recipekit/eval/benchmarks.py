"""Capability benchmarks through lm-evaluation-harness: a suite of dimensions, stages to compare, scores.

A suite file names dimensions, each a list of lm-eval tasks run with one number of shots and scored by one
metric (``acc_norm``, falling back to ``acc`` where a task has none); a dimension's score is the mean of its
tasks' scores, with the standard error of that mean. A stage file names the model (and LoRA adapter) to
measure and whether prompts go through its chat template. lm-eval does the benchmarks (run by
:mod:`recipekit.eval.harness`); this module reads the suite and stages and aggregates its numbers.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from recipekit.errors import InputError
from recipekit.files import read_yaml_mapping

FALLBACK = {"acc_norm": "acc"}
AGGREGATION = "the mean of its tasks' scores (each task's metric: acc_norm, or acc where the task has no acc_norm)"


@dataclass(frozen=True)
class Dimension:
    """One capability: its tasks, their shots and the metric read from each."""

    name: str
    tasks: tuple[str, ...]
    shots: int
    metric: str


@dataclass(frozen=True)
class Suite:
    """The dimensions to measure and, when a report gave them, its numbers for the first stage."""

    name: str
    dimensions: tuple[Dimension, ...]
    reported: dict[str, float] = field(default_factory=dict)

    def tasks_by_shots(self) -> dict[int, list[str]]:
        """Each shot count and the distinct tasks run with it (lm-eval takes one count per run)."""
        groups: dict[int, list[str]] = {}
        for dimension in self.dimensions:
            for task in dimension.tasks:
                if task not in groups.setdefault(dimension.shots, []):
                    groups[dimension.shots].append(task)
        return groups


@dataclass(frozen=True)
class Stage:
    """One model to measure: base weights, an optional LoRA adapter, plain or chat-formatted prompts."""

    name: str
    model: str
    adapter: str | None = None
    chat: bool = False
    dtype: str = "auto"

    def model_args(self) -> dict[str, Any]:
        args: dict[str, Any] = {"pretrained": self.model, "dtype": self.dtype}
        if self.adapter:
            args["peft"] = self.adapter
        return args


def multiple_choice_task(name: str, rows: Path, doc_to_text: str, metrics: tuple[str, ...] = ("acc",)) -> str:
    """The YAML of an lm-eval multiple-choice task over a local JSON-lines file of ``question``, ``choices`` and
    ``answer`` rows (for an ``--include-path`` folder): lm-eval reads it as it reads its own tasks."""
    listed = "".join(f"  - metric: {metric}\n" for metric in metrics)
    return (f"task: {name}\ndataset_path: json\ndataset_kwargs:\n  data_files:\n"
            f"    test: {json.dumps(str(rows))}\ntest_split: test\n"
            f"output_type: multiple_choice\ndoc_to_text: {json.dumps(doc_to_text)}\n"
            f"doc_to_choice: \"{{{{choices}}}}\"\ndoc_to_target: answer\nmetric_list:\n{listed}")


def load_suite(path: str | Path) -> Suite:
    """A suite file: ``dimensions: {NAME: {tasks: [...], shots: N, metric: M}}`` and optional ``reported``."""
    data = read_yaml_mapping(path, "suite file")
    dimensions = []
    for name, spec in (data.get("dimensions") or {}).items():
        if not isinstance(spec, dict) or not spec.get("tasks"):
            raise InputError(f"dimension {name!r} needs `tasks: [...]`", str(path))
        tasks = spec["tasks"] if isinstance(spec["tasks"], list) else [spec["tasks"]]
        shots = spec.get("shots", 0)
        if not isinstance(shots, int) or shots < 0:
            raise InputError(f"dimension {name!r}: shots must be a whole number >= 0", str(path))
        dimensions.append(Dimension(str(name), tuple(map(str, tasks)), shots, str(spec.get("metric", "acc_norm"))))
    if not dimensions:
        raise InputError("a suite needs at least one dimension under `dimensions:`", str(path))
    reported = {str(k): float(v) for k, v in (data.get("reported") or {}).items()}
    return Suite(str(data.get("name", Path(path).stem)), tuple(dimensions), reported)


def load_stage(path: str | Path) -> tuple[Stage, str]:
    """A stage file (``model``, optional ``adapter``, ``chat``, ``dtype``, ``suite``) -> the stage and its suite."""
    data = read_yaml_mapping(path, "stage file")
    if not data.get("model"):
        raise InputError("a stage names its `model` (hub id or folder)", str(path))
    adapter = data.get("adapter")
    if adapter and not Path(str(adapter)).exists() and str(adapter).count("/") != 1:
        raise InputError(f"adapter {adapter}: no such folder (train it first, or give a hub id)", str(path))
    stage = Stage(str(data.get("name", Path(path).stem)), str(data["model"]), str(adapter) if adapter else None,
                  bool(data.get("chat", False)), str(data.get("dtype", "auto")))
    suite = data.get("suite")
    if not suite:
        raise InputError("a stage names its `suite` file", str(path))
    return stage, str(suite)


def load_stages(paths: list[str]) -> tuple[list[Stage], str]:
    """The stages of the stage files, distinct by name, and the one suite file they all name."""
    loaded = [load_stage(path) for path in paths]
    names = [stage.name for stage, _ in loaded]
    if len(set(names)) != len(names):
        raise InputError(f"two stages share a name: {' '.join(names)} (set `name:` in the stage files)")
    suite_paths = {suite for _, suite in loaded}
    if len(suite_paths) != 1:
        raise InputError(f"stages compared together share one suite, got {', '.join(sorted(suite_paths))}")
    return [stage for stage, _ in loaded], suite_paths.pop()


def stage_entry(stage: Stage, dimensions: dict[str, Any]) -> dict[str, Any]:
    """One stage's column of the report: what was measured and its dimension scores."""
    return {"name": stage.name, "model": stage.model, "adapter": stage.adapter,
            "prompt_format": "chat template" if stage.chat else "plain (no chat template)",
            "dimensions": dimensions}


def deltas(stages: list[dict[str, Any]]) -> dict[str, dict[str, float]]:
    """Each later stage's score minus the first stage's, per dimension (after - before)."""
    first = stages[0]["dimensions"]
    return {s["name"]: {d: s["dimensions"][d]["score"] - first[d]["score"] for d in first} for s in stages[1:]}


def task_score(results: dict[str, Any], task: str, metric: str) -> dict[str, Any]:
    """A task's score under ``metric`` (or its fallback) from lm-eval's ``results`` block, with its stderr."""
    block = results.get(task)
    if block is None:
        raise InputError(f"lm-eval returned no result for task {task!r}")
    for name in (metric, FALLBACK.get(metric)):
        if name and f"{name},none" in block:
            stderr = block.get(f"{name}_stderr,none")
            return {"task": task, "metric": name, "score": float(block[f"{name},none"]),
                    "stderr": float(stderr) if isinstance(stderr, int | float) else None}
    keys = sorted(k.split(",")[0] for k in block if "," in k and "stderr" not in k)
    raise InputError(f"task {task!r} has no {metric!r} (lm-eval reports: {', '.join(keys)})")


def dimension_scores(suite: Suite, results_by_shots: dict[int, dict[str, Any]]) -> dict[str, Any]:
    """Each dimension: its tasks' scores (from the lm-eval run with its shot count) and their mean, with the
    standard error of that mean (tasks taken as independent)."""
    out: dict[str, Any] = {}
    for dimension in suite.dimensions:
        results = results_by_shots[dimension.shots]
        tasks = [task_score(results, task, dimension.metric) for task in dimension.tasks]
        errors = [t["stderr"] for t in tasks]
        stderr = math.sqrt(sum(e * e for e in errors)) / len(errors) if all(e is not None for e in errors) else None
        out[dimension.name] = {"score": sum(t["score"] for t in tasks) / len(tasks), "stderr": stderr,
                               "shots": dimension.shots, "tasks": tasks}
    return out
