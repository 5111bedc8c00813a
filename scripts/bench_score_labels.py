"""Benchmark: LLaMA-Factory's predict_with_generate against eval/score_labels.py on the same model and rows.

In one run, on the demo's tiny AG News model (outputs/demo/sft, trained by `make demo`) and the same
held-out AG News rows (data/agnews_val, 1,000 rows), two comparisons:
- the whole commands as a user runs them, process start to files written: LLaMA-Factory's predict
  (`llamafactory-cli train recipes/demo/agnews_tiny_predict.yaml`, which also computes its BLEU/ROUGE) and
  `eval/score_labels.py --recipe ...`;
- the model part only, alike for both: greedy generation (`model.generate`, the recipe's max_new_tokens)
  and label scoring (one prompt pass + cached label continuations) on the same loaded model and prompt
  ids, each after the same warm-up batch; and, as the baseline the shared pass replaces, scoring that
  re-encodes the prompt once per label.
Prints both ratios, rows/s, the invalid outputs of each and how often the argmax agrees with the greedy
generation.

Example:
    make demo && python scripts/bench_score_labels.py
    python scripts/bench_score_labels.py --rows 200 --batch-size 32 --json outputs/bench_score_labels.json
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path
from typing import Any

from recipekit.cli import at_least, scoring_source, script_parser
from recipekit.commands import score_labels
from recipekit.errors import InputError, exit_on_input_error
from recipekit.eval.label_scoring import label_candidates, score_prompts
from recipekit.eval.labels import LabelMatcher, parse_labels
from recipekit.eval.scoring_inputs import load_for_scoring
from recipekit.files import read_jsonl, write_json
from recipekit.paths import root
from recipekit.recipes.reading import load_recipe
from recipekit.steps import module_command, program, run_child

PREDICT_RECIPE = "recipes/demo/agnews_tiny_predict.yaml"
LABELS = "1: World,2: Sports,3: Business,4: Sci/Tech"


def build_parser() -> argparse.ArgumentParser:
    parser = script_parser(__doc__)
    parser.add_argument("--recipe", default=PREDICT_RECIPE, help=f"predict recipe (default: {PREDICT_RECIPE})")
    parser.add_argument("--model", help="model folder (default: the recipe's, outputs/demo/sft)")
    parser.add_argument("--dataset", help="dataset name (default: the recipe's eval_dataset, agnews_val)")
    parser.add_argument("--dataset-dir", help="folder holding dataset_info.json (default: the recipe's, data)")
    parser.add_argument("--labels", default=LABELS, help="comma-separated labels (default: AG News)")
    parser.add_argument("--rows", type=at_least(1), default=1000, help="rows scored and generated (default: 1000)")
    parser.add_argument("--batch-size", type=at_least(1), help="batch size of both (default: the recipe's, 64)")
    parser.add_argument("--no-per-label", action="store_true", help="skip the re-encode-per-label baseline")
    parser.add_argument("--json", help="also write the numbers to this JSON file")
    return parser


def generate(args: argparse.Namespace, out: Path) -> tuple[float, list[str]]:
    """LLaMA-Factory's own predict run, whole command: its wall seconds and the raw predictions."""
    cli = program("llamafactory-cli")
    overrides = [f"model_name_or_path={args.model}", f"eval_dataset={args.dataset}", f"max_samples={args.rows}",
                 f"dataset_dir={args.dataset_dir}", f"cutoff_len={args.cutoff_len}",
                 f"per_device_eval_batch_size={args.batch_size}", f"output_dir={out}", "overwrite_cache=true"]
    seconds = whole_command([cli, "train", args.recipe, *overrides], out.with_suffix(".log"))
    return seconds, [row["predict"] for _, row in read_jsonl(out / "generated_predictions.jsonl")]


def whole_command(command: list[str], log: Path) -> float:
    """Wall seconds of one command from process start to exit; a failure names its log."""
    start = time.perf_counter()
    with log.open("w", encoding="utf-8") as handle:
        returncode = run_child(command, {"WANDB_DISABLED": "true"}, handle, root())
    if returncode != 0:
        raise SystemExit(f"error: {Path(command[1]).name} failed; log: {log}")
    return time.perf_counter() - start


def generate_model_part(loaded: Any, prompts: list[list[int]], batch_size: int, max_new_tokens: int) -> float:
    """Greedy ``model.generate`` over the prompts (left-padded batches, longest first, as scoring batches them)."""
    import torch

    model, pad = loaded.model, loaded.tokenizer.pad_token_id
    order = sorted(range(len(prompts)), key=lambda i: -len(prompts[i]))
    start = time.perf_counter()
    for first in range(0, len(order), batch_size):
        batch = [prompts[i] for i in order[first: first + batch_size]]
        width = max(map(len, batch))
        ids = torch.tensor([[pad] * (width - len(p)) + p for p in batch], device=model.device)
        mask = torch.tensor([[0] * (width - len(p)) + [1] * len(p) for p in batch], device=model.device)
        with torch.inference_mode():
            model.generate(input_ids=ids, attention_mask=mask, max_new_tokens=max_new_tokens, do_sample=False,
                           pad_token_id=pad)
    return time.perf_counter() - start


def timed(function: Any) -> tuple[float, Any]:
    start = time.perf_counter()
    result = function()
    return time.perf_counter() - start, result


