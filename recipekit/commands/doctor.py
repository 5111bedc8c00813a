"""Preflight on the rented machine: would these recipes run here? One line per check, each failure with its fix.

The machine (torch's CUDA build against the driver, the GPUs), then for each recipe what its settings call for:
GPU count and the planned peak on this card, bf16, bitsandbytes for 4-bit, FlashAttention 2, NCCL, DeepSpeed's
op builds, free disk for the model and checkpoints, host memory for offloaded states, the hub (a token for a
gated model) and wandb's login (recipekit/plan/doctor.py). Exits 1 when a check fails, 0 when all pass.

Example:
    llm-recipes doctor
    llm-recipes doctor recipes/qwen3_4b_tulu_sft_lora.yaml recipes/afqmc_qlora.yaml
"""

from __future__ import annotations

import argparse
import os

from recipekit.cli import script_parser
from recipekit.errors import exit_on_input_error
from recipekit.plan.doctor import cuda_check, recipe_checks, this_machine
from recipekit.plan.gpus import load_cards
from recipekit.recipes.reading import load_recipe, producers


# pragma: no mutate start
def build_parser() -> argparse.ArgumentParser:
    parser = script_parser(__doc__)
    parser.add_argument("recipes", nargs="*", help="recipes to check on this machine (none: the machine only)")
    return parser


# pragma: no mutate end
@exit_on_input_error
def main(argv: list[str] | None = None) -> list[str]:
    args = build_parser().parse_args(argv)
    os.environ.setdefault("LLAMAFACTORY_VERBOSITY", "ERROR")
    recipes = [load_recipe(path) for path in args.recipes]  # every recipe read before any check: a typo is exit 2
    machine = this_machine()
    first = cuda_check(machine)
    lines, failed = [first.line("machine")], first.ok is False
    print(lines[0], flush=True)
    cards, made_by = load_cards(), producers() if recipes else {}
    for path, recipe in zip(args.recipes, recipes, strict=True):
        for check in recipe_checks(recipe, machine, cards, made_by):
            lines.append(check.line(path))
            failed |= check.ok is False
            print(lines[-1], flush=True)
    if failed:
        raise SystemExit(1)
    return lines


if __name__ == "__main__":
    main()
