"""Classification report for LLaMA-Factory's generated_predictions.jsonl: JSON + Markdown + PNG.

Normalises predictions and labels (whitespace, special tokens), maps "3" or "Business" onto a
"3: Business" label, counts everything else as invalid (scored wrong, never dropped), and computes
accuracy, per-class and averaged precision/recall/F1, the confusion matrix and bootstrap intervals
with scikit-learn. With --baseline it adds the baseline's metrics, the deltas and the label shift.

Example:
    python eval/classify_report.py outputs/agnews_tiny_predict/generated_predictions.jsonl \\
        --labels "1: World,2: Sports,3: Business,4: Sci/Tech" --baseline outputs/base/generated_predictions.jsonl
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from recipekit.classify import classification_metrics, compare_with_baseline, deltas, score_file
from recipekit.classify_render import plot_confusion_matrix, render_markdown
from recipekit.cli import script_parser
from recipekit.errors import InputError, exit_on_input_error
from recipekit.report import file_signature, report_dir, versions, write_report

MATCHING = "exact match after whitespace/special-token normalisation; 'N: Name' labels also match 'N' or 'Name'"


def parse_labels(text: str | None) -> list[str] | None:
    """'A,B,C' -> ['A', 'B', 'C']; None stays None."""
    if text is None:
        return None
    labels = [part.strip() for part in text.split(",") if part.strip()]
    if not labels:
        raise InputError("--labels names no label")
    return labels


def build_report(args: argparse.Namespace) -> dict[str, Any]:
    """Everything the report says, as one JSON-ready dict."""
    labels = parse_labels(args.labels)
    scored = score_file(args.predictions, labels)

    def metrics_for(path: str, which: Any) -> dict[str, Any]:
        result = classification_metrics(which, args.bootstrap, args.seed)
        result["meta"] = {"predictions": file_signature(path), "matching": MATCHING,
                          "labels_from": "--labels" if args.labels else "file",
                          "versions": versions("scikit-learn", "numpy")}
        return result

    report = metrics_for(args.predictions, scored)
    if args.baseline:
        base = score_file(args.baseline, labels)  # same gold labels (checked next), so the same label set
        report["label_shift"] = compare_with_baseline(scored, base)
        report["baseline"] = metrics_for(args.baseline, base)
        report["delta"] = deltas(report, report["baseline"])
    return report


def log_wandb(report: dict[str, Any], out_dir: Path, png: Path) -> str:
    from recipekit.wandb_log import log_report

    scalars = {"accuracy": report["accuracy"], "n_invalid": report["n_invalid"],
               **{f"{avg}_{m}": report[avg][m] for avg in ("macro", "micro", "weighted")
                  for m in ("precision", "recall", "f1")}}
    if "baseline" in report:
        scalars.update({f"delta_{k}": v for k, v in report["delta"].items()})
    per_class = (["label", "precision", "recall", "f1", "support"],
                 [[k, v["precision"], v["recall"], v["f1"], v["support"]] for k, v in report["per_class"].items()])
    cm = report["confusion_matrix"]
    matrix = (["label", *cm["labels"]], [[k, *row] for k, row in zip(cm["labels"], cm["matrix"], strict=True)])
    return log_report("classify_report", out_dir, scalars, {"per_class": per_class, "confusion_matrix": matrix},
                      {"confusion_matrix_png": png}, {"predictions": report["meta"]["predictions"]})


def build_parser() -> argparse.ArgumentParser:
    parser = script_parser(__doc__)
    parser.add_argument("predictions", help="generated_predictions.jsonl (prompt, predict, label)")
    parser.add_argument("--baseline", help="predictions of a baseline model on the same rows, same order")
    parser.add_argument("--labels", help="comma-separated label set (default: the labels seen in the file)")
    parser.add_argument("--out", help="output folder (default: the predictions file's folder)")
    parser.add_argument("--bootstrap", type=int, default=1000, help="bootstrap resamples for the CIs (0: none)")
    parser.add_argument("--seed", type=int, default=0, help="bootstrap seed")
    parser.add_argument("--wandb", action="store_true", help="log metrics, tables and the matrix to wandb")
    return parser


@exit_on_input_error
def main(argv: list[str] | None = None) -> dict[str, Any]:
    args = build_parser().parse_args(argv)
    report = build_report(args)
    out_dir = report_dir(args.out, args.predictions)
    markdown = render_markdown(report)
    json_path, md_path = write_report(out_dir, "classify_report", report, markdown)
    png = plot_confusion_matrix(report, out_dir / "confusion_matrix.png")
    print(markdown)
    print(f"wrote {json_path}, {md_path}, {png}")
    if args.wandb:
        print(f"wandb run: {log_wandb(report, out_dir, png)}")
    return report


if __name__ == "__main__":
    main()
