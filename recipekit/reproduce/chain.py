"""A report's chain: the plain commands that reproduce it, read from ``recipes/reproduce/<report>.yaml``.

A chain file names the report, its steps (``name``, the command as a user types it in ``run``, its
``outputs``; ``tiny`` when the tiny run needs another command, e.g. a converter reading fixtures) and the
report's published numbers. ``{out}`` is the reproduction's folder. A step's inputs need no listing: every
file its command names, every recipe it runs (with that recipe's data and the model or adapter folder another
step trains) is one. A recipe step's outputs come from the recipe (its trainer state, predictions).

``--tiny`` turns the same commands into a CPU run: every recipe a step trains or predicts with becomes a tiny
copy under ``{out}/recipes`` (``recipekit.recipes.tiny_run``), and the folders the recipes write and read
(``saves/``, ``data/``) move under ``{out}``; checks and plans still read the real recipes.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from recipekit.errors import InputError
from recipekit.eval.generation import METRICS as GEN_METRICS
from recipekit.paths import root
from recipekit.recipes.reading import CHAIN_FOLDER as CHAINS
from recipekit.recipes.reading import Recipe, load_recipe

CHAIN_KEYS = {"report", "title", "steps", "numbers", "differences"}
STEP_KEYS = {"name", "run", "tiny", "outputs"}
NUMBER_KEYS = {"name", "published", "unit", "report", "metric", "approx"}
PLACEHOLDER = re.compile(r"\{([a-z]+)(?::([A-Za-z0-9_.-]+))?\}")
RELOCATED = ("saves", "data")  # the folders recipes write and read, moved under {out} in a tiny run
RUNNERS = {"llamafactory-cli": ("train",), "llm-recipes": ("train-classifier",)}
CLASSIFIER_SCRIPT = "scripts/train_classifier.py"
CLASSIFY_METRICS = ("accuracy", "macro_precision", "macro_recall", "macro_f1", "log_loss")
PER_CLASS = re.compile(r"^f1\[(.+)\]$")  # f1[LABEL]: one class's F1


@dataclass(frozen=True)
class Number:
    """One published number and where this run's value comes from: a report folder and a metric in it."""

    name: str
    published: float
    metric: str
    report: str
    unit: str = ""  # "%": the report prints it x100
    approx: bool = False  # the report gives it as "about"


@dataclass(frozen=True)
class StepSpec:
    name: str
    run: str
    tiny: str | None = None
    outputs: tuple[str, ...] = ()


@dataclass
class Chain:
    """One report's chain file."""

    name: str
    path: Path
    report: str
    title: str
    steps: list[StepSpec]
    numbers: list[Number]
    differences: list[str] = field(default_factory=list)


def chain_folder() -> Path:
    """``recipes/reproduce/`` of the repository root."""
    return root() / "recipes" / CHAINS


def chain_names() -> list[str]:
    return sorted(p.stem for p in chain_folder().glob("*.yaml"))


