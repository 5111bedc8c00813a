"""Time `llm-recipes new` on a table of --rows rows, whole command from process start to files written: once with
an empty plan cache (what a user's first `new` costs), once with it warm, against a baseline timed in the same
run: `llm-recipes plan` of the chosen training recipe, from an empty cache (one candidate planned from scratch;
the search plans every candidate, sharing each simulated step). Prints seconds, the ratios, the candidates and
how many steps were simulated; the goal is under 120 s cold.

Example:
    python scripts/bench_new.py
    python scripts/bench_new.py --task generate --gpu a100-80g --rows 5000
"""

from __future__ import annotations

import argparse
import csv
import os
import random
import re
import shutil
import subprocess
import time
from pathlib import Path

from recipekit.cli import at_least, in_scratch, script_parser
from recipekit.errors import exit_on_input_error
from recipekit.paths import root
from recipekit.steps import module_command

GOAL_SECONDS = 120.0
SENTIMENTS = ("positive", "negative", "neutral")
FLAGS = {
    "classify": ["--input-column", "review_text", "--output-column", "sentiment", "--instruction",
                 "Is this review positive, negative or neutral?"],
    "generate": ["--input-column", "question", "--output-column", "good_answer"],
    "preference": ["--input-column", "question", "--chosen-column", "good_answer", "--rejected-column", "bad_answer"],
}


def write_table(path: Path, task: str, rows: int) -> Path:
    """A CSV with its own column names: reviews with a sentiment (classify), or questions with a good and a bad
    answer (generate, preference)."""
    rng = random.Random(0)
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        if task == "classify":
            writer.writerow(["order_id", "review_text", "sentiment"])
            for i in range(rows):
                label = SENTIMENTS[i % 3]
                words = " ".join(rng.choice(("parcel", "box", "item", "courier", "price")) for _ in range(20))
                writer.writerow([f"A{i:06d}", f"Order {i}: {words}, all {label}", label])
        else:
            writer.writerow(["question", "good_answer", "bad_answer"])
            for i in range(rows):
                writer.writerow([f"How do I reset device {i}?", f"Hold the button of device {i} for "
                                 f"{rng.randint(5, 30)} seconds, then wait for the light.", f"Device {i} cannot."])
    return path


def timed(argv: list[str], project: Path, cache: Path) -> tuple[float, str]:
    """A command module in a new interpreter on ``project`` with plan cache ``cache``: (seconds from process start
    to exit, its output); a failure stops the benchmark with its last line."""
    env = {**os.environ, "LLM_RECIPES_ROOT": str(project), "LLM_RECIPES_CACHE": str(cache)}
    start = time.perf_counter()
    done = subprocess.run(argv, cwd=project, env=env, capture_output=True, text=True, check=False)
    seconds = time.perf_counter() - start
    if done.returncode != 0:
        last = (done.stderr.strip().splitlines() or ["no output"])[-1]
        raise SystemExit(f"{' '.join(argv[2:4])} failed: {last}")
    return seconds, done.stdout


def build_parser() -> argparse.ArgumentParser:
    parser = script_parser(__doc__)
    parser.add_argument("--task", choices=tuple(FLAGS), default="classify")
    parser.add_argument("--rows", type=at_least(40), default=2000, help="rows of the table (default: 2000)")
    parser.add_argument("--gpu", default="t4", help="the card to fit to (default: t4)")
    parser.add_argument("--gpus", type=at_least(1), default=1)
    parser.add_argument("--method", choices=("auto", "full", "lora", "qlora"), default="auto")
    return parser


@exit_on_input_error
def main(argv: list[str] | None = None) -> dict[str, float]:
    return in_scratch(build_parser(), argv, compare)


def compare(args: argparse.Namespace, folder: Path) -> dict[str, float]:
    """`new` cold and warm and the baseline `plan`, on one table in ``folder``, printed and returned."""
    project = folder / "project"
    shutil.copytree(root() / "recipes" / "deepspeed", project / "recipes" / "deepspeed")
    (project / "data").mkdir()
    table = write_table(folder / "table.csv", args.task, args.rows)
    new = [*module_command("new"), "bench", "--data", str(table), "--task", args.task, *FLAGS[args.task],
           "--gpu", args.gpu, "--gpus", str(args.gpus), "--method", args.method]
    cold, said = timed(new, project, folder / "cache")
    warm, _ = timed([*new, "--force"], project, folder / "cache")
    found = re.search(r"planned (\d+) candidates on .* from (\d+) simulated steps", said)
    candidates, simulated = (int(found.group(1)), int(found.group(2))) if found else (0, 0)
    chosen = next((line for line in said.splitlines() if line.startswith("| chosen |")), "| chosen | ? |")
    plan = [*module_command("plan"), "recipes/bench/train.yaml", "--gpu", args.gpu, "--gpus", str(args.gpus),
            "--out", str(folder / "plan")]
    baseline, _ = timed(plan, project, folder / "baseline_cache")
    print(f"{args.rows:,} rows, --task {args.task} on {args.gpus} x {args.gpu} (--method {args.method}): "
          f"{candidates} candidates planned from {simulated} simulated steps")
    print(f"chosen: {chosen.split('|')[2].strip()}")
    print(f"llm-recipes new (whole command): {cold:.1f} s with an empty plan cache, {warm:.1f} s warm")
    print(f"baseline, llm-recipes plan of the chosen recipe with an empty cache: {baseline:.1f} s")
    print(f"ratio (new cold / one plan): {cold / baseline:.2f}x for {candidates} candidates; warm: "
          f"{warm / baseline:.2f}x")
    print(f"goal: under {GOAL_SECONDS:.0f} s cold ({'met' if cold < GOAL_SECONDS else 'missed'})")
    return {"cold_seconds": cold, "warm_seconds": warm, "baseline_seconds": baseline, "ratio": cold / baseline,
            "candidates": candidates, "simulated": simulated}


if __name__ == "__main__":
    main()
