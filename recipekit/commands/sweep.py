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
import sys
from pathlib import Path
from typing import Any

from recipekit.cli import at_least, name_value, script_parser
from recipekit.errors import InputError, exit_on_input_error
from recipekit.files import announce, atomic_write_text, write_json, writes_held
from recipekit.paths import at_root
from recipekit.recipes.arguments import parse_overrides
from recipekit.recipes.reading import load_recipe
from recipekit.recipes.sweep import RESULT_FILES, grid, parse_axis, point_steps, points_table, run_step
from recipekit.report.plots import plot_axis
from recipekit.report.writer import fmt, md_table


# pragma: no mutate start
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


# pragma: no mutate end
def parse_arguments(argv: list[str]) -> tuple[argparse.Namespace, list[str]]:
    """The parsed flags and the converter-flag axes: ``--flag=v1,v2`` tokens the parser does not know."""
    parser = build_parser()
    parser.allow_abbrev = False  # `--label-names=...` must not be taken for a prefix of one of our own flags
    args, unknown = parser.parse_known_args(argv)
    flags = [arg for arg in unknown if arg.startswith("--") and "=" in arg]
    # a recipe-field axis written after a converter-flag axis is left over by argparse: it is still an axis
    args.axes += [arg for arg in unknown if not arg.startswith("-") and "=" in arg]
    strays = [arg for arg in unknown if arg not in flags and arg not in args.axes]
    if strays:
        parser.error(f"unrecognized arguments: {' '.join(strays)}")
    return args, flags


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
    plans = {point.name: point_steps(point, recipe, out, name, gpus=args.gpus, convert_args=args.convert_args,
                                       predict=args.predict, predict_override=args.predict_override,
                                       report=args.report, labels=args.labels) for point in points}
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
