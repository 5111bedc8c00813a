"""Classification report for LLaMA-Factory's generated_predictions.jsonl: JSON + Markdown + PNG.

Normalises predictions and labels (whitespace, special tokens), maps "3" or "Business" onto a
"3: Business" label, counts everything else as invalid (scored wrong, never dropped), and computes
accuracy, per-class and averaged precision/recall/F1, the confusion matrix and bootstrap intervals
with scikit-learn. Rows carrying `probs` (eval/score_labels.py) add log loss, Brier score, expected
calibration error and a reliability diagram. With --baseline it adds the baseline's metrics, the
deltas and the label shift.

Example:
    llm-recipes report classify outputs/agnews_tiny_predict/generated_predictions.jsonl \\
        --labels "1: World,2: Sports,3: Business,4: Sci/Tech" --baseline outputs/base/generated_predictions.jsonl
    llm-recipes report classify outputs/scores/agnews_val/label_scores.jsonl --ece-bins 10
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

import numpy as np

from recipekit.cli import at_least, fraction, script_parser
from recipekit.data.dataset_info import dataset_answers
from recipekit.errors import exit_on_input_error
from recipekit.eval.classification import (
    classification_metrics,
    compare_with_baseline,
    deltas,
    row_verdicts,
    score_file,
)
from recipekit.eval.labels import label_codes, parse_labels
from recipekit.eval.probabilities import DEFAULT_BINS, labels_from_probs, probabilistic_metrics, probability_matrix
from recipekit.files import announce, write_jsonl
from recipekit.paths import at_root
from recipekit.recipes.reading import load_recipe, recipe_files
from recipekit.report.classification import plot_confusion_matrix, render_markdown
from recipekit.report.provenance import predicted_by, recipe_writing
from recipekit.report.reliability import plot_reliability
from recipekit.report.wandb import add_wandb_flags, wandb_checked
from recipekit.report.writer import (
    add_report_flags,
    few_rows_note,
    file_signature,
    report_dir,
    report_unit,
    versions,
    write_report,
)
from recipekit.text import clip


def known_labels(args: argparse.Namespace) -> tuple[list[str] | None, str]:
    """The label set and where it came from: --labels, the rows' probs, the registered dataset the predictions
    were made from (--dataset, or the predict recipe whose output_dir holds the file), else the gold labels."""
    if args.labels is not None:
        return parse_labels(args.labels), "--labels"
    from_probs = labels_from_probs(args.predictions)
    if from_probs:
        return from_probs, "the rows' probs"
    data_dir, name, via = args.data_dir, args.dataset, "--dataset"
    if name is None:
        recipe_path = args.recipe or recipe_writing(Path(args.predictions).parent, recipe_files("recipes"))
        if recipe_path is not None:
            recipe = load_recipe(recipe_path)
            name = next(iter(recipe.datasets("eval_dataset")), None)
            data_dir = str(recipe.data_dir()) if recipe.written("dataset_dir") else data_dir
            via = str(recipe_path)
    if name:
        answers = dataset_answers(data_dir, name)
        if answers:
            return answers, f"the answers of {Path(data_dir) / 'dataset_info.json'}:{name} (via {via})"
    return None, "the gold labels in the file (a class no row has as gold counts as invalid)"


def build_report(args: argparse.Namespace) -> tuple[dict[str, Any], dict[str, Any], list[dict[str, Any]]]:
    """Everything the report says, as one JSON-ready dict, the (probs, gold) pairs for the diagram, and each
    row's verdict."""
    labels, labels_from = known_labels(args)
    scored = score_file(args.predictions, labels, args.match == "lenient")
    curves: dict[str, Any] = {}

    def metrics_for(path: str, which: Any, name: str, made_by: dict[str, Any] | None) -> dict[str, Any]:
        probs = probability_matrix(which.rows, which.labels, path)
        result = classification_metrics(which, args.bootstrap, args.seed, probs)
        if probs is not None:
            gold = np.array(label_codes(which.gold, which.labels, path, [row.line for row in which.rows]))
            result["probabilistic"] = probabilistic_metrics(probs, gold, which.labels, args.ece_bins)
            curves[name] = (probs, gold)
        result["meta"] = {"predictions": file_signature(path), "matching": scored.rule, "labels_from": labels_from,
                          "model": made_by,
                          "versions": versions("scikit-learn", "numpy")}
        return result

    # the baseline is read and paired first: one that does not pair fails before any metric is computed
    base = score_file(args.baseline, labels, args.match == "lenient") if args.baseline else None
    shift = compare_with_baseline(scored, base) if base is not None else None
    report = metrics_for(args.predictions, scored, "this", predicted_by(args.predictions, args.recipe, args.adapter))
    if base is not None:
        report["label_shift"] = shift
        report["baseline"] = metrics_for(args.baseline, base, "baseline", predicted_by(args.baseline))
        report["delta"] = deltas(report, report["baseline"])
    verdicts = row_verdicts(scored)
    if "this" in curves:  # each row's label probabilities, in the per_class order, for per-row log loss
        for verdict, probs in zip(verdicts, curves["this"][0].tolist(), strict=True):
            verdict["probs"] = probs
    return report, curves, verdicts


