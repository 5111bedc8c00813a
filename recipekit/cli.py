"""Argument helpers every script shares: the parser built from the module docstring, and flag-value parsers."""

from __future__ import annotations

import argparse
import math
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, NoReturn, TypeVar

from recipekit.errors import InputError

if TYPE_CHECKING:
    from recipekit.eval.scoring_inputs import ScoringSource
    from recipekit.recipes.reading import Recipe


class ScriptParser(argparse.ArgumentParser):
    """An argument parser whose errors are one line (``error: PROG: --flag: what is wrong``), exit status 2."""

    def error(self, message: str) -> NoReturn:
        print(f"error: {self.prog}: {message} (see --help)", file=sys.stderr)
        raise SystemExit(2)


def script_parser(doc: str | None) -> ScriptParser:
    """A parser whose description is the docstring's first paragraph and whose epilog is the rest (the example)."""
    summary, _, rest = (doc or "").strip().partition("\n\n")
    return ScriptParser(description=summary, epilog=rest, formatter_class=argparse.RawDescriptionHelpFormatter)


def at_least(low: int) -> Callable[[str], int]:
    """An argparse ``type``: an integer >= ``low`` (argparse names the flag in its one-line error)."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
        if value < low:
            raise argparse.ArgumentTypeError(f"must be at least {low}, got {value}")
        return value

    parse.__name__ = f"integer >= {low}"
    return parse


def name_value(text: str) -> str:
    """An argparse ``type``: a name (of a dataset, a sweep), never a path: no ``/`` or ``\\``, not starting with
    ``.`` (so never ``..``), no control characters."""
    if not text.strip():
        raise argparse.ArgumentTypeError("a name cannot be empty")
    separator = next((c for c in "/\\" if c in text), None)
    if separator is not None:
        hint = text.replace("/", "_").replace("\\", "_").strip("._") or "a plain name"
        raise argparse.ArgumentTypeError(f"a name, not a path: {text!r} holds {separator!r} (e.g. {hint})")
    if text.startswith("."):
        raise argparse.ArgumentTypeError(f"a name cannot start with '.', got {text!r}")
    if any(ord(c) < 32 for c in text):
        raise argparse.ArgumentTypeError(f"a name cannot hold control characters, got {text!r}")
    return text


def number_above(low: float, high: float | None = None, low_included: bool = False) -> Callable[[str], float]:
    """An argparse ``type``: a finite number above ``low`` (or at it, with ``low_included``) and at most ``high``."""

    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
        below = value < low if low_included else value <= low
        if not math.isfinite(value) or below or (high is not None and value > high):
            bound = f"at least {low:g}" if low_included else f"above {low:g}"
            raise argparse.ArgumentTypeError(f"must be {bound}" + (f" and at most {high:g}" if high is not None else "")
                                             + f", got {text}")
        return value

    return parse


def fraction(text: str) -> float:
    """An argparse ``type``: a number in [0, 1]."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number in [0, 1], got {text!r}") from None
    if not 0 <= value <= 1:
        raise argparse.ArgumentTypeError(f"must be in [0, 1], got {value:g}")
    return value


def escaped_text(text: str) -> str:
    """An argparse ``type`` for free text: ``\\n`` and ``\\t`` typed on a command line become a line break
    and a tab; an empty text is refused."""
    value = text.replace("\\n", "\n").replace("\\t", "\t")
    if not value.strip():
        raise argparse.ArgumentTypeError("must not be empty")
    return value


def parse_pairs(text: str, flag: str, shape: str = "KEY=VALUE") -> dict[str, str]:
    """``'a=x,b=y'`` -> ``{'a': 'x', 'b': 'y'}`` (stripped); an item that is not ``KEY=VALUE`` or a repeated
    key is an error naming ``flag`` and the expected ``shape``."""
    pairs: dict[str, str] = {}
    for item in text.split(","):
        key, sep, value = item.partition("=")
        if not sep or not key.strip() or not value.strip():
            raise InputError(f"{flag} expects {shape} pairs separated by commas, got {item!r}")
        if "=" in value:
            raise InputError(f"{flag}: {item!r} holds more than one '=': separate {shape} pairs with commas")
        if key.strip() in pairs:
            raise InputError(f"{flag} names {key.strip()!r} twice")
        pairs[key.strip()] = value.strip()
    return pairs


def add_instruction_argument(parser: argparse.ArgumentParser, default_is: str, default: str | None = None) -> None:
    """``--instruction``: the instruction of every row (``\\n`` for a line break), the flag a prompt-version
    sweep varies."""
    parser.add_argument("--instruction", type=escaped_text, default=default,
                        help=f"the instruction of every row, \\n for a line break (default: {default_is}); a "
                             "prompt-version sweep varies this flag")


