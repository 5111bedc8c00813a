"""Rendering a checkpoint selection: the metric-per-step table (best marked) and the curves."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from recipekit.report.writer import fmt, md_table, save_figure


def render_markdown(report: dict[str, Any]) -> str:
    best = report["best"]
    rows = [[f"**{row['step']}**" if row["step"] == best["step"] else str(row["step"]), fmt(row["accuracy"]),
             fmt(row["f1"]), fmt(row["log_loss"]), fmt(row.get("eval_loss")), row["checkpoint"]]
            for row in report["rows"]]
    lines = [f"# Checkpoints of {report['run_dir']}", "",
             f"Label scoring of every checkpoint on {report['dataset']} ({report['n']} rows, labels "
             f"{', '.join(report['labels'])}); macro-F1 over every label; log loss of the label probabilities. "
             "eval_loss is the trainer's own, from trainer_state.json.", "",
             md_table(["step", "accuracy", "macro-F1", "log loss", "eval_loss", "checkpoint"], rows), "",
             f"Best by {report['metric']}: step {best['step']} ({best['checkpoint']}), "
             f"{report['metric']} {best[report['metric']]:.4f}."]
    if report.get("best_by_eval_loss") and report["best_by_eval_loss"] != best["step"]:
        lines.append(f"Lowest eval_loss is at step {report['best_by_eval_loss']}: selecting by eval loss would keep "
                     "a different checkpoint.")
    return "\n".join(lines) + "\n"


def plot_checkpoints(report: dict[str, Any], path: Path) -> Path:
    """Accuracy and macro-F1 (left axis) and log loss (right axis) against the step; the best step marked."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    steps = [row["step"] for row in report["rows"]]
    figure, left = plt.subplots(figsize=(7, 4))
    for name in ("accuracy", "f1"):
        left.plot(steps, [row[name] for row in report["rows"]], marker="o", label=name)
    left.set_xlabel("step")
    left.set_ylabel("accuracy / macro-F1")
    right = left.twinx()
    right.plot(steps, [row["log_loss"] for row in report["rows"]], marker="s", color="tab:red", label="log loss")
    right.set_ylabel("log loss")
    left.axvline(report["best"]["step"], color="grey", linestyle="--", label=f"best by {report['metric']}")
    handles = left.get_legend_handles_labels()[0] + right.get_legend_handles_labels()[0]
    left.legend(handles=handles, loc="best")
    left.set_title(f"{Path(report['run_dir']).name}: {report['dataset']}")
    return save_figure(figure, path)
