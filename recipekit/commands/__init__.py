"""`llm-recipes`: one command for every step; each subcommand is a module of this package with its own
``main(argv)``.

The files people type (``python converters/agnews.py``, ``python eval/classify_report.py``,
``python scripts/plan.py``) call the same ``main``, so both forms take the same flags and print the same output.

Example:
    llm-recipes --help
    llm-recipes convert agnews --input ../shared/data/ag_news_csv --max-samples 6600 --val-size 1000
    llm-recipes check recipes
    llm-recipes --root ~/llm-recipes report classify outputs/demo/predict/generated_predictions.jsonl
"""

from __future__ import annotations

import ast
import importlib
import importlib.util
import os
import pkgutil
import re
import sys
import textwrap
from functools import cache
from types import ModuleType
from typing import Any

from recipekit import __version__
from recipekit.errors import quiet_interrupts
from recipekit.paths import ROOT_VARIABLE

quiet_interrupts()  # Ctrl-C while a command imports its libraries: one line, not a traceback

PROG = "llm-recipes"
COMMANDS_PACKAGE = "recipekit.commands"
CONVERTERS_PACKAGE = "recipekit.converters"
NOT_CONVERTERS = {"catalog", "command", "fixtures"}  # the converters package's shared modules

# subcommand -> module of this package, or a group of subcommands -> module
COMMANDS: dict[str, str | dict[str, str]] = {
    "convert": {},  # filled from recipekit.converters: one subcommand per converter
    "check": {"recipes": "check_recipes", "data": "check_data", "contamination": "check_contamination"},
    "smoke": "smoke_recipe",
    "plan": "plan",
    "doctor": "doctor",
    "train-classifier": "train_classifier",
    "export": "export",
    "tiny-model": "make_tiny_model",
    "score": "score_labels",
    "checkpoints": "checkpoints",
    "calibrate": "calibrate",
    "report": {"classify": "classify_report", "gen": "gen_report"},
    "submission": "kaggle_submission",
    "bench": "benchmarks",
    "plot": "plot_training",
    "sweep": "sweep",
    "compare": "compare_runs",
    "reproduce": "reproduce",
    "new": "new",
    "report-card": "report_card",
    "demo": "run_demo",
}

# `llm-recipes --help`: the commands under the stage of a project they serve, in a project's order; a group's name
# alone ("convert") lists all its subcommands
STAGES: dict[str, tuple[str, ...]] = {
    "data": ("convert", "check data", "check contamination"),
    "check and plan": ("check recipes", "smoke", "plan", "doctor"),
    "train": ("train-classifier", "sweep", "tiny-model"),
    "evaluate": ("score", "report classify", "report gen", "checkpoints", "calibrate", "bench", "plot", "compare",
                 "submission"),
    "reproduce": ("new", "reproduce", "report-card", "demo"),
    "export": ("export",),
}


class UsageError(Exception):
    """A subcommand that does not exist; the message says what does."""


def converter_modules() -> list[str]:
    """The converter modules' names (``agnews``, ``yelp``, ...), found in the package."""
    package = importlib.import_module(CONVERTERS_PACKAGE)
    return sorted(info.name for info in pkgutil.iter_modules(package.__path__) if info.name not in NOT_CONVERTERS)


def commands() -> dict[str, str | dict[str, str]]:
    """Every subcommand -> its module's full name, the converters included."""
    table: dict[str, str | dict[str, str]] = {}
    for name, target in COMMANDS.items():
        if isinstance(target, dict):
            table[name] = {sub: f"{COMMANDS_PACKAGE}.{module}" for sub, module in target.items()}
        else:
            table[name] = f"{COMMANDS_PACKAGE}.{target}"
    table["convert"] = {name: f"{CONVERTERS_PACKAGE}.{name}" for name in converter_modules()}
    return table


HELP_WIDTH = 118  # the listing's lines wrap here
SENTENCE_END = re.compile(r"(?<=[.?!])\s+(?=[A-Z`(\"'])")  # a full stop, a space, then a new sentence


@cache
def summary(module: str) -> str:
    """The first sentence of a command module's docstring, whole (read without importing it)."""
    spec = importlib.util.find_spec(module)
    source = spec.loader.get_source(module) if spec and spec.loader else ""  # type: ignore[union-attr]
    doc = ast.get_docstring(ast.parse(source or "")) or ""
    paragraph = " ".join(doc.strip().split("\n\n")[0].split())
    return SENTENCE_END.split(paragraph, maxsplit=1)[0]


