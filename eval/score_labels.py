"""Score every candidate label of a classification set with a model or adapter: probabilities, not generations.

Each prompt is built by LLaMA-Factory's own data pipeline and template (as `do_predict` builds it), the
model is loaded by LLaMA-Factory (adapters merged, quantisation as asked), and the log-probability of
every label's answer tokens is summed: one pass over the prompt, then all labels' remaining tokens from
its key/value cache, in batches. Writes JSONL rows with prompt, predict (the most likely label), label
(the gold answer), probs (normalised over the labels) and logprobs, plus id/fold fields of the source
rows: a file eval/classify_report.py and eval/calibrate.py read directly.

Example:
    python eval/score_labels.py --model outputs/demo/sft --template default --dataset agnews_val \\
        --labels "1: World,2: Sports,3: Business,4: Sci/Tech" --out outputs/demo/scores/label_scores.jsonl
    python eval/score_labels.py --recipe recipes/afqmc_predict.yaml --dataset afqmc_val --labels 是,否
    python eval/score_labels.py --model Qwen/Qwen2.5-1.5B-Instruct --adapter saves/arena_lora \\
        --template qwen --data data/arena_test.jsonl --labels A,B,tie --batch-size 8
"""

from __future__ import annotations

import argparse
import contextlib
import io
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from recipekit.cli import script_parser
from recipekit.errors import InputError, exit_on_input_error
from recipekit.files import read_jsonl, write_json, write_jsonl
from recipekit.label_scoring import END_TOKEN_MODES, Candidates, label_candidates, normalise, score_prompts
from recipekit.recipes import load_recipe
from recipekit.registry import alpaca_entry, load_registry, sharegpt_entry

DATA_NAME = "score_labels_input"
KEEP_DEFAULT = "id,fold,swapped"
# flag -> the predict recipe's key it defaults to with --recipe
RECIPE_KEYS = {"model": "model_name_or_path", "adapter": "adapter_name_or_path", "template": "template",
               "dataset": "eval_dataset", "dataset_dir": "dataset_dir", "cutoff_len": "cutoff_len",
               "quantization_bit": "quantization_bit", "batch_size": "per_device_eval_batch_size"}
DEFAULTS = {"dataset_dir": "data", "cutoff_len": 2048, "batch_size": 16}


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
    file_name = entry.get("file_name")
    path = dataset_dir / file_name if file_name else None
    if path is None or not path.is_file() or path.suffix not in (".jsonl", ".json"):
        return None
    try:
        return [row for _, row in read_jsonl(path)]
    except InputError:  # a JSON array file: LLaMA-Factory reads it, we keep no fields
        return None


