"""A report's chain: the plain commands that reproduce it, read from ``recipes/reproduce/<report>.yaml``.

A chain file names the report (its file, ``report``, and its own title, ``report_title``), its steps
(``name``, the command as a user types it in ``run``, the files it reads in ``inputs`` and writes in
``outputs``; ``tiny`` when the tiny run needs another command, e.g. a converter reading fixtures), the
report's published numbers and, under ``recipes:``, what each of its recipes stands for
(``recipekit.recipes.facts``). ``{out}`` is the reproduction's folder. A step that trains or predicts with a
recipe also reads what that recipe reads (its data, the model or adapter folder another step trains) and writes
what the recipe writes (its trainer state, predictions).

``--tiny`` turns the same commands into a CPU run: every recipe a step trains or predicts with becomes a tiny
copy under ``{out}/recipes`` (``recipekit.recipes.tiny_run``), and the folders the recipes write and read
(``saves/``, ``data/``) move under ``{out}``; checks and plans still read the real recipes.
"""

from __future__ import annotations

import hashlib
import re
import shlex
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from recipekit.errors import InputError
from recipekit.eval.generation import METRICS as GEN_METRICS
from recipekit.files import load_yaml, read_utf8
from recipekit.paths import at_root, given, root, root_hint, shown
from recipekit.progress import TRAINER_LOG
from recipekit.recipes.arguments import names_of, parse_overrides
from recipekit.recipes.facts import entry_facts, recipe_entries
from recipekit.recipes.reading import CHAIN_FOLDER as CHAINS
from recipekit.recipes.reading import Recipe, load_recipe
from recipekit.recipes.tiny_run import TINY_RANKS
from recipekit.steps import Step

CHAIN_KEYS = {"report", "report_title", "title", "steps", "numbers", "differences", "recipes"}
STEP_KEYS = {"name", "run", "tiny", "inputs", "outputs", "wandb_run"}
NUMBER_KEYS = {"name", "published", "unit", "report", "metric", "approx", "set"}
PLACEHOLDER = re.compile(r"\{([a-z]+)(?::([A-Za-z0-9_.-]+))?\}")
RELOCATED = ("saves", "data")  # the folders recipes write and read, moved under {out} in a tiny run
RUNNERS = {"llamafactory-cli": ("train", "export"), "llm-recipes": ("train-classifier", "export")}
RECIPE_SCRIPTS = ("scripts/train_classifier.py", "scripts/export.py")  # scripts that run the recipe they are given
CLASSIFY_METRICS = ("accuracy", "macro_precision", "macro_recall", "macro_f1", "log_loss")
PER_CLASS = re.compile(r"^f1\[(.+)\]$")  # f1[LABEL]: one class's F1


@dataclass(frozen=True)
class Number:
    """One published number (None for a dataset of the user's: nothing published) and where this run's value
    comes from: a report folder and a metric in it."""

    name: str
    published: float | None
    metric: str
    report: str
    unit: str = ""  # "%": the report prints it x100
    approx: bool = False  # the report gives it as "about"
    set: str = ""  # the registered set it is scored on (the card gives that set's contamination)


@dataclass(frozen=True)
class StepSpec:
    name: str
    run: str
    tiny: str | None = None
    inputs: tuple[str, ...] = ()
    outputs: tuple[str, ...] = ()
    wandb_run: str | None = None  # the training step whose wandb run this step's report is logged into


@dataclass
class Chain:
    """One report's chain file."""

    name: str
    path: Path
    report: str  # the report's file name
    title: str
    steps: list[StepSpec]
    numbers: list[Number]
    differences: list[str] = field(default_factory=list)
    report_title: str = ""  # the report's own title, as a reader without its file can look it up


def chain_folder() -> Path:
    """``recipes/reproduce/`` of the repository root."""
    return root() / "recipes" / CHAINS


def add_chain_arguments(parser: Any, out_help: str, tiny_help: str) -> None:
    """The report a command works on, the reproduction's folder and whether it is a tiny run."""
    parser.add_argument("report", help=f"the report: {', '.join(chain_names())}")
    parser.add_argument("--out", help=f"{out_help} (default: outputs/reproduce/REPORT[-tiny])")
    parser.add_argument("--tiny", action="store_true", help=tiny_help)


def chain_names() -> list[str]:
    return sorted(p.stem for p in chain_folder().glob("*.yaml"))


