"""A recipe made small enough to really run on this CPU: a tiny model of its family, small data, few steps.

Kept: stage, fine-tuning type, LoRA settings and targets (the tiny Llama/Qwen2 model has the same projection
module names), DPO settings, early stopping, the DeepSpeed config. Swapped: the model, the data folder, the
output folder, steps, sequence length (at most 512), batch sizes (at most 2) and rows (16). Dropped with a
note where this machine can't run them: bf16/fp16 without CUDA, 4-bit quantisation without bitsandbytes.
``scripts/smoke_recipe.py`` and ``scripts/reproduce.py --tiny`` both make their runs here.
"""

from __future__ import annotations

import contextlib
import importlib.util
import io
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path
from typing import Any

from recipekit.errors import InputError
from recipekit.progress import working
from recipekit.recipes.reading import Recipe
from recipekit.recipes.tiny_model import TinyShape, save_tiny_model
from recipekit.steps import torchrun_env

TEMPLATE_TOKENS = {
    "qwen": ["<|im_start|>", "<|im_end|>", "<|endoftext|>"],
    "qwen3": ["<|im_start|>", "<|im_end|>", "<|endoftext|>", "<think>", "</think>"],
    "qwen3_nothink": ["<|im_start|>", "<|im_end|>", "<|endoftext|>", "<think>", "</think>"],
    "llama3": ["<|begin_of_text|>", "<|start_header_id|>", "<|end_header_id|>", "<|eot_id|>"],
}
MODEL_KEYS = ("model_name_or_path", "ref_model")
ADAPTER_KEYS = ("adapter_name_or_path", "ref_model_adapters")
MAX_CUTOFF = 512
TINY_ROWS = 16
ARCH_TAGS = (("qwen", "qwen2"), ("deberta", "deberta-v2"), ("bert", "bert"))  # model id substring -> tiny arch
QUANTIZATION_KEYS = ("quantization_bit", "quantization_method", "quantization_type", "double_quantization")
KEPT = ("stage", "finetuning_type", "lora_rank", "lora_alpha", "lora_dropout", "lora_target", "deepspeed", "pref_beta",
        "pref_loss", "pref_ftx", "load_best_model_at_end", "metric_for_best_model", "greater_is_better",
        "early_stopping_steps", "learning_rate", "lr_scheduler_type", "weight_decay", "template", "labels",
        "class_weights", "text_pair_separator")  # the method: never swapped in a tiny run
TINY_ENV = {"WANDB_MODE": "offline", "LLAMAFACTORY_VERBOSITY": "WARN"}
TINY_RANKS = 2  # a DeepSpeed recipe's tiny run: this many CPU ranks under torchrun


def tiny_family(recipe: Recipe) -> tuple[str, str]:
    """(tiny architecture, chat template): Qwen -> qwen2, BERT/MacBERT -> bert, DeBERTa -> deberta-v2, else llama;
    the recipe's template, else the tiny tokenizer's own: ``default`` (a recipe without one, a classifier's or an
    export's, gets the tiny model it always had)."""
    model = str(recipe.written("model_name_or_path")).lower()
    arch = next((arch for tag, arch in ARCH_TAGS if tag in model), "llama")
    return arch, str(recipe.template or "default")


def make_tiny_model(out: Path, arch: str, template: str, data_dir: Path, log: Path) -> Path:
    """A tiny model of ``arch`` with a tokenizer trained on ``data_dir``'s rows (made once: kept if present)."""
    if not (out / "config.json").exists():
        texts = sorted(str(p) for p in data_dir.glob("*.jsonl"))
        shape = TinyShape(arch, hidden=64, intermediate=128, layers=2, heads=4, max_positions=1024)
        extra = TEMPLATE_TOKENS.get(template, [])
        settings = {"texts": texts, "arch": arch, "vocab_size": 1024, **asdict(shape), "extra_special_tokens": extra}
        log.parent.mkdir(parents=True, exist_ok=True)
        said = io.StringIO()  # the libraries' lines (DeepSpeed's accelerator, the shard bar) go to the log
        with working(f"building a tiny {arch} model ({template} template)", indent="  "), \
                contextlib.redirect_stdout(said), contextlib.redirect_stderr(said):
            summary = save_tiny_model(texts, out, shape, 1024, extra, settings)
        log.write_text(said.getvalue() + summary + "\n", encoding="utf-8")
    return out


