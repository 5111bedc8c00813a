"""The chain ``llm-recipes new`` writes for a dataset of the user's (``recipes/reproduce/NAME.yaml``): convert,
check, contamination, plan, train, predict (and label scoring for a classifier), report, export; the card shows
this run's numbers with their 95% intervals, with no published numbers beside them."""

from __future__ import annotations

import shlex
from typing import Any

import yaml

from recipekit.reproduce.new_recipes import NewRun

CLASSIFY_NUMBERS = (("accuracy", "accuracy"), ("macro-F1", "macro_f1"), ("log loss", "log_loss"))
GEN_NUMBERS = (("BLEU-4", "bleu-4"), ("ROUGE-1", "rouge-1"), ("ROUGE-2", "rouge-2"), ("ROUGE-L", "rouge-l"))
NO_PUBLISHED = "your own dataset: there are no published numbers to compare; the card gives this run's numbers " \
               "with their 95% intervals"


def command(*words: str) -> str:
    return shlex.join(words)


def chain(run: NewRun, convert: list[str], labels: list[str] | None, card: str, gpus: int,
          title: str) -> dict[str, Any]:
    """The chain file's contents. ``convert``: the ``convert generic`` flags (without ``--data-dir``)."""
    recipes = [f"recipes/{run.name}/train.yaml", f"recipes/{run.name}/predict.yaml"] + (
        [f"recipes/{run.name}/export.yaml"] if run.adapter else [])
    data = [f"data/{run.name}.jsonl", f"data/{run.name}_val.jsonl", f"data/{run.name}_test.jsonl"]
    reports = "{out}/reports/test"
    predictions = f"{run.predict_dir}/generated_predictions.jsonl"
    steps: list[dict[str, Any]] = [
        {"name": "convert", "run": command("llm-recipes", "convert", "generic", *convert, "--data-dir", "data"),
         "outputs": data},
        {"name": "check", "run": command("llm-recipes", "check", "recipes", *recipes), "inputs": recipes},
        {"name": "contamination",
         "run": command("llm-recipes", "check", "contamination", *recipes[:2], "--data-dir", "data", "--out",
                        "{out}/contamination"),
         "outputs": ["{out}/contamination/contamination.json"], "inputs": ["data/dataset_info.json", *data]},
        {"name": "plan", "run": command("llm-recipes", "plan", recipes[0], "--gpu", card, "--gpus", str(gpus),
                                        "--out", "{out}/plan/train"),
         "outputs": ["{out}/plan/train/plan.json"], "inputs": [recipes[0]]},
        # torchrun for DeepSpeed and for --gpus N: the chain's runner sets it
        {"name": "train", "run": command("llamafactory-cli", "train", recipes[0])},
        {"name": "predict", "run": command("llamafactory-cli", "train", recipes[1])},
    ]
    if labels is not None:
        scores = f"{run.predict_dir}/label_scores.jsonl"
        label_text = ",".join(labels)
        score = ["--labels", label_text, "--out", scores]
        steps.append({"name": "score", "run": command("llm-recipes", "score", "--recipe", recipes[1], *score),
                      # a tiny run scores with the tiny copy of the predict recipe its predict step wrote
                      "tiny": command("llm-recipes", "score", "--recipe", f"{{out}}/{recipes[1]}", *score),
                      "outputs": [scores], "inputs": [predictions]})
        report = ["report", "classify", scores, "--labels", label_text, "--out", reports, "--recipe"]
        steps.append({"name": "report", "run": command("llm-recipes", *report, recipes[1]),
                      "tiny": command("llm-recipes", *report, f"{{out}}/{recipes[1]}"),
                      "outputs": [f"{reports}/classify_report.json"], "inputs": [scores]})
        numbers = CLASSIFY_NUMBERS
    else:
        steps.append({"name": "report", "run": command("llm-recipes", "report", "gen", predictions, "--out", reports),
                      "outputs": [f"{reports}/gen_report.json"], "inputs": [predictions]})
        numbers = GEN_NUMBERS
    if run.adapter:
        steps.append({"name": "export", "run": command("llm-recipes", "export", recipes[2], "--report", reports,
                                                       "--eval-dataset", f"{run.name}_test"),
                      "inputs": [f"{reports}/{'classify' if labels is not None else 'gen'}_report.json"]})
    return {"title": title, "steps": steps, "differences": [NO_PUBLISHED],
            "numbers": [{"name": name, "metric": metric, "report": reports, "set": f"{run.name}_test"}
                        for name, metric in numbers]}


def chain_text(header: list[str], content: dict[str, Any]) -> str:
    return "".join(f"# {line}\n" for line in header) + yaml.safe_dump(content, sort_keys=False, allow_unicode=True,
                                                                      width=120)