def load_chain(name_or_path: str) -> Chain:
    """A chain by report name (``agnews``) or file; every malformed field is a one-line error naming the file."""
    path = given(name_or_path) if name_or_path.endswith((".yaml", ".yml")) else chain_folder() / f"{name_or_path}.yaml"
    if not path.is_file() and not chain_folder().is_dir():
        raise InputError(f"no chain for report {name_or_path!r}: there is no {chain_folder()} ({root_hint()})")
    if not path.is_file():
        raise InputError(f"no chain for report {name_or_path!r} (known: {', '.join(chain_names())})")
    where = str(shown(path))
    data = load_yaml(read_utf8(path), where)
    if not isinstance(data, dict) or not isinstance(data.get("steps"), list) or not data["steps"]:
        raise InputError("a chain is a mapping with a non-empty 'steps' list", where)
    unknown = set(data) - CHAIN_KEYS
    if unknown:
        raise InputError(f"unknown key(s) {', '.join(sorted(unknown))} (known: {', '.join(sorted(CHAIN_KEYS))})", where)
    steps, seen = [], set()
    for index, raw in enumerate(data["steps"], 1):
        named = isinstance(raw, dict) and raw.get("name") and not isinstance(raw["name"], list | dict)
        if not named or not raw.get("run"):
            raise InputError(f"step {index}: needs a name and a run command", where)
        extra = set(raw) - STEP_KEYS
        if extra:
            raise InputError(f"step {raw['name']}: unknown key(s) {', '.join(sorted(extra))}", where)
        if not isinstance(raw.get("tiny") or "", str):
            raise InputError(f"step {raw['name']}: tiny must be a command, not {raw['tiny']!r}", where)
        if str(raw["name"]) in seen:
            raise InputError(f"step {raw['name']}: the name is used twice", where)
        seen.add(str(raw["name"]))
        steps.append(StepSpec(str(raw["name"]), str(raw["run"]).strip(), raw.get("tiny"),
                              tuple(str(i) for i in listed(raw.get("inputs"), f"step {raw['name']}: inputs", where)),
                              tuple(str(o) for o in listed(raw.get("outputs"), f"step {raw['name']}: outputs", where)),
                              raw.get("wandb_run")))
    names = [s.name for s in steps]
    for spec in steps:
        if spec.wandb_run is not None and spec.wandb_run not in names[:names.index(spec.name)]:
            raise InputError(f"step {spec.name}: wandb_run {spec.wandb_run!r} is not an earlier step", where)
    numbers = []
    for entry in listed(data.get("numbers"), "numbers", where):
        raw = entry if isinstance(entry, dict) else {}
        missing = {"name", "metric", "report"} - set(raw)
        if missing or set(raw) - NUMBER_KEYS:
            raise InputError(f"number {raw.get('name', '?')}: needs name, metric, report (may add published, unit, "
                             "approx, set)", where)
        if not (raw["metric"] in (*CLASSIFY_METRICS, *GEN_METRICS) or PER_CLASS.match(str(raw["metric"]))):
            raise InputError(f"number {raw['name']}: unknown metric {raw['metric']!r} (known: "
                             f"{', '.join((*CLASSIFY_METRICS, *GEN_METRICS))}, f1[LABEL])", where)
        try:
            published = None if raw.get("published") is None else float(raw["published"])
        except (TypeError, ValueError):
            raise InputError(f"number {raw['name']}: published must be a number, not {raw['published']!r}",
                             where) from None
        numbers.append(Number(str(raw["name"]), published, str(raw["metric"]), str(raw["report"]),
                              str(raw.get("unit", "")), bool(raw.get("approx")), str(raw.get("set", ""))))
    for recipe in recipe_entries(path, data):
        entry_facts(path, data, recipe)  # each recipe's facts, refused here when malformed
    return Chain(path.stem, path, str(data.get("report", "")), str(data.get("title", path.stem)), steps, numbers,
                 [str(d) for d in listed(data.get("differences"), "differences", where)],
                 str(data.get("report_title", "")))


def listed(value: Any, field: str, where: str) -> list[Any]:
    """A chain's list field (absent or empty: no items); any other value is one error naming the field."""
    if not value:
        return []
    if not isinstance(value, list):
        raise InputError(f"{field}: must be a list, not {value!r}", where)
    return value


