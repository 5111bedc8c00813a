"""Benchmark `llm-recipes check contamination` on AG-News-sized sets against a plain set baseline, in one run.

Writes --rows training rows and --test-rows held-out rows in the converters' Alpaca layout (one instruction
shared by every row, about 40 words of text each, --planted of the held-out rows copied into training), and a
--task-rows lm-eval task of local JSON rows with its suite file. Then times, each as a new process from start
to files written: the whole command (all three methods, the lm-eval task loaded by lm-eval, the report
written), and a plain baseline that reads both sides into memory and intersects Python sets of normalised texts
and 13-grams (exact and 13-gram only: a pairwise near-duplicate search would take hours; its cost on a sample is
printed). Prints seconds, peak memory and the ratio; the goal is under 60 s for the whole command.

Example:
    python scripts/bench_contamination.py --rows 120000 --test-rows 7600 --task-rows 3000
"""

from __future__ import annotations

import argparse
import json
import random
import subprocess
import sys
import time
from pathlib import Path

from recipekit.cli import at_least, in_scratch, script_parser
from recipekit.errors import exit_on_input_error
from recipekit.eval.benchmarks import multiple_choice_task

INSTRUCTION = ("Give you a news headline and corresponding summary description. Understanding this news and then "
               "classify it into one of the following four topics.")
GOAL_SECONDS = 60.0
SAMPLE = 200  # training rows the pairwise near-duplicate cost is measured on

BASELINE = """
import json, sys, time
from recipekit.contamination.text import ngrams, shingles, tokens, jaccard
train, test, task = sys.argv[1:4]
def texts(path, key):
    with open(path, encoding="utf-8") as handle:
        return [" ".join(str(json.loads(line)[k]) for k in key) for line in handle if line.strip()]
scored = texts(test, ("input",)) + texts(task, ("question",))  # the row's own text: the instruction is shared
training = texts(train, ("input",))
scored_words = [tokens(t) for t in scored]
exact = {" ".join(w) for w in scored_words}
grams = {g for w in scored_words for g in ngrams(w)}
hits = sum(1 for t in training if " ".join(w := tokens(t)) in exact or any(g in grams for g in ngrams(w)))
start = time.perf_counter()
scored_sets = [shingles(w) for w in scored_words]
for t in training[:200]:
    s = shingles(tokens(t))
    near = sum(jaccard(s, other) >= 0.7 for other in scored_sets)
pairwise = (time.perf_counter() - start) / 200 * len(training)
print(json.dumps({"flagged": hits, "pairwise_seconds": pairwise}))
"""


def words(rng: random.Random, vocabulary: list[str], n: int) -> str:
    return " ".join(rng.choice(vocabulary) for _ in range(n))


def write_sets(folder: Path, rows: int, test_rows: int, task_rows: int, planted: int) -> tuple[Path, Path, Path]:
    """The data folder (training and held-out set, registered), the task folder and the suite file."""
    rng = random.Random(0)
    vocabulary = [f"{rng.choice('bcdfgklmnprst')}{rng.choice('aeiou')}{i}" for i in range(20000)]
    data, tasks = folder / "data", folder / "tasks"
    data.mkdir()
    tasks.mkdir()
    test = [words(rng, vocabulary, 40) for _ in range(test_rows)]
    with (data / "bench_test.jsonl").open("w", encoding="utf-8") as handle:
        for text in test:
            handle.write(json.dumps({"instruction": INSTRUCTION, "input": text, "output": "1: World"}) + "\n")
    with (data / "bench.jsonl").open("w", encoding="utf-8") as handle:
        for i in range(rows):
            text = test[i % test_rows] if i < planted else words(rng, vocabulary, 40)
            handle.write(json.dumps({"instruction": INSTRUCTION, "input": text, "output": "2: Sports"}) + "\n")
    entry = {"formatting": "alpaca", "columns": {"prompt": "instruction", "query": "input", "response": "output"}}
    (data / "dataset_info.json").write_text(json.dumps({"bench": {"file_name": "bench.jsonl", **entry},
                                                        "bench_test": {"file_name": "bench_test.jsonl", **entry}}),
                                            encoding="utf-8")
    with (tasks / "questions.jsonl").open("w", encoding="utf-8") as handle:
        for _ in range(task_rows):
            row = {"question": words(rng, vocabulary, 30), "choices": ["a", "b"], "answer": 0}
            handle.write(json.dumps(row) + "\n")
    (tasks / "bench_task.yaml").write_text(multiple_choice_task("bench_task", tasks / "questions.jsonl",
                                                                "{{question}}"), encoding="utf-8")
    suite = folder / "suite.yaml"
    suite.write_text("dimensions:\n  bench: {tasks: [bench_task], shots: 0}\n", encoding="utf-8")
    return data, tasks, suite


