"""Rows and model for label scoring, loaded the way LLaMA-Factory's `do_predict` loads them.

LLaMA-Factory parses the arguments, loads the tokenizer, template and model (adapters merged,
quantisation as asked) and its dataset loader, aligner and generation-time processor encode each
row's prompt: the very prompt ids `predict_with_generate` would see.
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from recipekit.data.dataset_info import alpaca_entry, load_registry, sharegpt_entry
from recipekit.errors import InputError
from recipekit.eval.label_scoring import Candidates, check_model_path, normalise, score_prompts
from recipekit.files import read_jsonl

DATA_NAME = "score_labels_input"


@dataclass
class Example:
    """One row to score: its prompt tokens, its gold answer and the source fields it keeps."""

    prompt_ids: list[int]
    gold: str
    keep: dict[str, Any]


@dataclass
class Loaded:
    """What LLaMA-Factory loaded: model, tokenizer, template, and the rows to score."""

    model: Any
    tokenizer: Any
    template: Any
    examples: list[Example]
    skipped: Counter[str]
    source: str
    batch_size: int  # prompts per forward pass: per_device_eval_batch_size as LLaMA-Factory read it


def entry_for_file(path: Path) -> dict[str, Any]:
    """The registry entry of a local file: ShareGPT when rows hold messages/conversations, else Alpaca."""
    for _, row in read_jsonl(path):
        if "messages" in row:
            return sharegpt_entry("messages")
        if "conversations" in row:
            return {"formatting": "sharegpt", "columns": {"messages": "conversations"}}
        return alpaca_entry()
    raise InputError("empty file: no rows", str(path))


def source_rows(dataset_dir: Path, name: str) -> list[dict[str, Any]] | None:
    """The registered dataset's raw rows when it is one local JSON-lines file (to keep id/fold fields)."""
    entry = load_registry(dataset_dir / "dataset_info.json").get(name, {})
    if entry.get("num_samples"):  # LLaMA-Factory samples rows: their order is not the file's
        return None
    file_name = entry.get("file_name")
    path = dataset_dir / file_name if file_name else None
    if path is None or not path.is_file() or path.suffix not in (".jsonl", ".json"):
        return None
    try:
        return [row for _, row in read_jsonl(path)]
    except InputError:  # a JSON array file: LLaMA-Factory reads it, we keep no fields
        return None


@dataclass(frozen=True)
class ScoringSource:
    """What to load for label scoring: the model (and adapter), its template, and the rows (a registered
    dataset or a JSONL file), with LLaMA-Factory's cutoff, batch and sampling settings (None: its default)."""

    model: str
    template: str
    dataset_dir: str  # the recipe's, else LLaMA-Factory's default (the command fills it)
    dataset: str | None = None
    data: str | None = None
    adapter: str | None = None
    cutoff_len: int | None = None
    batch_size: int | None = None
    max_samples: int | None = None
    quantization_bit: int | None = None
    keep: str = "id,fold,swapped"


def quantization_runs_here() -> bool:
    """Whether a 4/8-bit load can run on this machine: bitsandbytes installed and a CUDA GPU."""
    import importlib.util

    import torch

    # pragma: no mutate start (True only on a GPU machine with bitsandbytes: the refusal is tested, not this probe)
    return torch.cuda.is_available() and importlib.util.find_spec("bitsandbytes") is not None
    # pragma: no mutate end


def load_for_scoring(args: ScoringSource) -> Loaded:
    """Parse LLaMA-Factory's predict arguments, load tokenizer, template, model and encode every row."""
    import tempfile

    check_model_path(args.model)
    if args.quantization_bit is not None and not quantization_runs_here():
        raise InputError(f"quantization_bit {args.quantization_bit} needs bitsandbytes and a CUDA GPU; drop it to "
                         "score in full precision", args.model)
    with tempfile.TemporaryDirectory() as workdir:  # a --data file's scratch registry
        return load_in(args, Path(workdir))


