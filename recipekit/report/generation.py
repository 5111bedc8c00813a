"""Markdown and PNGs of a generation report, rendered from its JSON and per-row scores."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from recipekit.eval.generation import METRICS
from recipekit.report.writer import few_rows_note, fmt, md_table, save_figure
from recipekit.text import clip


def headline(report: dict[str, Any]) -> dict[str, float]:
    """The numbers a reader compares first: LLaMA-Factory's four, then the corpus ones."""
    corpus = report["corpus"]
    return {**{f"lf_{m}": report["llamafactory"][m] for m in METRICS},
            "corpus_bleu": corpus["bleu"]["score"], "corpus_chrf": corpus["chrf"]["score"],
            **{f"corpus_{name}": value for name, value in corpus["rouge"].items()}}


def render_markdown(report: dict[str, Any]) -> str:
    """Metrics (with the baseline and deltas when given), lengths, and the settings behind each number."""
    parts = [f"# Generation report: `{report['meta']['predictions']['path']}`", "",
             f"{report['n']} rows, {report['n_empty_predict']} empty predictions.", ""]
    if few_rows_note(report["n"]):
        parts += [f"**Note:** {few_rows_note(report['n'])}.", ""]
    this = headline(report)
    if "baseline" in report:
        base = headline(report["baseline"])
        rows = [[name, fmt(base[name]), fmt(this[name]), f"{this[name] - base[name]:+.4f}",
                 f"{(this[name] - base[name]) / base[name] * 100:+.1f}%" if base[name] else "-"] for name in this]
        parts += [f"Baseline: `{report['baseline']['meta']['predictions']['path']}`, {report['baseline']['n']} rows "
                  f"(this file: {report['n']}), paired {report['baseline'].get('paired', 'by position')}.", "",
                  md_table(["metric (x100)", "baseline", "this", "delta", "relative"], rows), ""]
    else:
        parts += [md_table(["metric (x100)", "value"], [[name, fmt(value)] for name, value in this.items()]), ""]
    length = report["length"]
    parts += [f"## Lengths ({length['unit']})", "", md_table(
        ["", "mean", "p50", "p95"],
        [[side, fmt(length[side]["mean"], 1), fmt(length[side]["p50"], 1), fmt(length[side]["p95"], 1)]
         for side in ("predict", "label")]),
        "", f"Length ratio (predict/label means): {fmt(length['ratio'], 3)}; "
            f"empty predictions: {fmt(length['empty_predict_share'] * 100, 1)}%", ""]
    if report.get("examples"):
        with_base = any("baseline" in e for e in report["examples"])
        headers = ["which", "line", "rouge-l", "label", "prediction", *(["baseline's answer"] if with_base else [])]
        parts += ["## Examples (best, median and worst rows by LLaMA-Factory's ROUGE-L)", "", md_table(headers, [
            [e["which"], e["line"], fmt(e["rouge-l"], 2), repr(clip(e["label"])), repr(clip(e["predict"])),
             *([repr(clip(e.get("baseline", "")))] if with_base else [])] for e in report["examples"]]), ""]
    corpus, meta = report["corpus"], report["meta"]
    parts += ["## Definitions", "",
              f"- `lf_*`: {meta['llamafactory_definition']}",
              f"- corpus BLEU: `{corpus['bleu']['signature']}`; chrF: `{corpus['chrf']['signature']}`",
              f"- corpus ROUGE: rouge-score F1 averaged over rows, tokenizer: {corpus['rouge_tokenizer']}",
              f"- input sha256 {meta['predictions']['sha256'][:12]}; "
              + ", ".join(f"{k} {v}" for k, v in meta["versions"].items()), ""]
    return "\n".join(parts)


def plot_metrics(report: dict[str, Any], path: Path) -> Path:
    """Bar chart of every headline metric, the baseline's bars beside when there is one."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    this = headline(report)
    names = list(this)
    x = np.arange(len(names))
    figure, axis = plt.subplots(figsize=(max(6.0, 0.9 * len(names)), 4))
    if "baseline" in report:
        base = headline(report["baseline"])
        axis.bar(x - 0.2, [base[n] for n in names], width=0.4, label="baseline")
        axis.bar(x + 0.2, [this[n] for n in names], width=0.4, label="this")
        axis.legend()
    else:
        axis.bar(x, [this[n] for n in names], width=0.6)
    axis.set_xticks(x, names, rotation=45, ha="right")
    axis.set_ylabel("score (x100)")
    axis.set_title(f"generation metrics (n={report['n']})")
    return save_figure(figure, path)


def plot_lengths(rows: list[dict[str, Any]], path: Path, baseline: list[dict[str, Any]] | None = None) -> Path:
    """Prediction vs label length scatter, and the histogram of per-row length ratios (the baseline's beside)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, (left, right) = plt.subplots(1, 2, figsize=(10, 4))
    top = 1
    for name, series in (("this", rows), ("baseline", baseline)):
        if not series:
            continue
        label_len = [row["label_len"] for row in series]
        predict_len = [row["predict_len"] for row in series]
        ratios = [row["predict_len"] / row["label_len"] for row in series if row["label_len"]]
        left.scatter(label_len, predict_len, s=8, alpha=0.5, label=name)
        right.hist(ratios or [0.0], bins=30, alpha=0.6, label=name)
        top = max([top, *label_len, *predict_len])
    left.plot([0, top], [0, top], color="grey", linewidth=1, linestyle="--")
    left.set_xlabel("label length (chars)")
    left.set_ylabel("prediction length (chars)")
    if baseline:
        left.legend(fontsize="small")
        right.legend(fontsize="small")
    right.set_xlabel("prediction / label length")
    right.set_ylabel("rows")
    return save_figure(figure, path)
