"""A recipe read by its own parser into typed arguments, once: LLaMA-Factory's ``HfArgumentParser`` over its
argument classes for a LLaMA-Factory recipe, the classifier's for a classification-head recipe.

Every value a consumer needs (``cutoff_len``, ``max_new_tokens``, batch sizes, precision, ...) comes from these
objects, so a key the recipe leaves out has the trainer's own default, never a default kept here. On a machine
without CUDA, transformers refuses bf16/fp16 (not the recipe's fault): they are parsed as off and set back to
the recipe's values afterwards, so a plan made on a CPU still sees the recipe's precision; ``deepspeed`` is
held back the same way.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import importlib.util
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from recipekit.errors import InputError

MIXED_PRECISION_KEYS = ("bf16", "fp16", "pure_bf16")
# parsed as unset and set back afterwards: TrainingArguments would set up DeepSpeed for the whole process
# (ZeRO-3's global switch, accelerate's environment), which a plan or a check must not do
HELD_KEYS = ("deepspeed",)
LLAMAFACTORY = "LLaMA-Factory's parser"
CLASSIFIER = "the classifier's parser"


def refusal(message: str, parser: str) -> str:
    """One line for a parser's refusal: the unknown keys named, or the parser's own words."""
    message = " ".join(message.split())
    if "not used by the HfArgumentParser" in message:
        unknown = message.split(":", 1)[1].strip()
        if parser == LLAMAFACTORY:
            return (f"unknown key(s) {unknown}: not LLaMA-Factory arguments (check the spelling; "
                    "`llamafactory-cli train -h` lists them)")
        return (f"unknown key(s) {unknown}: neither classifier settings nor TrainingArguments (check the "
                "spelling; scripts/train_classifier.py --help)")
    return f"{parser} refused it: {message}"


@contextlib.contextmanager
def quiet_transformers() -> Iterator[None]:
    """transformers' deprecation notes (``warmup_ratio is deprecated``) are about the trainer, not the recipe:
    not printed each time a recipe is read."""
    from transformers.utils import logging as hf_logging

    level = hf_logging.get_verbosity()
    hf_logging.set_verbosity_error()
    try:
        yield
    finally:
        hf_logging.set_verbosity(level)


def cuda_available() -> bool:
    import torch

    return torch.cuda.is_available()


def parse_llamafactory(values: dict[str, Any]) -> tuple[Any, ...]:
    """(ModelArguments, DataArguments, Seq2SeqTrainingArguments, FinetuningArguments, GeneratingArguments); an
    export recipe (``export_dir``) as ``llamafactory-cli export`` reads it: (ModelArguments, DataArguments,
    FinetuningArguments, GeneratingArguments)."""
    from llamafactory.hparams.parser import _parse_infer_args, _parse_train_args

    return tuple((_parse_infer_args if is_export(values) else _parse_train_args)(values))


def is_export(values: dict[str, Any]) -> bool:
    """An export recipe: it merges an adapter into its base and saves the model (``export_dir``); it trains
    nothing and has no ``output_dir``."""
    return bool(values.get("export_dir"))


def parse_classifier(values: dict[str, Any]) -> tuple[Any, ...]:
    """(ClassifierArguments, TrainingArguments)."""
    from recipekit.recipes.classifier import parse_values

    return parse_values(values)


def parse_arguments(values: dict[str, Any], classifier: bool, where: str, explain: bool = True) -> tuple[Any, ...]:
    """``values`` read by the recipe's parser; a refusal is one InputError naming ``where`` (``explain``: in the
    checks' words, else the parser's own)."""
    given, values = values, dict(values)
    if classifier and not values.get("output_dir"):
        raise InputError("missing output_dir", where)
    held = {key: values.pop(key) for key in HELD_KEYS if key in values}
    if not cuda_available():
        held.update({key: values.pop(key) for key in MIXED_PRECISION_KEYS if key in values})
    output_dir = values.get("output_dir")
    parser = CLASSIFIER if classifier else LLAMAFACTORY
    with tempfile.TemporaryDirectory() as scratch, quiet_transformers():
        if not is_export(values):
            values["output_dir"] = scratch  # parsing never touches the recipe's own folders
        try:
            groups = (parse_classifier if classifier else parse_llamafactory)(values)
        except (InputError, ValueError, TypeError) as exc:
            raise InputError(refusal(str(exc), parser) if explain else str(exc), where) from None
    problem = wrong_type(given, groups)
    if problem:
        raise InputError(f"{parser} would take {problem}", where)
    for group in groups:
        names = {f.name for f in dataclasses.fields(group)}
        if "output_dir" in names:
            group.output_dir = output_dir
        for key, value in held.items():
            if key in names:
                setattr(group, key, value)
    return groups


TRUE_FALSE = ("true", "false", "1", "0", "yes", "no", "on", "off")


def wrong_type(values: dict[str, Any], groups: tuple[Any, ...]) -> str | None:
    """A value given as text to a numeric or true/false field that is neither (``learning_rate=abc`` from a
    command line or a sweep): the dataclasses take it as it is and training fails later, in the optimizer."""
    for group in groups:
        for spec in dataclasses.fields(group):
            value, default = values.get(spec.name), spec.default
            if not isinstance(value, str) or default is dataclasses.MISSING:
                continue
            if isinstance(default, bool):
                if value.strip().lower() not in TRUE_FALSE:
                    return f"{spec.name}={value!r}, which is not true or false"
            elif isinstance(default, (int, float)):
                try:
                    float(value)
                except ValueError:
                    return f"{spec.name}={value!r}, which is not a number"
    return None


ABSENT = object()
# stages whose sets are preference pairs: LLaMA-Factory's dpo and rm load their data as stage rm, which takes
# only ranking sets (data/loader.py); every other stage refuses them
PAIRED_STAGES = ("dpo", "rm")
# LLaMA-Factory's argument modules that import only dataclasses (the package itself loads transformers)
LIGHT_MODULES = ("finetuning_args", "data_args")
# fields that neither the argument classes' __post_init__ nor LLaMA-Factory's parser derive from other values (as
# lora_alpha is from lora_rank): a recipe that leaves one out has the field's declared default
PLAIN_FIELDS = ("stage", "finetuning_type", "template", "cutoff_len", "dataset_dir", "lora_rank")


@functools.cache
def field_defaults(classifier: bool) -> dict[str, Any]:
    """The declared defaults of ``PLAIN_FIELDS``, read without loading the trainer: from the classifier's
    ClassifierArguments, or LLaMA-Factory's FinetuningArguments and DataArguments (loaded from their own files)."""
    if classifier:
        from recipekit.recipes.classifier import ClassifierArguments

        classes: list[Any] = [ClassifierArguments]
    else:
        found = importlib.util.find_spec("llamafactory")
        folder = Path(str(found.origin if found else "")).parent / "hparams"
        classes = []
        for name in LIGHT_MODULES:
            spec = importlib.util.spec_from_file_location(f"llamafactory_{name}", folder / f"{name}.py")
            module = importlib.util.module_from_spec(spec)  # type: ignore[arg-type]
            spec.loader.exec_module(module)  # type: ignore[union-attr]
            classes += [value for value in vars(module).values()
                        if dataclasses.is_dataclass(value) and value.__module__ == module.__name__]
    return {spec.name: spec.default for cls in classes for spec in dataclasses.fields(cls)
            if spec.name in PLAIN_FIELDS and spec.default is not dataclasses.MISSING}


