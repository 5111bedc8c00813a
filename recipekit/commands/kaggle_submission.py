"""Write a Kaggle submission CSV (id + one probability column per label) from scored rows.

Reads rows of eval/score_labels.py or eval/calibrate.py (each with `id` and `probs`) and writes
`id,<column>...` in the rows' order, one column per label as --columns maps them. The default is the
"LLM Classification Finetuning" layout: A -> winner_model_a, B -> winner_model_b, tie -> winner_tie.

Example:
    llm-recipes calibrate swap --original a/test.jsonl --swapped a/test_swapped.jsonl
    llm-recipes calibrate temperature --val a/val.swap_averaged.jsonl --test a/test.swap_averaged.jsonl
    llm-recipes submission a/test.swap_averaged.temperature.jsonl --out submission.csv
"""

from __future__ import annotations

import argparse
import csv
import io
from typing import Any

from recipekit.cli import parse_pairs, script_parser
from recipekit.errors import InputError
from recipekit.eval.predictions import load_predictions
from recipekit.eval.probabilities import probability_matrix
from recipekit.files import announce, atomic_write_text, writing_command

ARENA_COLUMNS = "A=winner_model_a,B=winner_model_b,tie=winner_tie"


def parse_columns(text: str) -> dict[str, str]:
    """'A=col_a,B=col_b' -> {'A': 'col_a', 'B': 'col_b'}."""
    return parse_pairs(text, "--columns", "LABEL=COLUMN")


def submission_csv(path: str, columns: dict[str, str], id_column: str) -> tuple[str, int]:
    """The CSV text and its row count; every row needs an id (unique) and probabilities for every label."""
    rows = load_predictions(path)
    labels = list(columns)
    probs = probability_matrix(rows, labels, path)
    if probs is None:
        raise InputError("rows carry no 'probs'; score them with eval/score_labels.py", path)
    seen: dict[str, int] = {}
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow([id_column, *columns.values()])
    for row, p in zip(rows, probs, strict=True):
        if "id" not in row.extra:
            raise InputError("missing field 'id'", path, row.line)
        key = str(row.extra["id"])
        if key in seen:
            raise InputError(f"id {key} also on line {seen[key]}", path, row.line)
        seen[key] = row.line
        writer.writerow([key, *(repr(float(v)) for v in p)])
    return out.getvalue(), len(rows)


# pragma: no mutate start
def build_parser() -> argparse.ArgumentParser:
    parser = script_parser(__doc__)
    parser.add_argument("scores", help="scored rows with id and probs")
    parser.add_argument("--id-column", default="id", help="name of the id column (default: id)")
    parser.add_argument("--out", default="submission.csv", help="output CSV (default: submission.csv)")
    parser.add_argument("--columns", default=ARENA_COLUMNS,
                        help=f"LABEL=COLUMN pairs, in the submission's column order (default: {ARENA_COLUMNS})")
    return parser


# pragma: no mutate end
@writing_command
def main(argv: list[str] | None = None) -> dict[str, Any]:
    args = build_parser().parse_args(argv)
    text, count = submission_csv(args.scores, parse_columns(args.columns), args.id_column)
    atomic_write_text(args.out, text)
    announce(f"wrote {count} rows to {args.out}")
    return {"rows": count, "out": args.out}


if __name__ == "__main__":
    main()
