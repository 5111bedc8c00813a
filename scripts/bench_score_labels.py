"""Benchmark: LLaMA-Factory's predict_with_generate against eval/score_labels.py on the same model and rows.

In one run, on the demo's tiny AG News model (outputs/demo/sft, trained by `make demo`) and the same
held-out AG News rows (data/agnews_val, 1,000 rows): LLaMA-Factory's greedy generation
(`llamafactory-cli train recipes/demo/agnews_tiny_predict.yaml`, its own predict_runtime) and label
scoring (one prompt pass + cached label continuations), and, as the baseline the shared pass replaces,
scoring that re-encodes the prompt once per label. Model loading and tokenizing are left out of every
time. Prints rows/s, the ratios, the invalid outputs of each and how often the argmax agrees with the
greedy generation.

Example:
    make demo && python scripts/bench_score_labels.py
    python scripts/bench_score_labels.py --rows 200 --batch-size 32 --json outputs/bench_score_labels.json
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "eval"))

import score_labels

from recipekit.cli import at_least, script_parser
from recipekit.errors import InputError, exit_on_input_error
from recipekit.eval.label_scoring import label_candidates, score_prompts
from recipekit.eval.labels import LabelMatcher, parse_labels
from recipekit.eval.scoring_inputs import ScoringSource, load_for_scoring
from recipekit.files import read_jsonl, write_json

ROOT = Path(__file__).resolve().parents[1]
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
    """LLaMA-Factory's own predict run; its predict_runtime (generation only) and the raw predictions."""
    cli = Path(sys.executable).with_name("llamafactory-cli")
    overrides = [f"model_name_or_path={args.model}", f"eval_dataset={args.dataset}", f"max_samples={args.rows}",
                 f"dataset_dir={args.dataset_dir}", f"cutoff_len={args.cutoff_len}",
                 f"per_device_eval_batch_size={args.batch_size}", f"output_dir={out}", "overwrite_cache=true"]
    log = out.with_suffix(".log")
    with log.open("w", encoding="utf-8") as handle:
        done = subprocess.run([str(cli), "train", args.recipe, *overrides], cwd=ROOT, stdout=handle,
                              stderr=subprocess.STDOUT, check=False, env={**os.environ, "WANDB_DISABLED": "true"})
    if done.returncode != 0:
        raise SystemExit(f"LLaMA-Factory predict failed; log: {log}\n" + log.read_text(errors="replace")[-3000:])
    runtime = json.loads((out / "predict_results.json").read_text(encoding="utf-8"))["predict_runtime"]
    return float(runtime), [row["predict"] for _, row in read_jsonl(out / "generated_predictions.jsonl")]


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
    with tempfile.TemporaryDirectory() as work:
        print(f"generating with LLaMA-Factory ({PREDICT_RECIPE if args.recipe == PREDICT_RECIPE else args.recipe})",
              flush=True)
        gen_seconds, generated = generate(args, Path(work) / "predict")
        loaded = load_for_scoring(ScoringSource.from_args(scoring_args), Path(work))
    candidates = label_candidates(loaded.template, loaded.tokenizer, labels)
    prompts = [e.prompt_ids for e in loaded.examples]
    pad = loaded.tokenizer.pad_token_id
    score_prompts(loaded.model, prompts[: args.batch_size], candidates.token_ids, pad, args.batch_size, False)  # warm
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
        "generate_invalid": sum(g is None for g in greedy),
        "score_invalid": sum(matcher.match(a) is None for a in argmax),
        "agreement_all_rows": sum(g == a for g, a in zip(greedy, argmax, strict=True)) / n,
        "agreement_valid_rows": sum(g == a for g, a in valid) / max(len(valid), 1),
    }
    lines = [f"{n} rows, batch {args.batch_size}, model {args.model} (loading and tokenizing excluded)",
             f"  LLaMA-Factory predict_with_generate: {gen_seconds:7.2f} s  {n / gen_seconds:8.1f} rows/s  "
             f"invalid {result['generate_invalid']}",
             f"  score_labels (shared prompt pass):   {score_seconds:7.2f} s  {n / score_seconds:8.1f} rows/s  "
             f"invalid {result['score_invalid']}",
             f"  ratio score/generate: {result['ratio_score_vs_generate']:.2f}x (goal >= 1.0)",
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