PEAK = """import resource, runpy, sys
sys.argv = sys.argv[1:]
try:
    if sys.argv[0].endswith(".py"):
        runpy.run_path(sys.argv[0], run_name="__main__")
    else:
        runpy.run_module(sys.argv[0], run_name="__main__", alter_sys=True)
finally:
    print("peak_kib", resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, file=sys.stderr)
"""


def timed(target: str, *args: str) -> tuple[float, float, str]:
    """Run a module or a script file in a new interpreter: (seconds from process start to exit, its peak memory
    in MiB, its output); a failure stops the benchmark with its last lines."""
    start = time.perf_counter()
    done = subprocess.run([sys.executable, "-c", PEAK, target, *args], capture_output=True, text=True, check=False)
    seconds = time.perf_counter() - start
    if done.returncode != 0:
        raise SystemExit(f"{target} failed:\n{done.stderr[-3000:]}")
    peak = next(int(line.split()[1]) for line in reversed(done.stderr.splitlines()) if line.startswith("peak_kib"))
    return seconds, peak / 1024, done.stdout


def build_parser() -> argparse.ArgumentParser:
    parser = script_parser(__doc__)
    parser.add_argument("--rows", type=at_least(1), default=120_000, help="training rows (default: 120000)")
    parser.add_argument("--test-rows", type=at_least(1), default=7_600, help="held-out rows (default: 7600)")
    parser.add_argument("--task-rows", type=at_least(1), default=3_000, help="benchmark task rows (default: 3000)")
    parser.add_argument("--planted", type=at_least(0), default=50, help="held-out rows copied into training")
    return parser


@exit_on_input_error
def main(argv: list[str] | None = None) -> dict[str, float]:
    return in_scratch(build_parser(), argv, compare)


def compare(args: argparse.Namespace, folder: Path) -> dict[str, float]:
    """Both runs on the same written sets in ``folder``, printed and returned."""
    data, tasks, suite = write_sets(folder, args.rows, args.test_rows, args.task_rows, args.planted)
    script = folder / "baseline.py"
    script.write_text(BASELINE, encoding="utf-8")
    base_seconds, base_peak, said = timed(str(script), str(data / "bench.jsonl"), str(data / "bench_test.jsonl"),
                                          str(tasks / "questions.jsonl"))
    baseline = json.loads(said)
    ours, peak, _ = timed("recipekit.commands.check_contamination", "--train", "bench", "--data-dir", str(data),
                          "--suite", str(suite), "--include-path", str(tasks), "--out", str(folder / "report"))
    report = json.loads((folder / "report" / "contamination.json").read_text(encoding="utf-8"))
    found = sum(p["any"]["training_rows"] for p in report["pairs"] if p["scored"] == "bench_test")
    print(f"{args.rows:,} training rows against {args.test_rows:,} held-out rows and a {args.task_rows:,}-row "
          f"lm-eval task ({args.planted} copies planted)")
    print(f"check contamination (exact, 13-gram, near-duplicate; whole command): {ours:.1f} s, peak {peak:.0f} MiB, "
          f"{found} training rows flagged")
    print(f"plain sets (exact and 13-gram only, both sides in memory): {base_seconds:.1f} s, peak {base_peak:.0f} "
          f"MiB, {baseline['flagged']} flagged; a pairwise near-duplicate search would add about "
          f"{baseline['pairwise_seconds'] / 60:.0f} min")
    print(f"ratio (command / plain sets): {ours / base_seconds:.2f}x; goal: under {GOAL_SECONDS:.0f} s "
          f"({'met' if ours < GOAL_SECONDS else 'missed'})")
    return {"seconds": ours, "baseline_seconds": base_seconds, "ratio": ours / base_seconds, "peak_mib": peak,
            "baseline_peak_mib": base_peak, "flagged": found}


if __name__ == "__main__":
    main()
