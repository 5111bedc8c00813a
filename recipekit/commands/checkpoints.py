"""Score every checkpoint-N of a LLaMA-Factory run by label scoring and name the best by a task metric.

Each checkpoint (a LoRA adapter on the base model, or whole weights) scores every label of the validation
set as eval/score_labels.py does (LLaMA-Factory's template and loader); accuracy, macro-F1 and log loss per
step go to checkpoints.json/.md and checkpoints.png beside the trainer's own eval_loss, and each
checkpoint's rows to checkpoint-N.jsonl (readable by classify_report.py and calibrate.py). A generation run
can so be selected by F1 instead of eval loss, as the AFQMC report selected its checkpoints.

Example:
    llm-recipes checkpoints --recipe recipes/afqmc_qlora.yaml --labels 是,否
    llm-recipes checkpoints saves/qwen2.5-0.5b/lora/yelp5 --model Qwen/Qwen2.5-0.5B --template default \\
        --dataset yelp5_val --metric log_loss --max-samples 500
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

import numpy as np

from recipekit.cli import add_scoring_flags, fill_from_recipe, script_parser
from recipekit.errors import InputError
from recipekit.eval import scoring_inputs as scoring
from recipekit.eval.checkpoints import METRICS, best_row, find_checkpoints
from recipekit.eval.label_scoring import label_candidates, normalise
from recipekit.eval.labels import label_codes, parse_labels
from recipekit.eval.probabilities import selection_metrics
from recipekit.files import announce, write_jsonl, writing_command
from recipekit.recipes.reading import load_recipe
from recipekit.report.checkpoints import plot_checkpoints, render_markdown
from recipekit.report.writer import write_report

# flag -> the training recipe's key it defaults to with --recipe
RECIPE_KEYS = {"run_dir": "output_dir", "model": "model_name_or_path", "template": "template",
               "dataset": "eval_dataset", "dataset_dir": "dataset_dir", "cutoff_len": "cutoff_len",
               "batch_size": "per_device_eval_batch_size"}


# pragma: no mutate start
def build_parser() -> argparse.ArgumentParser:
    parser = script_parser(__doc__)
    parser.add_argument("run_dir", nargs="?", help="the run's output_dir holding checkpoint-N folders")
    parser.add_argument("--recipe", help="the training recipe: output_dir, model, template, eval_dataset, cutoff_len")
    add_scoring_flags(parser, "base model of LoRA checkpoints (default: the adapter's own base)",
                      "comma-separated labels (default: the gold answers seen, sorted)")
    parser.add_argument("--metric", choices=METRICS, default="f1",
                        help="what the best checkpoint is chosen by (default: f1, macro; log_loss: lowest)")
    parser.add_argument("--out", help="report folder (default: RUN_DIR/checkpoint_scores)")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    return parser


# pragma: no mutate end
def apply_recipe(args: argparse.Namespace) -> argparse.Namespace:
    fill_from_recipe(args, load_recipe(args.recipe) if args.recipe else None, RECIPE_KEYS)
    missing = [flag for flag in ("run_dir", "template", "dataset") if getattr(args, flag) is None]
    if missing:
        raise InputError("missing " + ", ".join("RUN_DIR" if m == "run_dir" else f"--{m}" for m in missing)
                         + " (or a --recipe that names it)")
    return args


def base_model(args: argparse.Namespace, adapter: Path) -> str:
    if args.model:
        return str(args.model)
    base = json.loads((adapter / "adapter_config.json").read_text(encoding="utf-8")).get("base_model_name_or_path")
    if not base:
        raise InputError("the adapter names no base model: pass --model", str(adapter / "adapter_config.json"))
    return str(base)


def trainer_eval_losses(run_dir: Path) -> dict[int, float]:
    """step -> eval_loss from the run's (or its last checkpoint's) trainer_state.json."""
    states = sorted(run_dir.glob("checkpoint-*/trainer_state.json"), key=lambda p: int(p.parent.name.split("-")[1]))
    for path in [run_dir / "trainer_state.json", *reversed(states)]:
        if path.is_file():
            history = json.loads(path.read_text(encoding="utf-8")).get("log_history", [])
            return {int(h["step"]): float(h["eval_loss"]) for h in history if "eval_loss" in h and "step" in h}
    return {}


@writing_command
def main(argv: list[str] | None = None) -> dict[str, Any]:
    args = apply_recipe(build_parser().parse_args(argv))
    run_dir = Path(args.run_dir)
    checkpoints = find_checkpoints(run_dir)
    out = Path(args.out) if args.out else run_dir / "checkpoint_scores"
    labels = parse_labels(args.labels)
    rows, n = [], 0
    for checkpoint in checkpoints:
        source = scoring.ScoringSource(model=base_model(args, checkpoint.path) if checkpoint.is_adapter
                               else str(checkpoint.path), template=args.template, dataset=args.dataset,
                               dataset_dir=args.dataset_dir, adapter=str(checkpoint.path) if checkpoint.is_adapter
                               else None, cutoff_len=args.cutoff_len, batch_size=args.batch_size,
                               max_samples=args.max_samples)
        loaded = scoring.load_for_scoring(source)
        gold = [e.gold for e in loaded.examples]
        if not gold or not all(gold):
            raise InputError("every row needs a gold answer to score checkpoints", loaded.source)
        labels = labels or sorted(set(gold))
        codes = np.asarray(label_codes(gold, labels, loaded.source, list(range(1, len(gold) + 1))))
        logprobs = scoring.score_examples(loaded, label_candidates(loaded.template, loaded.tokenizer, labels),
                                          not args.no_progress)
        write_jsonl(out / f"{checkpoint.path.name}.jsonl", scoring.result_rows(loaded, labels, logprobs))
        n = len(gold)
        rows.append({"step": checkpoint.step, "checkpoint": checkpoint.path.name,
                     **selection_metrics(normalise(logprobs), codes)})
        print(f"{checkpoint.path.name}: " + ", ".join(f"{k} {rows[-1][k]:.4f}" for k in METRICS))
    losses = trainer_eval_losses(run_dir)
    for row in rows:
        row["eval_loss"] = losses.get(row["step"])
    best = best_row(rows, args.metric)
    with_loss = [row for row in rows if row["eval_loss"] is not None]
    report = {"run_dir": str(run_dir), "dataset": args.dataset, "labels": labels, "n": n, "metric": args.metric,
              "rows": rows, "best": best,
              "best_by_eval_loss": min(with_loss, key=lambda r: (r["eval_loss"], r["step"]))["step"]
              if with_loss else None}
    paths = write_report(out, "checkpoints", report, render_markdown(report))
    plot_checkpoints(report, out / "checkpoints.png")
    print(f"best by {args.metric}: {best['checkpoint']} ({args.metric} {best[args.metric]:.4f})")
    announce(f"wrote {paths[0]}, {paths[1]}, {out / 'checkpoints.png'}")
    return report


if __name__ == "__main__":
    main()
