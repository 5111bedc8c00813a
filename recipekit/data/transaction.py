"""One conversion, one transaction: every set it writes and the registry change land together, or none does.

A conversion owns the names it writes (NAME, NAME_val, NAME_test, NAME_pref and the swapped copies): a
re-run that no longer writes one of them removes it, so a stale held-out set can't stay registered. Each entry
records the converter that wrote it: replacing or removing a set another converter wrote needs ``replace``.
Before anything is written the registry is read (a corrupt one changes nothing), no set may be empty, and no
held-out set may share a row (same prompt and answer) with a training set.
"""

from __future__ import annotations

import contextlib
from collections import Counter
from collections.abc import Hashable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from recipekit import paths
from recipekit.data.dataset_info import MAKER_KEY, load_registry, maker_of
from recipekit.errors import InputError
from recipekit.files import (
    atomic_write_bytes,
    dumps_json,
    ensure_folder,
    jsonl_lines,
    paused_gc,
    remove_file,
    writes_held,
)

HELD_OUT_SUFFIXES = ("_val", "_test", "_val_swapped", "_test_swapped")
TRAINING_SUFFIXES = ("", "_pref")
OWNED_SUFFIXES = TRAINING_SUFFIXES + HELD_OUT_SUFFIXES
IDENTITY_FIELDS = frozenset({"id", "fold", "swapped"})  # bookkeeping, not what the model sees


def content_key(row: dict[str, Any]) -> str:
    """What the model sees of a row (ids, folds and swap marks left out) as its JSONL line: the very line a row
    without those fields has, so a row with an id and the same row without one compare equal, while the text
    ``"1"`` and the number ``1`` do not."""
    return next(jsonl_lines([{key: value for key, value in row.items() if key not in IDENTITY_FIELDS}]))


@dataclass
class StagedSet:
    """One set to write: its rows, its registry entry (less ``file_name``) and each row's class (or None)."""

    rows: list[dict[str, Any]]
    entry: dict[str, Any]
    labels: list[Hashable | None]


@dataclass
class Plan:
    """What a commit will do: sets to write, names to remove, what the checks found.

    ``maker`` (the converter, recorded in each entry written) may replace or remove a set another converter
    wrote only with ``replace``; a plan without one (not a converter's) records none and checks nothing."""

    data_dir: Path
    sets: dict[str, StagedSet] = field(default_factory=dict)
    maker: str | None = None
    replace: bool = False
    removed: list[str] = field(default_factory=list)
    replaced: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    dropped: Counter[str] = field(default_factory=Counter)


def kind(name: str, base: str) -> str:
    """'training', 'held-out' or 'other' for a set of the conversion of ``base``."""
    suffix = name[len(base):] if name.startswith(base) else None
    if suffix in TRAINING_SUFFIXES:
        return "training"
    return "held-out" if suffix in HELD_OUT_SUFFIXES else "other"


def encoded(rows: list[dict[str, Any]]) -> tuple[list[str], list[Any]]:
    """Each row's JSONL line and its content key: the line itself when the row has no bookkeeping field (rows of
    one conversion share their key order, so equal lines are equal content), else :func:`content_key`, the line
    of the row without them."""
    lines = list(jsonl_lines(rows))
    keys = [line if IDENTITY_FIELDS.isdisjoint(row) else content_key(row) for row, line in zip(rows, lines,
                                                                                              strict=True)]
    return lines, keys


