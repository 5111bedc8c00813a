"""Set several runs' reports side by side: a table, a chart per metric, accuracy vs log loss, a trend.

Each RUN is a report JSON (classify_report.json, gen_report.json, calibrate_temperature_*.json) or a folder
holding one (or holding report/ with one, as sweep points do). Writes compare_runs.json / .md,
compare_<metric>.png for each metric every run has, compare_acc_vs_logloss.png when runs carry log loss,
and, with --ordered (versions, steps, learning rates in the order given), compare_trend.png.

Example:
    llm-recipes compare saves/v1/report saves/v8/report saves/v17/report --ordered --out reports/arena
    llm-recipes compare outputs/sweeps/agnews_full/p0*/ --names 1e-4,2e-5,6e-5,6e-6
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from recipekit.cli import script_parser
from recipekit.files import announce, atomic_write_text, write_json, writing_command
from recipekit.report.compare import RUN_FIELDS, load_runs, mismatches, plot_bars, plot_scatter, plot_trend
from recipekit.report.writer import fmt, md_table


# pragma: no mutate start
def build_parser() -> argparse.ArgumentParser:
    parser = script_parser(__doc__)
    parser.add_argument("runs", nargs="+", metavar="RUN", help="report JSON files or folders holding one")
    parser.add_argument("--names", help="comma-separated run names (default: each run's folder name)")
    parser.add_argument("--ordered", action="store_true", help="the runs are in a meaningful order: draw the trend")
    parser.add_argument("--out", default=".", help="output folder (default: the current folder)")
    return parser


# pragma: no mutate end
@writing_command
def main(argv: list[str] | None = None) -> dict[str, Any]:
    args = build_parser().parse_args(argv)
    names = [n.strip() for n in args.names.split(",")] if args.names else None
    rows = load_runs([Path(p) for p in args.runs], names)
    out = Path(args.out)
    shared = [m for m in rows[0] if m not in RUN_FIELDS and all(m in row for row in rows)]
    images = [plot_bars(rows, metric, out / f"compare_{metric.replace('/', '_')}.png") for metric in shared]
    if "accuracy" in shared and "log_loss" in shared:
        images.append(plot_scatter(rows, out / "compare_acc_vs_logloss.png"))
    if args.ordered and shared:
        images.append(plot_trend(rows, shared[:4], out / "compare_trend.png"))
    metrics = sorted({m for row in rows for m in row} - set(RUN_FIELDS), key=lambda m: (m not in shared, m))
    notes = mismatches(rows)
    markdown = "# Runs compared\n\n" + md_table(
        ["run", "rows", *metrics], [[row["run"], row["n"] if row["n"] is not None else "-",
                                     *[fmt(row.get(m)) for m in metrics]] for row in rows]) + "\n"
    markdown += "".join(f"\n**Note:** {note}.\n" for note in notes)
    result = {"runs": rows, "shared_metrics": shared, "ordered": args.ordered, "notes": notes,
              "images": [str(p) for p in images]}
    write_json(out / "compare_runs.json", result)
    atomic_write_text(out / "compare_runs.md", markdown)
    print(markdown)
    announce("wrote " + ", ".join(map(str, [out / "compare_runs.json", out / "compare_runs.md", *images])))
    return result


if __name__ == "__main__":
    main()
