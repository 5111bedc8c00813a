"""Score every candidate label of a classification set with a model or adapter: probabilities, not generations.

Each prompt is built by LLaMA-Factory's own data pipeline and template (as `do_predict` builds it), the
model is loaded by LLaMA-Factory (adapters merged, quantisation as asked), and the log-probability of
every label's answer tokens is summed: one pass over the prompt, then all labels' remaining tokens from
its key/value cache, in batches. Writes JSONL rows with prompt, predict (the most likely label), label
(the gold answer), probs (normalised over the labels) and logprobs, plus id/fold fields of the source
rows: a file eval/classify_report.py and eval/calibrate.py read directly.

Example:
    llm-recipes score --model outputs/demo/sft --template default --dataset agnews_val \\
        --labels "1: World,2: Sports,3: Business,4: Sci/Tech" --out outputs/demo/scores/label_scores.jsonl
    llm-recipes score --recipe recipes/afqmc_predict.yaml --dataset afqmc_val --labels 是,否
    llm-recipes score --model Qwen/Qwen2.5-1.5B-Instruct --adapter saves/arena_lora \\
        --template qwen --data data/arena_test.jsonl --labels A,B,tie --batch-size 8
"""

from __future__ import annotations

import argparse
import time
from collections import Counter
from pathlib import Path
from typing import Any

from recipekit.cli import add_scoring_flags, fill_from_recipe, scoring_source, script_parser
from recipekit.errors import InputError
from recipekit.eval.label_scoring import END_TOKEN_MODES, Candidates, label_candidates
from recipekit.eval.labels import parse_labels
from recipekit.eval.scoring_inputs import (
    Example,
    Loaded,
    load_for_scoring,
    result_rows,
    score_examples,
)
from recipekit.files import announce, write_jsonl, writing_command
from recipekit.paths import at_root
from recipekit.recipes.reading import load_recipe

KEEP_DEFAULT = "id,fold,swapped"
# flag -> the predict recipe's key it defaults to with --recipe
RECIPE_KEYS = {"model": "model_name_or_path", "adapter": "adapter_name_or_path", "template": "template",
               "dataset": "eval_dataset", "dataset_dir": "dataset_dir", "cutoff_len": "cutoff_len",
               "quantization_bit": "quantization_bit", "batch_size": "per_device_eval_batch_size"}


def choose_labels(text: str | None, examples: list[Example], source: str) -> list[str]:
    """--labels in its order, or the gold answers seen, sorted; every gold answer must be one of them."""
    seen = sorted({e.gold for e in examples if e.gold})
    labels = parse_labels(text) or seen
    if len(labels) < 2:
        raise InputError(f"need at least two labels, got {labels}; pass --labels A,B,...", source)
    allowed = set(labels)
    for index, example in enumerate(examples, start=1):
        if example.gold and example.gold not in allowed:
            raise InputError(f"row {index}: answer {example.gold!r} is not one of the labels {labels}", source)
    return labels


def apply_recipe(args: argparse.Namespace) -> argparse.Namespace:
    """Fill flags left unset from --recipe's keys, then the defaults."""
    recipe = load_recipe(args.recipe) if args.recipe else None
    fill_from_recipe(args, recipe, RECIPE_KEYS)
    if args.out is None:
        output_dir = recipe.written("output_dir") if recipe is not None else None
        base = at_root(output_dir) if output_dir else at_root("outputs/scores") / (
            args.dataset or Path(args.data or "data").stem)
        args.out = str(base / "label_scores.jsonl")
    missing = [flag for flag in ("model", "template") if getattr(args, flag) is None]
    if missing:
        raise InputError("missing " + ", ".join(f"--{m}" for m in missing) + " (or a --recipe that names it)")
    if bool(args.dataset) == bool(args.data):
        raise InputError("name exactly one of --dataset NAME and --data FILE")
    return args


# pragma: no mutate start
def build_parser() -> argparse.ArgumentParser:
    parser = script_parser(__doc__)
    parser.add_argument("--recipe", help="a predict recipe whose model, adapter, template, eval_dataset, cutoff_len, "
                                         "batch size and output_dir are the defaults")
    add_scoring_flags(parser, "model folder or hub id (model_name_or_path)",
                      "comma-separated candidate labels (default: the answers seen, sorted)")
    parser.add_argument("--adapter", help="LoRA adapter folder(s), comma-separated (adapter_name_or_path)")
    parser.add_argument("--data", help="a JSONL file of Alpaca (instruction/input/output) or ShareGPT rows")
    parser.add_argument("--out", help="output JSONL (default: the recipe's output_dir or outputs/scores/NAME, "
                                      "file label_scores.jsonl)")
    parser.add_argument("--quantization-bit", type=int, choices=(4, 8), help="load the model in 4/8 bit (GPU)")
    parser.add_argument("--end-tokens", choices=END_TOKEN_MODES, default="auto",
                        help="score the template's end-of-answer tokens: auto = only when a label's tokens start "
                             "another label's (default: auto)")
    parser.add_argument("--keep", default=KEEP_DEFAULT,
                        help=f"source row fields copied into each output row (default: {KEEP_DEFAULT})")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    return parser


# pragma: no mutate end
def summary_lines(rows: list[dict[str, Any]], loaded: Loaded, candidates: Candidates, seconds: float) -> list[str]:
    tokens = ", ".join(f"{label!r} {ids}" for label, ids in zip(candidates.labels, candidates.token_ids, strict=True))
    lines = [f"scored {len(rows)} rows of {loaded.source} in {seconds:.2f} s "
             f"({len(rows) / max(seconds, 1e-9):.1f} rows/s) on {next(loaded.model.parameters()).device}",
             f"label tokens{' (with end tokens)' if candidates.with_end else ''}: {tokens}",
             "predicted: " + ", ".join(f"{k} {v}" for k, v in sorted(Counter(r["predict"] for r in rows).items()))]
    labeled = [r for r in rows if r["label"]]
    if labeled:
        accuracy = sum(r["predict"] == r["label"] for r in labeled) / len(labeled)
        lines.append(f"accuracy of the argmax on {len(labeled)} labeled rows: {accuracy:.4f}")
    return lines + [f"skipped {n} row(s): {reason}" for reason, n in loaded.skipped.items()]


@writing_command
def main(argv: list[str] | None = None) -> dict[str, Any]:
    args = apply_recipe(build_parser().parse_args(argv))
    loaded = load_for_scoring(scoring_source(args))
    if not loaded.examples:
        raise InputError("no rows to score", loaded.source)
    labels = choose_labels(args.labels, loaded.examples, loaded.source)
    candidates = label_candidates(loaded.template, loaded.tokenizer, labels, args.end_tokens)
    start = time.perf_counter()
    logprobs = score_examples(loaded, candidates, not args.no_progress)
    seconds = time.perf_counter() - start
    rows = result_rows(loaded, labels, logprobs)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    write_jsonl(args.out, rows)
    print("\n".join(summary_lines(rows, loaded, candidates, seconds)))
    announce(f"wrote {args.out}")
    return {"rows": rows, "seconds": seconds, "candidates": candidates, "skipped": dict(loaded.skipped)}


if __name__ == "__main__":
    main()
