"""Kaggle "LLM Classification Finetuning" (Chatbot Arena) -> A/B/tie SFT, preference and predict sets.

Reads the competition's CSVs (train.csv: id, model_a, model_b, prompt, response_a, response_b,
winner_model_a, winner_model_b, winner_tie; test.csv: id, prompt, response_a, response_b), where
prompt and responses are JSON lists of strings, one per turn. Writes and registers:
  NAME       classification SFT rows (answer A, B or tie), A/B-swapped copies added (--swap-augment)
  NAME_val   held-out classification rows (--val-size, or the rows of --fold K), not swapped
  NAME_pref  preference rows from the training rows: chosen = the winner's response (ties skipped)
  NAME_test  the unlabeled test rows, predict-ready, keeping `id`
  NAME_val_swapped, NAME_test_swapped  the same rows, same order, responses A/B exchanged and the label
             flipped (--swap-eval): score both orders and average them (eval/calibrate.py swap)
Every row keeps `id` and its `fold` (a stable hash of the id, --folds) for out-of-fold runs.

Example:
    llm-recipes convert arena --input llm-classification-finetuning --val-size 2000
    llm-recipes convert arena --input llm-classification-finetuning --folds 5 --fold 0 --name arena_f0
    llm-recipes convert arena --input kaggle_dir --budget-unit tokens --tokenizer Qwen/Qwen2.5-0.5B-Instruct \\
        --prompt-budget 256 --response-budget 700
"""

from __future__ import annotations

import argparse
import hashlib
import json
from collections.abc import Callable
from functools import partial
from typing import Any

from recipekit.cli import add_instruction_argument, add_source_arguments, at_least, script_parser
from recipekit.converters.command import run_converter
from recipekit.data.dataset_info import alpaca_entry, alpaca_ranking_entry
from recipekit.data.pipeline import Conversion
from recipekit.data.readers import Record, read_source, repair_text
from recipekit.data.rows import Example, Mapper, Skip, map_records, required
from recipekit.data.splits import select_rows
from recipekit.data.textclean import head_tail, head_tail_tokens
from recipekit.errors import InputError

HUB_ID = "lmsys/lmsys-arena-human-preference-55k"
TEXT_FIELDS = ("prompt", "response_a", "response_b")
WINNER_FIELDS = ("winner_model_a", "winner_model_b", "winner_tie")
LABELS = ("A", "B", "tie")
SWAPPED = {"A": "B", "B": "A", "tie": "tie"}
INSTRUCTION = (
    "Two chatbots, A and B, answered the same user prompt. Read the prompt and both responses, then say which "
    "response the user preferred. Answer with exactly one of: A, B, tie."
)
NULL_TURN = "null turn replaced by empty text"
SURROGATE = "lone surrogate in JSON text replaced with U+FFFD"

Truncate = Callable[[str, int], tuple[str, int]]


def parse_turns(raw: Any, name: str, fixes: list[tuple[str, str]]) -> list[str]:
    """A JSON-encoded list of turn strings -> the list; nulls become "" and bad surrogates U+FFFD (both noted)."""
    if isinstance(raw, list):
        turns = raw
    else:
        if not isinstance(raw, str):
            raise Skip(f"{name} is not a JSON-encoded list", name)
        try:
            turns = json.loads(raw)
        except json.JSONDecodeError as exc:
            raise Skip(f"invalid JSON in {name} ({exc.msg})", name, f"at character {exc.pos}") from None
        if not isinstance(turns, list):
            raise Skip(f"{name} is not a JSON-encoded list", name)
    cleaned = []
    for turn in turns:
        if turn is None:
            fixes.append((NULL_TURN, name))
            turn = ""
        elif not isinstance(turn, str):
            raise Skip(f"{name} holds a non-string turn", name)
        turn, changed = repair_text(turn)
        if changed:
            fixes.append((SURROGATE, name))
        cleaned.append(turn.strip())
    return cleaned


