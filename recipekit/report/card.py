"""The report card rendered: Markdown and one PNG (the report's number against this run's interval)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from recipekit.report.writer import md_table, save_figure


def number_text(value: float | None, unit: str) -> str:
    return "-" if value is None else f"{value:.4g}{unit}"


def render_markdown(card: dict[str, Any]) -> str:
    rows = []
    for n in card["numbers"]:
        ci = n["ci95"]
        published = ("≈ " if n["approx"] else "") + number_text(n["published"], n["unit"])
        interval = f"[{number_text(ci[0], n['unit'])}, {number_text(ci[1], n['unit'])}]" if ci else "-"
        seen = n.get("contamination")
        in_training = f"{seen['found']} of {seen['rows']}" if seen else "-"
        verdict = n["verdict"] + (f"; scored on {seen['set']}, {seen['found']} of whose rows are in the training "
                                  "data" if seen and seen["found"] else "")
        scored = f"{n['n']} of {seen['rows']}" if seen and n["n"] and n["n"] != seen["rows"] else n["n"] or "-"
        rows.append([n["name"], published, number_text(n["run"], n["unit"]), interval, scored, in_training, verdict])
    source = f"`{card['source']}`" if card["source"] else "none (your own dataset: no published numbers)"
    lines = [f"**{card['first_line']}**", "", f"# Report card: {card['title']}", "",
             f"Report: {source}. wandb group: `{card['wandb_group']}`.", "",
             md_table(["number", "report", "this run", "95% interval", "rows scored", "in training", "verdict"], rows),
             "",
             f"Intervals: {card['interval']['method']}, {card['interval']['resamples']} resamples, seed "
             f"{card['interval']['seed']}."]
    checked = card.get("contamination")
    lines += ["", "Rows scored: the scored set's rows this run scored (of all the set's rows, when it scored fewer, "
              "as a tiny run does). " + (f"In training: the set's rows, of all of them, found in the run's training "
                                         f"sets ({checked['file']}: exact, 13-gram or near-duplicate)." if checked
                                         else "In training: no contamination check ran (-).")]
    lines += ["", "## Differences from the report", ""]
    differences = card["differences"]
    lines += [f"- {item}" for item in differences.get("chain", [])]
    for recipe, items in differences.items():
        if recipe != "chain":
            lines += [f"- `{recipe}`: {key}: {why}" for key, why in items.items()]
    hardware, steps = card["hardware"], card["time"]["steps_seconds"]
    lines += ["", "## Hardware, time, versions", "", f"- the report's: {'; '.join(hardware['report']) or '-'}",
              f"- this run's: {hardware['run']}",
              f"- time: {card['time']['total_seconds']:.0f} s in all"
              + ("; " + ", ".join(f"{k} {v:.0f} s" for k, v in steps.items()) if steps else ""),
              *report_time_lines(card["time"].get("report", {})),
              "- versions: " + ", ".join(f"{k} {v}" for k, v in card["versions"].items())]
    return "\n".join(lines) + "\n"


def report_time_lines(times: dict[str, Any]) -> list[str]:
    """The report's own time of each recipe, beside the chain's plan of it where the chain planned it."""
    from recipekit.report.plan import report_amount, report_time_line

    lines = []
    for recipe, time in times.items():
        if time["plan"]:
            lines.append(f"- `{recipe}`: {report_time_line(time['plan'], time['seq'])}")
        else:
            lines.append(f"- `{recipe}`: the report's own time ({time['report']['said']}): "
                         f"{report_amount(time['report'])}; this chain does not plan it")
    return lines


def plot_card(card: dict[str, Any], path: Path) -> Path:
    """One row per number: this run's value and 95% interval, the report's number as a red mark."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    numbers = card["numbers"]
    figure, axes = plt.subplots(len(numbers), 1, figsize=(7, 0.8 * len(numbers) + 1.2), squeeze=False)
    for ax, n in zip(axes[:, 0], numbers, strict=True):
        if n["run"] is not None and n["ci95"]:
            low, high = n["ci95"]
            ax.errorbar([n["run"]], [0], xerr=[[n["run"] - low], [high - n["run"]]], fmt="o", color="tab:blue",
                        capsize=4, label="this run (95% interval)")
        elif n["run"] is not None:  # a report written without intervals (classify_report --bootstrap 0)
            ax.plot([n["run"]], [0], marker="o", color="tab:blue", label="this run (no interval)")
        if n["published"] is not None:
            ax.plot([n["published"]], [0], marker="|", markersize=18, color="tab:red", mew=2, label="report")
        ax.set_yticks([0], [f"{n['name']} (%)" if n["unit"] == "%" else n["name"]])
        ax.set_title(n["verdict"], fontsize="small", loc="right")
    legend: dict[str, Any] = {}
    for ax in axes[:, 0]:
        handles, labels = ax.get_legend_handles_labels()
        legend.update(zip(labels, handles, strict=True))
    figure.legend(list(legend.values()), list(legend), loc="lower center", ncol=2, fontsize="small")
    figure.suptitle(("TINY RUN - " if card["tiny"] else "") + f"Report card: {card['title']}", fontsize="medium")
    figure.tight_layout(rect=(0, 0.06, 1, 1))
    return save_figure(figure, path)
