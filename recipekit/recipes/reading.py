"""Reading LLaMA-Factory recipes: the YAML, its comment header, and what the checks and smoke runs need."""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from recipekit.errors import InputError
from recipekit.files import load_yaml, read_utf8
from recipekit.paths import at_root, given
from recipekit.recipes.facts import Facts, recipe_facts

LAUNCH_LINE = re.compile(r"^#\s*Launch\b", re.I)
# local paths that a script (not a recipe) makes -> the command that makes them
MADE_BY_COMMANDS = {
    "outputs/demo/tiny_model": "make demo (scripts/run_demo.py runs scripts/make_tiny_model.py)",
}


@dataclass
class Recipe:
    """One recipe file: its arguments, its header lines and (``facts()``) what it stands for.

    ``args`` is the YAML as written; ``parsed()`` is the same read once by the recipe's own parser
    (LLaMA-Factory's argument classes, or the classifier's), and ``setting(key)`` a value as the trainer sees
    it: the recipe's own, else that parser's default.
    """

    path: Path
    args: dict[str, Any]
    header: list[str] = field(default_factory=list)
    classifier: bool | None = None  # None: a classifier recipe is one under recipes/classifier/
    _parsed: tuple[Any, ...] | None = field(default=None, repr=False, compare=False)
    _facts: Facts | None = field(default=None, repr=False, compare=False)

    def __post_init__(self) -> None:
        problem = unusable_value(self.args)
        if problem:
            raise InputError(problem, str(self.path))

    def parsed(self, explain: bool = True) -> tuple[Any, ...]:
        """LLaMA-Factory's (ModelArguments, DataArguments, TrainingArguments, FinetuningArguments,
        GeneratingArguments), or the classifier's (ClassifierArguments, TrainingArguments); a refusal is one
        InputError naming the recipe."""
        if self._parsed is None:
            from recipekit.recipes.arguments import parse_arguments

            self._parsed = parse_arguments(self.args, self.is_classifier, str(self.path), explain)
        return self._parsed

    def setting(self, key: str, *absent: Any) -> Any:
        """``key`` as the recipe's trainer reads it: the recipe's value, else its parser's default (``absent``,
        when given, for a key its parser does not have: the classifier has no ``stage``)."""
        from recipekit.recipes.arguments import setting

        return setting(self.parsed(), key, *absent)

    def with_values(self, values: dict[str, Any]) -> Recipe:
        """The same recipe with ``values`` set (a run's ``KEY=VALUE`` overrides)."""
        return Recipe(self.path, {**self.args, **values}, self.header, self.classifier) if values else self

    @property
    def is_export(self) -> bool:
        """An export recipe (``export_dir``): ``llm-recipes export`` merges its adapter into its base model."""
        from recipekit.recipes.arguments import is_export

        return is_export(self.args)

    def output_folder(self) -> str:
        """The folder its run writes: ``export_dir`` of an export recipe, else ``output_dir`` (no trailing slash)."""
        return str(self.args.get("export_dir" if self.is_export else "output_dir") or "").rstrip("/")

    @property
    def is_classifier(self) -> bool:
        """A classification-head recipe (``recipes/classifier/``, or any recipe given to
        ``llm-recipes train-classifier``)."""
        return self.path.parent.name == CLASSIFIER_FOLDER if self.classifier is None else self.classifier

    def data_dir(self) -> Path:
        """The folder of its ``dataset_info.json`` as LLaMA-Factory finds it: ``dataset_dir`` (the parser's
        default, ``data``, when left out), a relative one under the root (the working directory by default)."""
        try:
            folder = self.setting("dataset_dir", "data")
        except InputError:  # a recipe its parser refuses: the value as written (the refusal is reported on its own)
            folder = self.args.get("dataset_dir") or "data"
        return at_root(str(folder))

    def datasets(self) -> list[str]:
        """Every dataset name in ``dataset``, ``eval_dataset`` and ``predict_dataset``."""
        names = []
        for key in ("dataset", "eval_dataset", "predict_dataset"):
            value = self.args.get(key)
            if value:
                names += [name.strip() for name in str(value).split(",") if name.strip()]
        return names

    def facts(self) -> Facts:
        """The report it reproduces, that report's settings, hardware, global batch, target and the differences
        (from the chain file its header names, or its own header); a missing entry is one InputError."""
        if self._facts is None:
            self._facts = recipe_facts(self.path, self.header)
        return self._facts

    def launch_line(self) -> str:
        """The first command line under 'Launch' in the header."""
        lines = self.header
        for index, line in enumerate(lines):
            if LAUNCH_LINE.match(line):
                for candidate in lines[index + 1:]:
                    text = candidate.lstrip("#").strip()
                    if "llamafactory-cli" in text:
                        return text
        return ""


