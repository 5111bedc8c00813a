"""Reproduce one report with one command: its chain of plain commands, then a card beside the report's numbers.

REPORT is agnews, tulu_dpo, yelp5, afqmc or arena (recipes/reproduce/REPORT.yaml lists the steps: convert,
check, plan, train, predict, score, calibrate, report). Each step logs to OUT/logs/STEP.log and prints a
progress line; a re-run skips every step whose outputs are newer than its inputs, so after a failure or a
preempted GPU the same command resumes; --from STEP reruns from a step on. All steps share one wandb group
(reproduce-REPORT). A run holds OUT: a second one into it refuses at once. At the end OUT/report_card.md/.json/.png
set the report's numbers beside this run's.
--tiny runs the same chain on this CPU (a tiny model, small data in the raw format, DeepSpeed on 2 CPU
ranks) to check it end to end; its card gives no verdicts.

Example:
    llm-recipes reproduce agnews --dry-run
    llm-recipes reproduce yelp5 --gpus 1
    llm-recipes reproduce tulu_dpo --tiny --out outputs/reproduce/tulu_dpo-tiny
    llm-recipes reproduce agnews --from predict
"""

from __future__ import annotations

import argparse
import contextlib
from pathlib import Path
from typing import Any

from recipekit.cli import at_least, script_parser
from recipekit.converters.catalog import tiny_source_flags
from recipekit.errors import InputError, exit_on_input_error
from recipekit.paths import at_root, root
from recipekit.progress import working
from recipekit.reproduce.chain import Layout, add_chain_arguments, layout_for
from recipekit.reproduce.runner import held, load_state, named_inputs, run_chain


# pragma: no mutate start
def build_parser() -> argparse.ArgumentParser:
    parser = script_parser(__doc__)
    add_chain_arguments(parser, "folder of this reproduction", "the same chain on a tiny model and small data (CPU)")
    parser.add_argument("--dry-run", action="store_true", help="print the commands and the plan; run nothing")
    parser.add_argument("--no-plan", action="store_true", help="with --dry-run: the commands only")
    parser.add_argument("--from", dest="start", metavar="STEP", help="rerun from this step on, even if up to date")
    parser.add_argument("--gpus", type=at_least(1), help="GPUs per training run (NPROC_PER_NODE, FORCE_TORCHRUN=1)")
    parser.add_argument("--no-wandb", action="store_true", help="do not log the card to wandb")
    return parser


# pragma: no mutate end
def print_plans(layout: Layout) -> None:
    """The planner on each training recipe of the chain, on the report's hardware."""
    from recipekit.plan.gpus import report_hardware, resolve_gpu
    from recipekit.plan.planner import plan
    from recipekit.recipes.reading import load_recipe, producers
    from recipekit.report.plan import header_line

    made_by = producers([root() / step.source_recipe for step in layout.steps() if step.source_recipe])
    print("\nplan (the real run, on each recipe's report hardware):")
    planned: list[tuple[str, dict[str, Any]]] = []
    for step in layout.steps():
        if not step.source_recipe or (step.source_recipe, step.overrides) in planned:
            continue
        planned.append((step.source_recipe, step.overrides))
        recipe = load_recipe(root() / step.source_recipe).with_values(step.overrides)
        if not recipe.trains:  # a step that only predicts with it (do_train=false) trains nothing
            continue
        card, gpus, _ = report_hardware(recipe.facts().hardware)
        result = plan(recipe, resolve_gpu(card, None, None), layout.gpus or gpus, made_by)
        print(f"  {step.source_recipe}: {header_line(result)}")


@exit_on_input_error
def main(argv: list[str] | None = None) -> dict[str, Any]:
    args = build_parser().parse_args(argv)
    layout = layout_for(args.report, args.out, args.tiny, args.gpus, tiny_source_flags, writes=not args.dry_run)
    with contextlib.nullcontext() if args.dry_run else held(layout):  # a second run into the folder: refused
        return reproduce(args, layout)


def reproduce(args: argparse.Namespace, layout: Layout) -> dict[str, Any]:
    """The dry run's commands and plans, or the run and its card."""
    card_command = f"python scripts/report_card.py {layout.chain.name} --out {layout.out}" + \
        (" --tiny" if layout.tiny else "")
    kind = "tiny run of " if layout.tiny else ""
    print(f"reproduce {layout.chain.name}: {kind}{layout.chain.title}; {len(layout.chain.steps)} steps in "
          f"{at_root(layout.out)} (wandb group {layout.group})", flush=True)
    with contextlib.nullcontext() if args.dry_run else working("reading the recipes its steps run"):
        steps = layout.steps()  # LLaMA-Factory's parser gives each recipe's defaults: seconds, the first time
    if args.dry_run:
        for step in steps:
            reads, writes = named_inputs(step), [str(o) for o in step.outputs]
            print(f"# {step.name}" + (f"; reads {', '.join(reads)}" if reads else "") +
                  (f"; writes {', '.join(writes)}" if writes else ""))
            print(step.shell())
        print(f"# card\n{card_command}")
        if not args.no_plan:
            print_plans(layout)
        return {"commands": [s.shell() for s in steps] + [card_command]}
    names = [step.name for step in steps]
    if args.start is not None and args.start not in names:
        raise InputError(f"--from {args.start}: no such step (steps: {', '.join(names)})")
    if not layout.tiny and not args.no_wandb:
        from recipekit.report.wandb import require_wandb

        require_wandb("the chain logs its runs and card to wandb (--no-wandb: not the card)")
    outcomes = run_chain(layout, steps, args.start)
    from recipekit.reproduce.publish import write_card

    paths = write_card(layout, steps, load_state(Path(root() / layout.out)), wandb=not args.no_wandb)
    ran = sum(o.status == "ran" for o in outcomes)
    print(f"{ran} step(s) ran, {len(outcomes) - ran} skipped (up to date); card: {', '.join(map(str, paths))}")
    return {"outcomes": [o.__dict__ for o in outcomes], "card": [str(p) for p in paths]}


if __name__ == "__main__":
    main()
