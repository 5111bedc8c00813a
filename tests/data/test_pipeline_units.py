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
