"""Sweeps: a grid of command-line overrides of one recipe, one output folder and wandb run per point.

A point is a set of ``key=value`` overrides. Keys that start with ``--`` are converter flags (a prompt
version is ``--instruction=...``): such a point converts its own copy of the dataset first and trains on it.
Every step is the plain command a user would type, run by the one step runner (``recipekit.steps``); a
step whose output exists is skipped on a re-run.
"""

from __future__ import annotations

import itertools
import json
import re
import shlex
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from recipekit.converters.catalog import spec_for
from recipekit.errors import InputError
from recipekit.paths import at_root, given, shown
from recipekit.progress import TRAINER_LOG
from recipekit.recipes.arguments import names_of
from recipekit.recipes.reading import Recipe, load_recipe
from recipekit.steps import Runner, Step, StepFailed, program

RESULT_FILES = {"classify": "classify_report.json", "gen": "gen_report.json"}
HEADLINE = ("accuracy", "macro_f1", "log_loss", "lf_bleu-4", "lf_rouge-l", "final_eval_loss", "final_train_loss")


@dataclass(frozen=True)
class Axis:
    """One swept key and its values, in the order given."""

    key: str
    values: list[str]

    @property
    def converter_flag(self) -> bool:
        return self.key.startswith("--")


def parse_axis(text: str) -> Axis:
    """``key=v1,v2`` (or ``key=["v, 1", "v2"]`` for values holding commas) -> Axis."""
    key, sep, raw = text.partition("=")
    if not sep or not key.strip() or not raw.strip():
        raise InputError(f"a sweep axis looks like key=v1,v2 (got {text!r})")
    if raw.lstrip().startswith("["):
        try:
            values = [str(v) for v in json.loads(raw)]
        except json.JSONDecodeError as exc:
            raise InputError(f"{key}: values in [...] must be a JSON list ({exc.msg})") from None
    else:
        values = [v.strip() for v in raw.split(",")]
    if not values or not all(values):
        raise InputError(f"{key}: empty value in {raw!r}")
    if len(set(values)) != len(values):
        raise InputError(f"{key}: a value is repeated in {raw!r}")
    return Axis(key.strip(), values)


def slug(text: str, width: int = 24) -> str:
    """A folder-name-safe short form of a value."""
    cleaned = re.sub(r"[^A-Za-z0-9.+-]+", "_", text)[:width].strip("_.-")
    return cleaned or "value"


@dataclass(frozen=True)
class Point:
    """One grid point: its overrides (in axis order), its name and its folder."""

    overrides: tuple[tuple[str, str], ...]
    index: int

    @property
    def name(self) -> str:
        parts = []
        for key, value in self.overrides:
            short = key.lstrip("-").replace("_", "")[:12]
            parts.append(f"{short}-{slug(value)}")
        return f"p{self.index:02d}_" + "_".join(parts)

    def recipe_overrides(self) -> dict[str, str]:
        return {k: v for k, v in self.overrides if not k.startswith("--")}

    def converter_flags(self) -> list[str]:
        flags = []
        for key, value in self.overrides:
            if key.startswith("--"):
                flags += [key, value]
        return flags


def grid(axes: list[Axis]) -> list[Point]:
    """Every combination of the axes' values, first axis slowest."""
    if not axes:
        raise InputError("name at least one axis to sweep, e.g. learning_rate=1e-4,2e-5")
    keys = [axis.key for axis in axes]
    if len(set(keys)) != len(keys):
        raise InputError(f"an axis is named twice: {' '.join(keys)}")
    combos = itertools.product(*(axis.values for axis in axes))
    return [Point(tuple(zip(keys, combo, strict=True)), i) for i, combo in enumerate(combos)]


def point_metrics(folder: Path) -> dict[str, Any]:
    """The numbers a point produced: its report's headline metrics and its training summary."""
    found: dict[str, Any] = {}
    for kind, name in RESULT_FILES.items():
        path = folder / "report" / name
        if path.is_file():
            report = json.loads(path.read_text(encoding="utf-8"))
            if kind == "classify":
                found["accuracy"] = report.get("accuracy")
                found["macro_f1"] = report.get("macro", {}).get("f1")
                if "probabilistic" in report:
                    found["log_loss"] = report["probabilistic"].get("log_loss")
            else:
                block = report.get("llamafactory", {})
                found.update({f"lf_{k}": v for k, v in block.items() if isinstance(v, int | float)})
    state = folder / "train" / "trainer_state.json"
    if state.is_file():
        history = json.loads(state.read_text(encoding="utf-8")).get("log_history", [])
        losses = [entry["loss"] for entry in history if "loss" in entry]
        evals = [entry["eval_loss"] for entry in history if "eval_loss" in entry]
        if losses:
            found["final_train_loss"] = losses[-1]
        if evals:
            found["final_eval_loss"] = evals[-1]
        steps = [entry.get("step") for entry in history if "step" in entry]
        if steps:
            found["steps"] = max(steps)
    return found


