"""The whole path on real AG News: convert -> tiny model -> LLaMA-Factory train -> predict -> report,
then the same held-out rows scored label by label (eval/score_labels.py) and reported with log loss and
calibration.

Reads AG News from a folder with the original CSV files when AG_NEWS is set, else from the hub
(fancyzhx/ag_news, cached by `datasets` after the first run) when it answers, else from the local copy
../shared/data/ag_news_csv when there is one; the first line says which. MODEL=<hub id or path> trains a real model
instead of the tiny local one (TEMPLATE sets its chat template, default: default). Each stage's log
goes to outputs/demo/logs/; the stage times and the accuracy go to outputs/demo/demo_summary.json.

Example:
    AG_NEWS=../shared/data/ag_news_csv llm-recipes demo
    MODEL=Qwen/Qwen2.5-0.5B TEMPLATE=qwen llm-recipes demo --train-size 20000
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

from recipekit.cli import at_least, script_parser
from recipekit.converters.catalog import source_flags
from recipekit.errors import exit_on_input_error
from recipekit.files import write_json
from recipekit.paths import at_root
from recipekit.progress import TRAINER_LOG
from recipekit.steps import Runner, Step, StepFailed, program

LABELS = "1: World,2: Sports,3: Business,4: Sci/Tech"
TRAIN_RECIPE = "recipes/demo/agnews_tiny_sft.yaml"
PREDICT_RECIPE = "recipes/demo/agnews_tiny_predict.yaml"


# pragma: no mutate start
def build_parser() -> argparse.ArgumentParser:
    parser = script_parser(__doc__)
    parser.add_argument("--out", default=str(at_root("outputs/demo")),
                        help="folder for the model, runs, logs and report")
    parser.add_argument("--data-dir", default=str(at_root("data")), help="dataset folder with dataset_info.json")
    parser.add_argument("--train-size", type=at_least(1), default=6600)
    parser.add_argument("--val-size", type=at_least(1), default=1000)
    parser.add_argument("--seed", type=at_least(0), default=42, help="seed of the data split")
    parser.add_argument("--model-seed", type=at_least(0), default=0,
                        help="seed of the tiny model's random init (the result depends on it; see docs/reports.md)")
    return parser


# pragma: no mutate end
class Stages:
    """Runs each stage as a step of the one runner (``recipekit.steps``), every time, with its log and time."""

    def __init__(self, log_dir: Path) -> None:
        self.runner = Runner(log_dir)
        self.times: dict[str, float] = {}

    def run(self, name: str, command: list[str], hint: str = "", progress: Path | None = None) -> None:
        print(f"[{name}] {' '.join(command)}", flush=True)
        print(f"[{name}] log: {self.runner.log(Step(name, command))}", flush=True)
        try:
            outcome = self.runner.execute(Step(name, command, progress=progress))
        except StepFailed as exc:
            raise SystemExit(f"error: {exc.headline}; its log: {exc.log}{hint}") from None
        self.times[name] = outcome.seconds
        print(f"[{name}] done in {self.times[name]:.1f} s (log: {outcome.log})", flush=True)


@exit_on_input_error
def main(argv: list[str] | None = None) -> dict[str, object]:
    args = build_parser().parse_args(argv)
    out = Path(args.out)
    python, cli = sys.executable, program("llamafactory-cli")
    stages = Stages(out / "logs")
    source, said = source_flags("agnews", "fancyzhx/ag_news")
    print(f"[convert] {said}", flush=True)
    stages.run("convert", [python, "converters/agnews.py", *source, "--data-dir", args.data_dir,
                           "--max-samples", str(args.train_size), "--val-size", str(args.val_size),
                           "--seed", str(args.seed)],
               hint="" if source[0] == "--input" else ". Without network, point the demo at a local copy of the "
               "original CSV release: AG_NEWS=<folder with test.csv> make demo")
    model = os.environ.get("MODEL")
    if not model:
        model = str(out / "tiny_model")
        stages.run("tiny_model", [python, "scripts/make_tiny_model.py", "--texts",
                                  f"{args.data_dir}/agnews.jsonl", "--out", model, "--seed", str(args.model_seed)])
    template_name = os.environ.get("TEMPLATE", "default")
    template = f"template={template_name}"
    sft_dir, predict_dir = out / "sft", out / "predict"
    stages.run("train", [cli, "train", TRAIN_RECIPE, f"model_name_or_path={model}", f"output_dir={sft_dir}",
                         f"dataset_dir={args.data_dir}", template], progress=sft_dir / TRAINER_LOG)
    stages.run("predict", [cli, "train", PREDICT_RECIPE, f"model_name_or_path={sft_dir}",
                           f"output_dir={predict_dir}", f"dataset_dir={args.data_dir}", template],
               progress=predict_dir / TRAINER_LOG)
    predictions = predict_dir / "generated_predictions.jsonl"
    stages.run("report", [python, "eval/classify_report.py", str(predictions), "--labels", LABELS,
                          "--out", str(out / "report")])
    scores = out / "scores" / "label_scores.jsonl"
    stages.run("score_labels", [python, "eval/score_labels.py", "--recipe", PREDICT_RECIPE, "--model", str(sft_dir),
                                "--dataset-dir", args.data_dir, "--labels", LABELS, "--out", str(scores),
                                "--template", template_name, "--no-progress"])
    stages.run("score_report", [python, "eval/classify_report.py", str(scores), "--labels", LABELS])
    report = json.loads((out / "report" / "classify_report.json").read_text(encoding="utf-8"))
    scored = json.loads((scores.parent / "classify_report.json").read_text(encoding="utf-8"))
    summary = {
        "model": model, "accuracy": report["accuracy"], "n": report["n"], "n_invalid": report["n_invalid"],
        "label_scoring": {"accuracy": scored["accuracy"], "n_invalid": scored["n_invalid"],
                          **{k: scored["probabilistic"][k] for k in ("log_loss", "brier", "ece")}},
        "seconds": stages.times,
        "train_plus_predict_seconds": round(stages.times["train"] + stages.times["predict"], 1),
        "paths": {"data": args.data_dir, "model": model, "sft": str(sft_dir), "predictions": str(predictions),
                  "report": str(out / "report" / "classify_report.md"), "scores": str(scores),
                  "scores_report": str(scores.parent / "classify_report.md"), "logs": str(out / "logs")},
    }
    write_json(out / "demo_summary.json", summary)
    print((out / "report" / "classify_report.md").read_text(encoding="utf-8"))
    print("Stage times: " + ", ".join(f"{k} {v:.1f} s" for k, v in stages.times.items()))
    print(f"Held-out accuracy {report['accuracy']:.4f} on {report['n']} rows ({report['n_invalid']} invalid); "
          f"train + predict {summary['train_plus_predict_seconds']:.0f} s")
    scoring = summary["label_scoring"]
    print(f"Label scoring: accuracy {scoring['accuracy']:.4f} ({scoring['n_invalid']} invalid), "
          f"log loss {scoring['log_loss']:.4f}, Brier {scoring['brier']:.4f}, ECE {scoring['ece']:.4f}")
    for name, path in summary["paths"].items():
        print(f"  {name:12s} {path}")
    return summary


if __name__ == "__main__":
    main()