def load_for_scoring(args: argparse.Namespace, workdir: Path) -> Loaded:
    """Parse LLaMA-Factory's predict arguments, load tokenizer, template, model and encode every row."""
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
        write_json(dataset_dir / "dataset_info.json", {name: {"file_name": str(data), **entry_for_file(data)}})
    elif name not in load_registry(dataset_dir / "dataset_info.json"):
        raise InputError(f"dataset {name!r} is not registered", str(dataset_dir / "dataset_info.json"))
    options: dict[str, Any] = {
        "model_name_or_path": args.model, "stage": "sft", "do_predict": True, "predict_with_generate": True,
        "finetuning_type": "lora" if args.adapter else "full", "eval_dataset": name,
        "dataset_dir": str(dataset_dir), "template": args.template, "cutoff_len": args.cutoff_len,
        "output_dir": str(workdir / "out"), "overwrite_cache": True, "report_to": "none",
        "per_device_eval_batch_size": args.batch_size,
    }
    options |= {key: value for key, value in (("adapter_name_or_path", args.adapter),
                                              ("quantization_bit", args.quantization_bit),
                                              ("max_samples", args.max_samples)) if value is not None}
    model_args, data_args, training_args, finetuning_args, _ = get_train_args(options)
    tokenizer_module = load_tokenizer(model_args)
    tokenizer = tokenizer_module["tokenizer"]
    template = get_template_and_fix_tokenizer(tokenizer, data_args)
    aligned = _get_merged_dataset(data_args.eval_dataset, model_args, data_args, training_args, "sft")
    processor = _get_dataset_processor(data_args, "sft", template, tokenizer, tokenizer_module["processor"],
                                       do_generate=True)
    raw = [row for _, row in read_jsonl(args.data)] if args.data else source_rows(dataset_dir, name)
    if raw is not None:
        raw = raw[: len(aligned)]
    keep = [key.strip() for key in args.keep.split(",") if key.strip()]
    examples, skipped = [], Counter()
    for index, row in enumerate(aligned):
        with contextlib.redirect_stdout(io.StringIO()):
            encoded = processor.preprocess_dataset({key: [value] for key, value in row.items()})
        if not encoded["input_ids"]:
            skipped["LLaMA-Factory drops it (prompt turns not user/assistant alternating)"] += 1
            continue
        response = row["_response"]
        gold = response[0]["content"] if len(response) == 1 else ""
        kept = {k: raw[index][k] for k in keep if k in raw[index]} if raw and len(raw) == len(aligned) else {}
        examples.append(Example(encoded["input_ids"][0], gold, kept))
    model = load_model(tokenizer, model_args, finetuning_args, is_trainable=False)
    if getattr(model, "hf_device_map", None) is None and args.quantization_bit is None:
        model.to(training_args.device)
    model.eval()
    source = args.data or f"{dataset_dir}/dataset_info.json:{name}"
    return Loaded(model, tokenizer, template, examples, skipped, source)


def choose_labels(text: str | None, examples: list[Example], source: str) -> list[str]:
    """--labels in its order, or the gold answers seen, sorted; every gold answer must be one of them."""
    seen = sorted({e.gold for e in examples if e.gold})
    labels = [part.strip() for part in text.split(",") if part.strip()] if text else seen
    if len(labels) < 2:
        raise InputError(f"need at least two labels, got {labels}; pass --labels A,B,...", source)
    allowed = set(labels)
    for index, example in enumerate(examples, start=1):
        if example.gold and example.gold not in allowed:
            raise InputError(f"row {index}: answer {example.gold!r} is not one of the labels {labels}", source)
    return labels


def score_examples(loaded: Loaded, candidates: Candidates, batch_size: int, progress: bool = True) -> Any:
    """Summed label log-probabilities ``[rows, labels]`` of every loaded example."""
    pad_id = loaded.tokenizer.pad_token_id
    return score_prompts(loaded.model, [e.prompt_ids for e in loaded.examples], candidates.token_ids, pad_id,
                         batch_size, progress)


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


def apply_recipe(args: argparse.Namespace) -> argparse.Namespace:
    """Fill flags left unset from --recipe's keys, then the defaults."""
    recipe = load_recipe(args.recipe).args if args.recipe else {}
    for flag, key in RECIPE_KEYS.items():
        if getattr(args, flag) is None and recipe.get(key) is not None:
            value = recipe[key]
            setattr(args, flag, str(value).split(",")[0].strip() if flag == "dataset" else value)
        if getattr(args, flag) is None and flag in DEFAULTS:
            setattr(args, flag, DEFAULTS[flag])
    if args.out is None:
        base = Path(recipe["output_dir"]) if recipe.get("output_dir") else Path("outputs/scores") / (
            args.dataset or Path(args.data or "data").stem)
        args.out = str(base / "label_scores.jsonl")
    missing = [flag for flag in ("model", "template") if getattr(args, flag) is None]
    if missing:
        raise InputError("missing " + ", ".join(f"--{m}" for m in missing) + " (or a --recipe that names it)")
    if bool(args.dataset) == bool(args.data):
        raise InputError("name exactly one of --dataset NAME and --data FILE")
    if args.batch_size < 1:
        raise InputError("--batch-size must be at least 1")
    return args


