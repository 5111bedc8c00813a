"""The rows the contamination check compares: a registered set's (Alpaca, ShareGPT, preference rows) or an
lm-evaluation-harness task's, each as its id and the text of the chosen fields.

Fields: ``prompt`` is what the model is asked (Alpaca's instruction and input, ShareGPT's system and user
turns, an lm-eval task's ``doc_to_text``); ``all`` adds the answers (output, assistant turns, chosen and
rejected), for sets whose answers are text rather than labels.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from recipekit.data.dataset_info import load_registry
from recipekit.data.transaction import HELD_OUT_SUFFIXES, Plan, StagedSet, commit
from recipekit.errors import InputError, exception_line
from recipekit.files import read_jsonl

FIELDS = ("prompt", "all")
LLAMAFACTORY_TAGS = {"role_tag": "from", "content_tag": "value", "user_tag": "human", "assistant_tag": "gpt",
                     "system_tag": "system"}  # LLaMA-Factory's ShareGPT defaults


@dataclass(frozen=True)
class Row:
    """One row: its id (the row's ``id`` field, else its line) and the text compared."""

    id: str
    text: str


def registered(data_dir: Path, name: str) -> tuple[Path, dict[str, Any]]:
    """A registered local set's file and registry entry (one line when it is not there)."""
    entry = load_registry(data_dir / "dataset_info.json").get(name)
    if entry is None:
        raise InputError(f"dataset {name!r} is not registered", str(data_dir / "dataset_info.json"))
    path = data_dir / str(entry.get("file_name", ""))
    if not entry.get("file_name") or not path.is_file():
        raise InputError(f"dataset {name!r}: its file is not here", str(path))
    return path, entry


def row_text(row: dict[str, Any], entry: dict[str, Any], fields: str) -> str:
    """The text of one row's fields, by its registry entry's formatting and columns."""
    columns = entry.get("columns", {})
    tags = {**LLAMAFACTORY_TAGS, **entry.get("tags", {})}
    parts: list[Any] = []
    answers = ["chosen", "rejected"] if entry.get("ranking") else []
    if entry.get("formatting") == "sharegpt":
        asked = {tags["user_tag"], tags["system_tag"], "user", "system"}
        for message in row.get(columns.get("messages", "conversations")) or []:
            if isinstance(message, dict):
                role = message.get(tags["role_tag"])
                if role in asked or fields == "all":
                    parts.append(message.get(tags["content_tag"]))
        parts.append(row.get(columns.get("system", "system")))
    else:
        parts = [row.get(columns.get("prompt", "instruction")), row.get(columns.get("query", "input")),
                 row.get(columns.get("system", "system"))]
        answers.append(columns.get("response", "output"))
    if fields == "all":
        for column in answers:
            value = row.get(columns.get(column, column))
            messages = value if isinstance(value, list) else [value]
            parts += [m.get(tags["content_tag"]) if isinstance(m, dict) else m for m in messages]
    return "\n".join(str(part) for part in parts if part)  # a field left out or empty adds nothing


def held_out(data_dir: Path, training: list[str]) -> list[str]:
    """The registered held-out sets of the training sets (NAME_val, NAME_test, ...)."""
    registry = load_registry(data_dir / "dataset_info.json")
    return [name + suffix for name in training for suffix in HELD_OUT_SUFFIXES if name + suffix in registry]


def set_rows(data_dir: Path, name: str, fields: str) -> Iterator[Row]:
    """A registered set's rows, read one at a time."""
    path, entry = registered(data_dir, name)
    for line, row in read_jsonl(path):
        yield Row(str(row["id"]) if row.get("id") is not None else f"line {line}", row_text(row, entry, fields))


def task_rows(name: str, include_path: str | None) -> list[Row]:
    """An lm-evaluation-harness task's evaluation documents (test split, else validation), as lm-eval loads
    them, each its ``doc_to_text``."""
    from lm_eval.tasks import TaskManager, get_task_dict

    if include_path and not Path(include_path).is_dir():
        raise InputError("no such folder", include_path)
    try:
        local = TaskManager(include_path=include_path, include_defaults=False) if include_path else None
        # lm-eval's own tasks are indexed only when the task is not a local one (indexing them takes seconds)
        manager = local if local is not None and name in local.all_tasks else TaskManager(include_path=include_path)
        tasks = get_task_dict([name], manager)
    except Exception as exc:  # lm-eval's unknown-task KeyError, the hub's connection errors: one line
        raise InputError(f"lm-eval cannot load task {name!r} ({exception_line(exc)})") from None
    rows = []
    for task_name, task in flatten(tasks):
        docs = task.test_docs() if task.has_test_docs() else task.validation_docs()
        rows += [Row(f"{task_name}:{i}", str(task.doc_to_text(doc))) for i, doc in enumerate(docs or [])]
    return rows


def flatten(tasks: dict[Any, Any]) -> Iterator[tuple[str, Any]]:
    """lm-eval's task dict, groups opened, as (task name, task)."""
    for key, value in tasks.items():
        if isinstance(value, dict):
            yield from flatten(value)
        else:
            yield str(getattr(key, "group_name", key)), value


def suite_tasks(path: str) -> list[str]:
    """The distinct lm-eval tasks of a benchmark suite file."""
    from recipekit.eval.benchmarks import load_suite

    return list(dict.fromkeys(task for dimension in load_suite(path).dimensions for task in dimension.tasks))


def drop_flagged(data_dir: Path, train: str, flagged: set[int], name: str) -> dict[str, Any]:
    """The training set without the flagged rows (by position), committed as ``name`` with the converters'
    transaction; refused when nothing would be left."""
    path, entry = registered(data_dir, train)
    kept = [row for position, (_, row) in enumerate(read_jsonl(path)) if position not in flagged]
    if not kept:
        raise InputError(f"--drop would leave {train} with 0 rows: every row matches a scored set; nothing was "
                         "written", str(path))
    plan = Plan(data_dir, sets={name: StagedSet(kept, {k: v for k, v in entry.items() if k != "file_name"},
                                                [None] * len(kept))})
    written = commit(plan, name)
    return {"from": train, "name": name, "rows": len(flagged), "kept": len(kept), "file": str(written[name][0])}
