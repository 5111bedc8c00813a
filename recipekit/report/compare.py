"""Several runs' reports side by side: the headline numbers of each, a bar chart per metric, accuracy
against log loss, and the trend over an ordered list of runs (versions, steps, learning rates)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from recipekit.errors import InputError
from recipekit.report.writer import save_figure

REPORT_FILES = ("classify_report.json", "gen_report.json", "calibrate_temperature_*.json")


def find_report(path: Path) -> Path:
    """A report JSON given directly, or the one report inside a run folder (its ``report/`` too)."""
    if path.is_file():
        return path
    for folder in (path, path / "report"):
        for name in REPORT_FILES:
            found = sorted(folder.glob(name))
            if found:
                return found[0]
    raise InputError(f"no report found (looked for {', '.join(REPORT_FILES)} here and in report/)", str(path))


def headline(report: dict[str, Any]) -> dict[str, float]:
    """The numbers worth comparing across runs, from any report this repository writes."""
    found: dict[str, float] = {}
    if "accuracy" in report:
        found["accuracy"] = report["accuracy"]
    if isinstance(report.get("macro"), dict) and "f1" in report["macro"]:
        found["macro_f1"] = report["macro"]["f1"]
    if isinstance(report.get("probabilistic"), dict):
        found.update({k: report["probabilistic"][k] for k in ("log_loss", "brier", "ece")
                      if k in report["probabilistic"]})
    if isinstance(report.get("llamafactory"), dict):
        found.update({f"llamafactory_{k}": v for k, v in report["llamafactory"].items() if isinstance(v, int | float)})
    corpus = report.get("corpus")
    if isinstance(corpus, dict):  # the corpus scores, not its bookkeeping (rows read by jieba, signatures)
        found.update({f"corpus_{k}": corpus[k]["score"] for k in ("bleu", "chrf") if isinstance(corpus.get(k), dict)})
        found.update({f"corpus_{k}": v for k, v in (corpus.get("rouge") or {}).items() if isinstance(v, int | float)})
    summaries = report.get("summaries")
    if isinstance(summaries, dict):  # calibrate: the test set after calibration
        after = summaries.get("test_after") or summaries.get("val_after") or {}
        found.update({k: v for k, v in after.items() if isinstance(v, int | float) and k != "n"})
    if not found:
        raise InputError("the report holds none of accuracy, macro F1, log loss or BLEU/ROUGE")
    return found


def load_runs(paths: list[Path], names: list[str] | None) -> list[dict[str, Any]]:
    """One row per run: its name, its report file and its headline numbers."""
    if names is not None and len(names) != len(paths):
        raise InputError(f"--names gives {len(names)} names for {len(paths)} runs")
    rows = []
    for index, path in enumerate(paths):
        report_path = find_report(path)
        try:
            report = json.loads(report_path.read_text(encoding="utf-8"))
        except json.JSONDecodeError as exc:
            raise InputError(f"not valid JSON ({exc.msg})", str(report_path), exc.lineno) from None
        try:
            numbers = headline(report)
        except InputError as exc:
            raise InputError(str(exc), str(report_path)) from None
        name = names[index] if names else (path.name if path.is_dir() else path.parent.name)
        labels = list(report["per_class"]) if isinstance(report.get("per_class"), dict) else report.get("labels")
        scored = (report.get("meta") or {}).get("predictions")  # path, size, sha256 of the predictions it scored
        rows.append({"run": name, "report": str(report_path), "n": report.get("n"), "labels": labels,
                     "predictions": scored if isinstance(scored, dict) else None, **numbers})
    if len({row["run"] for row in rows}) != len(rows):
        raise InputError("two runs share a name: give --names")
    return rows


RUN_FIELDS = ("run", "report", "n", "labels", "predictions")  # what a row says about its run, not a metric


def mismatches(rows: list[dict[str, Any]]) -> list[str]:
    """What makes the runs' numbers not comparable: different label sets, different row counts, two runs whose
    reports scored the very same predictions (the same sha256)."""
    notes = []
    label_sets = {tuple(row["labels"]) for row in rows if row.get("labels")}
    if len(label_sets) > 1:
        notes.append("the runs were scored on different label sets: " + "; ".join(
            f"{row['run']}: {', '.join(row['labels'])}" for row in rows if row.get("labels")))
    counts = {row["n"] for row in rows if row.get("n") is not None}
    if len(counts) > 1:
        notes.append("the runs were scored on different numbers of rows: " + ", ".join(
            f"{row['run']} {row['n']}" for row in rows if row.get("n") is not None))
    by_sha: dict[str, list[str]] = {}
    for row in rows:
        if row.get("predictions") and row["predictions"].get("sha256"):
            by_sha.setdefault(row["predictions"]["sha256"], []).append(row["run"])
    notes += [f"{', '.join(runs)} scored the same predictions (sha256 {sha[:12]}): not different runs"
              for sha, runs in by_sha.items() if len(runs) > 1]
    return notes


def plot_bars(rows: list[dict[str, Any]], metric: str, path: Path) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, ax = plt.subplots(figsize=(max(4, 0.8 * len(rows) + 2), 3.5))
    values = [row.get(metric, float("nan")) for row in rows]
    ax.bar(range(len(rows)), values, color="tab:blue")
    ax.set_xticks(range(len(rows)), [row["run"] for row in rows], rotation=30, ha="right")
    ax.set_ylabel(metric)
    ax.set_title(f"{metric} per run")
    return save_figure(figure, path)


def plot_scatter(rows: list[dict[str, Any]], path: Path) -> Path:
    """Accuracy against log loss, one labelled point per run (the arena report's figure 3)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, ax = plt.subplots(figsize=(5, 4))
    for row in rows:
        ax.scatter(row["log_loss"], row["accuracy"])
        ax.annotate(row["run"], (row["log_loss"], row["accuracy"]), fontsize="small", xytext=(3, 3),
                    textcoords="offset points")
    ax.set_xlabel("log loss")
    ax.set_ylabel("accuracy")
    ax.set_title("Accuracy vs log loss")
    return save_figure(figure, path)


def plot_trend(rows: list[dict[str, Any]], metrics: list[str], path: Path) -> Path:
    """Each metric over the runs in the order given."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(len(metrics), 1, figsize=(6, 2.4 * len(metrics)), sharex=True, squeeze=False)
    for ax, metric in zip(axes[:, 0], metrics, strict=True):
        ax.plot(range(len(rows)), [row.get(metric, float("nan")) for row in rows], marker="o")
        ax.set_ylabel(metric)
    axes[-1, 0].set_xticks(range(len(rows)), [row["run"] for row in rows], rotation=30, ha="right")
    axes[0, 0].set_title("Trend over the runs, in the order given")
    return save_figure(figure, path)
