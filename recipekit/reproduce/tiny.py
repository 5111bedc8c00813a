"""A chain's tiny run on this CPU: raw data in the real format (AG News from a local copy of the original CSV
when one is there), tiny copies of the recipes, written just before the step that runs them."""

from __future__ import annotations

import os
from pathlib import Path

import yaml

from converters.catalog import DATASETS
from recipekit.errors import InputError
from recipekit.recipes.reading import load_recipe
from recipekit.recipes.tiny_run import MODEL_KEYS, ROOT, make_tiny_model, tiny_args, tiny_family
from recipekit.reproduce.chain import RELOCATED, Layout, Step

TINY_STEPS = 2
# datasets whose original files may sit on this machine: env variable, default folder, converter flags
LOCAL_SOURCES = {"agnews": ("AG_NEWS", ROOT.parent / "shared" / "data" / "ag_news_csv", ["--val-size", "200"])}


def source_flags(dataset: str, raw: Path) -> list[str]:
    """Converter flags reading the dataset's original files when they are here, else a fixture in its format."""
    if dataset not in DATASETS:
        raise InputError(f"no raw fixture for dataset {dataset!r} (known: {', '.join(DATASETS)})")
    local = LOCAL_SOURCES.get(dataset)
    if local:
        folder = Path(os.environ.get(local[0]) or local[1])
        if folder.is_dir():
            return ["--input", str(folder), *local[2]]
    return fixture_flags(dataset, raw)


def fixture_flags(dataset: str, raw: Path) -> list[str]:
    """Write the dataset's raw fixture under ``raw`` (files already equal are left alone, so a re-run sees
    unchanged inputs) and return its converter flags."""
    import filecmp
    import shutil
    import tempfile

    with tempfile.TemporaryDirectory() as scratch:
        flags = DATASETS[dataset].fixture(Path(scratch) / dataset)
        for made in Path(scratch).rglob("*"):
            target = raw / made.relative_to(scratch)
            if made.is_file() and not (target.is_file() and filecmp.cmp(made, target, shallow=False)):
                target.parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(made, target)
    return [flag.replace(scratch, str(raw)) for flag in flags]


def prepare(step: Step, layout: Layout, notes: list[str]) -> None:
    """Write the tiny copy of the recipe a step runs (unchanged text keeps its time, so a re-run can skip)."""
    if not (layout.tiny and step.recipe and step.source_recipe):
        return
    recipe = load_recipe(ROOT / step.source_recipe)
    out = ROOT / layout.out
    data = out / "data"
    arch, template = tiny_family(recipe)
    model = make_tiny_model(out / "models" / f"{arch}_{template}", arch, template, data,
                            out / "logs" / f"tiny_model_{arch}_{template}.log")

    def made_elsewhere(key: str, value: str) -> str:
        if value.split("/", 1)[0] in RELOCATED:
            return layout.relocate(value)
        if key in MODEL_KEYS:
            return str(model)
        raise InputError(f"{key} {value}: a tiny run needs it made by a step of the chain", str(recipe.path))

    args = tiny_args(recipe, Path(layout.relocate(str(recipe.args.get("dataset_dir", "data")))),
                     Path(layout.relocate(str(recipe.args.get("output_dir", "saves/run")))), TINY_STEPS,
                     made_elsewhere, notes)
    text = yaml.safe_dump(args, sort_keys=False)
    target = ROOT / step.recipe
    if not target.is_file() or target.read_text(encoding="utf-8") != text:
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text, encoding="utf-8")