def load_chain(name_or_path: str) -> Chain:
    """A chain by report name (``agnews``) or file; every malformed field is a one-line error naming the file."""
    path = Path(name_or_path) if name_or_path.endswith((".yaml", ".yml")) else chain_folder() / f"{name_or_path}.yaml"
    if not path.is_file():
        raise InputError(f"no chain for report {name_or_path!r} (known: {', '.join(chain_names())})")
    where = str(path.relative_to(root()) if path.resolve().is_relative_to(root()) else path)
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise InputError(f"not valid YAML ({getattr(exc, 'problem', exc)})", where) from None
    if not isinstance(data, dict) or not isinstance(data.get("steps"), list) or not data["steps"]:
        raise InputError("a chain is a mapping with a non-empty 'steps' list", where)
    unknown = set(data) - CHAIN_KEYS
    if unknown:
        raise InputError(f"unknown key(s) {', '.join(sorted(unknown))} (known: {', '.join(sorted(CHAIN_KEYS))})", where)
    steps, seen = [], set()
    for index, raw in enumerate(data["steps"], 1):
        if not isinstance(raw, dict) or not raw.get("name") or not raw.get("run"):
            raise InputError(f"step {index}: needs a name and a run command", where)
        extra = set(raw) - STEP_KEYS
        if extra:
            raise InputError(f"step {raw['name']}: unknown key(s) {', '.join(sorted(extra))}", where)
        if raw["name"] in seen:
            raise InputError(f"step {raw['name']}: the name is used twice", where)
        seen.add(raw["name"])
        steps.append(StepSpec(str(raw["name"]), str(raw["run"]).strip(), raw.get("tiny"),
                              tuple(str(o) for o in raw.get("outputs") or ())))
    numbers = []
    for raw in data.get("numbers") or []:
        missing = {"name", "published", "metric", "report"} - set(raw or {})
        if missing or set(raw) - NUMBER_KEYS:
            raise InputError(f"number {raw.get('name', '?')}: needs name, published, metric, report "
                             f"(may add unit, approx)", where)
        if not (raw["metric"] in (*CLASSIFY_METRICS, *GEN_METRICS) or PER_CLASS.match(str(raw["metric"]))):
            raise InputError(f"number {raw['name']}: unknown metric {raw['metric']!r} (known: "
                             f"{', '.join((*CLASSIFY_METRICS, *GEN_METRICS))}, f1[LABEL])", where)
        numbers.append(Number(str(raw["name"]), float(raw["published"]), str(raw["metric"]), str(raw["report"]),
                              str(raw.get("unit", "")), bool(raw.get("approx", False))))
    return Chain(path.stem, path, str(data.get("report", "")), str(data.get("title", path.stem)), steps, numbers,
                 [str(d) for d in data.get("differences") or []])


def is_recipe_token(token: str) -> bool:
    return token.startswith("recipes/") and token.endswith(".yaml") and (root() / token).is_file()


@dataclass
class Step:
    """One step as it runs here: its command (placeholders filled, tiny swaps made), environment and files."""

    name: str
    command: list[str]
    env: dict[str, str]
    outputs: list[Path]
    recipe: Path | None = None  # the recipe it runs (a tiny copy in a tiny run)
    source_recipe: str | None = None  # that recipe in recipes/
    overrides: dict[str, str] = field(default_factory=dict)

    def shell(self) -> str:
        """The command as a user would type it."""
        prefix = " ".join(f"{k}={shlex.quote(v)}" for k, v in self.env.items())
        return (prefix + " " if prefix else "") + " ".join(shlex.quote(part) for part in self.command)


