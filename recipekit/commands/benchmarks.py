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
from pathlib import Path
from typing import Any

from recipekit.cli import at_least, number_above, script_parser
from recipekit.data.readers import hub_offline, hub_reachable
from recipekit.eval.benchmarks import AGGREGATION, deltas, dimension_scores, load_stages, load_suite, stage_entry
from recipekit.eval.harness import check_tasks, quiet_progress, run_stage, task_manager
from recipekit.files import announce, atomic_write_text, write_json, writing_command
from recipekit.paths import at_root
from recipekit.report.benchmarks import plot_radar, render_markdown
from recipekit.report.wandb import add_wandb_flags, wandb_checked
from recipekit.report.writer import versions


# pragma: no mutate start
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


# pragma: no mutate end
@writing_command
def main(argv: list[str] | None = None) -> dict[str, Any]:
    args = wandb_checked(build_parser().parse_args(argv))
    loaded, suite_path = load_stages(args.stages)
    suite = load_suite(suite_path)
    quiet_progress()
    out = Path(args.out)
    raw = out / "lm_eval"
    stages = []
    with hub_offline(not hub_reachable()):  # cached datasets still load; missing ones fail at once, no retries
        manager = task_manager(args.include_path)
        check_tasks(suite, manager, suite_path)
        for stage in loaded:
            print(f"[{stage.name}] {stage.model}" + (f" + {stage.adapter}" if stage.adapter else "") +
                  (" (chat template)" if stage.chat else " (plain prompts)"), flush=True)
            results = run_stage(stage, suite, manager, raw, limit=args.limit, batch_size=args.batch_size,
                                device=args.device, seed=args.seed)
            stages.append(stage_entry(stage, dimension_scores(suite, results)))
    report = {"suite": suite.name, "suite_file": suite_path, "aggregation": AGGREGATION, "limit": args.limit,
              "stages": stages, "reported": suite.reported, "raw_folder": str(raw), "deltas": deltas(stages),
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