def flatten(turns: list[str]) -> str:
    """One turn as is; several as '[Turn 1] ...' blocks separated by blank lines."""
    if len(turns) == 1:
        return turns[0]
    return "\n\n".join(f"[Turn {i}] {text}".rstrip() for i, text in enumerate(turns, start=1))


def winner(fields: dict[str, Any]) -> str:
    """'A', 'B' or 'tie' from the three 0/1 winner columns (exactly one must be 1)."""
    flags = []
    for name in WINNER_FIELDS:
        value = str(required(fields, name)).strip()
        if value not in {"0", "1", "0.0", "1.0", "True", "False"}:
            raise Skip(f"{name} is not 0 or 1", name)
        flags.append(value in {"1", "1.0", "True"})
    if sum(flags) != 1:
        raise Skip("winner columns do not hold exactly one 1", "winner_model_a/winner_model_b/winner_tie")
    return LABELS[flags.index(True)]


def fold_of(row_id: Any, folds: int) -> int:
    """Stable fold of an id: sha256 of its text modulo ``folds`` (independent of row order and machine)."""
    return int(hashlib.sha256(str(row_id).encode("utf-8")).hexdigest()[:16], 16) % folds


def mapper(budgets: dict[str, int], truncate: Truncate, folds: int) -> Mapper:
    """Record -> Example whose row holds id, fold, the three flattened texts and the label (None on test)."""

    def to_example(record: Record) -> Example:
        fields = record.fields
        row_id = required(fields, "id")
        fixes: list[tuple[str, str]] = []
        parts: dict[str, Any] = {"id": row_id, "fold": fold_of(row_id, folds)}
        for name in TEXT_FIELDS:
            text = flatten(parse_turns(required(fields, name), name, fixes))
            text, cut = truncate(text, budgets[name])
            if cut:
                fixes.append((f"{name} cut to its budget (head + tail kept)", name))
            parts[name] = text
        if not parts["prompt"].strip():
            raise Skip("empty prompt", "prompt")
        label = winner(fields) if any(name in fields for name in WINNER_FIELDS) else None
        parts["label"] = label
        return Example(parts, label, tuple(fixes))

    return to_example


def battle_text(parts: dict[str, Any], swap: bool) -> str:
    """The model input: the prompt and both responses under clear markers (responses exchanged if ``swap``)."""
    first, second = ("response_b", "response_a") if swap else ("response_a", "response_b")
    return f"### Prompt\n{parts['prompt']}\n\n### Response A\n{parts[first]}\n\n### Response B\n{parts[second]}"


def cls_row(parts: dict[str, Any], swap: bool = False, instruction: str | None = None) -> dict[str, Any]:
    """A classification row; the swapped copy exchanges the responses and flips A/B (tie stays)."""
    label = parts["label"]
    output = "" if label is None else SWAPPED[label] if swap else label
    return {"id": parts["id"], "fold": parts["fold"], "swapped": swap, "instruction": instruction or INSTRUCTION,
            "input": battle_text(parts, swap), "output": output}


def pref_row(parts: dict[str, Any]) -> dict[str, Any]:
    """A preference row: the prompt, the winner's response chosen and the loser's rejected."""
    chosen, rejected = ("response_a", "response_b") if parts["label"] == "A" else ("response_b", "response_a")
    return {"id": parts["id"], "instruction": parts["prompt"], "input": "",
            "chosen": parts[chosen], "rejected": parts[rejected]}


def make_truncate(unit: str, tokenizer_path: str | None) -> Truncate:
    """head_tail in characters, or in tokens of the given tokenizer."""
    if unit == "chars":
        return head_tail
    if not tokenizer_path:
        raise InputError("--budget-unit tokens needs --tokenizer PATH_OR_HUB_ID")
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(tokenizer_path)
    return lambda text, budget: head_tail_tokens(text, budget, tokenizer)