def listed(table: dict[str, str | dict[str, str]], words: str) -> list[tuple[str, str]]:
    """(subcommand, module) of ``words``: a command, a group's one subcommand, or a whole group."""
    name, _, sub = words.partition(" ")
    target = table[name]
    if isinstance(target, str):
        return [(name, target)]
    return [(f"{name} {each}", module) for each, module in target.items() if each == sub or not sub]


def usage(group: str | None = None) -> str:
    """The listing ``llm-recipes --help`` (under each stage's heading) or ``llm-recipes GROUP --help`` prints."""
    table = commands()
    lines = [f"usage: {PROG} {group or 'COMMAND'} {'SUBCOMMAND ' if group else ''}[ARGS...]", ""]
    if group is None:
        lines += ["One command for every step: convert -> check -> train (llamafactory-cli) -> score -> report."]
    stages = {"": (group,)} if group else {f"{stage}:": entries for stage, entries in STAGES.items()}
    sections = {heading: [row for words in entries for row in listed(table, words)]
                for heading, entries in stages.items()}
    width = max(len(name) for entries in sections.values() for name, _ in entries) + 2
    for heading, entries in sections.items():
        lines += ["", heading] if heading else []
        for name, module in entries:
            wrapped = textwrap.wrap(summary(module), HELP_WIDTH - width - 2) or [""]
            lines += [f"  {name:<{width}}{wrapped[0]}", *(" " * (width + 2) + more for more in wrapped[1:])]
    lines += ["", f"`{PROG} COMMAND --help` shows a command's flags and an example; every command is also",
              "`python <folder>/<script>.py` from the repository root.",
              f"Commands find recipes/, data/ and outputs/ in the working directory: `{PROG} --root DIR COMMAND ...`",
              f"(or ${ROOT_VARIABLE}) points them at another clone; a path typed on the command line is read as",
              f"given, else under that root. `{PROG} --version` prints the version."]
    return "\n".join(lines)


def resolve(argv: list[str]) -> tuple[list[str], str, list[str]]:
    """(the subcommand's words, its module, the arguments left for it)."""
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


def load(module: str) -> ModuleType:
    """A command's module (imported once)."""
    return importlib.import_module(module)


def global_options(argv: list[str]) -> list[str]:
    """Apply ``--root DIR`` and answer ``--version`` (before the subcommand); return the rest."""
    while (argv and argv[0] in ("--root", "--version")) or (argv and argv[0].startswith("--root=")):
        flag, argv = argv[0], argv[1:]
        if flag == "--version":
            raise UsageError(f"{PROG} {__version__}")
        if flag == "--root":
            if not argv:
                raise UsageError(f"error: {PROG}: --root: expected a folder")
            flag, argv = f"--root={argv[0]}", argv[1:]
        folder = flag.partition("=")[2]
        if not os.path.isdir(folder):
            raise UsageError(f"error: {PROG}: --root: no such folder: {folder}")
        os.environ[ROOT_VARIABLE] = os.path.abspath(folder)
    return argv


def run(argv: list[str]) -> Any:
    """Run the subcommand named by ``argv`` and return what its ``main`` returns."""
    words, module, rest = resolve(global_options(argv))
    saved = sys.argv[0]
    sys.argv[0] = " ".join([PROG, *words])  # argparse's prog: `llm-recipes report classify`
    try:
        return load(module).main(rest)
    finally:
        sys.argv[0] = saved


def main(argv: list[str] | None = None) -> int:
    """The console entry point: exit 0 on success, the command's own code otherwise, 2 for a wrong command."""
    try:
        return answer(sys.argv[1:] if argv is None else argv)
    except BrokenPipeError:  # the reader stopped early (`llm-recipes --help | head`): no traceback, and none at exit
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1


def answer(argv: list[str]) -> int:
    """:func:`run`, with a wrong command's usage and Ctrl-C turned into an exit code."""
    try:
        run(argv)
    except UsageError as exc:
        text = str(exc)
        helped = (bool(argv) and argv[-1] in ("-h", "--help", "--version")) or not argv
        answered = helped and text.startswith(("usage", f"{PROG} {__version__}"))
        print(text, file=sys.stdout if answered else sys.stderr)
        return 0 if answered else 2
    except KeyboardInterrupt:
        print(f"{PROG}: interrupted", file=sys.stderr)
        return 130
    return 0