def build_parser() -> argparse.ArgumentParser:
    parser = script_parser(__doc__)
    parser.add_argument("--recipe", help="a predict recipe whose model, adapter, template, eval_dataset, cutoff_len, "
                                         "batch size and output_dir are the defaults")
    parser.add_argument("--model", help="model folder or hub id (model_name_or_path)")
    parser.add_argument("--adapter", help="LoRA adapter folder(s), comma-separated (adapter_name_or_path)")
    parser.add_argument("--template", help="LLaMA-Factory chat template the model was trained with")
    parser.add_argument("--dataset", help="dataset name registered in DATASET_DIR/dataset_info.json")
    parser.add_argument("--data", help="a JSONL file of Alpaca (instruction/input/output) or ShareGPT rows")
    parser.add_argument("--dataset-dir", help="folder holding dataset_info.json (default: data)")
    parser.add_argument("--labels", help="comma-separated candidate labels (default: the answers seen, sorted)")
    parser.add_argument("--out", help="output JSONL (default: the recipe's output_dir or outputs/scores/NAME, "
                                      "file label_scores.jsonl)")
    parser.add_argument("--batch-size", type=int, help="prompts per forward pass (default: 16)")
    parser.add_argument("--cutoff-len", type=int, help="LLaMA-Factory cutoff_len for the prompt (default: 2048)")
    parser.add_argument("--max-samples", type=int, help="score only the first N rows")
    parser.add_argument("--quantization-bit", type=int, choices=(4, 8), help="load the model in 4/8 bit (GPU)")
    parser.add_argument("--end-tokens", choices=END_TOKEN_MODES, default="auto",
                        help="score the template's end-of-answer tokens: auto = only when a label's tokens start "
                             "another label's (default: auto)")
    parser.add_argument("--keep", default=KEEP_DEFAULT,
                        help=f"source row fields copied into each output row (default: {KEEP_DEFAULT})")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    return parser


def summary_lines(rows: list[dict[str, Any]], loaded: Loaded, candidates: Candidates, seconds: float,
                  out: str) -> list[str]:
    tokens = ", ".join(f"{label!r} {ids}" for label, ids in zip(candidates.labels, candidates.token_ids, strict=True))
    lines = [f"scored {len(rows)} rows of {loaded.source} in {seconds:.2f} s "
             f"({len(rows) / max(seconds, 1e-9):.1f} rows/s) on {next(loaded.model.parameters()).device}",
             f"label tokens{' (with end tokens)' if candidates.with_end else ''}: {tokens}",
             "predicted: " + ", ".join(f"{k} {v}" for k, v in sorted(Counter(r["predict"] for r in rows).items()))]
    labeled = [r for r in rows if r["label"]]
    if labeled:
        accuracy = sum(r["predict"] == r["label"] for r in labeled) / len(labeled)
        lines.append(f"accuracy of the argmax on {len(labeled)} labeled rows: {accuracy:.4f}")
    lines += [f"skipped {n} row(s): {reason}" for reason, n in loaded.skipped.items()]
    lines.append(f"wrote {out}")
    return lines


@exit_on_input_error
def main(argv: list[str] | None = None) -> dict[str, Any]:
    args = apply_recipe(build_parser().parse_args(argv))
    with tempfile.TemporaryDirectory() as workdir:
        loaded = load_for_scoring(args, Path(workdir))
    if not loaded.examples:
        raise InputError("no rows to score", loaded.source)
    labels = choose_labels(args.labels, loaded.examples, loaded.source)
    candidates = label_candidates(loaded.template, loaded.tokenizer, labels, args.end_tokens)
    start = time.perf_counter()
    logprobs = score_examples(loaded, candidates, args.batch_size, not args.no_progress)
    seconds = time.perf_counter() - start
    rows = result_rows(loaded, labels, logprobs)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    write_jsonl(args.out, rows)
    print("\n".join(summary_lines(rows, loaded, candidates, seconds, args.out)))
    return {"rows": rows, "seconds": seconds, "candidates": candidates, "skipped": dict(loaded.skipped)}


if __name__ == "__main__":
    main()
