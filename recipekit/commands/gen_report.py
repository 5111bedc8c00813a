"""Generation report for LLaMA-Factory's generated_predictions.jsonl: BLEU/ROUGE, lengths, JSON + Markdown + PNG.

The `llamafactory` block defines BLEU-4 and ROUGE-1/2/L exactly as LLaMA-Factory's eval_bleu_rouge.py does
(the same numbers on the same file); the `corpus` block adds sacrebleu BLEU and chrF with signatures and
rouge-score ROUGE; the `length` block compares prediction and label lengths. --baseline (e.g. SFT vs DPO)
puts both side by side with absolute and relative deltas.

Example:
    llm-recipes report gen saves/qwen3-4b/dpo/predict/generated_predictions.jsonl \\
        --baseline saves/qwen3-4b/sft/predict/generated_predictions.jsonl --out reports/sft_vs_dpo
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from recipekit.cli import at_least, script_parser
from recipekit.errors import InputError, exit_on_input_error
from recipekit.eval.bootstrap import percentile_bootstrap
from recipekit.eval.corpus import corpus_metrics, length_metrics, text_length
from recipekit.eval.generation import METRICS, mean_scores, score_rows
from recipekit.eval.predictions import Prediction, load_predictions, pair_baseline
from recipekit.files import announce, write_jsonl
from recipekit.report.generation import headline, plot_lengths, plot_metrics, render_markdown
from recipekit.report.provenance import predicted_by
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

LF_DEFINITION = ("LLaMA-Factory eval_bleu_rouge.py: char-level sentence BLEU-4 (nltk, smoothing method3), "
                 "jieba + rouge-chinese F-scores (0 when a side is empty), x100, rounded to 4 places, row mean")
SAMPLE_ROWS = 20


def evaluate(path: str, rows: list[Prediction], workers: int | None,
             tokenize: str) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """The report block of one predictions file's rows, and their per-row scores."""
    predicts, labels = [row.predict for row in rows], [row.label for row in rows]
    if not any(label.strip() for label in labels):
        raise InputError(f"every one of its {len(rows)} labels (the references) is empty: BLEU and ROUGE against "
                         "nothing are 0 whatever was predicted; predict on a set whose rows have answers", path)
    scores = score_rows(list(zip(predicts, labels, strict=True)), workers=workers, progress=len(rows) > 500)
    per_row = [{"line": row.line, **score, "predict_len": text_length(row.predict), "label_len": text_length(row.label)}
               for row, score in zip(rows, scores, strict=True)]
    report = {
        "n": len(rows),
        "n_empty_predict": sum(not row.predict.strip() for row in rows),
        "llamafactory": mean_scores(scores),
        "ci": score_intervals(scores),
        "corpus": corpus_metrics(predicts, labels, tokenize),
        "length": length_metrics(predicts, labels),
        "meta": {"predictions": file_signature(path), "llamafactory_definition": LF_DEFINITION,
                 "versions": versions("nltk", "jieba", "rouge-chinese", "rapidfuzz", "sacrebleu", "rouge-score")},
    }
    report["samples"] = [{"prompt": row.prompt, "predict": row.predict, "label": row.label, **score}
                         for row, score in zip(rows[:SAMPLE_ROWS], scores, strict=False)]
    return report, per_row


def score_intervals(scores: list[dict[str, float]]) -> dict[str, Any]:
    """Seeded percentile bootstrap 95% intervals of LLaMA-Factory's row means (the report card reads them)."""
    table = {metric: np.array([s[metric] for s in scores], dtype=float) for metric in METRICS}
    return percentile_bootstrap(len(scores), lambda pick: {m: float(np.mean(v[pick])) for m, v in table.items()})


EXAMPLES = {"best": 2, "median": 3, "worst": 2}


