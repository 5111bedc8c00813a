"""A LLaMA-Factory run's training history (trainer_state.json / trainer_log.jsonl), its series and summary."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from recipekit.errors import InputError
from recipekit.files import read_jsonl

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
    """The steps and values of one logged key."""
    points = [(entry["step"], entry[key]) for entry in history if key in entry and "step" in entry]
    return [s for s, _ in points], [v for _, v in points]


def summarise(run_dir: Path, history: list[dict[str, Any]], final: dict[str, Any]) -> dict[str, Any]:
    """Initial/final/min loss, steps, epochs, runtime, eval loss and DPO reward accuracy of one run."""
    _, loss = series(history, "loss")
    if not loss:
        raise InputError("no training loss logged", str(run_dir))
    steps = [entry["step"] for entry in history if "step" in entry]  # a logged loss has a step: never empty
    summary: dict[str, Any] = {
        "run": str(run_dir), "initial_loss": loss[0], "final_loss": loss[-1], "min_loss": min(loss),
        "steps": max(steps), "epochs": max(e.get("epoch", 0) for e in history),
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