def check_sets(plan: Plan, base: str, drop_overlap: bool) -> dict[str, list[str]]:
    """No empty set; duplicates inside a set noted; held-out rows found in a training set refused (or, with
    ``drop_overlap``, removed from the training set and counted). Returns each set's JSONL lines."""
    for name, staged in plan.sets.items():
        if not staged.rows:
            raise InputError(f"dataset {name!r} would have 0 rows: nothing was written (check the skip reasons "
                             "above, the input's columns and the flags)", str(plan.data_dir / f"{name}.jsonl"))
    with paused_gc():
        both = {name: encoded(staged.rows) for name, staged in plan.sets.items()}
    lines = {name: pair[0] for name, pair in both.items()}
    keys = {name: pair[1] for name, pair in both.items()}
    for name, row_keys in keys.items():
        repeats = len(row_keys) - len(set(row_keys))
        if repeats:
            plan.notes.append(f"{name}: {repeats} row(s) repeat another row of {name} (same prompt and answer)")
    held_out = {name: set(row_keys) for name, row_keys in keys.items() if kind(name, base) == "held-out"}
    for train in [name for name in plan.sets if kind(name, base) == "training"]:
        staged = plan.sets[train]
        for held, held_keys in held_out.items():
            shared = [i for i, key in enumerate(keys[train]) if key in held_keys]
            if not shared:
                continue
            if not drop_overlap:
                raise InputError(f"{len(shared)} row(s) of {train} are also in {held} (same prompt and answer): a "
                                 f"held-out set must not overlap its training set; nothing was written "
                                 f"(--drop-overlap removes them from {train})", str(plan.data_dir))
            drop = set(shared)
            keep = [i for i in range(len(staged.rows)) if i not in drop]
            staged = StagedSet([staged.rows[i] for i in keep], staged.entry, [staged.labels[i] for i in keep])
            keys[train] = [keys[train][i] for i in keep]
            lines[train] = [lines[train][i] for i in keep]
            plan.dropped[f"{train} (also in {held})"] += len(drop)
        if not staged.rows:
            raise InputError(f"dataset {train!r} would have 0 rows once the rows also held out are removed",
                             str(plan.data_dir))
        plan.sets[train] = staged
    return lines


LOCK_WAIT_SAY = 0.5  # seconds before a conversion waiting for the registry says who holds it


def lock_path(data_dir: Path) -> Path:
    """The lock of a data folder's registry: outside the folder (nothing is added to the user's data), one per
    folder, the same for every process of this machine (:func:`recipekit.paths.lock_path`)."""
    return paths.lock_path(data_dir, "registry")


@contextlib.contextmanager
def registry_lock(data_dir: Path) -> Iterator[str | None]:
    """Hold the data folder's registry (``filelock``): a second conversion into the same folder waits, saying
    which process holds it, so each reads the registry the other wrote. Yields who it waited for (or None)."""
    import os
    import sys

    from filelock import FileLock, Timeout

    path = lock_path(data_dir)
    path.parent.mkdir(parents=True, exist_ok=True)
    holder = path.with_suffix(".who")
    lock, who = FileLock(path), None
    try:
        lock.acquire(timeout=LOCK_WAIT_SAY)
    except Timeout:
        who = holder.read_text(encoding="utf-8").strip() if holder.is_file() else "another process"
        print(f"waiting for {data_dir / 'dataset_info.json'}: {who} is writing it", file=sys.stderr, flush=True)
        lock.acquire()
    try:
        holder.write_text(f"pid {os.getpid()} ({' '.join(sys.argv[:3])})", encoding="utf-8")
        yield who
    finally:
        holder.unlink(missing_ok=True)
        lock.release()


def commit(plan: Plan, base: str, drop_overlap: bool = False) -> dict[str, tuple[Path, int]]:
    """Check the plan, then write every set, remove the stale ones and update the registry, as one unit, holding
    the registry's lock (:func:`registry_lock`).

    Returns name -> (path, rows) of the sets written; ``plan.removed`` names the stale sets removed.
    """
    if not plan.sets:
        raise InputError("nothing to write: no rows were converted", str(plan.data_dir))
    ensure_folder(plan.data_dir, "--data-dir", create=False)  # made when the first file is written
    before = {name: file_stamp(plan.data_dir / f"{name}.jsonl") for name in plan.sets}
    with registry_lock(plan.data_dir) as waited_for:
        plan.notes.extend(f"{name} was written by {waited_for} while this conversion waited: replaced"
                          for name in plan.sets if waited_for and file_stamp(plan.data_dir / f"{name}.jsonl") !=
                          before[name])
        return write_plan(plan, base, drop_overlap)


