"""The one report writer: JSON is the source of truth, Markdown and PNGs are rendered from it."""

from __future__ import annotations

import io
import platform
from importlib import metadata
from pathlib import Path
from typing import Any

from recipekit.files import atomic_write_bytes, atomic_write_text, sha256_file, write_json
from recipekit.text import clip


def versions(*packages: str) -> dict[str, str]:
    """Installed versions of the named packages (and Python), for a report's signature."""
    found = {"python": platform.python_version()}
    for name in packages:
        try:
            found[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            found[name] = "not installed"
    return found


def file_signature(path: str | Path) -> dict[str, str]:
    """Where an input came from and its sha256, so a report names exactly what it scored."""
    return {"path": str(path), "sha256": sha256_file(path)}


def short(text: str, width: int = 120) -> str:
    """One table cell of free text: :func:`clip` quoted."""
    return repr(clip(text, width))


def fmt(value: float | int | None, digits: int = 4) -> str:
    """A number for a Markdown cell."""
    if value is None:
        return "-"
    if isinstance(value, int):
        return str(value)
    return f"{value:.{digits}f}"


def md_table(headers: list[str], rows: list[list[Any]]) -> str:
    """A GitHub Markdown table."""
    lines = ["| " + " | ".join(headers) + " |", "|" + "|".join("---" for _ in headers) + "|"]
    lines += ["| " + " | ".join(str(cell).replace("|", "\\|") for cell in row) + " |" for row in rows]
    return "\n".join(lines)


def save_figure(figure: Any, path: Path) -> Path:
    """Save a matplotlib figure as PNG atomically and close it."""
    import matplotlib.pyplot as plt

    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=120, bbox_inches="tight", metadata={"Software": None})
    plt.close(figure)
    atomic_write_bytes(path, buffer.getvalue())
    return path


def report_dir(out: str | None, predictions: str) -> Path:
    """Where a report goes: ``--out``, or the predictions file's folder."""
    return Path(out) if out else Path(predictions).parent


def write_report(out_dir: Path, stem: str, report: dict[str, Any], markdown: str) -> tuple[Path, Path]:
    """Write ``stem.json`` and ``stem.md`` into ``out_dir`` atomically."""
    json_path, md_path = out_dir / f"{stem}.json", out_dir / f"{stem}.md"
    write_json(json_path, report)
    atomic_write_text(md_path, markdown)
    return json_path, md_path
