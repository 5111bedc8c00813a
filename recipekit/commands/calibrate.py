"""Calibrate label probabilities from eval/score_labels.py: temperature, two-class threshold, A/B swap, OOF.

  temperature  fit one temperature on validation rows (minimum log loss), apply it to test rows; log loss,
               Brier and ECE before/after, temperature.json, the scaled test rows and a reliability diagram
  threshold    two-class tasks: search the threshold on the logit delta log p(positive) - log p(negative)
               on validation for macro-F1 (default grid [-3, 3] step 0.01), apply it to test; before/after
  swap         average each row's probabilities with its A/B-swapped copy's (labels flipped back);
               log loss/accuracy of the original order, the swapped order and the average
  merge-oof    concatenate K out-of-fold score files (ids must not repeat) into one OOF file and report it

Each writes its rows (JSONL, readable by eval/classify_report.py) and calibrate_<command>.json/.md into
--out (default: the folder of the test / original / first file).

Example:
    llm-recipes calibrate temperature --val outputs/scores/arena_val/label_scores.jsonl \\
        --test outputs/scores/arena_test/label_scores.jsonl
    llm-recipes calibrate threshold --val afqmc_val_scores.jsonl --test afqmc_test_scores.jsonl --positive 是
    llm-recipes calibrate swap --original arena_val_scores.jsonl --swapped arena_val_swapped_scores.jsonl
    llm-recipes calibrate merge-oof fold0.jsonl fold1.jsonl fold2.jsonl fold3.jsonl fold4.jsonl --out oof/
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
from scipy.special import log_softmax, softmax

from recipekit.cli import at_least, number_above, parse_pairs, script_parser
from recipekit.errors import InputError
from recipekit.eval.calibration import (
    MIN_FIT_ROWS,
    ScoreFile,
    check_swapped_labels,
    fit_temperature,
    flip_permutation,
    ids_everywhere,
    load_scores,
    merge_folds,
    order_consistency,
    out_path,
    pair_rows,
    rewritten_rows,
    search_threshold,
    summary,
    swap_average,
    temperature_interval,
    threshold_shift,
    two_class,
)
from recipekit.eval.labels import parse_labels
from recipekit.eval.probabilities import DEFAULT_BINS
from recipekit.files import announce, write_json, write_jsonl, writing_command
from recipekit.report.calibration import oof_markdown, swap_markdown, temperature_markdown, threshold_markdown
from recipekit.report.reliability import plot_reliability
from recipekit.report.wandb import add_wandb_flags, wandb_checked
from recipekit.report.writer import file_signature, versions, write_report


def finish(args: argparse.Namespace, command: str, anchor: str, report: dict[str, Any], markdown: list[str],
           outputs: dict[str, Path]) -> dict[str, Any]:
    """Write calibrate_<command>_<input>.json/.md next to the other outputs (named after the input, so runs on
    validation and test rows into one folder keep both), print, log to wandb if asked."""
    report["meta"] = {"versions": versions("scikit-learn", "scipy", "numpy"),
                      "outputs": {k: str(v) for k, v in outputs.items()}}
    out_dir = out_path(args.out, anchor, "")
    stem = f"calibrate_{command}" if command == "oof" else f"calibrate_{command}_{Path(anchor).stem}"
    json_path, md_path = write_report(out_dir, stem, report, "\n".join(markdown) + "\n")
    print("\n".join(markdown))
    announce(f"wrote {json_path}, {md_path}, " + ", ".join(str(p) for p in outputs.values()))
    if args.wandb:
        from recipekit.report.wandb import log_report

        scalars = {f"{name}_{metric}": value for name, block in report["summaries"].items() if block
                   for metric, value in block.items()}
        images = {k: v for k, v in outputs.items() if v.suffix == ".png"}
        print(f"wandb run: {log_report(f'calibrate_{command}', out_dir, scalars, {}, images, {}, args.wandb_run)}")
    return report


def val_and_test(args: argparse.Namespace, purpose: str) -> tuple[ScoreFile, ScoreFile]:
    """--val (which must carry gold labels) and --test, on one label set."""
    val = load_scores(args.val, parse_labels(args.labels))
    if val.y is None:
        raise InputError(f"validation rows need gold labels to {purpose}", args.val)
    return val, load_scores(args.test, val.labels)


def run_temperature(args: argparse.Namespace) -> dict[str, Any]:
    val, test = val_and_test(args, "fit a temperature")
    temperature = fit_temperature(val.scores, val.y)
    interval = temperature_interval(val.scores, val.y, args.bootstrap, args.seed) if args.bootstrap else None
    if len(val.rows) < MIN_FIT_ROWS:
        spread = f"; its 95% interval over {args.bootstrap} bootstrap refits is [{interval[0]:.3g}, " \
            f"{interval[1]:.3g}]" if interval else ""
        print(f"warning: T = {temperature:.3g} fitted on {len(val.rows)} validation rows (fewer than "
              f"{MIN_FIT_ROWS}){spread}: too few rows to trust it", file=sys.stderr)
    scaled = test.scores / temperature
    summaries = {
        "val_before": summary(val.probs, val.y, val.labels, args.ece_bins),
        "val_after": summary(softmax(val.scores / temperature, axis=1), val.y, val.labels, args.ece_bins),
        "test_before": summary(test.probs, test.y, test.labels, args.ece_bins),
        "test_after": summary(softmax(scaled, axis=1), test.y, test.labels, args.ece_bins),
    }
    outputs = {"temperature": out_path(args.out, args.test, "temperature.json"),
               "rows": out_path(args.out, args.test, f"{Path(args.test).stem}.temperature.jsonl")}
    write_json(outputs["temperature"], {"temperature": temperature, "labels": val.labels,
                                        "fitted_on": file_signature(args.val)})
    write_jsonl(outputs["rows"], rewritten_rows(test, softmax(scaled, axis=1), log_softmax(scaled, axis=1)))
    shown, y, which = ((test, test.y, "test rows") if test.y is not None else
                       (val, val.y, "validation rows it was fitted on: the test rows carry no labels"))
    outputs["reliability"] = plot_reliability(
        {f"before, {which}": (shown.probs, y),
         f"after (T={temperature:.3f}), {which}": (softmax(shown.scores / temperature, axis=1), y)},
        args.ece_bins, out_path(args.out, args.test, f"reliability_temperature_{Path(args.test).stem}.png"))
    report = {"temperature": temperature, "temperature_ci95": interval, "labels": val.labels,
              "val": file_signature(args.val), "test": file_signature(args.test), "summaries": summaries}
    markdown = temperature_markdown(report, val, test, which, args.bootstrap)
    return finish(args, "temperature", args.test, report, markdown, outputs)


def run_threshold(args: argparse.Namespace) -> dict[str, Any]:
    if args.high < args.low:  # the flags are checked before any file is read
        raise InputError(f"--low {args.low:g} is above --high {args.high:g}: the threshold range is empty")
    val, test = val_and_test(args, "search a threshold")
    pos, neg = two_class(val, args.positive)
    delta = val.scores[:, pos] - val.scores[:, neg]
    threshold, val_f1 = search_threshold(delta, (val.y == pos).astype(int), args.low, args.high, args.step)
    test_scores, test_probs, test_chosen = threshold_shift(test, pos, neg, threshold)
    summaries = {"val_before": summary(val.probs, val.y, val.labels, args.ece_bins),
                 "val_after": summary(threshold_shift(val, pos, neg, threshold)[1], val.y, val.labels, args.ece_bins),
                 "test_before": summary(test.probs, test.y, test.labels, args.ece_bins),
                 "test_after": summary(test_probs, test.y, test.labels, args.ece_bins)}
    outputs = {"threshold": out_path(args.out, args.test, "threshold.json"),
               "rows": out_path(args.out, args.test, f"{Path(args.test).stem}.threshold.jsonl")}
    decision = {"threshold": threshold, "positive": val.labels[pos], "negative": val.labels[neg],
                "rule": f"predict {val.labels[pos]!r} when log p({val.labels[pos]}) - log p({val.labels[neg]}) "
                        f"> {threshold:g}", "grid": {"low": args.low, "high": args.high, "step": args.step},
                "val_macro_f1": val_f1, "fitted_on": file_signature(args.val)}
    write_json(outputs["threshold"], decision)
    # logprobs stay the model's; the shifted scores (above 0 for the positive label) get their own field
    write_jsonl(outputs["rows"], rewritten_rows(test, test_probs, test.scores, test_chosen,
                                                {"threshold_scores": test_scores}))
    report = {**decision, "labels": val.labels, "test": file_signature(args.test), "summaries": summaries}
    return finish(args, "threshold", args.test, report, threshold_markdown(report, val, test), outputs)


def parse_flip(text: str) -> list[tuple[str, str]]:
    return list(parse_pairs(text, "--flip", "LABEL=LABEL").items())


def run_swap(args: argparse.Namespace) -> dict[str, Any]:
    labels = parse_labels(args.labels)
    original = load_scores(args.original, labels)
    swapped = load_scores(args.swapped, original.labels)
    perm = flip_permutation(original.labels, parse_flip(args.flip))
    order = pair_rows(original, swapped)
    check_swapped_labels(original, swapped, order, perm)
    flipped, averaged = swap_average(original.probs, swapped.probs[order], perm)
    y = original.y
    summaries = {"original": summary(original.probs, y, original.labels, args.ece_bins),
                 "swapped_flipped_back": summary(flipped, y, original.labels, args.ece_bins),
                 "averaged": summary(averaged, y, original.labels, args.ece_bins)}
    outputs = {"rows": out_path(args.out, args.original, f"{Path(args.original).stem}.swap_averaged.jsonl")}
    write_jsonl(outputs["rows"], rewritten_rows(original, averaged, np.log(np.clip(averaged, 1e-300, None))))
    report = {"labels": original.labels, "flip": args.flip, "original": file_signature(args.original),
              "swapped": file_signature(args.swapped),
              "paired_by": "id" if ids_everywhere(original, swapped) else "position",
              "order_consistency": order_consistency(original.probs, flipped), "summaries": summaries}
    return finish(args, "swap", args.original, report, swap_markdown(report, original, swapped), outputs)


def run_merge_oof(args: argparse.Namespace) -> dict[str, Any]:
    labels = parse_labels(args.labels)
    files = [load_scores(path, labels) for path in args.files]
    rows, per_file = merge_folds(files)
    probs = np.concatenate([file.probs for file in files])
    y = np.concatenate([file.y for file in files if file.y is not None])
    summaries = {"oof": summary(probs, y, files[0].labels, args.ece_bins)}
    for i, file in enumerate(files):
        per_file[i]["summary"] = summaries[f"file_{i}"] = summary(file.probs, file.y, file.labels, args.ece_bins)
    outputs = {"rows": out_path(args.out, args.files[0], "oof_scores.jsonl")}
    write_jsonl(outputs["rows"], rows)
    report = {"labels": files[0].labels, "files": per_file, "summaries": summaries}
    return finish(args, "oof", args.files[0], report, oof_markdown(report, len(rows)), outputs)


# pragma: no mutate start
def build_parser() -> argparse.ArgumentParser:
    parser = script_parser(__doc__)
    commands = parser.add_subparsers(dest="command", required=True)

    def command(name: str, run: Callable[[argparse.Namespace], dict[str, Any]], help_text: str) -> Any:
        sub = commands.add_parser(name, help=help_text, description=help_text)
        sub.set_defaults(run=run)
        sub.add_argument("--labels", help="comma-separated label set (default: the first row's probs keys)")
        sub.add_argument("--out", help="output folder (default: the folder of the test/original/first file)")
        sub.add_argument("--ece-bins", type=at_least(1), default=DEFAULT_BINS,
                         help=f"equal-width bins for ECE (default: {DEFAULT_BINS})")
        add_wandb_flags(sub, "the before/after numbers")
        return sub

    temperature = command("temperature", run_temperature, "fit a temperature on --val, apply it to --test")
    temperature.add_argument("--val", required=True, help="scored validation rows (with gold labels)")
    temperature.add_argument("--test", required=True, help="scored test rows (labeled or not)")
    temperature.add_argument("--bootstrap", type=at_least(0), default=200,
                             help="bootstrap refits for the temperature's 95%% interval (0: none; default: 200)")
    temperature.add_argument("--seed", type=at_least(0), default=0, help="bootstrap seed (default: 0)")
    threshold = command("threshold", run_threshold, "two-class threshold for macro-F1 on --val, applied to --test")
    threshold.add_argument("--val", required=True, help="scored validation rows (with gold labels)")
    threshold.add_argument("--test", required=True, help="scored test rows (labeled or not)")
    threshold.add_argument("--positive", help="the positive label (default: the first label)")
    threshold.add_argument("--low", type=float, default=-3.0, help="lowest threshold searched (default: -3)")
    threshold.add_argument("--high", type=float, default=3.0, help="highest threshold searched (default: 3)")
    threshold.add_argument("--step", type=number_above(0), default=0.01, help="grid step (default: 0.01)")
    swap = command("swap", run_swap, "average each row with its A/B-swapped copy")
    swap.add_argument("--original", required=True, help="scored rows in the original response order")
    swap.add_argument("--swapped", required=True, help="the same rows scored with responses A and B exchanged")
    swap.add_argument("--flip", default="A=B", help="labels exchanged by the swap, LABEL=LABEL[,..] (default: A=B)")
    merge = command("merge-oof", run_merge_oof, "merge K out-of-fold score files into one OOF file")
    merge.add_argument("files", nargs="+", help="one scored validation file per fold")
    return parser


# pragma: no mutate end
@writing_command
def main(argv: list[str] | None = None) -> dict[str, Any]:
    args = wandb_checked(build_parser().parse_args(argv))
    return args.run(args)


if __name__ == "__main__":
    main()