def file_stamp(path: Path) -> tuple[int, int] | None:
    """(modification time in ns, size) of a file, None when it is not there."""
    try:
        stat = path.stat()
    except OSError:
        return None
    return stat.st_mtime_ns, stat.st_size


def write_plan(plan: Plan, base: str, drop_overlap: bool) -> dict[str, tuple[Path, int]]:
    """:func:`commit`'s work, under the lock: read the registry, check, write."""
    registry_path = plan.data_dir / "dataset_info.json"
    registry = load_registry(registry_path)  # a corrupt registry stops us before anything is written
    stale = [name for name in (base + suffix for suffix in OWNED_SUFFIXES) if name not in plan.sets and name in
             registry]
    check_makers(plan, registry, stale, registry_path)
    lines = check_sets(plan, base, drop_overlap)
    writes: dict[Path, bytes] = {}
    written = {}
    for name, staged in plan.sets.items():
        path = plan.data_dir / f"{name}.jsonl"
        writes[path] = "".join(lines[name]).encode("utf-8")
        entry = {key: value for key, value in staged.entry.items() if key != MAKER_KEY}
        registry[name] = {"file_name": path.name, **entry, **({MAKER_KEY: plan.maker} if plan.maker else {})}
        written[name] = (path, len(staged.rows))
    deletes = []
    for name in stale:
        plan.removed.append(name)
        file_name = registry.pop(name).get("file_name")
        if file_name == f"{name}.jsonl" and (plan.data_dir / file_name).is_file():
            deletes.append(plan.data_dir / file_name)
    writes[registry_path] = dumps_json(registry).encode("utf-8")  # last: the registry names only files in place
    with writes_held(last=True):  # files first, the registry last, the stale files removed: one unit
        for path, data in writes.items():
            atomic_write_bytes(path, data)
        for path in deletes:
            remove_file(path)
    return written


def check_makers(plan: Plan, registry: dict[str, Any], stale: list[str], registry_path: Path) -> None:
    """A set another converter wrote is replaced or removed only with ``plan.replace``: else one InputError saying
    what would go (nothing is written)."""
    if plan.maker is None:
        return
    others = {name: maker_of(registry[name]) for name in [*plan.sets, *stale] if name in registry}
    others = {name: maker for name, maker in others.items() if maker not in (None, plan.maker)}
    if not others:
        return
    plan.replaced = [f"{name} (written by convert {maker})" for name, maker in others.items() if name in plan.sets]
    if plan.replace:
        return
    goes = [f"replace {name!r}" if name in plan.sets else f"delete {name!r}" + (
        f" and {plan.data_dir / name}.jsonl" if registry[name].get("file_name") == f"{name}.jsonl" and
        (plan.data_dir / f"{name}.jsonl").is_file() else "") for name in others]
    makers = sorted(set(others.values()))
    raise InputError(f"{', '.join(map(repr, others))} {'was' if len(others) == 1 else 'were'} written by convert "
                     f"{' and convert '.join(makers)}: convert {plan.maker} would {', '.join(goes)}; nothing was "
                     "written (--replace to do it, or choose another --name)", str(registry_path))


def removal_lines(plan: Plan, registry_path: Path) -> list[str]:
    """What the commit removed and left out, for the converter's summary."""
    lines = [f"removed stale dataset '{name}' from {registry_path} (and {plan.data_dir / (name + '.jsonl')}): this "
             "run no longer writes it" for name in plan.removed]
    lines += [f"replaced dataset {what} (--replace)" for what in plan.replaced]
    lines += [f"left out {n} training row(s) of {what}: same prompt and answer as a held-out row"
              for what, n in plan.dropped.items()]
    return lines + [f"note: {note}" for note in plan.notes]
