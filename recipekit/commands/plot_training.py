"""Training curves and a summary from LLaMA-Factory output folders (trainer_state.json / trainer_log.jsonl).

Plots loss (with eval loss), learning rate and grad norm, and for DPO runs rewards/chosen, rewards/rejected,
rewards/margins and rewards/accuracies. Several RUN_DIRs overlay on one plot per series.
Writes PNGs and training_summary.json (initial, final and min loss; steps; epochs; runtime; DPO reward
accuracy first and last).

Example:
    llm-recipes plot saves/qwen3-4b/lora/sft saves/qwen3-4b/lora/dpo --out reports/curves
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from recipekit.cli import script_parser
from recipekit.errors import InputError
from recipekit.files import announce, read_jsonl, write_json, writing_command
from recipekit.report.wandb import require_wandb
from recipekit.report.writer import save_figure

# plot file -> the series drawn on it
PLOTS = {
    "loss": ("loss", "eval_loss", "eval_log_loss"),
    "task_metrics": ("eval_accuracy", "eval_f1"),  # a classifier run's evaluations (train_classifier.py)
    "learning_rate": ("learning_rate",),
    "grad_norm": ("grad_norm",),
    "rewards": ("rewards/chosen", "rewards/rejected", "rewards/margins"),
    "reward_accuracy": ("rewards/accuracies",),
}
# trainer_log.jsonl names -> trainer_state.json names
LOG_KEYS = {"lr": "learning_rate", "current_steps": "step"}


def read_history(run_dir: Path) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """Logged entries (each with a ``step``) and the final train metrics of one run folder."""
    state_path, log_path = run_dir / "trainer_state.json", run_dir / "trainer_log.jsonl"
    if state_path.is_file():
        try:
            state = json.loads(state_path.read_text(encoding="utf-8"))
        except json.JSONDecodeError as exc:
            raise InputError(f"not valid JSON ({exc.msg})", str(state_path), exc.lineno) from None
        history = state.get("log_history")
        if not isinstance(history, list):
            raise InputError("no log_history list", str(state_path))
        final = next((entry for entry in reversed(history) if "train_runtime" in entry), {})
        return [e for e in history if "train_runtime" not in e], final
    if log_path.is_file():
        entries = [{LOG_KEYS.get(k, k): v for k, v in row.items()} for _, row in read_jsonl(log_path)]
        return entries, {}
    raise InputError("no trainer_state.json or trainer_log.jsonl", str(run_dir))


def series(history: list[dict[str, Any]], key: str) -> tuple[list[int], list[float]]:
    points = [(entry["step"], entry[key]) for entry in history if key in entry and "step" in entry]
    return [s for s, _ in points], [v for _, v in points]


def summarise(run_dir: Path, history: list[dict[str, Any]], final: dict[str, Any]) -> dict[str, Any]:
    """Initial/final/min loss, steps, epochs, runtime, eval loss and DPO reward accuracy of one run."""
    _, loss = series(history, "loss")
    if not loss:
        raise InputError("no training loss logged", str(run_dir))
    steps = [entry["step"] for entry in history if "step" in entry]
    summary: dict[str, Any] = {
        "run": str(run_dir), "initial_loss": loss[0], "final_loss": loss[-1], "min_loss": min(loss),
        "steps": max(steps) if steps else None, "epochs": max((e.get("epoch", 0) for e in history), default=None),
        "runtime_s": final.get("train_runtime"),
    }
    _, eval_loss = series(history, "eval_loss")
    if eval_loss:
        summary["final_eval_loss"], summary["min_eval_loss"] = eval_loss[-1], min(eval_loss)
    _, f1 = series(history, "eval_f1")
    if f1:
        summary["final_eval_f1"], summary["best_eval_f1"] = f1[-1], max(f1)
    _, accuracy = series(history, "rewards/accuracies")
    if accuracy:
        summary["dpo"] = {"first_reward_accuracy": accuracy[0], "last_reward_accuracy": accuracy[-1]}
    return summary


def plot(runs: dict[str, list[dict[str, Any]]], name: str, keys: tuple[str, ...], out: Path) -> Path | None:
    """One PNG with every run's series for ``keys``; None when no run logged any of them."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axis = plt.subplots(figsize=(7, 4))
    drawn = False
    for label, history in runs.items():
        for key in keys:
            steps, values = series(history, key)
            if values:
                marker = "o" if len(values) < 30 else None
                axis.plot(steps, values, marker=marker, label=f"{label}: {key}" if len(runs) > 1 else key)
                drawn = True
    if not drawn:
        plt.close(figure)
        return None
    axis.set_xlabel("step")
    axis.set_title(name.replace("_", " "))
    axis.legend()
    return save_figure(figure, out / f"{name}.png")


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
    images = {name: path for name, keys in PLOTS.items() if (path := plot(runs, name, keys, out))}
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
