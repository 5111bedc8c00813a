"""Capability benchmarks with lm-evaluation-harness: each stage's task and dimension scores, side by side.

Each STAGE file names a model (hub id or folder), an optional LoRA adapter, whether prompts go through the
model's chat template (base models plain, chat-tuned ones templated), and the suite file of dimensions
(tasks, shots, metric). lm-eval runs every task; its own results are kept per stage and shot count under
OUT/lm_eval/, and benchmarks.json / .md (one column per stage, standard errors, deltas against the first
stage) and capability_radar.png (one polygon per stage) are written from them. Hub tasks need their
datasets: without network a task whose data is not cached is a one-line error; point lm-eval at a local
copy with a task YAML in --include-path (dataset_path: json, data_files: ...).

Example:
    llm-recipes bench recipes/benchmarks/qwen3_4b_base.yaml recipes/benchmarks/qwen3_4b_sft.yaml \\
        recipes/benchmarks/qwen3_4b_dpo.yaml --out reports/capabilities
    llm-recipes bench recipes/benchmarks/qwen3_4b_base.yaml --limit 50 --batch-size 8   # a quick look
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import logging
from pathlib import Path
from typing import Any

from recipekit.cli import at_least, number_above, script_parser
from recipekit.data.readers import hub_offline, hub_reachable, root_cause
from recipekit.errors import InputError
from recipekit.eval.benchmarks import Stage, Suite, dimension_scores, load_stage, load_suite
from recipekit.files import announce, atomic_write_text, write_json, writing_command
from recipekit.paths import at_root
from recipekit.report.benchmarks import plot_radar, render_markdown
from recipekit.report.wandb import add_wandb_flags, wandb_checked
from recipekit.report.writer import versions

AGGREGATION = "the mean of its tasks' scores (each task's metric: acc_norm, or acc where the task has no acc_norm)"


def build_parser() -> argparse.ArgumentParser:
    parser = script_parser(__doc__)
    parser.add_argument("stages", nargs="+", metavar="STAGE", help="stage files (model, adapter, chat, suite)")
    parser.add_argument("--out", default=str(at_root("outputs/benchmarks")),
                        help="output folder (default: outputs/benchmarks)")
    parser.add_argument("--limit", type=number_above(0), help="at most this many examples per task (a fraction if < 1)")
    parser.add_argument("--batch-size", default="1", help="lm-eval batch size, or 'auto' (default: 1)")
    parser.add_argument("--device", help="cuda, cuda:0, cpu ... (default: cuda when there is one, else cpu)")
    parser.add_argument("--include-path", help="folder of extra lm-eval task YAMLs (local copies, custom tasks)")
    parser.add_argument("--seed", type=at_least(0), default=1234, help="lm-eval's seeds (default: 1234)")
    add_wandb_flags(parser, "the dimension and task scores", into_training=False)
    return parser


def quiet_progress() -> None:
    """No loading bars from transformers and datasets: the output is the report (and one line on an error)."""
    import datasets
    from transformers.utils import logging as transformers_logging

    transformers_logging.disable_progress_bar()
    datasets.disable_progress_bars()


def task_manager(include_path: str | None) -> Any:
    from lm_eval.tasks import TaskManager

    if include_path and not Path(include_path).is_dir():
        raise InputError("no such folder", include_path)
    return TaskManager(include_path=include_path)


def check_tasks(suite: Suite, manager: Any, suite_path: str) -> None:
    """Every task of the suite is one lm-eval knows (its own, or one in --include-path)."""
    known = set(manager.all_tasks)
    for dimension in suite.dimensions:
        for task in dimension.tasks:
            if task not in known:
                raise InputError(f"dimension {dimension.name!r}: task {task!r} is not an lm-eval task (nor one in "
                                 "--include-path)", suite_path)


def run_stage(stage: Stage, suite: Suite, manager: Any, args: argparse.Namespace, raw: Path) -> dict[int, Any]:
    """lm-eval on every shot count of the suite; its results blocks by shot count, its own JSON kept."""
    import lm_eval
    import torch
    from lm_eval.utils import handle_non_serializable

    device = args.device or ("cuda" if torch.cuda.is_available() else "cpu")
    by_shots = {}
    for shots, tasks in suite.tasks_by_shots().items():
        try:
            with contextlib.redirect_stdout(io.StringIO()):
                output = lm_eval.simple_evaluate(
                    model="hf", model_args=stage.model_args(), tasks=tasks, num_fewshot=shots,
                    batch_size=args.batch_size, device=device, limit=args.limit, task_manager=manager,
                    apply_chat_template=stage.chat, log_samples=False, random_seed=args.seed,
                    numpy_random_seed=args.seed, torch_random_seed=args.seed, fewshot_random_seed=args.seed)
        except (OSError, ConnectionError, ValueError, RuntimeError) as exc:
            cause = root_cause(exc)
            hint = (" Without network, point lm-eval at a local copy: a task YAML in --include-path with "
                    "dataset_path: json and data_files naming your files." if not hub_reachable() else "")
            raise InputError(f"stage {stage.name}: lm-eval could not run {', '.join(tasks)}: {cause}.{hint}") from None
        write_json(raw / f"{stage.name}_{shots}shot.json",
                   json.loads(json.dumps(output, default=handle_non_serializable)))
        by_shots[shots] = output["results"]
    return by_shots


def stage_entry(stage: Stage, dimensions: dict[str, Any]) -> dict[str, Any]:
    return {"name": stage.name, "model": stage.model, "adapter": stage.adapter,
            "prompt_format": "chat template" if stage.chat else "plain (no chat template)",
            "dimensions": dimensions}


@writing_command
def main(argv: list[str] | None = None) -> dict[str, Any]:
    args = wandb_checked(build_parser().parse_args(argv))
    loaded = [load_stage(path) for path in args.stages]
    names = [stage.name for stage, _ in loaded]
    if len(set(names)) != len(names):
        raise InputError(f"two stages share a name: {' '.join(names)} (set `name:` in the stage files)")
    suite_paths = {suite for _, suite in loaded}
    if len(suite_paths) != 1:
        raise InputError(f"stages compared together share one suite, got {', '.join(sorted(suite_paths))}")
    suite_path = suite_paths.pop()
    suite = load_suite(suite_path)
    logging.getLogger("lm_eval").setLevel(logging.ERROR)
    quiet_progress()
    out = Path(args.out)
    raw = out / "lm_eval"
    stages = []
    with hub_offline(not hub_reachable()):  # cached datasets still load; missing ones fail at once, no retries
        manager = task_manager(args.include_path)
        check_tasks(suite, manager, suite_path)
        for stage, _ in loaded:
            print(f"[{stage.name}] {stage.model}" + (f" + {stage.adapter}" if stage.adapter else "") +
                  (" (chat template)" if stage.chat else " (plain prompts)"), flush=True)
            stages.append(stage_entry(stage, dimension_scores(suite, run_stage(stage, suite, manager, args, raw))))
    first = stages[0]["dimensions"]
    report = {"suite": suite.name, "suite_file": suite_path, "aggregation": AGGREGATION, "limit": args.limit,
              "stages": stages, "reported": suite.reported, "raw_folder": str(raw),
              "deltas": {s["name"]: {d: s["dimensions"][d]["score"] - first[d]["score"] for d in first}
                         for s in stages[1:]},
              "versions": versions("lm-eval", "transformers", "torch", "peft")}
    markdown = render_markdown(report)
    write_json(out / "benchmarks.json", report)
    atomic_write_text(out / "benchmarks.md", markdown)
    radar = plot_radar(report, out / "capability_radar.png")
    print(markdown)
    announce(f"wrote {out / 'benchmarks.json'}, {out / 'benchmarks.md'}, {radar}, {raw}/")
    if args.wandb:
        from recipekit.report.wandb import log_report

        scalars = {f"{s['name']}/{d}": block["score"] for s in stages for d, block in s["dimensions"].items()}
        rows = [[s["name"], d, block["score"], block["stderr"]] for s in stages for d, block in s["dimensions"].items()]
        table = {"dimensions": (["stage", "dimension", "score", "stderr"], rows)}
        run = log_report("benchmarks", out, scalars, table, {"capability_radar": radar}, {"suite": suite.name})
        print(f"wandb run: {run}")
    return report


if __name__ == "__main__":
    main()
