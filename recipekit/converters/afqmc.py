"""AFQMC (CLUE) sentence pairs -> Alpaca JSONL with single-token answers, registered in dataset_info.json.

Reads CLUE's JSON-lines files (train.json, dev.json with `sentence1`, `sentence2`, `label` "0"/"1";
test.json with `id` and no label), the hub layout (`idx`, label 0/1, -1 on test) or a hub id. Label 1
(same meaning) answers the first of --answers. Both answers are one character by default (是/否), the
report's fix for labels of unequal token length. An unlabeled test split becomes NAME_test, a
predict-ready file that keeps each row's id. --repeat-same N writes each same-meaning training row N times:
for a LLaMA-Factory recipe, the nearest equivalent of the report's class weights {0: 1, 1: 3} (held-out rows
are never repeated).

Example:
    llm-recipes convert afqmc --input afqmc_public --val-size 2000
    llm-recipes convert afqmc --hf clue/clue --hf-config afqmc --answers yes,no
    llm-recipes convert afqmc --input afqmc_public --repeat-same 3 --name afqmc_weighted
"""

from __future__ import annotations

import argparse

from recipekit.cli import add_instruction_argument, add_source_arguments, at_least, parse_names, script_parser
from recipekit.converters.command import run_converter
from recipekit.data.dataset_info import alpaca_entry
from recipekit.data.pipeline import Conversion
from recipekit.data.readers import Record, read_source
from recipekit.data.rows import Example, Mapper, Skip, int_label, map_records, required_text
from recipekit.data.splits import select_rows

HUB_ID = "clue/clue"
ANSWERS = ("是", "否")
UNLABELED = (None, -1, "-1", "")


def instruction(answers: list[str]) -> str:
    """The report's task prompt: do the two questions mean the same? Answer with one of two tokens."""
    same, different = answers
    return f"判断下面两个句子的意思是否相同。相同回答“{same}”，不同回答“{different}”，只输出一个字。"


def pair_text(fields: dict) -> str:
    """The two sentences, labelled, one per line."""
    first, second = (required_text(fields, name).strip() for name in ("sentence1", "sentence2"))
    for name, text in (("sentence1", first), ("sentence2", second)):
        if not text:
            raise Skip("empty sentence", name)
    return f"句子1：{first}\n句子2：{second}"


def is_labeled(records: list[Record]) -> bool:
    """A split is labeled when any row carries a label other than CLUE's test placeholder (-1 / missing)."""
    return any(r.fields.get("label") not in UNLABELED for r in records if not r.problem)


def mapper(answers: list[str], labeled: bool, prompt: str | None = None) -> Mapper:
    prompt = prompt or instruction(answers)

    def to_example(record: Record) -> Example:
        fields = record.fields
        text = pair_text(fields)
        if not labeled:
            row_id = fields.get("id", fields.get("idx"))
            if row_id is None:
                raise Skip("missing id on an unlabeled row", "id")
            return Example({"id": row_id, "instruction": prompt, "input": text, "output": ""})
        answer = answers[1 - int_label(fields, "label", 0, 1)]
        return Example({"instruction": prompt, "input": text, "output": answer}, answer)

    return to_example


def convert(args: argparse.Namespace) -> Conversion:
    """Read, map, split, sample, write and register; returns what was done."""
    answers = parse_names(args.answers, 2, "--answers")
    result = Conversion()
    pools, unlabeled = {}, []
    for split, records in read_source(args.hf or args.input, bool(args.hf), name=args.hf_config or None).items():
        result.read += len(records)
        labeled = is_labeled(records)
        examples = map_records(records, mapper(answers, labeled, args.instruction), result.log)
        if labeled:
            pools[split] = examples
        else:
            unlabeled += examples
    if pools:
        train, val = select_rows(pools, args.max_samples, args.val_size, args.seed)
        train = [example for example in train for _ in range(args.repeat_same if example.label == answers[0] else 1)]
        result.write_train_val(args.data_dir, args.name, train, val, alpaca_entry())
    if unlabeled:
        result.write(args.data_dir, f"{args.name}_test", unlabeled, alpaca_entry())
    return result


# pragma: no mutate start (argument parsing, like every command's)
def build_parser() -> argparse.ArgumentParser:
    parser = script_parser(__doc__)
    add_source_arguments(parser, "afqmc", HUB_ID, "CLUE folder (train.json, dev.json, test.json)")
    parser.add_argument("--hf-config", default="afqmc", help="config of the hub dataset (default: afqmc)")
    parser.add_argument("--answers", default=",".join(ANSWERS),
                        help="answer for same meaning, then for different (default: 是,否)")
    parser.add_argument("--repeat-same", type=at_least(1), default=1, metavar="N",
                        help="write each same-meaning training row N times (a class weight N:1 for a trainer "
                             "without one; default: 1)")
    add_instruction_argument(parser, "the report's prompt naming the two answers")
    return parser
# pragma: no mutate end


def main(argv: list[str] | None = None) -> Conversion:
    return run_converter(convert, build_parser, argv)

