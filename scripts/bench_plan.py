"""Time `scripts/plan.py` on every shipped recipe, whole command from process start to plan.json written, on the
report's hardware with an empty simulation cache (the first plan a user runs), then again with the cache warm.

The goal: every recipe plans in under 60 s on a 2-core machine. Also prints, for --cards, each recipe's peak per
GPU at the report's GPU count (recipes/README.md's table). --published instead plans every published, measured
run of recipekit/plan/published_runs.yaml and prints planned / measured memory and step time for each, the memory
MAPE and worst error and the range of the time ratios, against the goals (memory within 10%, time 0.67-1.5x),
then per source the step-time ratios in sample and left out (the constants fitted on every other source):
the figures docs/planner.md quotes.
--measure runs `plan --measure` on every shipped training recipe (or the given ones) that fits this machine's
device and writes the planned-vs-measured table (recipekit/plan/measured_runs.yaml by default): on a GPU machine,
the one command to run.

Example:
    python scripts/bench_plan.py
    python scripts/bench_plan.py recipes/agnews_full.yaml --cards t4,a100-40g,h100-80g
    python scripts/bench_plan.py --published
    python scripts/bench_plan.py --measure
"""

from __future__ import annotations

import argparse
import json
import math
import os
import subprocess
import tempfile
import time
from pathlib import Path
from typing import TYPE_CHECKING

from recipekit.cli import at_least, script_parser
from recipekit.errors import exit_on_input_error
from recipekit.paths import root, shown
from recipekit.plan.calibration import PUBLISHED_RUNS
from recipekit.plan.gpus import report_hardware
from recipekit.plan.measure import MEASURED_RUNS
from recipekit.recipes.reading import all_recipe_files, load_recipe
from recipekit.steps import module_command

if TYPE_CHECKING:
    from recipekit.plan.timing import Constants

GOAL_SECONDS = 60.0


def build_parser() -> argparse.ArgumentParser:
    parser = script_parser(__doc__)
    parser.add_argument("recipes", nargs="*", help="recipes (default: every shipped one but the CPU demo's)")
    parser.add_argument("--cards", default="", help="comma-separated cards for the peak-per-GPU table")
    parser.add_argument("--published", nargs="?", const=str(PUBLISHED_RUNS), metavar="FILE",
                        help="check the planner against published measured runs (default file: "
                             "recipekit/plan/published_runs.yaml)")
    parser.add_argument("--measure", nargs="?", const=str(MEASURED_RUNS), metavar="FILE",
                        help="plan --measure every training recipe that fits this machine's device; write the "
                             "table to FILE (default: recipekit/plan/measured_runs.yaml)")
    parser.add_argument("--steps", type=at_least(2), default=4, help="with --measure: steps per recipe (default 4)")
    parser.add_argument("--fit", action="store_true",
                        help="with --published: also search the step-time constants that fit the points best")
    return parser