def convert(args: argparse.Namespace) -> Conversion:
    """Read, map, split (by --fold or --val-size), augment, write and register; returns what was done."""
    row = partial(cls_row, instruction=args.instruction)
    if args.fold is not None and not 0 <= args.fold < args.folds:
        raise InputError(f"--fold must be in 0..{args.folds - 1}")
    budgets = {"prompt": args.prompt_budget, "response_a": args.response_budget, "response_b": args.response_budget}
    to_example = mapper(budgets, make_truncate(args.budget_unit, args.tokenizer), args.folds)
    result = Conversion()
    labeled: list[Example] = []
    unlabeled: list[Example] = []
    for records in read_source(args.hf or args.input, bool(args.hf)).values():
        result.read += len(records)
        for example in map_records(records, to_example, result.log):
            (unlabeled if example.label is None else labeled).append(example)
    if labeled:
        if args.fold is not None:
            val = [e for e in labeled if e.row["fold"] == args.fold]
            pool = {"train": [e for e in labeled if e.row["fold"] != args.fold]}
            train, _ = select_rows(pool, args.max_samples, None, args.seed)
        else:
            train, val = select_rows({"train": labeled}, args.max_samples, args.val_size, args.seed)
        rows = []
        for e in train:  # each swapped copy right after its original: a recipe's max_samples keeps pairs whole
            rows.append(Example(row(e.row), e.label))
            if args.swap_augment:
                rows.append(Example(row(e.row, swap=True), SWAPPED[e.label]))
        result.write(args.data_dir, args.name, rows, alpaca_entry())
        if val:
            result.write(args.data_dir, f"{args.name}_val", [Example(row(e.row), e.label) for e in val],
                         alpaca_entry())
            if args.swap_eval:
                result.write(args.data_dir, f"{args.name}_val_swapped",
                             [Example(row(e.row, swap=True), SWAPPED[e.label]) for e in val], alpaca_entry())
        prefs = []
        for example in train:
            if example.label == "tie":
                result.log.omit(f"tie, no preference (from {args.name}_pref only)",
                               f"id {example.row['id']}", "winner_tie")
            else:
                prefs.append(Example(pref_row(example.row)))
        result.write(args.data_dir, f"{args.name}_pref", prefs, alpaca_ranking_entry())
    if unlabeled:
        result.write(args.data_dir, f"{args.name}_test", [Example(row(e.row)) for e in unlabeled],
                     alpaca_entry())
        if args.swap_eval:
            result.write(args.data_dir, f"{args.name}_test_swapped",
                         [Example(row(e.row, swap=True)) for e in unlabeled], alpaca_entry())
    return result


# pragma: no mutate start (argument parsing, like every command's)
def build_parser() -> argparse.ArgumentParser:
    parser = script_parser(__doc__)
    add_source_arguments(parser, "arena", HUB_ID, "Kaggle competition folder (train.csv, test.csv)")
    parser.add_argument("--swap-augment", action=argparse.BooleanOptionalAction, default=True,
                        help="add an A/B-swapped copy of every training row (default: on)")
    parser.add_argument("--swap-eval", action=argparse.BooleanOptionalAction, default=True,
                        help="also write NAME_val_swapped and NAME_test_swapped for swap averaging (default: on)")
    parser.add_argument("--folds", type=at_least(2), default=5,
                        help="number of id-hash folds stored in each row (default: 5)")
    parser.add_argument("--fold", type=at_least(0), help="hold out this fold as NAME_val instead of --val-size rows")
    parser.add_argument("--budget-unit", choices=("chars", "tokens"), default="chars",
                        help="unit of the budgets (tokens needs --tokenizer)")
    parser.add_argument("--tokenizer", help="tokenizer folder or hub id for --budget-unit tokens")
    parser.add_argument("--prompt-budget", type=at_least(1), default=1500,
                        help="most chars/tokens kept of the flattened prompt, head + tail (default: 1500; 0 = all)")
    parser.add_argument("--response-budget", type=at_least(1), default=3000,
                        help="most chars/tokens kept of each flattened response (default: 3000; 0 = all)")
    add_instruction_argument(parser, "the A/B/tie question")
    return parser
# pragma: no mutate end


def main(argv: list[str] | None = None) -> Conversion:
    return run_converter(convert, build_parser, argv)