def load_in(args: ScoringSource, workdir: Path) -> Loaded:
    from llamafactory.data import get_template_and_fix_tokenizer
    from llamafactory.data.loader import _get_dataset_processor, _get_merged_dataset
    from llamafactory.hparams import get_train_args
    from llamafactory.model import load_model, load_tokenizer

    dataset_dir, name = Path(args.dataset_dir), args.dataset
    if args.data:
        data = Path(args.data).resolve()
        if not data.is_file():
            raise InputError("no such file", str(data))
        dataset_dir, name = workdir / "data", DATA_NAME
        dataset_dir.mkdir()
        registry = {name: {"file_name": str(data), **entry_for_file(data)}}  # scratch, read by LLaMA-Factory now
        # in ASCII (escapes): LLaMA-Factory reads it in the locale's encoding, and the file's path may be any text
        (dataset_dir / "dataset_info.json").write_text(json.dumps(registry), encoding="ascii")
    elif name not in load_registry(dataset_dir / "dataset_info.json"):
        raise InputError(f"dataset {name!r} is not registered", str(dataset_dir / "dataset_info.json"))
    options: dict[str, Any] = {"model_name_or_path": args.model, "stage": "sft", "eval_dataset": name,
                               "dataset_dir": str(dataset_dir), "template": args.template}
    options |= {key: value for key, value in (
        ("adapter_name_or_path", args.adapter), ("max_samples", args.max_samples), ("cutoff_len", args.cutoff_len),
        ("quantization_bit", args.quantization_bit),  # pragma: no mutate (reached only with bitsandbytes and a GPU)
        ("per_device_eval_batch_size", args.batch_size)) if value is not None}
    model_args, data_args, training_args, finetuning_args, _ = get_train_args(options)
    tokenizer_module = load_tokenizer(model_args)
    tokenizer = tokenizer_module["tokenizer"]
    template = get_template_and_fix_tokenizer(tokenizer, data_args)
    aligned = _get_merged_dataset(data_args.eval_dataset, model_args, data_args, training_args, "sft")
    processor = _get_dataset_processor(data_args, "sft", template, tokenizer, tokenizer_module["processor"],
                                       do_generate=True)
    raw = source_rows(dataset_dir, name)
    if raw is not None and len(raw[:args.max_samples]) != len(aligned):
        raw = None  # rows do not pair with what LLaMA-Factory loaded: keep no fields rather than wrong ones
    keep = [key.strip() for key in args.keep.split(",") if key.strip()]
    examples, skipped = [], Counter()
    for index, row in enumerate(aligned):
        encoded = processor.preprocess_dataset({key: [value] for key, value in row.items()})
        if not encoded["input_ids"]:
            skipped["LLaMA-Factory drops it (prompt turns not user/assistant alternating)"] += 1
            continue
        response = row["_response"]
        gold = response[0]["content"] if len(response) == 1 else ""
        kept = {k: raw[index][k] for k in keep if k in raw[index]} if raw else {}
        examples.append(Example(encoded["input_ids"][0], gold, kept))
    model = load_model(tokenizer, model_args, finetuning_args)  # frozen, in eval mode, on LLaMA-Factory's device
    source = args.data or f"{dataset_dir}/dataset_info.json:{name}"
    return Loaded(model, tokenizer, template, examples, skipped, source, training_args.per_device_eval_batch_size)


def score_examples(loaded: Loaded, candidates: Candidates, progress: bool) -> Any:
    """Summed label log-probabilities ``[rows, labels]`` of every loaded example, ``loaded.batch_size`` at once."""
    pad_id = loaded.tokenizer.pad_token_id
    return score_prompts(loaded.model, [e.prompt_ids for e in loaded.examples], candidates.token_ids, pad_id,
                         loaded.batch_size, progress)


def result_rows(loaded: Loaded, labels: list[str], logprobs: Any) -> list[dict[str, Any]]:
    """One output row per example: prompt, predict, label, probs, logprobs and the kept fields."""
    probs = normalise(logprobs)
    prompts = loaded.tokenizer.batch_decode([e.prompt_ids for e in loaded.examples], skip_special_tokens=False)
    rows = []
    for example, prompt, row_logp, row_p in zip(loaded.examples, prompts, logprobs, probs, strict=True):
        rows.append({"prompt": prompt, "predict": labels[int(row_p.argmax())], "label": example.gold,
                     "probs": {label: float(p) for label, p in zip(labels, row_p, strict=True)},
                     "logprobs": {label: float(lp) for label, lp in zip(labels, row_logp, strict=True)},
                     **example.keep})
    return rows