class Layout:
    """Where one reproduction puts things, and how its commands read here (real or tiny)."""

    def __init__(self, chain: Chain, out: Path, tiny: bool, gpus: int | None = None,
                 sources: Callable[[str, Path, bool], list[str]] | None = None, writes: bool = True) -> None:
        self.chain, self.out, self.tiny, self.gpus = chain, out, tiny, gpus
        self.sources = sources  # {fixture:NAME} -> converter flags (dataset, raw folder, write)
        self.writes = writes  # False for a dry run: placeholders name the tiny run's files without making them
        self.group = f"reproduce-{chain.name}" + ("-tiny" if tiny else "")

    def relocate(self, token: str, recipes: bool = False) -> str:
        """In a tiny run: ``saves/...`` and ``data/...`` under {out}; with ``recipes``, a recipe -> its tiny copy
        (checks and plans keep reading the real recipes: they are about the real run)."""
        if not self.tiny:
            return token
        if "=" in token and not token.startswith("-"):
            key, _, value = token.partition("=")
            return f"{key}={self.relocate(value)}"
        if is_recipe_token(token):
            return str(self.tiny_recipe(token)) if recipes else token
        head = token.split("/", 1)[0]
        return str(self.out / token) if head in RELOCATED else token

    def tiny_recipe(self, recipe: str) -> Path:
        return self.out / "recipes" / Path(recipe).relative_to("recipes")

    def fill(self, text: str, step: str) -> str:
        def value(match: re.Match[str]) -> str:
            kind, arg = match.group(1), match.group(2)
            if kind == "out" and arg is None:
                return str(self.out)
            if kind == "fixture" and arg and self.tiny and self.sources:
                return " ".join(shlex.quote(a) for a in self.sources(arg, self.out / "raw", self.writes))
            raise InputError(f"step {step}: unknown placeholder {match.group(0)} (known: {{out}}, "
                             "{fixture:DATASET} in a tiny command)", str(self.chain.path))

        return PLACEHOLDER.sub(value, text)

    def steps(self) -> list[Step]:
        return [self.step(spec) for spec in self.chain.steps]

    def step(self, spec: StepSpec) -> Step:
        text = spec.tiny if self.tiny and spec.tiny else spec.run
        tokens = shlex.split(self.fill(text, spec.name))
        env: dict[str, str] = {}
        while tokens and re.fullmatch(r"[A-Z_][A-Z0-9_]*=.*", tokens[0]):
            key, _, val = tokens.pop(0).partition("=")
            env[key] = val
        source = next((t for t in tokens if is_recipe_token(t)), None)
        runs_recipe = source is not None and self.launches(tokens)
        command = [self.relocate(t, runs_recipe) for t in tokens]
        step = Step(spec.name, command, {}, [Path(self.relocate(self.fill(o, spec.name))) for o in spec.outputs])
        if runs_recipe:
            at = tokens.index(source)
            step.source_recipe = source
            step.recipe = Path(command[at])
            given = dict(t.split("=", 1) for t in tokens[at + 1:] if "=" in t and not t.startswith("-"))
            step.overrides = {key: self.relocate(value) for key, value in given.items()}
            real = {**load_recipe(root() / source).args, **given}
            if real.get("deepspeed") or self.gpus:
                env["FORCE_TORCHRUN"] = "1"
            if self.gpus:
                env["NPROC_PER_NODE"] = str(self.gpus)
            if self.tiny and real.get("deepspeed"):
                env["NPROC_PER_NODE"] = "2"
            if not step.outputs:
                step.outputs = [recipe_marker(load_recipe(root() / source), real, self.relocate)]
        env.update(self.group_env())
        step.env = env
        return step

    def group_env(self) -> dict[str, str]:
        """Every step of one reproduction logs to one wandb group, its runs kept under {out}."""
        env = {"WANDB_RUN_GROUP": self.group, "WANDB_DIR": str(self.out)}
        return {**env, "WANDB_MODE": "offline"} if self.tiny else env

    @staticmethod
    def launches(tokens: list[str]) -> bool:
        """Whether the command trains or predicts with a recipe (rather than checking or planning it)."""
        for i, token in enumerate(tokens):
            name = Path(token).name
            if name in RUNNERS and i + 1 < len(tokens) and tokens[i + 1] in RUNNERS[name]:
                return True
            if token.endswith(CLASSIFIER_SCRIPT):
                return True
        return False


def layout_for(report: str, out: str | None, tiny: bool, gpus: int | None = None,
               sources: Callable[[str, Path, bool], list[str]] | None = None, writes: bool = True) -> Layout:
    """A report's chain and where its reproduction lives: ``out``, else outputs/reproduce/REPORT[-tiny]
    (relative to the repository when inside it)."""
    chain = load_chain(report)
    folder = Path(out or f"outputs/reproduce/{chain.name}" + ("-tiny" if tiny else "")).resolve()
    return Layout(chain, folder.relative_to(root()) if folder.is_relative_to(root()) else folder, tiny, gpus, sources,
                  writes)


def recipe_marker(recipe: Recipe, args: dict[str, Any], relocate: Any) -> Path:
    """The file a recipe's run writes last: the classifier's run summary, the trainer state, the predictions."""
    out = Path(relocate(str(args.get("output_dir", "")).rstrip("/")))
    if recipe.is_classifier:
        return out / "classifier_run.json"
    return out / ("trainer_state.json" if args.get("do_train") else "generated_predictions.jsonl")
