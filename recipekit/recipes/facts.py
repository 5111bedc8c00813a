"""What a recipe stands for: the report it reproduces, the report's settings, hardware and global batch, its
target and every difference from the report.

A recipe that reproduces a report names that report's chain file in its header (``# Report:
recipes/reproduce/agnews.yaml``); the chain file holds these facts under ``recipes:``, one entry per recipe
path, so each is written once. A recipe of no report (``# Report: none ...``) states its own ``Hardware:``,
``Global batch:`` and ``Target:`` lines in its header.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from recipekit.errors import InputError
from recipekit.files import read_yaml_mapping
from recipekit.paths import root

ENTRY_KEYS = {"settings_from", "settings", "hardware", "global_batch", "target", "differences", "notes", "time",
              "rows", "tokens"}
TIME_KEYS = {"hours", "minutes", "steps", "steps_per_second", "samples_per_second", "eval", "said"}
ROWS_KEYS = {"train", "said"}
TOKENS_KEYS = {"longest", "said"}
REQUIRED_KEYS = ("hardware", "global_batch", "target")
GLOBAL_BATCH = re.compile(r"(\d+) per device x (\d+) accumulation x (\d+) (?:GPUs?|ranks?|process(?:es)?)\s*=\s*(\d+)")
REPORT_LINE = re.compile(r"^#\s*Report\s*:\s*(\S+)")
HEADER_LINES = {
    "hardware": re.compile(r"^#\s*(?:Report's hardware|Hardware)\s*:\s*(.*)", re.I),
    "global_batch": re.compile(r"^#\s*Global batch\s*:\s*(.*)", re.I),
    "target": re.compile(r"^#\s*Target\s*:\s*(.*)", re.I),
}


@dataclass(frozen=True)
class Facts:
    """A recipe's report facts and the file they were read from (its chain file, or its own header)."""

    source: Path
    entry: str = ""  # the recipe's key under the chain file's recipes:
    report: str | None = None  # the report's file name; None for a recipe of no report
    title: str = ""
    settings_from: str = ""  # where in the report its settings are printed
    settings: dict[str, Any] = field(default_factory=dict)
    hardware: str = ""
    global_batch: str = ""
    target: str = ""
    differences: dict[str, str] = field(default_factory=dict)
    notes: str = ""
    time: dict[str, Any] = field(default_factory=dict)  # the report's own training time (TIME_KEYS)
    rows: dict[str, Any] = field(default_factory=dict)  # the training rows of the report's run (ROWS_KEYS)
    tokens: dict[str, Any] = field(default_factory=dict)  # the longest row of the report's data (TOKENS_KEYS)

    def batch(self) -> tuple[int, int, int, int] | None:
        """(per device, accumulation, GPUs, global) when the global batch has that shape."""
        match = GLOBAL_BATCH.search(self.global_batch)
        return tuple(int(g) for g in match.groups()) if match else None  # type: ignore[return-value]


def report_reference(header: list[str]) -> str | None:
    """What the header's ``Report:`` line names (a chain file, or ``none``); None without that line."""
    for line in header:
        match = REPORT_LINE.match(line)
        if match:
            return match.group(1).rstrip(".,;")
    return None


def find_chain(reference: str, recipe: Path) -> Path | None:
    """The chain file a header names, relative to the repository the recipe lies in (a folder above it)."""
    for folder in [*recipe.resolve().parents, root()]:
        if (folder / reference).is_file():
            return folder / reference
    return None


def chain_key(chain: Path, recipe: Path) -> str:
    """The recipe as the chain names it: its path from the repository the chain lies in (``recipes/x.yaml``)."""
    repository = chain.resolve().parents[2]
    try:
        return recipe.resolve().relative_to(repository).as_posix()
    except ValueError:
        return f"recipes/{recipe.name}"


def recipe_entries(chain: Path, data: dict[str, Any]) -> dict[str, Any]:
    """A chain file's ``recipes:`` mapping (absent: empty); any other value is one error naming the file."""
    entries = data.get("recipes") or {}
    if not isinstance(entries, dict):
        raise InputError("recipes: must map each recipe path to its report facts", str(chain))
    return entries