# keys LLaMA-Factory's parser (and the classifier's) take at any value, and the values a run can use
WHOLE_AT_LEAST_ONE = ("per_device_train_batch_size", "per_device_eval_batch_size", "gradient_accumulation_steps",
                      "cutoff_len", "max_new_tokens", "max_samples", "lora_rank")


def number(value: Any) -> float | None:
    """A recipe value as a number (YAML may leave ``2e-5`` as text); None for one that is not a number (the
    parsers refuse those) or for true/false."""
    if isinstance(value, bool):
        return None
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


def unusable_value(args: dict[str, Any]) -> str | None:
    """What is wrong with a value no run can use although the parsers take it (a batch size of 0, a learning rate
    of nan, epochs <= 0, a warmup ratio above 1), naming the key; None when every value can be used."""
    numbers = {key: found for key, value in args.items() if (found := number(value)) is not None}

    def said(key: str) -> str:
        return f"{key} is {args[key]!r}"

    for key in WHOLE_AT_LEAST_ONE:
        if key in numbers and not (numbers[key] >= 1 and numbers[key].is_integer()):
            return f"{said(key)}: it must be a whole number, at least 1"
    for key in ("learning_rate", "num_train_epochs", "warmup_ratio", "warmup_steps"):
        if key in numbers and not math.isfinite(numbers[key]):
            return f"{said(key)}: it must be a finite number"
    trains = bool(args.get("do_train"))
    if trains and numbers.get("learning_rate", 1) <= 0:
        return f"{said('learning_rate')}: a training run needs a learning rate above 0"
    if trains and numbers.get("max_steps", -1) <= 0 and numbers.get("num_train_epochs", 1) <= 0:
        return f"{said('num_train_epochs')}: a training run without max_steps needs more than 0 epochs"
    if not 0 <= numbers.get("warmup_ratio", 0) <= 1:
        return f"{said('warmup_ratio')}: it must lie between 0 and 1"
    if numbers.get("warmup_steps", 0) < 0:
        return f"{said('warmup_steps')}: it must be 0 or more"
    return None


CLASSIFIER_FOLDER = "classifier"  # recipes/classifier/: classification-head recipes (llm-recipes train-classifier)
CHAIN_FOLDER = "reproduce"  # recipes/reproduce/: each report's chain of commands (scripts/reproduce.py)
NOT_LLAMAFACTORY = ("benchmarks", CLASSIFIER_FOLDER, CHAIN_FOLDER)  # folders of recipes/ not llamafactory-cli's


def recipe_files(folder: str | Path = "recipes") -> list[Path]:
    """Every LLaMA-Factory recipe under ``folder`` (the root's ``recipes/`` by default; sub-folders too; benchmark
    stage files left out), sorted."""
    root = at_root(folder)
    return sorted(p for p in root.glob("**/*.yaml") if not set(p.relative_to(root).parts[:-1]) & set(NOT_LLAMAFACTORY))


def classifier_recipe_files(folder: str | Path = "recipes") -> list[Path]:
    """Every classification-head recipe (``recipes/classifier/*.yaml``), sorted."""
    return sorted((at_root(folder) / CLASSIFIER_FOLDER).glob("*.yaml"))


def all_recipe_files(folder: str | Path = "recipes") -> list[Path]:
    """The LLaMA-Factory recipes, then the classifier recipes."""
    return recipe_files(folder) + classifier_recipe_files(folder)


def load_recipe(path: str | Path, classifier: bool | None = None) -> Recipe:
    """Parse a recipe's YAML (a mapping) and keep its leading comment block (``classifier``: read it as a
    classification-head recipe wherever it lies). A relative path is read as given, else under the root."""
    source = given(path)
    if not source.is_file():
        raise InputError("no such recipe", str(source))
    text = read_utf8(source)
    args = load_yaml(text, str(source))
    if not isinstance(args, dict):
        raise InputError("a recipe must be a YAML mapping of LLaMA-Factory arguments", str(source))
    header = []
    for line in text.splitlines():
        if not line.startswith("#"):
            break
        header.append(line)
    return Recipe(source, args, header, classifier)


def recipe_outputs(paths: list[Path]) -> dict[str, Path]:
    """``output_dir`` (an export recipe's ``export_dir``; no trailing slash) -> the recipe that writes it."""
    outputs = {}
    for path in paths:
        folder = load_recipe(path).output_folder()
        if folder:
            outputs[folder] = path
    return outputs


def producers(given: list[Path] | tuple[Path, ...] = ()) -> dict[str, Path]:
    """Who writes each local model path: the repository's recipes and the recipes ``given`` to the same command
    (these win: a user's train recipe makes the model its predict recipe loads)."""
    return {**recipe_outputs(all_recipe_files()), **recipe_outputs([Path(p) for p in given])}
