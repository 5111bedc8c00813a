"""Run a grid of one recipe's settings (the reports' ablation tables) and tabulate every point's metrics.

Each axis is KEY=V1,V2 (a recipe field, overridden on llamafactory-cli's command line) or --FLAG=V1,V2 (a
converter flag: that point converts its own copy of the recipe's dataset first, e.g. a prompt version
with --instruction). One output folder and wandb run per point, all in one wandb group; a point's step
whose output exists is skipped, so a re-run resumes. With --predict and --report each point is also
predicted and scored; the table (sweep.json, sweep.md) and one plot per axis come from the points'
reports (or their training curves).

Example:
    llm-recipes sweep recipes/agnews_full.yaml learning_rate=1e-4,2e-5,6e-5,6e-6 --dry-run
    llm-recipes sweep recipes/agnews_full.yaml gradient_accumulation_steps=4,8 \\
        --predict recipes/agnews_predict.yaml --report classify --labels "1: World,2: Sports,3: Business,4: Sci/Tech"
    llm-recipes sweep recipes/agnews_full.yaml --instruction='["Classify the news.", "Give you a news ..."]' \\
        --convert-args "--hf fancyzhx/ag_news --val-size 1000" --predict recipes/agnews_predict.yaml --report classify
"""

from __future__ import annotations

import argparse
import shlex
import sys
from pathlib import Path
from typing import Any

from recipekit.cli import at_least, name_value, script_parser
from recipekit.converters.catalog import spec_for
from recipekit.errors import InputError, exit_on_input_error
from recipekit.files import announce, atomic_write_text, write_json, writes_held
from recipekit.paths import at_root
from recipekit.progress import TRAINER_LOG
from recipekit.recipes.arguments import names_of, parse_overrides
from recipekit.recipes.reading import Recipe, load_recipe
from recipekit.recipes.sweep import RESULT_FILES, Point, grid, parse_axis, points_table
from recipekit.report.plots import plot_axis
from recipekit.report.writer import fmt, md_table
from recipekit.steps import Runner, Step, StepFailed, program


def build_parser() -> argparse.ArgumentParser:
    parser = script_parser(__doc__)
    parser.add_argument("recipe", help="the training recipe to sweep")
    parser.add_argument("axes", nargs="*", metavar="KEY=V1,V2",
                        help="a recipe field or a --converter-flag and its values (one value: fixed for all points)")
    parser.add_argument("--out", help="sweep folder (default: outputs/sweeps/RECIPE_STEM)")
    parser.add_argument("--name", type=name_value,
                        help="sweep name: the wandb group and run-name prefix (default: RECIPE_STEM-sweep)")
    parser.add_argument("--predict", help="predict recipe run on each point's model or adapter")
    parser.add_argument("--predict-override", action="append", default=[], metavar="KEY=VALUE",
                        help="a field of the predict recipe set for every point (repeatable), e.g. dataset_dir=...")
    parser.add_argument("--report", choices=tuple(RESULT_FILES), help="score each point's predictions")
    parser.add_argument("--labels", help="label set for --report classify")
    parser.add_argument("--convert-args", default="",
                        help="source flags for the converter of points that sweep a --flag (e.g. \"--input DIR\")")
    parser.add_argument("--gpus", type=at_least(1), help="GPUs per point (NPROC_PER_NODE)")
    parser.add_argument("--dry-run", action="store_true", help="print every point's commands and run nothing")
    return parser


def parse_arguments(argv: list[str]) -> tuple[argparse.Namespace, list[str]]:
    """The parsed flags and the converter-flag axes: ``--flag=v1,v2`` tokens the parser does not know."""
    parser = build_parser()
    parser.allow_abbrev = False  # `--label-names=...` must not be taken for a prefix of one of our own flags
    args, unknown = parser.parse_known_args(argv)
    strays = [arg for arg in unknown if not (arg.startswith("--") and "=" in arg)]
    if strays:
        parser.error(f"unrecognized arguments: {' '.join(strays)}")
    return args, unknown


