"""The shared conversion core: JSONL writer, text cleaning, reader, splits, row log, benchmark script."""

from __future__ import annotations

import html
import json
import random
import re
from pathlib import Path

import pytest
from conftest import run_script

from recipekit.data import Example, RowLog, select_rows
from recipekit.data.readers import read_source
from recipekit.data.textclean import clean_release_text, head_tail, head_tail_tokens, unescape_backslash_newlines
from recipekit.errors import InputError
from recipekit.files import jsonl_lines


def test_jsonl_lines_equal_json_dumps_byte_for_byte() -> None:
    rng = random.Random(0)
    shared = "Classify:\n1: World\t\"quoted\" \\ back 中文 \u2028"
    pieces = ["a", "é", "中", "\n", "\"", "\\", "\u2028", "\x00", "😀", " "]
    rows: list[dict] = []
    for i in range(300):
        text = "".join(rng.choice(pieces) for _ in range(rng.randint(0, 12)))
        row = {"instruction": shared if i % 3 else text, "input": text, "output": rng.choice(["A", "B", None, 1, 2.5])}
        if i % 7 == 0:
            row["messages"] = [{"role": "user", "content": text}, {"role": "assistant", "content": shared}]
        if i % 11 == 0:
            row = {1: text, "x": True}  # a non-string key goes through the plain encoder
        rows.append(row)
    rows += [{}, {2: "keys that are all numbers"}]
    expected = "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows)
    assert "".join(jsonl_lines(rows)) == expected


def reference_clean(text: str) -> str:
    """The first, plain implementation of the AG News clean-up, kept here as the specification."""
    text = re.sub(r"\\n(?![a-z])|\\+", "\n", text)
    text = re.sub(r"(?: |^)(#\d+;|quot;|amp;|lt;|gt;)", r"&\1", text)
    text = html.unescape(text)
    lines = (re.sub(r"[ \t]+", " ", line).strip() for line in text.split("\n"))
    return "\n".join(line for line in lines if line)


def test_fast_clean_equals_the_reference_on_random_release_text() -> None:
    rng = random.Random(1)
    pieces = [" ", "  ", "\t", "\\", "\\n", "\\nthe", " #39;", "#36;", " quot;", "quot;", " amp;", "&amp;", "&lt;",
              " gt;", "&", ";", "word", "Word", "\n", "\n\n", " #12345;", "#x;", "&#150;", "é"]
    for _ in range(3000):
        text = "".join(rng.choice(pieces) for _ in range(rng.randint(0, 10)))
        assert clean_release_text(text) == reference_clean(text), repr(text)


def test_head_tail_keeps_both_ends_and_counts_the_cut() -> None:
    assert head_tail("abcdefghij", 0) == ("abcdefghij", 0)
    assert head_tail("abcdefghij", 10) == ("abcdefghij", 0)
    assert head_tail("abcdefghij", 5) == ("abc\n[... 5 chars cut ...]\nij", 5)
    assert head_tail("abcdefghij", 1) == ("a\n[... 9 chars cut ...]\n", 9)


