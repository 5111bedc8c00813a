"""The conversion pipeline's own rules, without a converter: one folder per conversion, the converter's name, the
summary's class balance, and the row selection's edges (sample sizes, the --max-samples note)."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest

from recipekit.data import Example
from recipekit.data.pipeline import Conversion, converter_name
from recipekit.data.readers import Record
from recipekit.data.rows import RowLog, Skip, map_records
from recipekit.data.splits import select_rows, stratified_sample
from recipekit.errors import InputError


def test_one_conversion_writes_into_one_folder(tmp_path: Path) -> None:
    conversion = Conversion()
    assert conversion.write(tmp_path / "a", "s", [Example({"x": 1})], {}) == tmp_path / "a" / "s.jsonl"
    with pytest.raises(InputError) as raised:
        conversion.write(tmp_path / "b", "t", [], {})
    assert str(raised.value) == f"one conversion writes into one folder, not {tmp_path / 'a'} and {tmp_path / 'b'}"


def test_a_converter_is_named_by_the_last_part_of_its_module() -> None:
    def convert() -> None:
        """a converter"""

    for module, name in (("recipekit.converters.agnews", "agnews"), ("mine.arena", "arena"), ("__main__", "__main__")):
        convert.__module__ = module
        assert converter_name(convert) == name


def test_the_summary_shows_each_sets_class_balance_in_label_text_order(capsys: pytest.CaptureFixture[str]) -> None:
    conversion = Conversion(written={"s": (Path("data/s.jsonl"), 4)}, balance={"s": Counter({9: 3, 10: 1})})
    conversion.print_written()
    assert capsys.readouterr().out == ("wrote 4 rows to data/s.jsonl (dataset 's')\n"
                                       "  class balance: 10 1 (25.0%), 9 3 (75.0%)\n")


def test_a_sample_of_zero_is_empty_one_is_one_and_too_few_rows_per_class_is_one_line() -> None:
    labels = ["a", "a", "b", "b", "b", "b"]
    assert stratified_sample(labels, 0, 0) == []
    assert len(stratified_sample(["a", "a", "a", "a"], 1, 0)) == 1
    assert sorted(stratified_sample(labels, 6, 0)) == list(range(6))
    with pytest.raises(InputError) as raised:
        stratified_sample(labels, 1, 0)
    said = str(raised.value)
    assert said.startswith("cannot draw a stratified sample of 1 from 6 rows (") and said.endswith(
        "); change --max-samples or --val-size")


def test_max_samples_beyond_the_training_rows_is_a_note_and_exactly_all_is_not(
        capsys: pytest.CaptureFixture[str]) -> None:
    pools = {"train": [Example({"i": i}) for i in range(5)]}
    assert len(select_rows(pools, 5, 0, 0)[0]) == 5 and capsys.readouterr().out == ""
    assert len(select_rows(pools, 6, 0, 0)[0]) == 5
    # a split of another name alone is neither trained on nor held out
    assert select_rows({"extra": [Example({"i": 0})]}, None, 0, 0) == ([], [])
    # a held-out split alone is split like a training split would be
    train, val = select_rows({"test": [Example({"i": i}) for i in range(4)]}, None, 1, 0)
    assert (len(train), len(val)) == (3, 1) and sorted(e.row["i"] for e in train + val) == [0, 1, 2, 3]
    assert capsys.readouterr().out == ("note: --max-samples 6 is more than the 5 training rows there are: all 5 are "
                                       "used\n")


def test_a_skipped_value_is_shown_with_its_own_spacing() -> None:
    def mapper(record: Record) -> Example:
        raise Skip("bad label", "label")

    log = RowLog()
    map_records([Record("a.csv:2", {"label": "two   words"})], mapper, log)
    assert log.examples == {"bad label": ["a.csv:2 (field label = 'two   words')"]}
    log = RowLog()
    map_records([Record("a.csv:2", {"label": "x" * 50})], mapper, log)
    assert log.examples == {"bad label": ["a.csv:2 (field label = '" + "x" * 36 + "...)"]}


def test_rows_that_all_lack_the_asked_column_are_one_error_naming_it_and_the_first_such_rows_columns() -> None:
    def mapper(record: Record) -> Example:
        if "label" not in record.fields:
            raise Skip("missing value", "label" if record.fields.get("cls") != 9 else "text")
        raise Skip("label not in 0-3", "label")

    records = [Record("raw.csv:2", {}, "wrong number of fields"), Record("raw.csv:3", {}),
               Record("raw.csv:4", {"body": "a", "cls": 1}), Record("raw.csv:5", {"body": "b", "cls": 9}),
               Record("raw.csv:6", {"x": "c", "cls": 2}), Record("raw.csv:7", {"label": 7})]
    log = RowLog()
    with pytest.raises(InputError) as raised:
        map_records(records, mapper, log)
    # 'label' is missing from 2 rows with fields (the empty row and the wrong-width row are not counted), 'text' from 1
    assert str(raised.value) == ("raw.csv: no row could be used: 2 row(s) have no column 'label' (columns found: "
                                 "body, cls)")
    assert raised.value.path == "raw.csv"
    assert log.counts == {"wrong number of fields": 1, "missing value": 4, "label not in 0-3": 1}
    assert log.examples["missing value"] == ["raw.csv:3 (field label)", "raw.csv:4 (field label)",
                                             "raw.csv:5 (field text)"]
    # a hub row's place has no line number: it is named whole
    with pytest.raises(InputError) as raised:
        map_records([Record("org/set[train] row 1", {"body": "a"})], mapper, RowLog())
    assert raised.value.path == "org/set[train] row 1"


def test_a_skip_naming_no_field_or_one_row_that_maps_is_not_a_missing_column() -> None:
    def mapper(record: Record) -> Example:
        if record.fields.get("ok"):
            return Example({"x": 1})
        raise Skip("unusable", None if record.fields.get("anon") else "label")

    assert map_records([Record("a.csv:2", {"anon": 1})], mapper, RowLog()) == []
    rows = [Record("a.csv:2", {"body": "a"}), Record("a.csv:3", {"ok": 1}, None, ("ok",))]
    log = RowLog()
    assert map_records(rows, mapper, log) == [Example({"x": 1})]
    assert log.fix_examples == {"broken UTF-8 or lone surrogate replaced with U+FFFD": ["a.csv:3 (field ok)"]}


def test_a_mappers_repairs_are_logged_at_their_row_and_field() -> None:
    def mapper(record: Record) -> Example:
        return Example({"x": 1}, None, (("whitespace trimmed", "text"), ("label lowercased", "label")))

    log = RowLog()
    map_records([Record("a.csv:2", {"text": " a "}), Record("a.csv:3", {"text": "b"})], mapper, log)
    assert log.fixes == {"whitespace trimmed": 2, "label lowercased": 2}
    assert log.fix_examples == {"whitespace trimmed": ["a.csv:2 (field text)", "a.csv:3 (field text)"],
                                "label lowercased": ["a.csv:2 (field label)", "a.csv:3 (field label)"]}


def test_a_missing_column_error_names_a_file_whose_name_holds_colons() -> None:
    def mapper(record: Record) -> Example:
        raise Skip("missing value", "label")

    with pytest.raises(InputError) as raised:
        map_records([Record("runs/10:30:00/raw.csv:2", {"body": "a"})], mapper, RowLog())
    assert raised.value.path == "runs/10:30:00/raw.csv"


def test_a_commit_with_nothing_staged_names_the_folder_and_replaces_nothing_unasked(tmp_path: Path) -> None:
    with pytest.raises(InputError) as raised:
        Conversion().commit("mine", tmp_path)
    assert str(raised.value) == f"{tmp_path}: nothing to write: no rows were converted"
    (tmp_path / "dataset_info.json").write_text('{"mine": {"file_name": "mine.jsonl", "converter": "agnews"}}',
                                                encoding="utf-8")
    conversion = Conversion()
    conversion.write(tmp_path, "mine", [Example({"x": 1})], {})
    with pytest.raises(InputError, match="'mine' was written by convert agnews: convert generic would replace"):
        conversion.commit("mine", tmp_path, maker="generic")
    assert not (tmp_path / "mine.jsonl").exists()
