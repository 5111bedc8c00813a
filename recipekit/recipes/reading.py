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

DATASET_KEYS = ("dataset", "eval_dataset", "predict_dataset")
LAUNCH_LINE = re.compile(r"^#\s*Launch\b", re.I)
# local paths that a script (not a recipe) makes -> the command that makes them
MADE_BY_COMMANDS = {
    "outputs/demo/tiny_model": "make demo (scripts/run_demo.py runs scripts/make_tiny_model.py)",
}


@dataclass
class Recipe:
    """One recipe file: its arguments, its header lines and (``facts()``) what it stands for.

    ``args`` is the YAML as written (read through ``written``); ``parsed()`` is the same read once by the recipe's
    own parser (LLaMA-Factory's argument classes, or the classifier's), and ``setting(key)`` a value as the trainer
    sees it: the recipe's own, else that parser's default (``value(key)`` and the named properties skip the parse
    where the answer is known without it).
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

    def written(self, key: str | None = None, default: Any = None) -> Any:
        """``key`` as the file (and its overrides) writes it, ``default`` when left out; without ``key``, a copy of
        every value written. For comparing with a report's settings or naming what the file sets: a value a run
        uses is ``value(key)``."""
        return dict(self.args) if key is None else self.args.get(key, default)

    def value(self, key: str) -> Any:
        """``key`` as the file writes it, else as the trainer reads it: a plain field's declared default without a
        parse (``field_defaults``), any other ``setting(key)`` (None for a key its parser does not have)."""
        from recipekit.recipes.arguments import field_defaults

        if key in self.args:
            return self.args[key]
        defaults = field_defaults(self.is_classifier)
        return defaults[key] if key in defaults else self.setting(key, None)

    @property
    def stage(self) -> str | None:
        """LLaMA-Factory's training stage (``sft``, ``dpo``, ...); None for a classifier recipe (it has none)."""
        return None if self.is_classifier else str(self.value("stage"))

    @property
    def finetuning_type(self) -> str:
        """``full``, ``lora``, ... as its parser reads it."""
        return str(self.value("finetuning_type"))

    @property
    def saves_whole_model(self) -> bool:
        """Whether training saves the whole model (full and freeze tuning) rather than a peft adapter
        (``adapter_model.safetensors``: LoRA, OFT). Only a LoRA adapter is loaded back through
        ``adapter_name_or_path``: LLaMA-Factory refuses it under any other ``finetuning_type``."""
        return self.finetuning_type in ("full", "freeze")

    @property
    def template(self) -> str | None:
        """LLaMA-Factory's chat template (None: the tokenizer's own, as LLaMA-Factory does); None for a classifier."""
        return None if self.is_classifier else self.value("template")

    @property
    def trains(self) -> bool:
        """``do_train`` (off unless the file sets it, as in TrainingArguments)."""
        return bool(self.args.get("do_train"))

    @property
    def predicts(self) -> bool:
        """``do_predict`` (off unless the file sets it, as in TrainingArguments)."""
        return bool(self.args.get("do_predict"))

    @property
    def deepspeed(self) -> str | None:
        """The DeepSpeed config it names, None without one."""
        return self.args.get("deepspeed") or None

    def adapters(self) -> list[str]:
        """The adapter folders of ``adapter_name_or_path`` (comma-separated), none when unset."""
        from recipekit.recipes.arguments import names_of

        return names_of(self.args.get("adapter_name_or_path"))

    def merge_problem(self) -> str | None:
        """Why an export recipe cannot merge: an adapter into a 4-bit base; None when it can."""
        if self.args.get("quantization_bit") and self.adapters():
            return ("quantization_bit: an adapter cannot be merged into a quantised model; name the unquantised base "
                    "(drop quantization_bit), as LLaMA-Factory's merge examples do")
        return None

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
        default when left out), a relative one under the root (the working directory by default)."""
        return at_root(str(self.value("dataset_dir")))

    def datasets(self, *keys: str) -> list[str]:
        """Every dataset name in ``keys`` (default: ``dataset``, ``eval_dataset`` and ``predict_dataset``)."""
        from recipekit.recipes.arguments import names_of

        return [name for key in keys or DATASET_KEYS for name in names_of(self.args.get(key))]

    def facts(self) -> Facts:
        """The report it reproduces, that report's settings, hardware, global batch, target and the differences
        (from the chain file its header names, or its own header); a missing entry is one InputError."""
        if self._facts is None:
            self._facts = recipe_facts(self.path, self.header)
        return self._facts

    def launch_line(self) -> str:
        """The first command line under 'Launch' in the header (``llamafactory-cli`` or ``llm-recipes``)."""
        lines = self.header
        for index, line in enumerate(lines):
            if LAUNCH_LINE.match(line):
                for candidate in lines[index + 1:]:
                    text = candidate.lstrip("#").strip()
                    if "llamafactory-cli" in text or "llm-recipes" in text:
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