def tiny_args(recipe: Recipe, data_dir: Path, output_dir: Path, steps: int,
              made_elsewhere: Callable[[str, str], str], notes: list[str]) -> dict[str, Any]:
    """The recipe's arguments for a tiny run. ``made_elsewhere(key, path)`` gives the tiny run's folder for a
    model or adapter path another recipe makes (or raises); hub ids become ``model``. Sizes are capped from the
    values the recipe's trainer would use (its parser's defaults for keys left out)."""
    value = recipe.setting
    a = recipe.written()
    for key in MODEL_KEYS + ADAPTER_KEYS:
        if key in a:
            a[key] = made_elsewhere(key, str(a[key]).rstrip("/"))
    if recipe.is_export:  # a merge: the tiny model and adapter, written to the run's folder
        a["export_dir"] = str(output_dir)
        runnable_here(a, notes)
        return a
    a.update(dataset_dir=str(data_dir), output_dir=str(output_dir))
    if not recipe.is_classifier:
        a.update(overwrite_output_dir=True, overwrite_cache=True)
    a["cutoff_len"] = min(int(value("cutoff_len")), MAX_CUTOFF)
    a.pop("preprocessing_num_workers", None)
    runnable_here(a, notes)
    if recipe.trains:
        a.update(max_steps=steps, per_device_train_batch_size=min(int(value("per_device_train_batch_size")), 2),
                 gradient_accumulation_steps=min(int(value("gradient_accumulation_steps")), 2),
                 logging_steps=1, save_steps=steps)
        if value("eval_strategy") != "no":
            a.update(eval_strategy="steps", eval_steps=steps, per_device_eval_batch_size=2)
            if value("save_strategy") != "no":
                a["save_strategy"] = "steps"
    if recipe.predicts and not recipe.is_classifier:
        a.update(per_device_eval_batch_size=2, max_new_tokens=min(int(value("max_new_tokens")), 8))
    a["max_samples"] = TINY_ROWS
    return a


def runnable_here(a: dict[str, Any], notes: list[str]) -> None:
    """Drop from arguments ``a`` (in place, each with a note) what this machine cannot run: flash-attn kernels
    where the package or CUDA is missing, half precision without CUDA, 4-bit without bitsandbytes and a GPU."""
    import torch

    cuda = torch.cuda.is_available()
    if a.get("flash_attn") not in (None, "auto", "disabled") and not (cuda and has_module("flash_attn")):
        notes.append(f"flash_attn {a['flash_attn']} -> auto (no flash-attn kernels here)")
        a["flash_attn"] = "auto"
    if not cuda:
        for key in ("bf16", "fp16", "pure_bf16"):
            if a.pop(key, None):
                notes.append(f"{key} dropped: this machine has no CUDA")
    if a.get("quantization_bit") and not (cuda and has_module("bitsandbytes")):
        for key in QUANTIZATION_KEYS:
            a.pop(key, None)
        notes.append("4-bit quantisation dropped: bitsandbytes with a GPU is not available here (LoRA kept)")


def hub_or_made(model: Path, made_by: dict[str, Path], tiny_output: Callable[[Path], Path],
                recipe: Recipe) -> Callable[[str, str], str]:
    """``made_elsewhere`` for ``tiny_args``: another recipe's output -> its tiny run folder, a hub id -> the tiny
    model, an adapter nobody makes -> a one-line error naming the recipe."""

    def resolve(key: str, value: str) -> str:
        producer = made_by.get(value)
        if producer is not None:
            return str(tiny_output(producer))
        if key in MODEL_KEYS:
            return str(model)
        raise InputError(f"{key} {value} is not made by any recipe", str(recipe.path))

    return resolve


def sample_dataset(name: str, data_dir: Path, out: Path, rows: int = TINY_ROWS, seed: int = 0) -> None:
    """A seeded sample of ``rows`` rows of dataset ``name`` registered in ``data_dir``, written as
    ``out/NAME.jsonl`` and registered in ``out/dataset_info.json`` with the same entry (read with the ``datasets``
    builder LLaMA-Factory uses for the file's type); a set not registered or not on disk is one InputError."""
    import datasets
    from llamafactory.extras.constants import FILEEXT2TYPE

    from recipekit.data.dataset_info import load_registry, upsert_dataset_entry

    registry_path = data_dir / "dataset_info.json"
    entry = load_registry(registry_path).get(name)
    if entry is None:
        raise InputError(f"dataset {name!r} is not registered (no smoke fixture makes it either)", str(registry_path))
    if not entry.get("file_name"):
        raise InputError(f"dataset {name!r} is not a local file: a smoke run samples local files only",
                         str(registry_path))
    source = data_dir / str(entry["file_name"])
    files = sorted(p for p in source.iterdir() if p.is_file()) if source.is_dir() else [source]
    if not source.exists() or not files:
        raise InputError(f"dataset {name!r} is registered but {source} is not there", str(registry_path))
    builder = FILEEXT2TYPE.get(files[0].suffix.lstrip("."))
    if builder is None:
        raise InputError(f"dataset {name!r}: LLaMA-Factory reads {', '.join(FILEEXT2TYPE)} files, not "
                         f"{files[0].suffix or 'files without an extension'}", str(files[0]))
    datasets.disable_progress_bars()
    try:
        loaded = datasets.load_dataset(builder, data_files=[str(f) for f in files], split="train")
    except Exception as exc:  # the datasets library's own words on a file it cannot read
        raise InputError(f"dataset {name!r} cannot be read: {' '.join(str(exc).split())}", str(source)) from None
    sample = loaded.shuffle(seed=seed).select(range(min(rows, len(loaded))))
    out.mkdir(parents=True, exist_ok=True)
    sample.to_json(out / f"{name}.jsonl", lines=True, force_ascii=False)
    upsert_dataset_entry(out / "dataset_info.json", name, {**entry, "file_name": f"{name}.jsonl"})


def launch_env(recipe: Recipe) -> dict[str, str]:
    """Environment of a tiny run: wandb offline, and DeepSpeed recipes on 2 CPU ranks."""
    return {**TINY_ENV, **(torchrun_env(TINY_RANKS) if recipe.deepspeed else {})}


def has_module(name: str) -> bool:
    return importlib.util.find_spec(name) is not None