def published(path: str, fit_constants: bool = False) -> list:
    """Every published point planned, one table row each, then the figures: the summary against the goals and,
    per source, the fit in sample and with that source left out of the fit."""
    from recipekit.plan.calibration import check, fit, leave_one_source_out, load_points, prepare

    sources, points = load_points(path)
    print("| source | model | method | GPUs | seq | memory GB (planned / measured) | ratio | step s (planned / "
          "measured) | ratio | bound |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    checked, prepared = [], []
    for point in points:
        prepared.append(prepare(point))
        result = check(prepared[-1])
        checked.append(result)
        method = point["method"] + (" 4-bit" if point.get("quantization_bit") else "") + (
            f" ZeRO-{point['zero']}" if point["zero"] else "")
        mark = "" if result.used else " (listed)"
        print(f"| {point['source']}{mark} | {point.get('as', point['model'])} | {method} | {point['gpus']} "
              f"| {point['seq']} | {result.prepared.planned_gb:.1f} / {point['memory_gb']:.1f} "
              f"| {result.memory_ratio:.2f} | {result.planned_s:.2f} / {point['step_s']:.2f} | {result.time_ratio:.2f} "
              f"| {result.bound} |",
              flush=True)
    held = leave_one_source_out(prepared)
    print()
    print("\n".join(figures(sources, checked, held)))
    for source, (constants, _) in held.items():
        print(f"fitted without {source}: {constants_text(constants)}")
    if fit_constants:
        constants, worst = fit(prepared)
        print(f"\nbest constants on these points (worst time ratio {math.exp(worst):.2f}x): {constants}")
    for key, source in sources.items():
        print(f"source {key}: {source.get('title', '')}, {source.get('url', '')}")
    for point in points:
        if point.get("reason"):
            print(f"listed: {point.get('as', point['model'])} {point['seq']}: {point['reason']}")
    return checked


def constants_text(constants: Constants) -> str:
    """The four fitted constants, rounded as a reader compares them."""
    return (f"matmul efficiency {constants.matmul_efficiency:.2f}, bandwidth efficiency "
            f"{constants.bandwidth_efficiency:.2f}, launch {constants.launch_seconds * 1e6:.2f} us, ZeRO step "
            f"{constants.zero_step_seconds * 1e9:.2f} ns per parameter")


def ratios_text(stats: dict) -> str:
    return f"{stats['time_low']:.2f}-{stats['time_high']:.2f}x (MAPE {stats['time_mape']:.1%})"


def figures(sources: dict, checked: list, held: dict) -> list[str]:
    """The lines docs/planner.md quotes: the summary over the points that set the model, against the goals, then one
    table row per source: its memory error, its step-time ratios under the calibrated constants (in sample) and
    under the constants fitted on every other source (left out; a source whose points are all listed sets
    nothing, so the calibrated constants already leave it out)."""
    from recipekit.plan.calibration import MEMORY_GOAL, TIME_GOAL, summary

    totals = summary(checked)
    lines = [
        f"Planned against measured on the {totals['used']} points that set the model (of {totals['points']} "
        f"published; the others are listed with their reason): memory MAPE {totals['memory_mape']:.1%}, worst "
        f"{totals['memory_worst']:.1%} (goal: every point within {MEMORY_GOAL:.0%}: "
        f"{'met' if totals['memory_goal_met'] else 'NOT met'}); step time {ratios_text(totals)} (goal "
        f"{TIME_GOAL[0]}-{TIME_GOAL[1]}x: {'met' if totals['time_goal_met'] else 'NOT met'}).",
        "",
        "| source | cards | points used / listed | memory MAPE (worst) | step time in sample | step time left out |",
        "|---|---|---|---|---|---|"]
    for key in sources:
        mine = [c for c in checked if c.point["source"] == key]
        if not mine:
            continue
        used = [c for c in mine if c.used]
        stats = summary(mine)
        cards = ", ".join(dict.fromkeys(c.point["gpu"] for c in mine))
        inside = ratios_text(stats) if used else "-"
        outside = ratios_text(summary(held[key][1])) if used else f"{ratios_text(stats)}, listed"
        lines.append(f"| {key} | {cards} | {len(used)} / {len(mine) - len(used)} | {stats['memory_mape']:.1%} "
                     f"({stats['memory_worst']:.1%}) | {inside} | {outside} |")
    return lines


def timed_plan(recipe: Path, cache: Path, out: Path, extra: list[str]) -> tuple[float, dict]:
    env = {**os.environ, "LLM_RECIPES_CACHE": str(cache)}
    start = time.perf_counter()
    done = subprocess.run([*module_command("plan"), str(recipe), "--out", str(out), *extra],
                          cwd=root(), env=env, capture_output=True, text=True, check=False)
    seconds = time.perf_counter() - start
    if done.returncode != 0:
        raise SystemExit(f"{recipe}: plan failed: {done.stderr.strip().splitlines()[-1]}")
    return seconds, json.loads((out / "plan.json").read_text(encoding="utf-8"))


def hours_and_cost(plan: dict) -> str:
    """A plan's hours and cost as table cells (``-`` where it has none: prediction, or rows unknown)."""
    time = plan.get("time") or {}
    if time.get("hours") is None:
        return "- | -"
    return f"{time['hours']:.2f} | " + ("-" if time.get("cost") is None else f"${time['cost']:,.2f}")


def measure_sweep(paths: list[Path], table: Path, steps: int) -> list[dict]:
    """``plan --measure`` (the whole command) on each training recipe that fits this machine's device, one table
    row each, then the table written as YAML."""
    import datetime

    import torch
    import yaml

    from recipekit.errors import InputError
    from recipekit.files import announce, atomic_write_text
    from recipekit.plan.gpus import device_card, load_cards
    from recipekit.plan.measure import check_measurable
    from recipekit.plan.memory import GIB

    if torch.cuda.is_available():
        _, total = torch.cuda.mem_get_info()
        key = device_card(torch.cuda.get_device_name(), total / GIB, load_cards())
        # a device not in the table: its memory (only whether a recipe fits is read; no time is planned for it)
        where = ["--gpu", key] if key else ["--gpu-mem", f"{total / GIB:.1f}", "--gpu-tflops", "1"]
        device = torch.cuda.get_device_name()
    else:
        import psutil

        where, device = ["--gpu-mem", f"{psutil.virtual_memory().total / GIB:.1f}", "--gpu-tflops", "1"], "cpu"
    rows = []
    print("| recipe | batch x seq | memory GiB (planned / measured) | ratio | step s (planned / measured) | ratio "
          "| MFU (planned / measured) |")
    print("|---|---|---|---|---|---|---|")
    with tempfile.TemporaryDirectory() as scratch:
        for path in paths:
            try:
                check_measurable(load_recipe(path))
            except InputError:  # prediction and export recipes: --measure trains
                continue
            out = Path(scratch) / path.stem
            _, plan = timed_plan(path, Path(scratch) / "cache", out, where)
            if not plan["fits"]:
                print(f"| {shown(path)} | does not fit here: {plan['memory']['peak_gib']:.1f} GiB planned | | | | |")
                continue
            _, plan = timed_plan(path, Path(scratch) / "cache", out, [*where, "--measure", "--measure-steps",
                                                                       str(steps)])
            m = plan["measured"]
            planned_s = "-" if m["planned_step_seconds"] is None else f"{m['planned_step_seconds']:.3g}"
            ratio_s = "-" if m["time_ratio"] is None else f"{m['time_ratio']:.2f}"
            mfu = "-" if m["measured_mfu"] is None else f"{m['planned_mfu']:.1%} / {m['measured_mfu']:.1%}"
            print(f"| {shown(path)} | {m['shape']['batch']} x {m['shape']['seq']} | {m['planned_gib']:.2f} / "
                  f"{m['peak_gib']:.2f} | {m['memory_ratio']:.2f} | {planned_s} / {m['step_seconds']:.3g} "
                  f"| {ratio_s} | {mfu} |", flush=True)
            rows.append({"recipe": str(shown(path)), **{k: m[k] for k in (
                "device", "steps", "shape", "planned_gib", "peak_gib", "memory_ratio", "allocated_gib",
                "planned_step_seconds", "step_seconds", "time_ratio", "planned_mfu", "measured_mfu", "notes")}})
    if not rows:
        raise SystemExit("no recipe measured: none trains with LLaMA-Factory or none fits this device")
    document = {"device": device, "date": datetime.date.today().isoformat(), "torch": str(torch.__version__),
                "runs": rows}
    atomic_write_text(table, yaml.safe_dump(document, sort_keys=False, allow_unicode=True))
    print()
    announce(f"wrote {table} ({len(rows)} measured)")
    return rows


@exit_on_input_error
def main(argv: list[str] | None = None) -> list[dict]:
    args = build_parser().parse_args(argv)
    if args.published:
        return published(args.published, args.fit)
    shipped = [p for p in all_recipe_files(root() / "recipes") if not {"demo", "export"} & set(p.parts)]
    paths = [Path(p) for p in args.recipes] or shipped
    if args.measure:
        return measure_sweep(paths, Path(args.measure), args.steps)
    rows = []
    with tempfile.TemporaryDirectory() as scratch:
        cache = Path(scratch) / "cache"
        print("| recipe | hardware | cold s | warm s | peak per GPU | fits | hours | cost |")
        print("|---|---|---|---|---|---|---|---|")
        for path in paths:
            out = Path(scratch) / path.stem
            cold, plan = timed_plan(path, cache, out, ["--report-hardware"])
            warm, _ = timed_plan(path, cache, out, ["--report-hardware"])
            rows.append({"recipe": str(path), "cold": cold, "warm": warm, "plan": plan})
            name = shown(path)
            print(f"| {name} | {plan['gpus']}x {plan['gpu']['name']} | {cold:.1f} | {warm:.1f} "
                  f"| {plan['memory']['peak_gib']:.1f} GiB | {'yes' if plan['fits'] else 'no'} | "
                  f"{hours_and_cost(plan)} |", flush=True)
        slowest = max(rows, key=lambda r: r["cold"])
        print(f"\nslowest cold plan: {slowest['recipe']} {slowest['cold']:.1f} s (goal < {GOAL_SECONDS:.0f} s): "
              f"{'met' if slowest['cold'] < GOAL_SECONDS else 'NOT met'}")
        cards = [c.strip() for c in args.cards.split(",") if c.strip()]
        if cards:
            print("\n| recipe | GPUs | " + " | ".join(cards) + " |")
            print("|---|---|" + "---|" * len(cards))
            for path in paths:
                _, count, _ = report_hardware(load_recipe(path).facts().hardware)
                cells = []
                for card in cards:
                    _, plan = timed_plan(path, cache, Path(scratch) / f"{path.stem}_{card}",
                                         ["--gpu", card, "--gpus", str(count)])
                    cells.append(f"{plan['memory']['peak_gib']:.1f}{'' if plan['fits'] else ' ✗'}")
                print(f"| {path.name} | {count} | " + " | ".join(cells) + " |", flush=True)
    return rows


if __name__ == "__main__":
    main()
