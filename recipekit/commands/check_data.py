"""Load registered datasets through LLaMA-Factory's own data pipeline and report what training will see.

For each NAME in DATA_DIR/dataset_info.json: LLaMA-Factory's dataset loader and aligner, its template
and a tokenizer (--model, or a tiny BPE trained here on the datasets' own text) give rows kept, tokens
per row (mean, p50, p95, max, prompt + answer, chosen/rejected for preference sets), rows longer than
--cutoff-len, and the answer distribution of classification sets. Exits 1 when LLaMA-Factory cannot
load a dataset, drops rows, or keeps none.

With --overlap A B it instead counts the rows of A that are also in B (same system, prompt and answer as
LLaMA-Factory reads them, whatever the two files' formats), e.g. a hand-made validation set against a
hub training split, and exits 1 when there are any.

Example:
    llm-recipes check data agnews agnews_val --cutoff-len 192
    llm-recipes check data my_val agnews --overlap
    llm-recipes check data arena arena_pref --model Qwen/Qwen2.5-0.5B-Instruct --template qwen --json out.json
"""

from __future__ import annotations

import argparse
import os
import tempfile
from pathlib import Path
from typing import Any

from recipekit.cli import at_least, script_parser
from recipekit.contamination.check import Settings, duplicates_inside
from recipekit.contamination.sources import set_rows
from recipekit.converters.catalog import require_converted
from recipekit.data.dataset_info import default_data_dir
from recipekit.errors import InputError, exit_on_input_error
from recipekit.files import write_json
from recipekit.recipes.arguments import field_defaults
from recipekit.recipes.datacheck import CheckSettings, check_one, overlap, tiny_tokenizer


def render(name: str, report: dict[str, Any]) -> list[str]:
    tokens = report["tokens"]
    lines = [f"{name}: {report['rows_kept']} rows kept of {report['rows_in_file']} "
             f"({report['format']}{', ranking' if report['ranking'] else ''})",
             f"  tokens per row ({report['tokenizer']}): mean {tokens['mean']}, p50 {tokens['p50']}, p95 "
             f"{tokens['p95']}, max {tokens['max']}; {tokens['over_cutoff']} row(s) longer than cutoff_len "
             f"{report['cutoff_len']}"]
    if report["dropped_by_llamafactory"]:
        lines.append(f"  ERROR: LLaMA-Factory dropped {report['dropped_by_llamafactory']} row(s) as invalid")
    dups = report.get("duplicates")
    if dups:
        lines.append(f"  repeats: {dups['exact']} row(s) repeat an earlier row (normalised prompt), {dups['near']} "
                     f"nearly ({dups['rule']})")
        lines += [f"    {e['row']} ~ {e['like']} (Jaccard {e['jaccard']}): {e['text']}" for e in dups["examples"]]
    if "labels" in report:
        total = sum(report["labels"].values())
        lines.append("  answers: " + ", ".join(f"{label or '(empty: predict-ready)'} {n} ({n / total:.1%})"
                                              for label, n in report["labels"].items()))
    return lines


# pragma: no mutate start
def build_parser() -> argparse.ArgumentParser:
    parser = script_parser(__doc__)
    parser.add_argument("names", nargs="+", metavar="NAME", help="dataset names registered in dataset_info.json")
    parser.add_argument("--data-dir", default=str(default_data_dir()),
                        help="folder holding dataset_info.json (default: the repository's data/)")
    parser.add_argument("--overlap", action="store_true",
                        help="with two NAMEs: count the rows of the first that are also in the second (same system, "
                             "prompt and answer as LLaMA-Factory reads them); exit 1 when there are any")
    parser.add_argument("--model", help="tokenizer folder or hub id (default: a tiny BPE trained on the data)")
    parser.add_argument("--template", default="default", help="LLaMA-Factory chat template (default: default)")
    parser.add_argument("--cutoff-len", type=at_least(1), default=field_defaults(False)["cutoff_len"],
                        help="count rows longer than this (default: LLaMA-Factory's cutoff_len, %(default)s)")
    parser.add_argument("--max-labels", type=at_least(1), default=20,
                        help="show the answer distribution when a set has at most this many answers (default: 20)")
    parser.add_argument("--json", help="also write the reports to this JSON file")
    return parser


# pragma: no mutate end
@exit_on_input_error
def main(argv: list[str] | None = None) -> dict[str, Any]:
    args = build_parser().parse_args(argv)
    os.environ.setdefault("LLAMAFACTORY_VERBOSITY", "WARN")
    registry = require_converted(args.data_dir, args.names)
    if args.overlap and len(args.names) != 2:
        raise InputError(f"--overlap compares two datasets, got {len(args.names)}: {' '.join(args.names)}")
    reports: dict[str, Any] = {}
    failed = False
    with tempfile.TemporaryDirectory() as scratch:
        files = [Path(args.data_dir) / registry[name]["file_name"] for name in args.names
                 if "file_name" in registry[name]]
        model = args.model or tiny_tokenizer([f for f in files if f.is_file()], Path(scratch))
        settings = CheckSettings(args.data_dir, args.template, args.cutoff_len, args.max_labels)
        if args.overlap:
            found = overlap(args.names, registry, settings, model)
            first, second = args.names
            print(f"{first} ({found['rows'][first]} rows) against {second} ({found['rows'][second]} rows): "
                  f"{found['rows_of_first_in_second']} row(s) of {first} are also in {second} "
                  f"({found['distinct_shared']} distinct)")
            for name, repeats in found["repeated_inside"].items():
                if repeats:
                    print(f"  {name}: {repeats} row(s) repeat another row of {name}")
            if args.json:
                write_json(args.json, found)
            if found["rows_of_first_in_second"]:
                raise SystemExit(1)
            return found
        for name in args.names:
            try:
                reports[name] = check_one(name, registry[name], settings, model)
                reports[name]["tokenizer"] = f"{args.model}'s tokenizer" if args.model else \
                    "a tiny BPE trained on these rows, not the model's: give --model for the model's counts"
            except Exception as exc:  # whatever LLaMA-Factory raised is the answer to "can it load this?"
                reports[name] = {"error": f"{type(exc).__name__}: {' '.join(str(exc).split())}"}
                print(f"{name}: ERROR: LLaMA-Factory could not load it: {reports[name]['error']}")
                failed = True
                continue
            reports[name]["duplicates"] = duplicates_inside(list(set_rows(Path(args.data_dir), name, "prompt")),
                                                            Settings())
            failed |= reports[name]["dropped_by_llamafactory"] > 0 or reports[name]["rows_kept"] == 0
            print("\n".join(render(name, reports[name])))
    if args.json:
        write_json(args.json, reports)
    if failed:
        raise SystemExit(1)
    return reports


if __name__ == "__main__":
    main()