def setting(groups: tuple[Any, ...], key: str, absent: Any = ABSENT) -> Any:
    """``key``'s value in the first argument class that has the field; ``absent`` when none has it (else
    KeyError)."""
    for group in groups:
        if key in {f.name for f in dataclasses.fields(group)}:
            return getattr(group, key)
    if absent is ABSENT:
        raise KeyError(key)
    return absent


def names_of(value: Any) -> list[str]:
    """A list setting as names: LLaMA-Factory splits ``dataset: a,b`` into a list; the classifier keeps text."""
    items = value if isinstance(value, (list, tuple)) else str(value or "").split(",")
    return [str(item).strip() for item in items if str(item).strip()]


def parse_overrides(pairs: list[str], where: str | None = None) -> dict[str, Any]:
    """``KEY=VALUE`` overrides of a recipe, read by ``OmegaConf.from_cli`` as LLaMA-Factory reads its command line
    (``max_steps=2`` is an int, ``do_train=false`` is false)."""
    from omegaconf import OmegaConf
    from omegaconf.errors import OmegaConfBaseException
    from yaml import YAMLError

    for pair in pairs:
        key, sep, _ = pair.partition("=")
        if not sep or not key:
            raise InputError(f"expected KEY=VALUE after the recipe, got {pair!r}", where)
    try:
        return OmegaConf.to_container(OmegaConf.from_cli(list(pairs)))  # type: ignore[return-value]
    except (OmegaConfBaseException, YAMLError) as exc:
        said = " ".join(str(exc).split())
        raise InputError(f"KEY=VALUE overrides {' '.join(pairs)!r}: LLaMA-Factory's command line cannot read them "
                         f"({said})", where) from None


def lora_targets(model: Any, setting: str, head: list[str]) -> list[str]:
    """LLaMA-Factory's ``lora_target``: ``all`` = the names of every linear layer outside the ``head`` modules;
    else the comma-separated names."""
    import torch

    if setting.strip() != "all":
        return [name.strip() for name in setting.split(",") if name.strip()]
    names = set()
    for name, module in model.named_modules():
        if isinstance(module, torch.nn.Linear) and not any(name == h or name.startswith(h + ".") for h in head):
            names.add(name.rsplit(".", 1)[-1])
    return sorted(names)
