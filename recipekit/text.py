"""Free text shown to a reader: one rule for how long it may be."""

from __future__ import annotations


def clip(text: str, width: int = 120) -> str:
    """Free text shown to a reader (a terminal line, a table cell): one line, cut with an ellipsis at ``width``
    characters, so a runaway answer of megabytes shows as a readable start."""
    flat = " ".join(text.split())
    return flat if len(flat) <= width else flat[: width - 1] + "…"