def points_table(points: list[Point], out: Path) -> tuple[list[dict[str, Any]], list[str]]:
    """One row per point: its overrides and its metrics; the metric columns found."""
    rows = [{"point": p.name, **dict(p.overrides), **point_metrics(out / p.name)} for p in points]
    metrics = [m for m in HEADLINE if any(m in row for row in rows)]
    return rows, metrics


def for_steps(path: str | Path) -> Path:
    """A path this process reads from the working folder, as the steps read it: they run from the root (a path
    under the root relative to it when the root is the working folder, else absolute)."""
    return at_root(shown(Path(path).absolute()))


def converter_args(text: str) -> list[str]:
    """``--convert-args`` split as a shell would, its ``--input`` (typed here: as typed, else under the root) as
    the converter, run from the root, reads it."""
    from recipekit.converters.command import with_input

    return with_input(shlex.split(text), lambda path: str(for_steps(given(path))))


def point_steps(point: Point, recipe: Recipe, out: Path, name: str, *, gpus: int | None = None, convert_args: str = "",
                predict: str | None = None, predict_override: tuple[str, ...] | list[str] = (),
                report: str | None = None, labels: str | None = None) -> list[Step]:
    """The plain commands of one point, in order: a conversion when converter flags are swept, training, and with
    ``predict`` (a predict recipe) its predictions, with ``report`` (classify or gen) their report. Every path a
    step gets reads the same file from the root, where steps run, as here."""
    out, recipe_path = for_steps(out), for_steps(recipe.path)
    folder = out / point.name
    cli = program("llamafactory-cli")
    env = {"WANDB_RUN_GROUP": name}
    if "FORCE_TORCHRUN=1" in recipe.launch_line() or gpus:
        env["FORCE_TORCHRUN"] = "1"
    if gpus:
        env["NPROC_PER_NODE"] = str(gpus)
    steps, overrides, copy = [], dict(point.recipe_overrides()), None
    data_dir = Path(str(recipe.setting("dataset_dir")))
    data = [data_dir / "dataset_info.json", *(data_dir / f"{n}.jsonl" for n in names_of(recipe.setting("dataset")))]
    if point.converter_flags():
        dataset = names_of(recipe.setting("dataset"))[0]
        spec = spec_for(dataset)
        if spec is None:
            raise InputError(f"no converter known for dataset {dataset!r}: converter flags can't be swept")
        copy = f"{dataset}_{point.name}"
        steps.append(Step("convert", [sys.executable, f"converters/{spec.converter}.py",
                                      *converter_args(convert_args), *point.converter_flags(), "--name", copy,
                                      "--data-dir", str(data_dir)], outputs=[data_dir / f"{copy}.jsonl"]))
        overrides["dataset"] = copy
        data = [data_dir / "dataset_info.json", data_dir / f"{copy}.jsonl"]
        if recipe.datasets("eval_dataset"):
            overrides["eval_dataset"] = f"{copy}_val"
    train_dir = folder / "train"
    steps.append(Step("train", [cli, "train", str(recipe_path), *(f"{k}={v}" for k, v in overrides.items()),
                                f"output_dir={train_dir}", f"run_name={name}-{point.name}"], env,
                      inputs=[recipe_path, *data], outputs=[train_dir / "trainer_state.json"],
                      progress=train_dir / TRAINER_LOG))
    if predict:
        predicting = load_recipe(predict)
        predict_path = for_steps(predicting.path)
        key = "model_name_or_path" if recipe.saves_whole_model else "adapter_name_or_path"
        extra = [f"eval_dataset={copy}_val"] if copy and predicting.datasets("eval_dataset") else []
        steps.append(Step("predict", [cli, "train", str(predict_path), f"{key}={train_dir}",
                                      f"output_dir={folder / 'predict'}", *extra, *predict_override],
                          inputs=[predict_path, train_dir / "trainer_state.json"],
                          outputs=[folder / "predict" / "generated_predictions.jsonl"],
                          progress=folder / "predict" / TRAINER_LOG))
    if report:
        script = "eval/classify_report.py" if report == "classify" else "eval/gen_report.py"
        labels = ["--labels", labels] if labels and report == "classify" else []
        predictions = folder / "predict" / "generated_predictions.jsonl"
        steps.append(Step("report", [sys.executable, script, str(predictions), *labels, "--out",
                                     str(folder / "report")],
                          inputs=[predictions], outputs=[folder / "report" / RESULT_FILES[report]]))
    return steps


def run_step(step: Step, point: Point, out: Path) -> str:
    """Run one step unless its outputs exist; a failure stops the sweep naming the step's log."""
    runner = Runner(out / point.name / "logs", outputs_suffice=True)
    if not runner.ready(step):
        return "skipped (done)"
    try:
        return f"done in {runner.execute(step).seconds:.1f} s"
    except StepFailed as exc:
        raise SystemExit(f"error: {point.name}: {exc.headline}; log: {exc.log}") from None
