"""Markdown and confusion-matrix PNG of a classification report, rendered from its JSON."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from recipekit.report.writer import few_rows_note, fmt, md_table, save_figure
from recipekit.text import clip

LABEL_SHIFT_ROWS = 20
PROBABILITY_METRICS = (("log_loss", "log loss"), ("brier", "Brier score"), ("ece", "ECE"))


def _probability_section(metrics: dict[str, Any]) -> list[str]:
    """Log loss, Brier, ECE and the reliability bins of rows that carry label probabilities."""
    rows = [[name, fmt(metrics[key])] for key, name in PROBABILITY_METRICS]
    rows[-1][0] = f"ECE ({metrics['ece_bins']} equal-width bins)"
    rows += [["mean top-label confidence", fmt(metrics["mean_confidence"])],
             ["accuracy of the argmax", fmt(metrics["argmax_accuracy"])]]
    bins = [[f"({b['low']:.2f}, {b['high']:.2f}]", b["count"], fmt(b["confidence"]), fmt(b["accuracy"])]
            for b in metrics["reliability"]]
    return ["## Probabilities (rows' `probs`)", "", md_table(["metric", "value"], rows), "",
            "Reliability (top label; `reliability.png`):", "",
            md_table(["confidence bin", "rows", "mean confidence", "accuracy"], bins), ""]


def repeats_text(repeats: dict[str, Any]) -> str:
    """``3 (same id: each id counted once)`` or ``3 (same prompt and label: all counted in n)``."""
    how = "each id counted once" if repeats["counted_once"] else "all counted in n"
    return f"{repeats['repeated']} (same {repeats['by']}: {how})"


def _headline_rows(report: dict[str, Any]) -> list[list[str]]:
    ci = report["ci"] or {}  # None: a report written without intervals (--bootstrap 0)

    def with_ci(value: float, key: str) -> str:
        return f"{fmt(value)} [{fmt(ci[key][0])}, {fmt(ci[key][1])}]" if key in ci else fmt(value)

    return [
        ["n", fmt(report["n"])],
        *([["repeated rows", repeats_text(report["repeats"])]] if report["repeats"]["repeated"] else []),
        ["invalid predictions", fmt(report["n_invalid"])],
        ["accuracy (95% CI)", with_ci(report["accuracy"], "accuracy")],
        ["macro F1 (95% CI)", with_ci(report["macro"]["f1"], "macro_f1")],
        *[[f"{avg} P / R / F1", " / ".join(fmt(report[avg][m]) for m in ("precision", "recall", "f1"))]
          for avg in ("macro", "micro", "weighted")],
    ]


def render_markdown(report: dict[str, Any]) -> str:
    """The report as Markdown: headline, per class, confusion matrix, invalid examples, baseline."""
    parts = [f"# Classification report: `{report['meta']['predictions']['path']}`", ""]
    parts += [md_table(["metric", "value"], _headline_rows(report)), ""]
    if few_rows_note(report["n"]):
        parts += [f"**Note:** {few_rows_note(report['n'])}.", ""]
    parts += ["## Per class", "", md_table(
        ["label", "precision", "recall", "f1", "support"],
        [[label, fmt(m["precision"]), fmt(m["recall"]), fmt(m["f1"]), m["support"]]
         for label, m in report["per_class"].items()]), ""]
    cm = report["confusion_matrix"]
    parts += ["## Confusion matrix (rows: label, columns: prediction)", "",
              md_table(["label \\ predicted", *cm["predicted"]],
                       [[label, *row] for label, row in zip(cm["labels"], cm["matrix"], strict=True)]), ""]
    if "probabilistic" in report:
        parts += _probability_section(report["probabilistic"])
    if report.get("invalid_groups"):
        groups = report["invalid_groups"]
        parts += [f"## Invalid predictions ({report['n_invalid']} of {report['n']}, "
                  f"{report['n_invalid'] / report['n']:.1%}), grouped by text", "",
                  md_table(["answer given (normalised)", "rows", "first lines"],
                           [[repr(clip(g["text"])), g["count"], ", ".join(map(str, g["lines"]))] for g in groups]),
                  "", "Every row's verdict is in `classify_rows.jsonl`.", ""]
    if "baseline" in report:
        base, delta = report["baseline"], report["delta"]
        parts += [f"## Against baseline `{base['meta']['predictions']['path']}`", "", md_table(
            ["metric", "baseline", "this", "delta"],
            [["accuracy", fmt(base["accuracy"]), fmt(report["accuracy"]), f"{delta['accuracy']:+.4f}"],
             ["macro F1", fmt(base["macro"]["f1"]), fmt(report["macro"]["f1"]), f"{delta['macro_f1']:+.4f}"],
             ["invalid", base["n_invalid"], report["n_invalid"], f"{delta['n_invalid']:+d}"],
             *[[name, fmt(base["probabilistic"][key]), fmt(report["probabilistic"][key]), f"{delta[key]:+.4f}"]
               for key, name in PROBABILITY_METRICS if key in delta]]), ""]
        shifts = list(report["label_shift"].items())
        parts += [f"### Label shift (baseline -> this), {sum(c for _, c in shifts)} rows changed", ""]
        parts += [md_table(["from->to", "rows"], [[k, v] for k, v in shifts[:LABEL_SHIFT_ROWS]]) if shifts
                  else "No prediction changed.", ""]
    meta = report["meta"]
    parts += [f"_{meta['matching']}; sha256 {meta['predictions']['sha256'][:12]}; "
              + ", ".join(f"{k} {v}" for k, v in meta["versions"].items()) + "_", ""]
    return "\n".join(parts)


def plot_confusion_matrix(report: dict[str, Any], path: Path) -> Path:
    """Confusion matrix heat map (counts) as PNG: a row per label, a column per prediction (``(invalid)`` last
    when some prediction matched no label)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    cm = report["confusion_matrix"]
    matrix = np.array(cm["matrix"])
    size = max(4.0, 0.9 * len(cm["predicted"]) + 2)
    figure, ax = plt.subplots(figsize=(size, size * len(cm["labels"]) / len(cm["predicted"]) + 0.5))
    ax.imshow(matrix, cmap="Blues", vmin=0)
    middle = (matrix.max() + matrix.min()) / 2
    for (i, j), count in np.ndenumerate(matrix):
        ax.text(j, i, str(count), ha="center", va="center", color="white" if count > middle else "black")
    ax.set_xticks(range(len(cm["predicted"])), cm["predicted"], rotation=45, ha="right")
    ax.set_yticks(range(len(cm["labels"])), cm["labels"])
    ax.set_xlabel("Predicted label")
    ax.set_ylabel("True label")
    ax.set_title(f"accuracy {report['accuracy']:.4f} (n={report['n']})")
    return save_figure(figure, path)