def add_source_arguments(parser: argparse.ArgumentParser, name: str | None, hub_id: str, what: str) -> None:
    """The flags every converter shares: --input/--hf, --name, --data-dir, --max-samples, --val-size, --seed."""
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--input", help=f"{what}: a folder of split files (train/validation/dev/test) or one file")
    source.add_argument("--hf", metavar="HUB_ID", help=f"hub id read with datasets.load_dataset (e.g. {hub_id})")
    if name is None:
        parser.add_argument("--name", required=True, type=name_value, help="dataset name: writes DATA_DIR/NAME.jsonl")
    else:
        parser.add_argument("--name", default=name, type=name_value,
                            help=f"dataset name: writes DATA_DIR/NAME.jsonl (default: {name})")
    parser.add_argument("--data-dir", help="folder holding dataset_info.json (default: data/ of the repository root: "
                                           "data/ of the working directory or --root)")
    parser.add_argument("--max-samples", type=at_least(1),
                        help="seeded (stratified where labeled) subset of training rows")
    parser.add_argument("--val-size", type=at_least(0),
                        help="validation rows (NAME_val), from the held-out split when there is one, else split off")
    parser.add_argument("--seed", type=at_least(0), default=42, help="seed of every sample and split (default: 42)")
    parser.add_argument("--drop-overlap", action="store_true",
                        help="remove training rows that equal a held-out row (same prompt and answer) instead of "
                             "refusing to write overlapping sets")
    parser.add_argument("--replace", action="store_true",
                        help="replace (or remove) sets of these names that another converter wrote, instead of "
                             "refusing to")


def parse_names(text: str, count: int, flag: str) -> list[str]:
    """``a,b,c`` -> names, exactly ``count`` distinct non-empty ones."""
    names = [name.strip() for name in text.split(",")]
    if len(names) != count or len(set(names)) != count or not all(names):
        raise InputError(f"{flag} needs {count} distinct comma-separated names, got {text!r}")
    return names



T = TypeVar("T")


def in_scratch(parser: argparse.ArgumentParser, argv: list[str] | None,
               body: Callable[[argparse.Namespace, Path], T]) -> T:
    """A benchmark's run: ``argv`` parsed, then ``body`` on the arguments and a temporary folder, removed after."""
    import tempfile

    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as scratch:
        return body(args, Path(scratch))


def add_scoring_flags(parser: argparse.ArgumentParser, model_help: str, labels_help: str) -> None:
    """The flags every label-scoring command shares: the model and its template, the registered set, its labels,
    and the batch, cutoff and row limits."""
    parser.add_argument("--model", help=model_help)
    parser.add_argument("--template", help="LLaMA-Factory chat template the model was trained with")
    parser.add_argument("--dataset", help="dataset name registered in DATASET_DIR/dataset_info.json")
    parser.add_argument("--dataset-dir", help="folder holding dataset_info.json (default: the recipe's dataset_dir, "
                                              "else LLaMA-Factory's: data)")
    parser.add_argument("--labels", help=labels_help)
    parser.add_argument("--batch-size", type=at_least(1), help="prompts per forward pass (default: the recipe's "
                                                               "per_device_eval_batch_size, else the Trainer's)")
    parser.add_argument("--cutoff-len", type=at_least(1),
                        help="LLaMA-Factory cutoff_len for the prompt (default: the recipe's, else LLaMA-Factory's)")
    parser.add_argument("--max-samples", type=at_least(1), help="score only the first N rows")


def fill_from_recipe(args: argparse.Namespace, recipe: Recipe | None, keys: dict[str, str]) -> None:
    """Set each scoring flag left unset from the recipe's key ``keys[flag]`` as its trainer reads it (a dataset
    list gives its first name); without a recipe they stay unset (LLaMA-Factory's defaults when it loads), but
    the data folder, which is LLaMA-Factory's ``dataset_dir`` default."""
    from recipekit.recipes.arguments import field_defaults

    for flag, key in keys.items():
        if recipe is not None and getattr(args, flag) is None:
            value = next(iter(recipe.datasets(key)), None) if flag == "dataset" else recipe.value(key)
            setattr(args, flag, value)
    if getattr(args, "dataset_dir", None) is None:
        args.dataset_dir = field_defaults(False)["dataset_dir"]


def scoring_source(args: argparse.Namespace) -> ScoringSource:
    """The scoring source's fields of the same names out of a scoring command's parsed (recipe-filled) flags."""
    from recipekit.eval.scoring_inputs import ScoringSource

    return ScoringSource(**{name: getattr(args, name) for name in ScoringSource.__dataclass_fields__})
