"""Rendering a capability-benchmark report: the Markdown table (one column per stage) and the radar chart."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from recipekit.report.writer import fmt, md_table, save_figure


def with_error(block: dict[str, Any]) -> str:
    score, stderr = block["score"], block.get("stderr")
    return f"{score:.4f} ± {stderr:.4f}" if stderr is not None else f"{score:.4f}"


def render_markdown(report: dict[str, Any]) -> str:
    """Dimensions, then their tasks; a column per stage, the deltas against the first, the report's numbers."""
    stages = report["stages"]
    first, rest = stages[0], stages[1:]
    reported = report.get("reported") or {}
    headers = ["dimension / task", *[s["name"] for s in stages], *[f"Δ {s['name']}" for s in rest]]
    if reported:
        headers.append("report")
    rows = []
    for name, block in first["dimensions"].items():
        row = [f"**{name}** ({block['shots']}-shot)", *[with_error(s["dimensions"][name]) for s in stages],
               *[f"{report['deltas'][s['name']][name]:+.4f}" for s in rest]]
        if reported:
            row.append(fmt(reported.get(name)))
        rows.append(row)
        for index, task in enumerate(block["tasks"]):
            cells = [with_error(s["dimensions"][name]["tasks"][index]) for s in stages]
            deltas = [f"{s['dimensions'][name]['tasks'][index]['score'] - task['score']:+.4f}" for s in rest]
            rows.append([f"  {task['task']} ({task['metric']})", *cells, *deltas, *([""] if reported else [])])
    formats = ", ".join(f"{s['name']}: {s['prompt_format']}" for s in stages)
    lines = [f"# Capability benchmarks: {report['suite']}", "",
             f"lm-evaluation-harness {report['versions'].get('lm-eval', '?')}; prompts: {formats}; "
             f"limit: {report['limit'] or 'none'}.", "", md_table(headers, rows), "",
             f"A dimension's score is {report['aggregation']}. Scores are lm-eval's, ± its standard error; Δ is "
             f"against {first['name']}. lm-eval's own results per stage and shot count are in "
             f"`{report['raw_folder']}`."]
    return "\n".join(lines) + "\n"


def plot_radar(report: dict[str, Any], path: Path) -> Path:
    """One polygon per stage over the dimensions (and the report's numbers, dashed, when the suite has them)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = list(report["stages"][0]["dimensions"])
    angles = [2 * math.pi * i / len(names) for i in range(len(names))]
    figure = plt.figure(figsize=(6, 6))
    ax = figure.add_subplot(111, polar=True)
    series = [(s["name"], [s["dimensions"][n]["score"] for n in names], "-") for s in report["stages"]]
    reported = report.get("reported") or {}
    if reported and all(n in reported for n in names):
        series.append(("report (base)", [reported[n] for n in names], "--"))
    for label, values, style in series:
        ax.plot([*angles, angles[0]], [*values, values[0]], style, marker="o", label=label)
        if style == "-":
            ax.fill([*angles, angles[0]], [*values, values[0]], alpha=0.1)
    ax.set_xticks(angles, names)
    ax.set_ylim(0, 1)
    ax.set_title("Capabilities", pad=20)
    ax.legend(loc="upper right", bbox_to_anchor=(1.3, 1.1), fontsize="small")
    return save_figure(figure, path)