def log_wandb(report: dict[str, Any], out_dir: Path, pngs: dict[str, Path], attach: str | None = None) -> str:
    from recipekit.report.wandb import log_report

    scalars = {"accuracy": report["accuracy"], "n_invalid": report["n_invalid"],
               **{f"{avg}_{m}": report[avg][m] for avg in ("macro", "micro", "weighted")
                  for m in ("precision", "recall", "f1")}}
    if "probabilistic" in report:
        scalars.update({k: report["probabilistic"][k] for k in ("log_loss", "brier", "ece")})
    if "baseline" in report:
        scalars.update({f"delta_{k}": v for k, v in report["delta"].items()})
    per_class = (["label", "precision", "recall", "f1", "support"],
                 [[k, v["precision"], v["recall"], v["f1"], v["support"]] for k, v in report["per_class"].items()])
    cm = report["confusion_matrix"]
    matrix = (["label", *cm["predicted"]], [[k, *row] for k, row in zip(cm["labels"], cm["matrix"], strict=True)])
    return log_report("classify_report", out_dir, scalars, {"per_class": per_class, "confusion_matrix": matrix},
                      pngs, {"predictions": report["meta"]["predictions"]}, attach)


# pragma: no mutate start
def build_parser() -> argparse.ArgumentParser:
    parser = script_parser(__doc__)
    parser.add_argument("predictions", help="generated_predictions.jsonl (prompt, predict, label)")
    parser.add_argument("--baseline", help="predictions of a baseline model on the same rows, same order")
    parser.add_argument("--labels", help="comma-separated label set (default: the labels seen in the file)")
    parser.add_argument("--out", help="output folder (default: the predictions file's folder)")
    parser.add_argument("--bootstrap", type=at_least(0), default=1000, help="bootstrap resamples for the CIs (0: none)")
    parser.add_argument("--seed", type=at_least(0), default=0, help="bootstrap seed")
    parser.add_argument("--ece-bins", type=at_least(1), default=DEFAULT_BINS,
                        help=f"equal-width confidence bins for ECE and the reliability diagram "
                             f"(default: {DEFAULT_BINS})")
    parser.add_argument("--dataset", help="registered dataset the predictions were made from: its answers are the "
                                          "label set (default: the eval_dataset of --recipe, or of the predict "
                                          "recipe whose output_dir holds the file)")
    parser.add_argument("--data-dir", default=str(at_root("data")),
                        help="folder holding dataset_info.json (default: data)")
    parser.add_argument("--match", choices=("exact", "lenient"), default="exact",
                        help="exact (default): after whitespace/special tokens; lenient: also case, surrounding "
                             "punctuation and 'The answer is X' prefixes (the rule is written into the report)")
    parser.add_argument("--max-invalid", type=fraction, default=0.05,
                        help="warn when more than this share of the predictions match no label (default: 0.05)")
    parser.add_argument("--strict", action="store_true",
                        help="exit 1 when that share is exceeded, writing nothing")
    add_report_flags(parser)
    add_wandb_flags(parser, "metrics, tables and the matrix")
    return parser


# pragma: no mutate end
@exit_on_input_error
def main(argv: list[str] | None = None) -> dict[str, Any]:
    args = wandb_checked(build_parser().parse_args(argv))
    out_dir = report_dir(args.out, args.predictions)
    with report_unit(out_dir, "classify_report", args.predictions, args.replace) as folder:
        report, curves, verdicts = build_report(args)
        share = report["n_invalid"] / report["n"]
        if share > args.max_invalid and args.strict:
            print(f"error: {invalid_line(report, args.max_invalid)}; --strict refuses the report: nothing written"
                  f"{folder.left_unchanged()}", file=sys.stderr)
            raise SystemExit(1)
        write_jsonl(out_dir / "classify_rows.jsonl", verdicts)
        markdown = render_markdown(report)
        json_path, md_path = write_report(out_dir, "classify_report", report, markdown)
        pngs = {"confusion_matrix_png": plot_confusion_matrix(report, out_dir / "confusion_matrix.png")}
        if curves:
            pngs["reliability_png"] = plot_reliability(curves, args.ece_bins, out_dir / "reliability.png")
        print(markdown)
        announce(f"wrote {json_path}, {md_path}, {out_dir / 'classify_rows.jsonl'}, "
                 + ", ".join(map(str, pngs.values())))
        repeats = report["repeats"]
        if repeats["repeated"]:
            how = "each id counted once" if repeats["counted_once"] else "all counted in n; if they are copies, n " \
                "and the intervals overstate the evidence"
            print(f"note: {repeats['repeated']} row(s) of {args.predictions} repeat an earlier row (same "
                  f"{repeats['by']}): {how}")
        if few_rows_note(report["n"]):
            print(f"note: {few_rows_note(report['n'])}")
        if share > args.max_invalid:
            announce(f"warning: {invalid_line(report, args.max_invalid)}: accuracy counts them wrong; see "
                     f"{out_dir / 'classify_rows.jsonl'}", err=True)
        if args.wandb:
            print(f"wandb run: {log_wandb(report, out_dir, pngs, args.wandb_run)}")
    return report


def invalid_line(report: dict[str, Any], max_invalid: float) -> str:
    """How many predictions match no label, against --max-invalid, and the most common of them."""
    top = ", ".join(f"{clip(g['text'], 60)!r} x{g['count']}" for g in report["invalid_groups"][:3])
    return (f"{report['n_invalid'] / report['n']:.1%} of the predictions match no label (more than --max-invalid "
            f"{max_invalid:.0%}; most often {top})")


if __name__ == "__main__":
    main()
