"""The datasets this repository converts, declared once: each one's converter, the command that makes it
from the public source, and the small raw fixture the smoke runs convert instead.

``scripts/check_recipes.py`` names the command when a recipe's dataset is missing; ``scripts/smoke_recipe.py``
builds every dataset a recipe needs from its fixture with the same converter; ``scripts/reproduce.py --tiny``
feeds its converter steps ``tiny_source_flags`` (the original files when this machine has them).
"""

from __future__ import annotations

import contextlib
import filecmp
import importlib
import io
import os
import shutil
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from recipekit.converters import fixtures
from recipekit.data.dataset_info import dataset_base, load_registry
from recipekit.data.readers import hub_reachable
from recipekit.errors import InputError
from recipekit.paths import root


@dataclass(frozen=True)
class DatasetSpec:
    """One converted dataset: its registered name, its converter module and how to make it."""

    name: str
    converter: str
    command: str
    fixture: Callable[[Path], list[str]]


DATASETS: dict[str, DatasetSpec] = {spec.name: spec for spec in (
    DatasetSpec("agnews", "agnews", "python converters/agnews.py --hf fancyzhx/ag_news --val-size 1000",
                fixtures.agnews),
    DatasetSpec("yelp5", "yelp",
                "python converters/yelp.py --hf Yelp/yelp_review_full --max-samples 8000 --val-size 500",
                fixtures.yelp5),
    DatasetSpec("afqmc", "afqmc", "python converters/afqmc.py --input afqmc_public/", fixtures.afqmc),
    DatasetSpec("arena", "arena", "python converters/arena.py --input llm-classification-finetuning/ --val-size 2000",
                fixtures.arena),
    DatasetSpec("tulu3_personas_if", "tulu",
                "python converters/tulu.py --hf allenai/tulu-3-sft-personas-instruction-following --val-size 3000",
                fixtures.tulu3_personas_if),
    DatasetSpec("ultrafeedback_dpo", "ultrafeedback",
                "python converters/ultrafeedback.py --hf HuggingFaceH4/ultrafeedback_binarized --val-size 1000",
                fixtures.ultrafeedback_dpo),
)}


def spec_for(name: str) -> DatasetSpec | None:
    """The spec of the conversion that writes dataset ``name`` (``X_val``, ``X_test``, ... come with ``X``)."""
    return DATASETS.get(dataset_base(name))


def hub_id(name: str) -> str | None:
    """The hub dataset dataset ``name`` is converted from (its command's ``--hf``), None for a local source."""
    spec = spec_for(name)
    words = spec.command.split() if spec else []
    return words[words.index("--hf") + 1] if "--hf" in words else None


def make_hint(name: str, data_dir: str | Path = "data") -> str:
    """How to make dataset ``name``: its conversion's command (into ``data_dir``), or the generic converter."""
    spec = spec_for(name)
    into = "" if Path(data_dir) == Path("data") else f" --data-dir {data_dir}"
    if spec is None:
        return f"convert it first (llm-recipes convert generic --input FILE --name {name}{into} ...)"
    return f"make it with: {spec.command}{into}"


def require_converted(data_dir: str | Path, names: list[str]) -> dict[str, Any]:
    """The data folder's registry once every name is registered and its local file is there; else one InputError
    naming the first that is not, with the command that makes it."""
    registry_path = Path(data_dir) / "dataset_info.json"
    registry = load_registry(registry_path)
    for name in names:
        entry = registry.get(name)
        if entry is None:
            problem = "is not registered"
        elif entry.get("file_name") and not (Path(data_dir) / entry["file_name"]).is_file():
            problem = f"is registered but {Path(data_dir) / entry['file_name']} is not there"
        else:
            continue
        raise InputError(f"dataset {name!r} {problem}: {make_hint(name, data_dir)}", str(registry_path))
    return registry


def converter_commands() -> dict[str, str]:
    """Dataset name -> the command that writes and registers it."""
    return {name: spec.command for name, spec in DATASETS.items()}


def make_fixture_dataset(name: str, raw: Path, data_dir: Path) -> None:
    """Write the raw fixture of dataset ``name`` under ``raw`` and run its converter into ``data_dir`` quietly."""
    spec = DATASETS[name]
    args = spec.fixture(raw / name)
    converter = importlib.import_module(f"recipekit.converters.{spec.converter}")
    with contextlib.redirect_stdout(io.StringIO()):
        converter.main([*args, "--data-dir", str(data_dir)])


# datasets whose original files may sit on this machine: environment variable, default folder, converter flags
# (the default folder is relative to the repository root)
LOCAL_SOURCES = {"agnews": ("AG_NEWS", "../shared/data/ag_news_csv", ["--val-size", "200"])}


def source_flags(name: str, hub_id: str) -> tuple[list[str], str]:
    """Where a dataset with a local copy is read from, and a line saying so: the folder its environment variable
    names; else the hub when it answers; else the local copy when it is here; else the hub (``datasets``' cache
    may hold it)."""
    variable, default, _ = LOCAL_SOURCES[name]
    if os.environ.get(variable):
        return ["--input", os.environ[variable]], f"reading {name} from {os.environ[variable]} ({variable})"
    if hub_reachable():
        return ["--hf", hub_id], f"reading {name} from the hub ({hub_id})"
    folder = root() / default
    if folder.is_dir():
        return ["--input", str(folder)], f"the hub does not answer: reading {name} from the local copy {folder}"
    return ["--hf", hub_id], f"the hub does not answer and there is no local copy: trying {hub_id} from datasets' cache"


def tiny_source_flags(name: str, raw: Path, write: bool = True) -> list[str]:
    """Converter flags for a tiny run: the dataset's original files when they are here, else its fixture
    (written under ``raw`` unless ``write`` is false, as in a dry run)."""
    if name not in DATASETS:
        raise InputError(f"no raw fixture for dataset {name!r} (known: {', '.join(DATASETS)})")
    local = LOCAL_SOURCES.get(name)
    if local:
        folder = Path(os.environ.get(local[0]) or root() / local[1])
        if folder.is_dir():
            return ["--input", str(folder), *local[2]]
    return fixture_flags(name, raw, write)


def fixture_flags(name: str, raw: Path, write: bool = True) -> list[str]:
    """Write the dataset's raw fixture under ``raw`` (files already equal are left alone, so a re-run sees
    unchanged inputs) and return its converter flags."""
    with tempfile.TemporaryDirectory() as scratch:
        flags = DATASETS[name].fixture(Path(scratch) / name)
        for made in Path(scratch).rglob("*"):
            target = raw / made.relative_to(scratch)
            if write and made.is_file() and not (target.is_file() and filecmp.cmp(made, target, shallow=False)):
                target.parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(made, target)
    return [flag.replace(scratch, str(raw)) for flag in flags]