def examples(rows: list[Prediction], per_row: list[dict[str, Any]],
             base_rows: list[Prediction] | None) -> list[dict[str, Any]]:
    """The best, a few median and the worst rows by LLaMA-Factory's ROUGE-L (ties by line), the baseline's
    answer beside when there is one."""
    order = sorted(range(len(rows)), key=lambda i: (-per_row[i]["rouge-l"], rows[i].line))
    middle = max(0, len(order) // 2 - EXAMPLES["median"] // 2)
    picks = [("best", order[: EXAMPLES["best"]]), ("median", order[middle: middle + EXAMPLES["median"]]),
             ("worst", order[::-1][: EXAMPLES["worst"]])]
    chosen, seen = [], set()
    for which, indices in picks:
        for i in indices:
            if i in seen:
                continue
            seen.add(i)
            entry = {"which": which, "line": rows[i].line, "rouge-l": per_row[i]["rouge-l"],
                     "bleu-4": per_row[i]["bleu-4"], "prompt": rows[i].prompt, "label": rows[i].label,
                     "predict": rows[i].predict}
            if base_rows is not None:
                entry["baseline"] = base_rows[i].predict
            chosen.append(entry)
    return chosen


def deltas(this: dict[str, Any], base: dict[str, Any]) -> dict[str, dict[str, float | None]]:
    """Absolute and relative (fraction of the baseline) change of every headline metric."""
    new, old = headline(this), headline(base)
    return {name: {"abs": new[name] - old[name], "rel": (new[name] - old[name]) / old[name] if old[name] else None}
            for name in new}


def log_wandb(report: dict[str, Any], out_dir: Path, images: dict[str, Path], attach: str | None = None) -> str:
    from recipekit.report.wandb import log_report

    scalars = headline(report)
    if "delta" in report:
        scalars.update({f"delta_{name}": value["abs"] for name, value in report["delta"].items()})
    columns = ["prompt", "predict", "label", "bleu-4", "rouge-l"]
    sample = (columns, [[s[c] for c in columns] for s in report["samples"]])
    return log_report("gen_report", out_dir, scalars, {"samples": sample}, images,
                      {"predictions": report["meta"]["predictions"]}, attach)


# pragma: no mutate start
def build_parser() -> Any:
    parser = script_parser(__doc__)
    parser.add_argument("predictions", help="generated_predictions.jsonl (prompt, predict, label)")
    parser.add_argument("--baseline", help="predictions of a baseline model, scored the same way")
    parser.add_argument("--out", help="output folder (default: the predictions file's folder)")
    parser.add_argument("--workers", type=at_least(1), help="processes for the per-row scores (default: all cores)")
    parser.add_argument("--tokenize", default="auto",
                        help="sacrebleu tokenizer for corpus BLEU (auto: zh for Chinese labels, else 13a)")
    add_report_flags(parser)
    add_wandb_flags(parser, "metrics, plots and a sample table")
    return parser


# pragma: no mutate end
@exit_on_input_error
def main(argv: list[str] | None = None) -> dict[str, Any]:
    args = wandb_checked(build_parser().parse_args(argv))
    out_dir = report_dir(args.out, args.predictions)
    with report_unit(out_dir, "gen_report", args.predictions, args.replace):
        rows = load_predictions(args.predictions)
        # the baseline is read and paired first: one that does not pair fails before any metric is computed
        base_rows, paired_by = (pair_baseline(rows, load_predictions(args.baseline), args.predictions, args.baseline)
                                if args.baseline else (None, None))
        report, per_row = evaluate(args.predictions, rows, args.workers, args.tokenize)
        report["meta"]["model"] = predicted_by(args.predictions, args.recipe, args.adapter)
        base_per_row = None
        if base_rows is not None:
            report["baseline"], base_per_row = evaluate(args.baseline, base_rows, args.workers, args.tokenize)
            report["baseline"]["paired"] = paired_by
            report["baseline"]["meta"]["model"] = predicted_by(args.baseline)
            report["delta"] = deltas(report, report["baseline"])
        report["examples"] = examples(rows, per_row, base_rows)
        write_jsonl(out_dir / "gen_scores.jsonl", per_row)
        markdown = render_markdown(report)
        json_path, md_path = write_report(out_dir, "gen_report", report, markdown)
        images = {"gen_metrics": plot_metrics(report, out_dir / "gen_metrics.png"),
                  "gen_lengths": plot_lengths(per_row, out_dir / "gen_lengths.png", base_per_row)}
        print(markdown)
        if few_rows_note(report["n"]):
            print(f"note: {few_rows_note(report['n'])}")
        announce(f"wrote {json_path}, {md_path}, {out_dir / 'gen_scores.jsonl'}, "
                 f"{', '.join(map(str, images.values()))}")
        if args.wandb:
            print(f"wandb run: {log_wandb(report, out_dir, images, args.wandb_run)}")
    return report


if __name__ == "__main__":
    main()
