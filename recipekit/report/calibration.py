"""The calibration reports' Markdown: before/after metrics of temperature scaling, a two-class threshold, A/B swap
averaging and an out-of-fold merge."""

from __future__ import annotations

from typing import Any

from recipekit.eval.calibration import ScoreFile
from recipekit.report.writer import fmt, md_table

METRICS = ("n", "accuracy", "macro_f1", "log_loss", "brier", "ece")


def metrics_table(columns: dict[str, dict[str, Any] | None], counts: dict[str, int] | None = None) -> str:
    """Markdown table: one row per metric, one column per named summary (``-`` where unlabeled; the row count
    from ``counts`` even then)."""
    names = list(columns)
    counts = counts or {}

    def cell(name: str, metric: str) -> str:
        if metric == "n" and columns[name] is None and name in counts:
            return f"{counts[name]} (unlabeled)"
        return fmt((columns[name] or {}).get(metric))

    rows = [[metric, *[cell(name, metric) for name in names]] for metric in METRICS]
    return md_table(["metric", *names], rows)


def before_after_table(summaries: dict[str, dict[str, Any] | None], test: ScoreFile) -> str:
    """The metrics of the validation and test rows, before and after (the validation rows are always labeled)."""
    return metrics_table(summaries, dict.fromkeys(("test_before", "test_after"), len(test.rows)))


def temperature_markdown(report: dict[str, Any], val: ScoreFile, test: ScoreFile, which: str,
                         bootstrap: int) -> list[str]:
    """The temperature, its bootstrap interval, where it was fitted and applied, and the metrics before/after."""
    interval = report["temperature_ci95"]
    within = f" (95% interval [{interval[0]:.4f}, {interval[1]:.4f}] over {bootstrap} bootstrap refits)" \
        if interval else ""
    return [f"# Temperature scaling: T = {report['temperature']:.4f}{within}", "",
            f"Fitted on `{val.path}` ({len(val.rows)} rows, minimum log loss), applied to `{test.path}` "
            f"({len(test.rows)} rows{'' if test.y is not None else ', unlabeled'}). The argmax does not change.",
            f"The reliability diagram shows the {which}.", "",
            before_after_table(report["summaries"], test), ""]


def threshold_markdown(report: dict[str, Any], val: ScoreFile, test: ScoreFile) -> list[str]:
    """The threshold rule, the grid it was searched on, and the metrics before/after."""
    grid = report["grid"]
    return [f"# Threshold calibration: {report['rule']}", "",
            f"Searched on `{val.path}` over [{grid['low']:g}, {grid['high']:g}] step {grid['step']:g} for macro-F1 "
            f"(ties: nearest 0); applied to `{test.path}`. Threshold 0 is the plain argmax.", "",
            before_after_table(report["summaries"], test), ""]


def swap_markdown(report: dict[str, Any], original: ScoreFile, swapped: ScoreFile) -> list[str]:
    """How the two orders were paired, how often they agree, and the metrics of each and of their average."""
    summaries = report["summaries"]
    return ["# A/B swap averaging", "",
            f"`{original.path}` and its swapped copy `{swapped.path}` ({len(original.rows)} rows, paired by "
            f"{report['paired_by']}, labels flipped {report['flip']}). The two orders agree on the top label in "
            f"{report['order_consistency']:.1%} of rows.", "",
            metrics_table(summaries, dict.fromkeys(summaries, len(original.rows))), ""]


def oof_markdown(report: dict[str, Any], rows: int) -> list[str]:
    """The files merged (rows and folds of each) and the metrics of the merge and of each file."""
    per_file = report["files"]
    return [f"# Out-of-fold merge: {rows} rows from {len(per_file)} files", "",
            md_table(["file", "path", "rows", "folds"],
                     [[f"file_{i}", f["path"], f["rows"], ",".join(f["folds"]) or "-"]
                      for i, f in enumerate(per_file)]),
            "", metrics_table(report["summaries"]), ""]
