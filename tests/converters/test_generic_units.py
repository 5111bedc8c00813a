"""The generic converter's parts one by one: the label map and template fields, a label's text, each row's
mapping (and each reason a row is skipped), the flag combinations refused, and the test split taken off the
training rows."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest

from recipekit.converters.generic import (
    build_parser,
    convert,
    label_of,
    mapper,
    parse_label_map,
    split_test,
    template_fields,
)
from recipekit.data.readers import Record
from recipekit.data.rows import Example, Skip
from recipekit.errors import InputError


def flags(*argv: str) -> argparse.Namespace:
    given = [] if "--input" in argv else ["--input", "rows.jsonl"]  # read only by convert
    return build_parser().parse_args(["--name", "t", *given, *argv])


def test_a_label_map_is_raw_to_answer_pairs() -> None:
    assert parse_label_map("0=World, 1=Sports") == {"0": "World", "1": "Sports"}
    assert parse_label_map(None) is None and parse_label_map("") is None
    with pytest.raises(InputError, match="--label-map"):
        parse_label_map("0World")


def test_a_templates_fields_are_its_named_columns() -> None:
    assert template_fields("Title: {title}\nBody: {body} {title}") == ["title", "body", "title"]
    assert template_fields("no fields {{literal}}") == []
    with pytest.raises(InputError) as raised:
        template_fields("Title: {title")
    assert str(raised.value) == "--template is not a valid format string (expected '}' before end of string)"


@pytest.mark.parametrize(("value", "answer"), [("World", "World"), (3, "3"), (0, "0")])
def test_a_label_is_text_or_an_integer_class_ids_digits(value: object, answer: str) -> None:
    assert label_of({"label": value}, "label") == answer


@pytest.mark.parametrize(("value", "reason"), [(True, "label is not a string"), (2.0, "label is not a string"),
                                               ([1], "label is not a string"), (None, "missing value")])
def test_any_other_label_skips_the_row_naming_the_field(value: object, reason: str) -> None:
    with pytest.raises(Skip) as raised:
        label_of({"label": value}, "label")
    assert (raised.value.reason, raised.value.field_name) == (reason, "label")


def row(**fields: object) -> Record:
    return Record("t.jsonl:1", fields)


def test_an_alpaca_row_is_the_instruction_the_input_column_and_the_mapped_answer() -> None:
    to_example = mapper(flags("--instruction", "Rate it.", "--input-column", "text", "--output-column", "label",
                              "--label-map", "0=bad,1=good"))
    assert to_example(row(text="fine", label=" 1 ")) == Example({"instruction": "Rate it.", "input": "fine",
                                                                  "output": "good"}, "good")
    assert to_example(row(text="meh", label=0)) == Example({"instruction": "Rate it.", "input": "meh",
                                                             "output": "bad"}, "bad")


def test_without_a_label_map_the_answer_is_the_column_and_labelled_only_to_stratify() -> None:
    plain = mapper(flags("--input-column", "q", "--output-column", "a"))
    assert plain(row(q="2+2?", a=" 4 ")) == Example({"instruction": "", "input": "2+2?", "output": "4"}, None)
    stratified = mapper(flags("--input-column", "q", "--output-column", "a", "--stratify"))
    assert stratified(row(q="2+2?", a="4")).label == "4"


@pytest.mark.parametrize(("argv", "fields", "reason", "field"), [
    (("--input-column", "text", "--output-column", "label", "--label-map", "0=a"), {"text": "x", "label": "5"},
     "label not in --label-map", "label"),
    (("--input-column", "text", "--output-column", "label"), {"text": "x", "label": "  "}, "empty answer", "label"),
    (("--input-column", "text", "--output-column", "label"), {"text": " ", "label": "y"}, "empty prompt", "text"),
    (("--template", "{a}", "--output-column", "label"), {"a": "", "label": "y"}, "empty prompt", "template"),
    (("--input-column", "text", "--output-column", "label"), {"label": "y"}, "missing value", "text"),
    (("--template", "{a} {b}", "--output-column", "label"), {"a": "x", "b": 3, "label": "y"}, "b is not a string",
     "b"),
])
def test_each_reason_a_row_is_skipped_names_its_field(argv: tuple[str, ...], fields: dict, reason: str,
                                                     field: str) -> None:
    with pytest.raises(Skip) as raised:
        mapper(flags(*argv))(row(**fields))
    assert (raised.value.reason, raised.value.field_name) == (reason, field)


def test_an_instruction_alone_is_a_prompt() -> None:
    to_example = mapper(flags("--instruction", "Say hi.", "--output-column", "label"))
    assert to_example(row(label="hi")).row == {"instruction": "Say hi.", "input": "", "output": "hi"}


def test_a_sharegpt_row_joins_instruction_and_query_after_an_optional_system_message() -> None:
    to_example = mapper(flags("--format", "sharegpt", "--template", "T: {t}", "--output-column", "label",
                              "--label-map", "1=yes"))
    assert to_example(row(t="x", label=1)) == Example({"messages": [
        {"role": "user", "content": "T: x"}, {"role": "assistant", "content": "yes"}]}, "yes")
    with_system = mapper(flags("--format", "sharegpt", "--system", "Be brief.", "--instruction", "Answer.",
                               "--input-column", "q", "--output-column", "a"))
    assert with_system(row(q="why?", a="because")) == Example({"messages": [
        {"role": "system", "content": "Be brief."}, {"role": "user", "content": "Answer.\n\nwhy?"},
        {"role": "assistant", "content": "because"}]}, None)


def test_a_preference_pair_is_an_alpaca_ranking_row() -> None:
    to_example = mapper(flags("--instruction", "Reply.", "--input-column", "q", "--chosen-column", "c",
                              "--rejected-column", "r"))
    assert to_example(row(q="hi", c=" hello ", r="go away")) == Example(
        {"instruction": "Reply.", "input": "hi", "chosen": "hello", "rejected": "go away"}, None)


@pytest.mark.parametrize(("fields", "reason", "field"), [
    ({"q": "hi", "c": " ", "r": "no"}, "empty answer", "c"), ({"q": "hi", "c": "yes", "r": ""}, "empty answer", "r"),
    ({"q": "hi", "c": "same", "r": " same"}, "chosen equals rejected (no preference)", "c"),
    ({"q": "hi", "c": "yes"}, "missing value", "r")])
def test_a_pair_without_a_preference_is_skipped(fields: dict, reason: str, field: str) -> None:
    to_example = mapper(flags("--input-column", "q", "--chosen-column", "c", "--rejected-column", "r"))
    with pytest.raises(Skip) as raised:
        to_example(row(**fields))
    assert (raised.value.reason, raised.value.field_name) == (reason, field)


@pytest.mark.parametrize(("argv", "message"), [
    ((), "give --instruction, --input-column or --template (what the model reads)"),
    (("--output-column", "a"), "give --instruction, --input-column or --template (what the model reads)"),
    (("--template", "{x}", "--input-column", "x", "--output-column", "a"),
     "give --input-column or --template, not both"),
    (("--instruction", "i", "--system", "s", "--output-column", "a"), "--system needs --format sharegpt"),
    (("--instruction", "i", "--chosen-column", "c"),
     "give both --chosen-column and --rejected-column (a preference pair)"),
    (("--instruction", "i", "--rejected-column", "r"),
     "give both --chosen-column and --rejected-column (a preference pair)"),
    (("--instruction", "i", "--chosen-column", "c", "--rejected-column", "r", "--output-column", "a"),
     "give --output-column, or --chosen-column and --rejected-column (preference pairs)"),
    (("--instruction", "i"), "give --output-column, or --chosen-column and --rejected-column (preference pairs)"),
    (("--format", "sharegpt", "--instruction", "i", "--chosen-column", "c", "--rejected-column", "r"),
     "preference pairs are written as Alpaca ranking rows: leave out --format sharegpt"),
])
def test_flags_that_do_not_make_rows_are_refused_before_reading(tmp_path: Path, argv: tuple[str, ...],
                                                                 message: str) -> None:
    args = flags("--input", str(tmp_path / "not_read.csv"), "--data-dir", str(tmp_path / "data"), *argv)
    with pytest.raises(InputError) as raised:
        convert(args)
    assert str(raised.value) == message
    assert not (tmp_path / "data").exists()


def test_a_template_alone_is_what_the_model_reads(tmp_path: Path) -> None:
    """The flags pass: the next answer is the reader's, about the missing file."""
    args = flags("--input", str(tmp_path / "absent.csv"), "--data-dir", str(tmp_path / "data"), "--template", "{x}",
                 "--output-column", "a")
    with pytest.raises(InputError, match=r"absent\.csv: no such file or folder$"):
        convert(args)


