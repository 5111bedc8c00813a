"""Free text shown to a reader: one rule for how long it may be."""

from __future__ import annotations


def clip(text: str, width: int = 120, flatten: bool = True, ellipsis: str = "…") -> str:
    """Free text shown to a reader (a terminal line, a table cell): one line (``flatten``: runs of whitespace to one
    space; off for a value whose spacing is the point, such as a quoted field), cut to ``width`` characters ending
    in ``ellipsis`` when longer, so a runaway answer of megabytes shows as a readable start."""
    flat = " ".join(text.split()) if flatten else text
    return flat if len(flat) <= width else flat[: width - len(ellipsis)] + ellipsis
