"""Train a classification head (encoder or decoder LLM, full or LoRA/QLoRA) from a classifier recipe.

The recipe (recipes/classifier/*.yaml) holds the model, head and data settings plus any HF TrainingArguments
(DeepSpeed config, eval/save steps, metric_for_best_model, report_to wandb); unknown keys are refused.
KEY=VALUE after the recipe overrides a key. Accuracy, macro-F1 and log loss are computed at every evaluation
and kept in trainer_state.json; the best checkpoint follows metric_for_best_model. Predictions of the
evaluation and predict sets go to OUTPUT_DIR/predictions_<set>.jsonl in the rows eval/score_labels.py
writes, so classify_report.py, calibrate.py and kaggle_submission.py read them unchanged.
Several GPUs (or CPU ranks): FORCE_TORCHRUN=1 NPROC_PER_NODE=N (NNODES, NODE_RANK, MASTER_ADDR,
MASTER_PORT pass through), as with llamafactory-cli.

Example:
    llm-recipes train-classifier recipes/classifier/yelp5_bert_lora.yaml
    FORCE_TORCHRUN=1 NPROC_PER_NODE=4 llm-recipes train-classifier recipes/classifier/afqmc_macbert.yaml \\
        num_train_epochs=1 output_dir=saves/macbert/try1
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

from recipekit.cli import script_parser
from recipekit.errors import InputError, exit_on_input_error
from recipekit.recipes.arguments import parse_overrides
from recipekit.steps import module_command, run_child, torchrun_command


# pragma: no mutate start
def build_parser() -> argparse.ArgumentParser:
    parser = script_parser(__doc__)
    parser.add_argument("recipe", help="classifier recipe YAML")
    parser.add_argument("overrides", nargs="*", metavar="KEY=VALUE", help="recipe keys to override")
    return parser


# pragma: no mutate end
def refuse_early(recipe: str, extra: dict[str, object]) -> None:
    """The checks that need no model, before any rank starts (under torchrun each rank would print them again)."""
    from recipekit.recipes.checks import zero_stage
    from recipekit.recipes.classifier import zero3_lora_problem
    from recipekit.recipes.reading import load_recipe

    run = load_recipe(recipe, classifier=True).with_values(extra)
    if run.deepspeed:
        config = json.loads(Path(run.deepspeed).read_text(encoding="utf-8"))
        problem = zero3_lora_problem(run.finetuning_type, zero_stage(config))
        if problem:
            raise InputError(problem, run.deepspeed)


@exit_on_input_error
def main(argv: list[str] | None = None) -> object:
    argv = sys.argv[1:] if argv is None else list(argv)
    args = build_parser().parse_args(argv)
    extra = parse_overrides(args.overrides)
    refuse_early(args.recipe, extra)
    command = torchrun_command([*module_command("train_classifier"), *argv], os.environ)
    if command is not None:  # this command again on each rank
        raise SystemExit(run_child(command))
    from recipekit.classify.training import run
    from recipekit.recipes.reading import load_recipe

    head, training = load_recipe(args.recipe, classifier=True).with_values(extra).parsed(explain=False)
    result = run(head, training)
    if training.process_index == 0:
        print(f"{args.recipe}: {result.trainable:,} trainable of {result.total:,} parameters, labels {result.labels}")
        if result.best_checkpoint:
            print(f"best checkpoint ({training.metric_for_best_model} {result.best_metric:.4f}): "
                  f"{result.best_checkpoint}")
        if result.metrics:
            shown = {k: round(v, 4) for k, v in result.metrics.items() if k.endswith(("accuracy", "f1", "log_loss"))}
            print(f"evaluation: {shown}")
        for name, path in result.predictions.items():
            print(f"predictions of {name}: {path}")
    return result


if __name__ == "__main__":
    main()