def test_head_tail_in_tokens_counts_the_texts_own_tokens_not_the_special_ones() -> None:
    """A word-level tokenizer that wraps every encoding in [CLS] ... [SEP] unless told not to: ten words are ten
    tokens, kept two at each end for a budget of 4 (the head takes the odd one)."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors
    from transformers import PreTrainedTokenizerFast

    words = [f"w{i}" for i in range(1, 11)]
    vocab = {word: i for i, word in enumerate(["[UNK]", "[CLS]", "[SEP]", *words])}
    raw = Tokenizer(models.WordLevel(vocab, unk_token="[UNK]"))
    raw.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    raw.decoder = decoders.WordPiece()  # joins words with spaces
    raw.post_processor = processors.TemplateProcessing(single="[CLS] $A [SEP]", special_tokens=[("[CLS]", 1),
                                                                                                ("[SEP]", 2)])
    tokenizer = PreTrainedTokenizerFast(tokenizer_object=raw, unk_token="[UNK]")
    text = " ".join(words)
    assert len(tokenizer.encode(text)) == 12  # the wrapping the budget must not count
    assert head_tail_tokens(text, 4, tokenizer) == ("w1 w2\n[... 6 tokens cut ...]\nw9 w10", 6)
    assert head_tail_tokens(text, 5, tokenizer) == ("w1 w2 w3\n[... 5 tokens cut ...]\nw9 w10", 5)
    assert head_tail_tokens(text, 1, tokenizer) == ("w1\n[... 9 tokens cut ...]\n", 9)
    assert head_tail_tokens(text, 10, tokenizer) == (text, 0) and head_tail_tokens(text, 0, tokenizer) == (text, 0)


def test_reader_names_lines_and_splits(tmp_path: Path) -> None:
    (tmp_path / "train.tsv").write_text("text\tlabel\nhello\t1\nbad line\n\nlast\t0\n", encoding="utf-8")
    (tmp_path / "dev.json").write_text('[{"text": "array", "label": 1}]', encoding="utf-8")
    (tmp_path / "test.json").write_text('{"text": "lines", "label": 0}\n', encoding="utf-8")
    splits = read_source(str(tmp_path))
    assert list(splits) == ["train", "dev", "test"]
    train = splits["train"]
    assert [(r.where, r.fields, r.problem) for r in train] == [
        (f"{tmp_path / 'train.tsv'}:2", {"text": "hello", "label": "1"}, None),
        (f"{tmp_path / 'train.tsv'}:3", {}, "wrong number of fields (1, expected 2: text, label)"),
        (f"{tmp_path / 'train.tsv'}:5", {"text": "last", "label": "0"}, None)]
    assert splits["dev"][0].fields == {"text": "array", "label": 1}
    assert splits["test"][0].where == f"{tmp_path / 'test.json'}:1"
    assert list(read_source(str(tmp_path / "test.json"))) == ["test"]
    (tmp_path / "empty.csv").write_text("", encoding="utf-8")
    with pytest.raises(InputError, match="empty file"):
        read_source(str(tmp_path / "empty.csv"))


def test_row_log_counts_all_and_shows_the_first_three() -> None:
    log = RowLog()
    for where in ("f:0", "f:1", "g:0", "g:1", "g:2"):
        log.add("bad label", where, "label")
    log.fix("trimmed", "g:9")
    assert log.counts == {"bad label": 5} and log.total == 5
    assert log.summary_lines() == ["  skipped 5 row(s): bad label; e.g. f:0 (field label); f:1 (field label); "
                                   "g:0 (field label)", "  repaired 1 time(s), row kept: trimmed; e.g. g:9"]


def test_select_rows_explains_what_cannot_be_split() -> None:
    pool = {"train": [Example({"i": i}, "a" if i else "b") for i in range(5)]}
    with pytest.raises(InputError, match="cannot stratify: class b has only one row"):
        select_rows(pool, None, 2, 0)
    with pytest.raises(InputError, match="cannot hold out 5 rows from 5 usable rows"):
        select_rows({"train": [Example({"i": i}) for i in range(5)]}, None, 5, 0)
    train, val = select_rows({"train": [Example({"i": i}) for i in range(10)]}, 4, 3, 0)
    assert len(train) == 4 and len(val) == 3 and not {e.row["i"] for e in train} & {e.row["i"] for e in val}


@pytest.mark.integration
def test_bench_convert_prints_both_rates_and_the_ratio() -> None:
    result = run_script("scripts/bench_convert.py", "--rows", "3000", "--repeats", "1")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0] == "rows: 3,000 (best of 1)"
    assert lines[1].startswith("converters/agnews.py: ") and lines[1].endswith(" rows/s")
    assert lines[2].startswith("bare csv -> jsonl loop: ")
    ratio = float(re.search(r"ratio \(converter time / bare time\): ([0-9.]+)x", lines[3]).group(1))
    assert ratio > 0


def test_a_csv_field_over_the_csv_modules_default_limit_is_read_whole(tmp_path: Path) -> None:
    import csv

    csv.field_size_limit(128 * 1024)  # the csv module's default, whatever an earlier test left
    long_text = "word " * 40_000  # 200,000 characters
    path = tmp_path / "train.csv"
    path.write_text(f'text,label\n"{long_text}",1\nshort,0\n', encoding="utf-8")
    rows = read_source(str(path))["train"]
    assert [(r.where, r.fields, r.problem) for r in rows] == [
        (f"{path}:2", {"text": long_text, "label": "1"}, None), (f"{path}:3", {"text": "short", "label": "0"}, None)]


def test_a_skip_is_its_reason_and_shows_where_in_the_value_it_failed() -> None:
    from recipekit.data.readers import Record
    from recipekit.data.rows import Skip, map_records

    def mapper(record: Record) -> Example:
        raise Skip("invalid JSON in text (Expecting value)", "text", "at character 4")

    log = RowLog()
    assert map_records([Record("raw.csv:2", {"text": "[1, ?]"})], mapper, log) == []
    assert dict(log.counts) == {"invalid JSON in text (Expecting value)": 1}
    assert log.examples["invalid JSON in text (Expecting value)"] == [
        "raw.csv:2 (field text = '[1, ?]', at character 4)"]
    skip = Skip("no label")
    assert (str(skip), skip.reason, skip.field_name, skip.detail) == ("no label", "no label", None, None)


def test_release_line_breaks_become_lines_each_stripped_with_one_blank_line_at_most() -> None:
    assert unescape_backslash_newlines('first  line  \\n  second\\n\\n\\n\\nsaid \\"hi\\"') == (
        'first line\nsecond\n\nsaid "hi"')


def test_a_row_left_out_of_one_output_is_counted_with_where_and_which_field() -> None:
    log = RowLog()
    log.omit("a tie (no preference)", "raw.csv:3", "winner")
    log.omit("a tie (no preference)", "raw.csv:7")
    assert log.omit_examples == {"a tie (no preference)": ["raw.csv:3 (field winner)", "raw.csv:7"]}
    assert log.summary_lines() == ["  left out 2 row(s): a tie (no preference); e.g. raw.csv:3 (field winner); "
                                   "raw.csv:7"]


def test_an_integer_label_may_be_negative_text_and_a_fix_is_counted_each_time() -> None:
    from recipekit.data.rows import Skip, int_label

    assert int_label({"l": " -3 "}, "l", -5, 5) == -3 and int_label({"l": "4"}, "l", 0, 4) == 4
    with pytest.raises(Skip, match="l not in 0-4"):
        int_label({"l": "-3"}, "l", 0, 4)
    with pytest.raises(Skip, match="l not in 0-4"):  # only a minus sign may lead the digits
        int_label({"l": "X3"}, "l", 0, 4)
    log = RowLog()
    log.fix("broken UTF-8 replaced", "a.csv:2", "text")
    log.fix("broken UTF-8 replaced", "a.csv:9", "title")
    log.add("too long", "a.csv:4", "text", "x" * 79 + "\n" + "y" * 30)  # shown to 80 characters, its break kept
    assert log.fixes == {"broken UTF-8 replaced": 2}
    assert log.fix_examples == {"broken UTF-8 replaced": ["a.csv:2 (field text)", "a.csv:9 (field title)"]}
    assert log.summary_lines()[-1] == ("  repaired 2 time(s), row kept: broken UTF-8 replaced; e.g. a.csv:2 (field "
                                       "text); a.csv:9 (field title)")
    assert log.examples == {"too long": ["a.csv:4 (field text = " + "x" * 79 + "…)"]}
    log.add("too long", "a.csv:5", "text", "x" * 78 + "\ny")
    assert log.examples["too long"][1] == "a.csv:5 (field text = " + "x" * 78 + "\ny)"


def test_stratifying_needs_two_rows_of_each_class_and_names_every_class_short_of_them() -> None:
    from recipekit.data.splits import _stratify

    assert _stratify(["a", "a", "b", "b"]) == ["a", "a", "b", "b"] and _stratify([None, None]) is None
    with pytest.raises(InputError) as raised:
        _stratify(["a", "a", "c", "b"])
    assert str(raised.value) == ("cannot stratify: class b, c has only one row (add rows or lower "
                                 "--max-samples/--val-size)")


def test_a_hold_out_too_small_for_every_class_is_scikit_learns_reason_in_one_line() -> None:
    from recipekit.data.splits import stratified_split

    with pytest.raises(InputError) as raised:
        stratified_split(["a", "a", "a", "b", "b", "b"], 1, 0)
    said = str(raised.value)
    assert said.startswith("cannot hold out 1 of 6 rows stratified by class (") and said.endswith(
        "); change --val-size")
    assert "number of classes = 2" in said and "\n" not in said  # scikit-learn's words for it
