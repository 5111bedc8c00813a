"""The one report writer: JSON is the source of truth, Markdown and PNGs are rendered from it."""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import platform
from collections.abc import Iterator
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

from recipekit.errors import InputError, os_error_line
from recipekit.files import atomic_write_bytes, atomic_write_text, sha256_file, write_json, writes_held


def versions(*packages: str) -> dict[str, str]:
    """Installed versions of the named packages (and Python), for a report's signature."""
    found = {"python": platform.python_version()}
    for name in packages:
        try:
            found[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            found[name] = "not installed"
    return found


def file_signature(path: str | Path) -> dict[str, Any]:
    """Where an input came from, its size in bytes and its sha256, so a report names exactly what it scored."""
    return {"path": str(path), "size": Path(path).stat().st_size, "sha256": sha256_file(path)}


FEW_ROWS = 30  # fewer rows than this: a bootstrap interval says little


def few_rows_note(n: int) -> str | None:
    """The warning a report of fewer than :data:`FEW_ROWS` rows carries: its 95% intervals mean little."""
    if n >= FEW_ROWS:
        return None
    return (f"only {n} row(s) (under {FEW_ROWS}): the 95% intervals, resampled from so few rows, mean little; "
            "score more rows before trusting a difference")


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


# pragma: no mutate start (argument parsing, like every command's)
def add_report_flags(parser: argparse.ArgumentParser) -> None:
    """--replace, --recipe and --adapter: whose report a folder holds, and which model made the predictions."""
    parser.add_argument("--replace", action="store_true",
                        help="replace a report in the output folder that was made from another predictions file "
                             "(refused without it; a report of the same file is always replaced)")
    parser.add_argument("--recipe", help="the predict (or classifier) recipe that made the predictions: its model "
                                         "and adapter are recorded in the report (default: the adapter saved "
                                         "beside the file, else the recipe whose output_dir holds it)")
    parser.add_argument("--adapter", help="the adapter that made the predictions, when the predict run set "
                                          "adapter_name_or_path on its command line (recorded in the report)")
# pragma: no mutate end


@dataclass(frozen=True)
class ReportFolder:
    """The folder a report is written into, as one unit, and the report of the same kind already there."""

    json_path: Path
    older: dict[str, Any] | None  # the input the report already there records ({} when it records none)
    sha256: str | None  # of the predictions this run scores

    @property
    def same_input(self) -> bool:
        """Whether the report already there scored the same predictions (the same bytes)."""
        return bool(self.older) and self.older.get("sha256") == self.sha256

    def left_unchanged(self) -> str:
        """``; X.json (a report of Y) is left unchanged`` when a report was there, else empty."""
        if self.older is None:
            return ""
        if not self.older:
            what = "an input it does not record"
        elif self.same_input:
            what = f"{self.older['path']}: these same predictions"
        else:
            what = f"{self.older['path']} with sha256 {str(self.older.get('sha256'))[:12]}: not this input"
        return f"; {self.json_path} (a report of {what}) is left unchanged"


def recorded_input(json_path: Path) -> dict[str, Any] | None:
    """The predictions a report already written records (``meta.predictions``): None when there is no report,
    ``{}`` when it records none or cannot be read."""
    if not json_path.is_file():
        return None
    try:
        report = json.loads(json_path.read_text(encoding="utf-8"))
        signature = report["meta"]["predictions"]
        return dict(signature) if isinstance(signature, dict) and "path" in signature else {}
    except (OSError, ValueError, KeyError, TypeError):
        return {}


@contextlib.contextmanager
def report_unit(out_dir: Path, stem: str, predictions: str, replace: bool = False) -> Iterator[ReportFolder]:
    """Write a report's files (``stem.json``, its Markdown, rows and plots) into ``out_dir`` as one unit
    (:func:`recipekit.files.writes_held`). A report there made from another predictions file (another path and
    other bytes) is refused before any work unless ``replace``; any failure leaves the folder as it was, and its
    one line says so when a report was there."""
    json_path = out_dir / f"{stem}.json"
    older = recorded_input(json_path)
    digest = sha256_file(predictions) if Path(predictions).is_file() else None
    folder = ReportFolder(json_path, older, digest)
    same_path = bool(older) and Path(str(older["path"])).resolve() == Path(predictions).resolve()
    if digest is not None and older is not None and not (same_path or folder.same_input or replace):
        what = f"{older['path']} (sha256 {str(older.get('sha256'))[:12]})" if older else "an input it does not record"
        raise InputError(f"holds a report of {what}, not of {predictions}: --replace replaces it, --out writes "
                         "the new one elsewhere", str(json_path))
    try:
        with writes_held(last=True):  # the report is its command's last work
            yield folder
    except InputError as exc:
        if older is None:
            raise
        raise InputError(exc.message + folder.left_unchanged(), exc.path, exc.line) from None
    except OSError as exc:
        if older is None:
            raise
        raise InputError(os_error_line(exc) + folder.left_unchanged()) from None


def write_report(out_dir: Path, stem: str, report: dict[str, Any], markdown: str) -> tuple[Path, Path]:
    """Write ``stem.json`` and ``stem.md`` into ``out_dir`` atomically."""
    json_path, md_path = out_dir / f"{stem}.json", out_dir / f"{stem}.md"
    write_json(json_path, report)
    atomic_write_text(md_path, markdown)
    return json_path, md_path