def entry_facts(chain: Path, data: dict[str, Any], key: str) -> Facts:
    """The facts of one ``recipes:`` entry of a chain file; a malformed entry is one error naming the file."""
    entries = recipe_entries(chain, data)
    if key not in entries:
        raise InputError(f"recipes: has no entry for {key} (the recipe's header names this chain)", str(chain))
    entry = entries[key]
    if not isinstance(entry, dict):
        raise InputError(f"recipes: {key}: must be a mapping of {', '.join(sorted(ENTRY_KEYS))}", str(chain))
    unknown = sorted(set(entry) - ENTRY_KEYS)
    missing = [name for name in REQUIRED_KEYS if not entry.get(name)]
    if unknown or missing:
        problem = f"unknown key(s) {unknown}" if unknown else f"lacks {', '.join(missing)}"
        raise InputError(f"recipes: {key}: {problem} (keys: {', '.join(sorted(ENTRY_KEYS))})", str(chain))
    for name in ("settings", "differences", "time", "rows", "tokens"):
        if not isinstance(entry.get(name) or {}, dict):
            raise InputError(f"recipes: {key}: {name} must be `key: value` lines", str(chain))
    return Facts(chain, key, str(data.get("report") or "") or None, str(data.get("title", "")),
                 str(entry.get("settings_from", "")), dict(entry.get("settings") or {}), str(entry["hardware"]),
                 str(entry["global_batch"]), str(entry["target"]),
                 {str(k): str(v) for k, v in (entry.get("differences") or {}).items()}, str(entry.get("notes", "")),
                 report_time(chain, key, entry.get("time") or {}), report_rows(chain, key, entry.get("rows") or {}),
                 report_tokens(chain, key, entry.get("tokens") or {}))


def report_time(chain: Path, key: str, time: dict[str, Any]) -> dict[str, Any]:
    """A report's own time for a recipe: ``hours`` or ``minutes`` (a number, or [low, high]), with ``steps`` or
    ``steps_per_second`` to give seconds per optimizer step, and ``said`` (where the report says it)."""
    where = f"recipes: {key}: time"
    unknown = sorted(set(time) - TIME_KEYS)
    if unknown:
        raise InputError(f"{where}: unknown key(s) {unknown} (keys: {', '.join(sorted(TIME_KEYS))})", str(chain))
    if time and not time.get("said"):
        raise InputError(f"{where}: lacks said (where the report gives it)", str(chain))
    for name in ("hours", "minutes"):
        value = time.get(name)
        numbers = value if isinstance(value, list) else [value]
        if value is not None and not (len(numbers) in (1, 2) and all(
                isinstance(n, int | float) and not isinstance(n, bool) and n > 0 for n in numbers)):
            raise InputError(f"{where}: {name} must be a positive number or [low, high]", str(chain))
    return dict(time)


def stated_count(chain: Path, key: str, name: str, entry: dict[str, Any], allowed: set[str], number: str,
                 unit: str, said: str) -> dict[str, Any]:
    """An entry that states one positive whole ``number`` of ``unit`` and ``said`` (``said`` explains it)."""
    where = f"recipes: {key}: {name}"
    unknown = sorted(set(entry) - allowed)
    if unknown:
        raise InputError(f"{where}: unknown key(s) {unknown} (keys: {', '.join(sorted(allowed))})", str(chain))
    value = entry.get(number)
    if entry and (isinstance(value, bool) or not isinstance(value, int) or value <= 0):
        raise InputError(f"{where}: {number} must be a positive whole number of {unit}", str(chain))
    if entry and not entry.get("said"):
        raise InputError(f"{where}: lacks said ({said})", str(chain))
    return dict(entry)


def report_rows(chain: Path, key: str, rows: dict[str, Any]) -> dict[str, Any]:
    """The training rows of the report's run: ``train`` (as the chain converts the dataset, before the recipe's
    ``max_samples``) and ``said`` (where the number comes from)."""
    return stated_count(chain, key, "rows", rows, ROWS_KEYS, "train", "rows", "where the number comes from")


def report_tokens(chain: Path, key: str, tokens: dict[str, Any]) -> dict[str, Any]:
    """The longest row of the report's data in the model's tokens, template and answer included (``longest``),
    and ``said`` (how that is known): what its plan pads to instead of ``cutoff_len``."""
    return stated_count(chain, key, "tokens", tokens, TOKENS_KEYS, "longest", "tokens", "how the length is known")


def header_facts(path: Path, header: list[str]) -> Facts:
    """The facts a recipe of no report states in its own header (the first line of each)."""
    found = {}
    for name, pattern in HEADER_LINES.items():
        found[name] = next((m.group(1).strip() for m in map(pattern.match, header) if m), "")
    return Facts(path, **found)


def recipe_facts(path: Path, header: list[str]) -> Facts:
    """The recipe's facts: from the chain file its header names, else from its header."""
    reference = report_reference(header)
    if reference is None or reference.lower() == "none":
        return header_facts(path, header)
    chain = find_chain(reference, path)
    if chain is None:
        raise InputError(f"the header's Report: names {reference}, which is not a chain file here "
                         "(name recipes/reproduce/REPORT.yaml, or `none`)", str(path))
    return entry_facts(chain, read_yaml_mapping(chain, "chain file"), chain_key(chain, path))