def is_recipe_token(token: str) -> bool:
    return token.startswith("recipes/") and token.endswith(".yaml") and (root() / token).is_file()


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

    def fill(self, text: str, step: str, fixtures: list[str] | None = None) -> str:
        """``text`` with ``{out}`` and ``{fixture:NAME}`` filled; the raw files a fixture's flags read (their
        ``--input``) are added to ``fixtures``."""
        def value(match: re.Match[str]) -> str:
            kind, arg = match.group(1), match.group(2)
            if kind == "out" and arg is None:
                return str(self.out)
            if kind == "fixture" and arg and self.tiny and self.sources:
                flags = self.sources(arg, self.out / "raw", self.writes)
                if fixtures is not None:
                    fixtures.extend(flags[i + 1] for i, flag in enumerate(flags[:-1]) if flag == "--input")
                return " ".join(shlex.quote(a) for a in flags)
            raise InputError(f"step {step}: unknown placeholder {match.group(0)} (known: {{out}}, "
                             "{fixture:DATASET} in a tiny command)", str(self.chain.path))

        return PLACEHOLDER.sub(value, text)

    def steps(self) -> list[Step]:
        return [self.step(spec) for spec in self.chain.steps]

    def step(self, spec: StepSpec) -> Step:
        """The step as it runs here: placeholders filled, paths moved in a tiny run, its environment, and its
        inputs: those the chain declares, the raw files of a tiny conversion, and what the recipe it runs reads
        (the recipe, its data and registry, the model, adapter or DeepSpeed config from this repository)."""
        fixtures: list[str] = []
        text = spec.tiny if self.tiny and spec.tiny else spec.run
        tokens = shlex.split(self.fill(text, spec.name, fixtures))
        env: dict[str, str] = {}
        while tokens and re.fullmatch(r"[A-Z_][A-Z0-9_]*=.*", tokens[0]):
            key, _, val = tokens.pop(0).partition("=")
            env[key] = val
        source = next((t for t in tokens if is_recipe_token(t)), None)
        runs_recipe = source is not None and self.launches(tokens)
        command = [self.relocate(t, runs_recipe) for t in tokens]
        step = Step(spec.name, command, outputs=[Path(self.relocate(self.fill(o, spec.name))) for o in spec.outputs],
                    inputs=[Path(self.relocate(self.fill(i, spec.name))) for i in spec.inputs] + [
                        Path(f) for f in fixtures])
        if runs_recipe:
            at = tokens.index(source)
            step.source_recipe = source
            step.recipe = Path(command[at])
            given = parse_overrides([t for t in tokens[at + 1:] if "=" in t and not t.startswith("-")])
            step.overrides = {key: self.relocate(value) if isinstance(value, str) else value
                              for key, value in given.items()}
            recipe = load_recipe(root() / source).with_values(given)
            if recipe.deepspeed or self.gpus:
                env["FORCE_TORCHRUN"] = "1"
            if self.gpus:
                env["NPROC_PER_NODE"] = str(self.gpus)
            if self.tiny and recipe.deepspeed:
                env["NPROC_PER_NODE"] = str(TINY_RANKS)
            if not step.outputs:
                step.outputs = [recipe_marker(recipe, self.relocate)]
            step.progress = None if recipe.is_export else recipe_marker(recipe, self.relocate).parent / TRAINER_LOG
            step.inputs += [step.recipe, *self.recipe_inputs(recipe)]
        env.update(self.group_env())
        trains = runs_recipe and recipe.trains
        if trains or spec.wandb_run:  # a training run's id, and its evaluations logged into the same run
            env.update(WANDB_RUN_ID=self.run_id(spec.wandb_run or spec.name), WANDB_RESUME="allow")
        step.env = env
        step.inputs = list(dict.fromkeys(step.inputs))
        return step

    def recipe_inputs(self, recipe: Recipe) -> list[Path]:
        """What a recipe's run reads: its registry and data files, and the model, adapter or DeepSpeed config
        that this repository or an earlier step makes (hub ids are not files)."""
        data = Path(self.relocate(str(recipe.setting("dataset_dir"))))
        found = [] if recipe.is_export else [data / "dataset_info.json"]
        for key in ("dataset", "eval_dataset", "predict_dataset"):
            found += [data / f"{name}.jsonl" for name in names_of(recipe.setting(key, None))]
        for key in ("model_name_or_path", "adapter_name_or_path", "ref_model", "ref_model_adapters", "deepspeed"):
            value = str(recipe.written(key) or "")
            if value.startswith(("saves/", "recipes/")) or Path(value).is_absolute():
                found.append(Path(self.relocate(value)))
        return found

    def run_id(self, step: str) -> str:
        """The wandb run id of a training step of this reproduction (its eval steps log into the same run)."""
        where = hashlib.sha1(str((root() / self.out).resolve()).encode()).hexdigest()[:8]
        return f"{self.chain.name}-{step}-{where}"

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
            if token.endswith(RECIPE_SCRIPTS):
                return True
        return False


def layout_for(report: str, out: str | None, tiny: bool, gpus: int | None = None,
               sources: Callable[[str, Path, bool], list[str]] | None = None, writes: bool = True) -> Layout:
    """A report's chain and where its reproduction lives: ``out``, else the root's outputs/reproduce/REPORT[-tiny]
    (relative to the repository when inside it)."""
    chain = load_chain(report)
    folder = Path(out) if out else at_root(f"outputs/reproduce/{chain.name}" + ("-tiny" if tiny else ""))
    return Layout(chain, shown(folder.resolve()), tiny, gpus, sources, writes)


def recipe_marker(recipe: Recipe, relocate: Any) -> Path:
    """The file a recipe's run writes last: the classifier's run summary, the trainer state, the predictions, an
    export's model card."""
    out = Path(relocate(recipe.output_folder()))
    if recipe.is_export:
        return out / "README.md"
    if recipe.is_classifier:
        return out / "classifier_run.json"
    return out / ("trainer_state.json" if recipe.setting("do_train") else "generated_predictions.jsonl")