def examples(*labels: str | None) -> list[Example]:
    return [Example({"i": i}, label) for i, label in enumerate(labels)]


def test_the_test_split_comes_off_the_training_rows_stratified_by_answer() -> None:
    pools = {"validation": examples("a", "b"), "train": examples("a", "a", "a", "a", "b", "b", "b", "b")}
    for seed in range(1, 10):  # stratified whatever the seed
        again = {"train": examples("a", "a", "a", "a", "b", "b", "b", "b")}
        assert sorted(e.label for e in split_test(again, 4, seed)) == ["a", "a", "b", "b"], seed
    held = split_test(pools, 4, 0)
    assert sorted(e.label for e in held) == ["a", "a", "b", "b"]
    assert len(pools["train"]) == 4 and sorted(e.label for e in pools["train"]) == ["a", "a", "b", "b"]
    assert {e.row["i"] for e in held}.isdisjoint(e.row["i"] for e in pools["train"])
    assert len(pools["validation"]) == 2  # another split keeps its rows


def test_without_a_train_split_the_first_one_gives_the_test_rows_and_nothing_asked_is_nothing_taken() -> None:
    pools = {"validation": examples(None, None, None), "dev": examples(None)}
    assert len(split_test(pools, 1, 0)) == 1 and len(pools["validation"]) == 2 and len(pools["dev"]) == 1
    unlabelled = {"train": examples(*[None] * 8)}
    kept = list(unlabelled["train"])
    assert split_test(unlabelled, 0, 0) == [] and unlabelled["train"] == kept  # not even shuffled
    assert split_test({}, 3, 0) == []
