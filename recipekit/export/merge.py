"""Merging a trained LoRA or QLoRA adapter into its base model.

An adapter LLaMA-Factory trained is merged by LLaMA-Factory's own export (``llamafactory-cli export``: its
loader, template and ``export_size`` shards); a sequence-classification adapter of ``llm-recipes
train-classifier`` by peft's ``merge_and_unload`` onto the base model with the run's label head. A QLoRA
adapter merges onto the unquantised base, as LLaMA-Factory's merge examples say: a 4-bit base cannot take a
merge, so an export recipe names the base without ``quantization_bit``.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from recipekit.errors import InputError, exception_line
from recipekit.recipes.arguments import quiet_transformers
from recipekit.recipes.reading import Recipe
from recipekit.report.provenance import ADAPTER_CONFIG, ADAPTER_WEIGHTS

CLASSIFIER_RUN = "classifier_run.json"  # written by train-classifier beside its adapter: the labels in order
SEQUENCE_CLASSIFIER = "SEQ_CLS"


def adapters(recipe: Recipe) -> list[Path]:
    """The adapter folders an export recipe merges, each holding a trained adapter (else one line naming it)."""
    folders = [Path(name) for name in recipe.adapters()]
    if not folders:
        raise InputError("an export recipe merges an adapter: set adapter_name_or_path (the training run's "
                         "output_dir)", str(recipe.path))
    for folder in folders:
        if not (folder / ADAPTER_CONFIG).is_file():
            raise InputError(f"no trained adapter here ({ADAPTER_CONFIG} missing): train it first", str(folder))
        if not any((folder / name).is_file() for name in ADAPTER_WEIGHTS):
            raise InputError(f"{ADAPTER_CONFIG} without the adapter's weights ({' or '.join(ADAPTER_WEIGHTS)}): its "
                             "training did not finish saving it", str(folder))
    return folders


def adapter_task(folder: Path) -> str:
    """peft's task type of a saved adapter (``CAUSAL_LM``, ``SEQ_CLS``, ...)."""
    return str(json.loads((folder / ADAPTER_CONFIG).read_text(encoding="utf-8")).get("task_type") or "")


def adapter_modules(folder: Path) -> set[str]:
    """The modules a saved adapter carries whole (peft's ``modules_to_save``: a classifier's head)."""
    config = json.loads((folder / ADAPTER_CONFIG).read_text(encoding="utf-8"))
    return set(config.get("modules_to_save") or [])


def is_classifier_adapter(folder: Path) -> bool:
    return adapter_task(folder) == SEQUENCE_CLASSIFIER


def merge(recipe: Recipe, target: Path) -> str:
    """Merge the recipe's adapter(s) into its base model and save the result in ``target`` (a new folder);
    returns the kind of model written: ``text-classification`` or ``text-generation``."""
    problem = recipe.merge_problem()
    if problem:
        raise InputError(problem, str(recipe.path))
    folders = adapters(recipe)
    if any(map(is_classifier_adapter, folders)):
        if len(folders) != 1:
            raise InputError("a classifier's export merges one adapter", str(recipe.path))
        merge_classifier(recipe, folders[0], target)
        return "text-classification"
    merge_llamafactory(recipe, target)
    return "text-generation"


def merge_llamafactory(recipe: Recipe, target: Path) -> None:
    """LLaMA-Factory's export with ``export_dir`` pointed at ``target``."""
    from llamafactory.train.tuner import export_model

    try:
        export_model({**recipe.written(), "export_dir": str(target)})
    except (ValueError, OSError) as exc:
        raise InputError(f"LLaMA-Factory's export refused it: {' '.join(str(exc).split())}",
                         str(recipe.path)) from None


def classifier_labels(folder: Path) -> list[str]:
    """The labels, in head order, of the classifier run that saved ``folder``."""
    path = folder / CLASSIFIER_RUN
    if not path.is_file():
        raise InputError(f"a classifier adapter without {CLASSIFIER_RUN}: its labels are unknown", str(folder))
    labels = json.loads(path.read_text(encoding="utf-8")).get("labels")
    if not isinstance(labels, list) or not labels:
        raise InputError("labels: missing (the run's labels in head order)", str(path))
    return [str(label) for label in labels]


def merge_classifier(recipe: Recipe, adapter: Path, target: Path) -> None:
    """The base model as a sequence classifier with the run's labels, the adapter (LoRA and the head it trained
    whole) merged in by peft, saved in ``export_size`` GB shards with the run's tokenizer."""
    import torch
    from peft import PeftModel
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    model_args = recipe.parsed()[0]
    labels = classifier_labels(adapter)
    has_tokenizer = any((adapter / name).is_file() for name in ("tokenizer.json", "tokenizer_config.json"))
    tokenizer = AutoTokenizer.from_pretrained(str(adapter) if has_tokenizer else model_args.model_name_or_path)
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    try:
        with quiet_transformers():  # its load report lists the new head as MISSING: the adapter's head comes next
            base, loading = AutoModelForSequenceClassification.from_pretrained(
                model_args.model_name_or_path, num_labels=len(labels), id2label=dict(enumerate(labels)),
                label2id={label: i for i, label in enumerate(labels)}, pad_token_id=tokenizer.pad_token_id,
                output_loading_info=True)
        saved = adapter_modules(adapter)
        new = sorted(key for key in loading["missing_keys"] if not any(f".{name}." in f".{key}" for name in saved))
        if new:
            print(f"warning: {', '.join(new)} of the merged model: not in {model_args.model_name_or_path} nor in "
                  "the adapter, so newly initialized (random)", file=sys.stderr)
        model: Any = PeftModel.from_pretrained(base, str(adapter)).merge_and_unload()
    except (OSError, ValueError, RuntimeError) as exc:
        raise InputError(f"cannot merge the adapter: {exception_line(exc)}", str(adapter)) from None
    if model_args.infer_dtype != "auto":
        model = model.to(getattr(torch, model_args.infer_dtype))
    model.save_pretrained(str(target), max_shard_size=f"{model_args.export_size}GB")
    tokenizer.save_pretrained(str(target))
