"""Training curves and a summary from LLaMA-Factory output folders (trainer_state.json / trainer_log.jsonl).

Plots loss (with eval loss), learning rate and grad norm, and for DPO runs rewards/chosen, rewards/rejected,
rewards/margins and rewards/accuracies. Several RUN_DIRs overlay on one plot per series.
Writes PNGs and training_summary.json (initial, final and min loss; steps; epochs; runtime; DPO reward
accuracy first and last).

Example:
    llm-recipes plot saves/qwen3-4b/lora/sft saves/qwen3-4b/lora/dpo --out reports/curves
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from recipekit.cli import script_parser
from recipekit.files import announce, write_json, writing_command
from recipekit.report.plots import plot_series
from recipekit.report.training import PLOTS, read_history, summarise
from recipekit.report.wandb import require_wandb


@writing_command
def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = script_parser(__doc__)
    parser.add_argument("run_dirs", nargs="+", metavar="RUN_DIR", help="LLaMA-Factory output folders")
    parser.add_argument("--out", help="output folder (default: the first RUN_DIR)")
    parser.add_argument("--wandb", action="store_true", help="log the summary and plots to wandb")
    args = parser.parse_args(argv)
    if args.wandb:
        require_wandb()

    runs: dict[str, list[dict[str, Any]]] = {}
    summaries = []
    for run in map(Path, args.run_dirs):
        history, final = read_history(run)
        runs[run.name if run.name not in runs else str(run)] = history
        summaries.append(summarise(run, history, final))
    out = Path(args.out) if args.out else Path(args.run_dirs[0])
    images = {name: path for name, keys in PLOTS.items() if (path := plot_series(runs, name, keys, out))}
    summary = {"runs": summaries, "plots": {name: str(path) for name, path in images.items()}}
    write_json(out / "training_summary.json", summary)
    for item in summaries:
        extra = f", reward accuracy {item['dpo']['first_reward_accuracy']:.3f} -> " \
                f"{item['dpo']['last_reward_accuracy']:.3f}" if "dpo" in item else ""
        print(f"{item['run']}: loss {item['initial_loss']:.4f} -> {item['final_loss']:.4f} "
              f"(min {item['min_loss']:.4f}), {item['steps']} steps{extra}")
    announce(f"wrote {out / 'training_summary.json'} and {', '.join(map(str, images.values()))}")
    if args.wandb:
        from recipekit.report.wandb import log_report

        scalars = {f"{i}/{k}": v for i, s in enumerate(summaries) for k, v in s.items() if isinstance(v, float)}
        print(f"wandb run: {log_report('plot_training', out, scalars, {}, images, {'runs': args.run_dirs})}")
    return summary


if __name__ == "__main__":
    main()
