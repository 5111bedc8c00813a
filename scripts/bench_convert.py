"""Benchmark converters/agnews.py against a bare read-CSV/write-JSONL loop on the same rows, in one run.

Writes --rows AG-News-like rows in the original headerless CSV layout (with the release's escapes),
then times the full converter (read with line numbers, validate, clean, stratified shuffle, the
overlap and empty-set checks, the one-unit write of data file and registry) and a bare loop that only
reads the CSV and writes the same JSON lines (no cleaning, checks or shuffling). Prints rows/s of both
and the ratio; the goal is within 2x.

Example:
    python scripts/bench_convert.py --rows 120000 --repeats 3
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import io
import json
import time
from collections.abc import Callable
from pathlib import Path

from recipekit.cli import at_least, in_scratch, script_parser
from recipekit.converters import agnews
from recipekit.errors import exit_on_input_error

WORDS = ("minister", "match", "shares", "software", "election", "coach", "profit", "chip", "troops", "season")


def write_rows(path: Path, rows: int) -> None:
    """AG-News-like rows: class 1-4, title + description of about 235 characters, with the release's quirks
    as often as in the real test split (measured there: 11% of rows hold a backslash break, 28% an entity
    that lost its '&', which leaves a double space)."""
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle, quoting=csv.QUOTE_ALL, lineterminator="\n")
        for i in range(rows):
            word, other = WORDS[i % len(WORDS)], WORDS[(i * 7) % len(WORDS)]
            slot = i % 100
            quoted = f" quot;{word} quot;" if slot < 28 else f'"{word}"'
            joint = "\\" if slot % 9 == 0 else " "
            writer.writerow((str(i % 4 + 1), f"Story {i} on the {word} market (Reuters)",
                             f"Reuters - Officials said the report on the {quoted} issue number {i} was final."
                             f"{joint}Shares moved {i % 97} points on Tuesday as analysts weighed the {other} "
                             f"outlook for the coming quarter and the {word} sector more broadly."))


def bare_loop(source: Path, target: Path) -> int:
    """Read the CSV and write one JSON line per row: the floor any converter is compared with."""
    names = [f"{i + 1}: {name}" for i, name in enumerate(agnews.CLASS_NAMES)]
    count = 0
    with source.open(encoding="utf-8", newline="") as reader, target.open("w", encoding="utf-8") as writer:
        for label, title, description in csv.reader(reader):
            writer.write(json.dumps({"instruction": agnews.PROMPT, "input": f"{title} {description}",
                                     "output": names[int(label) - 1]}, ensure_ascii=False) + "\n")
            count += 1
    return count


def best_times(functions: list[Callable[[], object]], repeats: int) -> list[float]:
    """Best wall time of each function, runs interleaved (a, b, a, b ...) so load drift hits both alike."""
    best = [float("inf")] * len(functions)
    for _ in range(repeats):
        for index, function in enumerate(functions):
            start = time.perf_counter()
            function()
            best[index] = min(best[index], time.perf_counter() - start)
    return best


@exit_on_input_error
def main(argv: list[str] | None = None) -> dict[str, float]:
    return in_scratch(build_parser(), argv, compare)


def build_parser() -> argparse.ArgumentParser:
    parser = script_parser(__doc__)
    parser.add_argument("--rows", type=at_least(1), default=120_000)
    parser.add_argument("--repeats", type=at_least(1), default=5, help="best of this many runs of each (default: 5)")
    return parser


def compare(args: argparse.Namespace, folder: Path) -> dict[str, float]:
    """The converter and the bare loop on the same rows written in ``folder``, printed and returned."""
    source = folder / "train.csv"
    write_rows(source, args.rows)
    converter_argv = ["--input", str(source), "--data-dir", str(folder / "data")]

    def converter_run() -> None:
        with contextlib.redirect_stdout(io.StringIO()):
            agnews.main(converter_argv)

    converter, bare = best_times([converter_run, lambda: bare_loop(source, folder / "bare.jsonl")], args.repeats)
    written = sum(1 for _ in (folder / "data" / "agnews.jsonl").open(encoding="utf-8"))
    result = {"rows": written, "converter_rows_per_s": written / converter, "bare_rows_per_s": args.rows / bare,
              "ratio": converter / bare}
    print(f"rows: {written:,} (best of {args.repeats})")
    print(f"converters/agnews.py: {converter:.2f} s, {result['converter_rows_per_s']:,.0f} rows/s")
    print(f"bare csv -> jsonl loop: {bare:.2f} s, {result['bare_rows_per_s']:,.0f} rows/s")
    print(f"ratio (converter time / bare time): {result['ratio']:.2f}x (goal: <= 2x)")
    return result


if __name__ == "__main__":
    main()