def point_steps(point: Point, recipe: Recipe, args: argparse.Namespace, out: Path, name: str) -> list[Step]:
    """The plain commands of one point, in order."""
    folder = out / point.name
    cli = program("llamafactory-cli")
    env = {"WANDB_RUN_GROUP": name}
    if "FORCE_TORCHRUN=1" in recipe.launch_line() or args.gpus:
        env["FORCE_TORCHRUN"] = "1"
    if args.gpus:
        env["NPROC_PER_NODE"] = str(args.gpus)
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
                                      *shlex.split(args.convert_args), *point.converter_flags(), "--name", copy,
                                      "--data-dir", str(data_dir)], outputs=[data_dir / f"{copy}.jsonl"]))
        overrides["dataset"] = copy
        data = [data_dir / "dataset_info.json", data_dir / f"{copy}.jsonl"]
        if recipe.datasets("eval_dataset"):
            overrides["eval_dataset"] = f"{copy}_val"
    train_dir = folder / "train"
    steps.append(Step("train", [cli, "train", str(recipe.path), *(f"{k}={v}" for k, v in overrides.items()),
                                f"output_dir={train_dir}", f"run_name={name}-{point.name}"], env,
                      inputs=[recipe.path, *data], outputs=[train_dir / "trainer_state.json"],
                      progress=train_dir / TRAINER_LOG))
    if args.predict:
        predict = load_recipe(args.predict)
        key = "adapter_name_or_path" if recipe.setting("finetuning_type") != "full" else "model_name_or_path"
        extra = [f"eval_dataset={copy}_val"] if copy and predict.datasets("eval_dataset") else []
        steps.append(Step("predict", [cli, "train", str(predict.path), f"{key}={train_dir}",
                                      f"output_dir={folder / 'predict'}", *extra, *args.predict_override],
                          inputs=[predict.path, train_dir / "trainer_state.json"],
                          outputs=[folder / "predict" / "generated_predictions.jsonl"],
                          progress=folder / "predict" / TRAINER_LOG))
    if args.report:
        script = "eval/classify_report.py" if args.report == "classify" else "eval/gen_report.py"
        labels = ["--labels", args.labels] if args.labels and args.report == "classify" else []
        predictions = folder / "predict" / "generated_predictions.jsonl"
        steps.append(Step("report", [sys.executable, script, str(predictions), *labels, "--out",
                                     str(folder / "report")],
                          inputs=[predictions], outputs=[folder / "report" / RESULT_FILES[args.report]]))
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


@exit_on_input_error
def main(argv: list[str] | None = None) -> dict[str, Any]:
    args, flags = parse_arguments(list(sys.argv[1:] if argv is None else argv))
    recipe = load_recipe(args.recipe)
    if not recipe.trains:
        raise InputError("sweep a training recipe (do_train: true); predict recipes go to --predict", args.recipe)
    if args.report and not args.predict:
        raise InputError("--report scores predictions: give --predict RECIPE too")
    axes = [parse_axis(text) for text in [*args.axes, *flags]]
    points = grid(axes)
    out = Path(args.out) if args.out else at_root(f"outputs/sweeps/{Path(args.recipe).stem}")
    name = args.name or f"{Path(args.recipe).stem}-sweep"
    for point in points:  # every point read by the recipe's own parser before anything runs
        given = [f"{k}={v}" for k, v in point.recipe_overrides().items()]  # read as llamafactory-cli reads them
        try:
            recipe.with_values(parse_overrides(given)).parsed()
        except InputError as exc:
            raise InputError(f"point {point.name} ({' '.join(given)}): {exc.message}", args.recipe) from None
    plans = {point.name: point_steps(point, recipe, args, out, name) for point in points}
    print(f"sweep {name}: {len(points)} point(s) of {args.recipe} in {out} (wandb group {name})")
    for point in points:
        print(f"[{point.name}] " + " ".join(f"{k}={v}" for k, v in point.overrides))
        for step in plans[point.name]:
            if args.dry_run:
                print(f"  {step.shell()}")
            else:
                print(f"  {step.name}: {run_step(step, point, out)}", flush=True)
    if args.dry_run:
        return {"points": [p.name for p in points], "commands": {k: [s.shell() for s in v] for k, v in plans.items()}}
    rows, metrics = points_table(points, out)
    result = {"recipe": args.recipe, "name": name, "axes": {a.key: a.values for a in axes}, "metrics": metrics,
              "points": rows}
    headers = ["point", *[a.key for a in axes], *metrics]
    markdown = f"# Sweep {name}\n\n" + md_table(headers, [[fmt(row.get(h)) if isinstance(row.get(h), float) else
                                                            row.get(h, "-") for h in headers] for row in rows]) + "\n"
    with writes_held():
        write_json(out / "sweep.json", result)
        atomic_write_text(out / "sweep.md", markdown)
        plots = [str(plot_axis(rows, a.key, a.values, metrics[0], out / f"sweep_{slug_key(a.key)}.png"))
                 for a in axes if metrics and len(a.values) > 1]
    print(markdown)
    announce(f"wrote {out / 'sweep.json'}, {out / 'sweep.md'}" + (", " + ", ".join(plots) if plots else ""))
    return result


def slug_key(key: str) -> str:
    return key.lstrip("-").replace("/", "_")


if __name__ == "__main__":
    main()