@exit_on_input_error
def main(argv: list[str] | None = None) -> dict[str, Any]:
    args = build_parser().parse_args(argv)
    scoring_args = score_labels.apply_recipe(score_labels.build_parser().parse_args(
        ["--recipe", args.recipe, "--labels", args.labels, "--max-samples", str(args.rows)]
        + [f"--{k}={v}" for k, v in (("model", args.model), ("dataset", args.dataset),
                                      ("dataset-dir", args.dataset_dir), ("batch-size", args.batch_size))
           if v is not None]))
    args.model, args.dataset, args.batch_size = scoring_args.model, scoring_args.dataset, scoring_args.batch_size
    args.dataset_dir, args.cutoff_len = scoring_args.dataset_dir, scoring_args.cutoff_len
    if not Path(args.model).exists():
        raise InputError(f"no model at {args.model}: run `make demo` first (it trains outputs/demo/sft)")
    labels = parse_labels(args.labels) or []
    max_new_tokens = int(load_recipe(args.recipe).setting("max_new_tokens"))
    with tempfile.TemporaryDirectory() as work:
        print(f"generating with LLaMA-Factory ({PREDICT_RECIPE if args.recipe == PREDICT_RECIPE else args.recipe})",
              flush=True)
        gen_command_seconds, generated = generate(args, Path(work) / "predict")
        print("scoring with eval/score_labels.py", flush=True)
        score_command_seconds = whole_command(
            [*module_command("score_labels"), "--recipe", args.recipe, "--labels", args.labels, "--model",
             str(args.model), "--dataset", str(args.dataset), "--dataset-dir", str(args.dataset_dir), "--max-samples",
             str(args.rows), "--batch-size", str(args.batch_size), "--out", str(Path(work) / "scores.jsonl"),
             "--no-progress"], Path(work) / "score.log")
        loaded = load_for_scoring(scoring_source(scoring_args))
    candidates = label_candidates(loaded.template, loaded.tokenizer, labels)
    prompts = [e.prompt_ids for e in loaded.examples]
    pad = loaded.tokenizer.pad_token_id
    warm = prompts[: args.batch_size]  # the same warm-up batch for both model parts
    generate_model_part(loaded, warm, args.batch_size, max_new_tokens)
    gen_seconds = generate_model_part(loaded, prompts, args.batch_size, max_new_tokens)
    score_prompts(loaded.model, warm, candidates.token_ids, pad, args.batch_size, False)
    score_seconds, scores = timed(lambda: score_prompts(loaded.model, prompts, candidates.token_ids, pad,
                                                        args.batch_size, False))
    matcher = LabelMatcher(labels)
    greedy = [matcher.match(text) for text in generated]
    argmax = [labels[int(k)] for k in scores.argmax(axis=1)]
    if len(greedy) != len(argmax):
        raise SystemExit(f"generation gave {len(greedy)} rows, scoring {len(argmax)}")
    valid = [(g, a) for g, a in zip(greedy, argmax, strict=True) if g is not None]
    n = len(argmax)
    result: dict[str, Any] = {
        "rows": n, "batch_size": args.batch_size, "model": args.model, "dataset": args.dataset,
        "generate_seconds": gen_seconds, "generate_rows_per_s": n / gen_seconds,
        "score_seconds": score_seconds, "score_rows_per_s": n / score_seconds,
        "ratio_score_vs_generate": gen_seconds / score_seconds,
        "generate_command_seconds": gen_command_seconds, "score_command_seconds": score_command_seconds,
        "ratio_commands": gen_command_seconds / score_command_seconds, "max_new_tokens": max_new_tokens,
        "generate_invalid": sum(g is None for g in greedy),
        "score_invalid": sum(matcher.match(a) is None for a in argmax),
        "agreement_all_rows": sum(g == a for g, a in zip(greedy, argmax, strict=True)) / n,
        "agreement_valid_rows": sum(g == a for g, a in valid) / max(len(valid), 1),
    }
    lines = [f"{n} rows, batch {args.batch_size}, model {args.model}",
             f"  whole commands: llamafactory-cli predict {gen_command_seconds:.2f} s, eval/score_labels.py "
             f"{score_command_seconds:.2f} s: {result['ratio_commands']:.2f}x",
             f"  model part only, same prompts, same warm-up batch, greedy max_new_tokens {max_new_tokens}:",
             f"    generation (model.generate):       {gen_seconds:7.2f} s  {n / gen_seconds:8.1f} rows/s  "
             f"invalid (LLaMA-Factory's answers) {result['generate_invalid']}",
             f"    score_labels (shared prompt pass): {score_seconds:7.2f} s  {n / score_seconds:8.1f} rows/s  "
             f"invalid {result['score_invalid']}",
             f"    ratio score/generate: {result['ratio_score_vs_generate']:.2f}x",
             f"  argmax == greedy: {result['agreement_all_rows']:.2%} of all rows, "
             f"{result['agreement_valid_rows']:.2%} of the {len(valid)} rows generation answered validly"]
    if not args.no_per_label:
        per_label_seconds, per_label = timed(lambda: [score_prompts(loaded.model, prompts, [ids], pad,
                                                                    args.batch_size, False)
                                                      for ids in candidates.token_ids])
        import numpy as np

        same = float(np.abs(np.concatenate(per_label, axis=1) - scores).max())
        result |= {"per_label_seconds": per_label_seconds, "per_label_max_abs_diff": same,
                   "ratio_shared_vs_per_label": per_label_seconds / score_seconds}
        lines.append(f"  baseline, prompt re-encoded per label: {per_label_seconds:.2f} s; shared pass is "
                     f"{per_label_seconds / score_seconds:.2f}x faster (max |diff| {same:.2e})")
    print("\n".join(lines))
    if args.json:
        write_json(args.json, result)
    return result


if __name__ == "__main__":
    main()
