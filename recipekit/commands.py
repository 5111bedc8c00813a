"""`llm-recipes`: one command for every step; each subcommand runs a script's own ``main(argv)``.

The scripts stay where they are (``converters/``, ``eval/``, ``scripts/``) and keep working as
``python <folder>/<script>.py``; this module only maps a subcommand to its file, so both forms take the
same flags and print the same output.

Example:
    llm-recipes --help
    llm-recipes convert agnews --input ../shared/data/ag_news_csv --max-samples 6600 --val-size 1000
    llm-recipes check recipes
    llm-recipes report classify outputs/demo/predict/generated_predictions.jsonl
"""

from __future__ import annotations

import ast
import importlib
import importlib.util
import sys
from functools import cache
from pathlib import Path
from types import ModuleType
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
PROG = "llm-recipes"
NOT_CONVERTERS = {"__init__", "catalog", "fixtures"}

# subcommand -> script, or a group of subcommands -> script (paths relative to the repository root)
COMMANDS: dict[str, str | dict[str, str]] = {
    "convert": {},  # filled from converters/*.py: one subcommand per converter
    "check": {"recipes": "scripts/check_recipes.py", "data": "scripts/check_data.py"},
    "smoke": "scripts/smoke_recipe.py",
    "plan": "scripts/plan.py",
    "train-classifier": "scripts/train_classifier.py",
    "tiny-model": "scripts/make_tiny_model.py",
    "score": "eval/score_labels.py",
    "checkpoints": "eval/checkpoints.py",
    "calibrate": "eval/calibrate.py",
    "report": {"classify": "eval/classify_report.py", "gen": "eval/gen_report.py"},
    "submission": "eval/kaggle_submission.py",
    "bench": "eval/benchmarks.py",
    "plot": "scripts/plot_training.py",
    "sweep": "scripts/sweep.py",
    "compare": "scripts/compare_runs.py",
    "reproduce": "scripts/reproduce.py",
    "report-card": "scripts/report_card.py",
    "demo": "scripts/run_demo.py",
    "speed": {"convert": "scripts/bench_convert.py", "gen-report": "scripts/bench_gen_report.py",
              "score-labels": "scripts/bench_score_labels.py"},
}


class UsageError(Exception):
    """A subcommand that does not exist; the message says what does."""


def commands() -> dict[str, str | dict[str, str]]:
    """Every subcommand, the converters found in ``converters/`` included."""
    converters = {path.stem: f"converters/{path.name}" for path in sorted((ROOT / "converters").glob("*.py"))
                  if path.stem not in NOT_CONVERTERS}
    return {**COMMANDS, "convert": converters}


@cache
def summary(script: str) -> str:
    """The first line of a script's docstring (read without importing it)."""
    source = (ROOT / script).read_text(encoding="utf-8")
    doc = ast.get_docstring(ast.parse(source)) or ""
    return doc.strip().splitlines()[0] if doc.strip() else ""


def usage(group: str | None = None) -> str:
    """The listing ``llm-recipes --help`` (or ``llm-recipes GROUP --help``) prints."""
    table = commands()
    lines = [f"usage: {PROG} {group or 'COMMAND'} {'SUBCOMMAND ' if group else ''}[ARGS...]", ""]
    if group is None:
        lines += ["One command for every step: convert -> check -> train (llamafactory-cli) -> score -> report.", "",
                  "commands:"]
    entries = {group: table[group]} if group else table
    rows = []
    for name, target in entries.items():
        if isinstance(target, dict):
            rows += [(f"{name} {sub}", summary(script)) for sub, script in target.items()]
        else:
            rows.append((name, summary(target)))
    width = max(len(name) for name, _ in rows) + 2
    lines += [f"  {name:<{width}}{text}" for name, text in rows]
    lines += ["", f"`{PROG} COMMAND --help` shows a command's flags and an example; every command is also",
              "`python <folder>/<script>.py` from the repository root."]
    return "\n".join(lines)


def resolve(argv: list[str]) -> tuple[list[str], str, list[str]]:
    """(the subcommand's words, its script, the arguments left for the script)."""
    table = commands()
    if not argv or argv[0] in ("-h", "--help"):
        raise UsageError(usage())
    name, rest = argv[0], argv[1:]
    if name not in table:
        raise UsageError(f"{PROG}: unknown command {name!r} (choose from {', '.join(table)})")
    target = table[name]
    if isinstance(target, str):
        return [name], target, rest
    if not rest or rest[0] in ("-h", "--help"):
        raise UsageError(usage(name))
    if rest[0] not in target:
        raise UsageError(f"{PROG} {name}: unknown subcommand {rest[0]!r} (choose from {', '.join(target)})")
    return [name, rest[0]], target[rest[0]], rest[1:]


def load(script: str) -> ModuleType:
    """The module of a script, loaded once: ``converters/x.py`` as ``converters.x``, others from their path."""
    path = ROOT / script
    if not path.is_file():
        raise UsageError(f"{PROG}: {path} is missing: run it from a clone of the repository (pip install -e .)")
    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))
    if (path.parent / "__init__.py").is_file():
        return importlib.import_module(f"{path.parent.name}.{path.stem}")
    name = f"llm_recipes_{path.parent.name}_{path.stem}"
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(name, path)
        module = importlib.util.module_from_spec(spec)  # type: ignore[arg-type]
        sys.modules[name] = module  # dataclasses and pickling look the module up there
        try:
            spec.loader.exec_module(module)  # type: ignore[union-attr]
        except BaseException:
            del sys.modules[name]
            raise
    return sys.modules[name]


def run(argv: list[str]) -> Any:
    """Run the subcommand named by ``argv`` and return what its ``main`` returns."""
    words, script, rest = resolve(argv)
    module = load(script)
    saved = sys.argv[0]
    sys.argv[0] = " ".join([PROG, *words])  # argparse's prog: `llm-recipes report classify`
    try:
        return module.main(rest)
    finally:
        sys.argv[0] = saved


def main(argv: list[str] | None = None) -> int:
    """The console entry point: exit 0 on success, the script's own code otherwise, 2 for a wrong command."""
    argv = sys.argv[1:] if argv is None else argv
    try:
        run(argv)
    except UsageError as exc:
        text = str(exc)
        helped = (bool(argv) and argv[-1] in ("-h", "--help")) or not argv
        print(text, file=sys.stdout if helped and text.startswith("usage") else sys.stderr)
        return 0 if helped and text.startswith("usage") else 2
    except KeyboardInterrupt:
        print(f"{PROG}: interrupted", file=sys.stderr)
        return 130
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
