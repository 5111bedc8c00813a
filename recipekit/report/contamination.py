"""The contamination report's Markdown: settings, counts per pair of sets and method, examples side by side."""

from __future__ import annotations

from typing import Any

from recipekit.report.writer import md_table
from recipekit.text import clip

METHOD_NAMES = {"exact": "exact (normalised)", "ngram": "13-gram", "near": "near-duplicate"}


def count(entry: dict[str, Any], rows: int) -> str:
    share = f" ({entry['scored_rows'] / rows:.1%})" if rows else ""
    return f"{entry['scored_rows']}{share} / {entry['training_rows']}"


def render_markdown(report: dict[str, Any]) -> str:
    settings = report["settings"]
    lines = ["# Contamination: training sets against the sets a report is scored on", "",
             f"Compared: {settings['fields']} fields, normalised ({settings['normalisation']}).",
             f"- exact: {settings['exact']}", f"- 13-gram: {settings['ngram']}",
             f"- near-duplicate: {settings['near']}", f"- template: {settings['template']}",
             "", "Each cell: scored rows found in the training set (share of the scored set) / training rows that "
             "match them.", ""]
    rows = []
    for pair in report["pairs"]:
        rows.append([pair["training"], pair["scored"], pair["scored_rows"],
                     *(count(pair["methods"][m], pair["scored_rows"]) for m in METHOD_NAMES),
                     count(pair["any"], pair["scored_rows"])])
    lines += [md_table(["training", "scored", "rows", *METHOD_NAMES.values(), "any"], rows), ""]
    flagged = [p for p in report["pairs"] if p["any"]["scored_rows"]]
    lines.append("No scored row was found in any training set." if not flagged else
                 f"{len(flagged)} pair(s) share rows: a number scored on such a set was partly seen in training.")
    for pair in flagged:
        lines += ["", f"## {pair['training']} / {pair['scored']}", "",
                  f"Scored rows found: {', '.join(pair['scored_ids'][:20])}"
                  + (" ..." if len(pair["scored_ids"]) > 20 else ""), ""]
        lines.append(md_table(["method", "Jaccard", "training row", "scored row"], [
            [METHOD_NAMES[e["method"]], e["jaccard"], f"{e['training_id']}: {clip(e['training_text'], 100)!r}",
             f"{e['scored_id']}: {clip(e['scored_text'], 100)!r}"] for e in pair["examples"]]))
    for drop in report.get("dropped", []):
        lines += ["", f"Dropped {drop['rows']} row(s) of {drop['from']}: {drop['kept']} kept as {drop['name']} "
                  f"({drop['file']}); train on it with `dataset={drop['name']}`."]
    return "\n".join(lines) + "\n"
