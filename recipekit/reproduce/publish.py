"""Writing the report card (JSON, Markdown, PNG) into a reproduction's folder, and logging it to its wandb group."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from recipekit.files import writes_held
from recipekit.paths import root
from recipekit.report.card import plot_card, render_markdown
from recipekit.report.writer import write_report
from recipekit.reproduce.card import build_card
from recipekit.reproduce.chain import Layout
from recipekit.steps import Step


def write_card(layout: Layout, steps: list[Step], state: dict[str, Any], wandb: bool) -> list[Path]:
    """report_card.json/.md/.png under the reproduction's folder; with ``wandb`` also a run in its group."""
    card = build_card(layout, steps, state)
    out = root() / layout.out
    markdown = render_markdown(card)
    with writes_held():
        json_path, md_path = write_report(out, "report_card", card, markdown)
        png = plot_card(card, out / "report_card.png")
    print(markdown)
    if wandb:
        from recipekit.report.wandb import log_report

        os.environ.setdefault("WANDB_RUN_GROUP", layout.group)
        os.environ.setdefault("WANDB_DIR", str(out))
        if layout.tiny:
            os.environ.setdefault("WANDB_MODE", "offline")
        rows = [[n["name"], n["published"], n["run"], *(n["ci95"] or [None, None]), n["verdict"]]
                for n in card["numbers"]]
        scalars = {f"card/{n['name']}": n["run"] for n in card["numbers"] if n["run"] is not None}
        table = {"report_card": (["number", "report", "run", "low", "high", "verdict"], rows)}
        run = log_report("report_card", out, scalars, table, {"report_card_png": png},
                         {"report": layout.chain.name, "tiny": layout.tiny})
        print(f"wandb run: {run}")
    return [json_path, md_path, png]
