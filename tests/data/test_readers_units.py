"""Reading raw tables: broken text repaired and named, CSV rows by the line they start on, JSONL lines, a .json
that is one object per line, the file types refused, split files in a folder, the hub switch and an error's root
cause."""

from __future__ import annotations

import itertools
import os
import socket
from pathlib import Path

import pytest

from recipekit.data.readers import (
    BROKEN_UTF8,
    Record,
    csv_has_header,
    dataset_records,
    hub_offline,
    hub_reachable,
    is_json_lines,
    load_with_datasets,
    read_csv,
    read_file,
    read_json_lines,
    read_source,
    repair_text,
    root_cause,
    split_files,
)
from recipekit.errors import InputError


def test_lone_surrogates_become_the_replacement_character() -> None:
    assert repair_text("plain") == ("plain", False)
    assert repair_text("café") == ("café", False)  # not ASCII, but whole
    assert repair_text("bad \udcff byte and \ud800") == ("bad \ufffd byte and \ufffd", True)
    assert BROKEN_UTF8 == "broken UTF-8 or lone surrogate replaced with U+FFFD"


def test_a_csv_rows_broken_bytes_are_replaced_and_their_columns_named(tmp_path: Path) -> None:
    path = tmp_path / "t.csv"
    path.write_bytes(b"text,label,note\nok \xff,1,caf\xc3\xa9\nfine,2,n\n")
    first, second = read_csv(path)
    assert first == Record(f"{path}:2", {"text": "ok \ufffd", "label": "1", "note": "café"}, None, ("text",))
    assert second == Record(f"{path}:3", {"text": "fine", "label": "2", "note": "n"})
    path.write_bytes(b'text,label\r\n"two\r\nlines",1\r\nnext,2\r\n')  # a quoted line break kept as written
    assert list(read_csv(path)) == [Record(f"{path}:2", {"text": "two\r\nlines", "label": "1"}),
                                    Record(f"{path}:4", {"text": "next", "label": "2"})]


def test_a_tsv_is_read_by_tabs_and_a_headerless_file_by_the_columns_given(tmp_path: Path) -> None:
    tsv = tmp_path / "t.TSV"
    tsv.write_text(" a \tb\n1,2\t3\n\n4\t5\n", encoding="utf-8")
    assert [(r.where, r.fields) for r in read_csv(tsv)] == [(f"{tsv}:2", {"a": "1,2", "b": "3"}),
                                                           (f"{tsv}:4", {"a": "4", "b": "5"})]
    bare = tmp_path / "bare.csv"
    bare.write_text('1,"two\nlines"\n3,x\n', encoding="utf-8")
    assert [(r.where, r.fields) for r in read_csv(bare, ["n", "s"])] == [
        (f"{bare}:1", {"n": "1", "s": "two\nlines"}), (f"{bare}:3", {"n": "3", "s": "x"})]


def test_a_csv_row_of_the_wrong_width_carries_its_problem(tmp_path: Path) -> None:
    path = tmp_path / "t.csv"
    path.write_text("a,b\n1\n1,2,3\n", encoding="utf-8")
    assert list(read_csv(path)) == [
        Record(f"{path}:2", {}, "wrong number of fields (1, expected 2: a, b)"),
        Record(f"{path}:3", {}, "wrong number of fields (3, expected 2: a, b)")]
    empty = tmp_path / "empty.csv"
    empty.write_text("", encoding="utf-8")
    with pytest.raises(InputError, match=r"empty\.csv: empty file \(expected a header line\)$"):
        list(read_csv(empty))


def test_a_json_file_is_lines_unless_its_first_text_opens_an_array(tmp_path: Path) -> None:
    cases = {"lines.json": '\n  {"a": 1}\n{"a": 2}\n', "array.json": '\n  [{"a": 1}]\n', "blank.json": "\n \n"}
    for name, text in cases.items():
        (tmp_path / name).write_text(text, encoding="utf-8")
    assert is_json_lines(tmp_path / "lines.json") is True
    assert is_json_lines(tmp_path / "array.json") is False
    assert is_json_lines(tmp_path / "blank.json") is True
    assert [r.fields for r in read_file(tmp_path / "lines.json")] == [{"a": 1}, {"a": 2}]


def test_jsonl_lines_that_are_not_objects_and_a_broken_line(tmp_path: Path) -> None:
    path = tmp_path / "t.jsonl"
    path.write_bytes(b'{"a": 1}\n\n[1]\n{"a": \n{"a": "\xff"}\n')
    records = read_file(path)
    assert records[0] == Record(f"{path}:1", {"a": 1})
    assert records[1] == Record(f"{path}:3", {}, "not a JSON object")
    assert records[2].where == f"{path}:4" and records[2].problem.startswith("not valid JSON (")
    assert records[3] == Record(f"{path}:5", {"a": "\ufffd"}, None, ("(line)",))


def test_an_unsupported_file_type_lists_those_read(tmp_path: Path) -> None:
    path = tmp_path / "t.xlsx"
    path.write_text("x", encoding="utf-8")
    with pytest.raises(InputError) as raised:
        read_file(path)
    assert str(raised.value) == f"{path}: unsupported file type '.xlsx' (use .csv, .tsv, .jsonl, .json, .parquet)"
    upper = tmp_path / "T.JSONL"
    upper.write_text('{"a": 1}\n', encoding="utf-8")
    assert [r.fields for r in read_file(upper)] == [{"a": 1}]


def test_a_headerless_csv_is_named_only_when_its_first_line_is_not_the_header(tmp_path: Path) -> None:
    named = tmp_path / "named.csv"
    named.write_text(" label , text\n1,a\n", encoding="utf-8")  # a header's names as spaced
    bare = tmp_path / "bare.csv"
    bare.write_text("1,a\n2,b\n", encoding="utf-8")
    assert [r.fields for r in read_file(named, ["label", "text"], ["label", "text"])] == [{"label": "1", "text": "a"}]
    assert [r.fields for r in read_file(bare, ["label", "text"], ["label", "text"])] == [
        {"label": "1", "text": "a"}, {"label": "2", "text": "b"}]


def test_one_file_is_the_split_its_name_says_else_train(tmp_path: Path) -> None:
    for name in ("test.jsonl", "reviews.jsonl", "dev.jsonl"):
        (tmp_path / name).write_text('{"a": 1}\n', encoding="utf-8")
    assert list(read_source(str(tmp_path / "test.jsonl"))) == ["test"]
    assert list(read_source(str(tmp_path / "reviews.jsonl"))) == ["train"]
    assert list(read_source(str(tmp_path / "dev.jsonl"), split_names=("train", "test"))) == ["train"]
    with pytest.raises(InputError, match=r"nothing\.csv: no such file or folder$"):
        read_source(str(tmp_path / "nothing.csv"))


def test_a_folders_split_files_the_first_suffix_of_each_split(tmp_path: Path) -> None:
    for name in ("train.jsonl", "train.csv", "test.parquet", "notes.csv"):
        (tmp_path / name).write_text("x\n", encoding="utf-8")
    (tmp_path / "validation.csv").mkdir()  # a folder is no split file
    assert split_files(tmp_path) == {"train": tmp_path / "train.csv", "test": tmp_path / "test.parquet"}
    assert split_files(tmp_path, ("test",)) == {"test": tmp_path / "test.parquet"}
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(InputError) as raised:
        split_files(empty, ("train", "dev"))
    braces = "{.csv,.tsv,.jsonl,.json,.parquet}"
    assert str(raised.value) == f"{empty}: no split files found (looked for train{braces}, dev{braces})"


def chained(*exceptions: BaseException, cause: bool = True) -> BaseException:
    """The first exception with each next one under it (as ``raise ... from`` or while handling)."""
    for outer, inner in itertools.pairwise(exceptions):
        if cause:
            outer.__cause__ = inner
        else:
            outer.__context__ = inner
    return exceptions[0]


def test_a_root_cause_is_every_chained_message_once_innermost_last() -> None:
    """The outer message itself only when nothing lies under it; whitespace folded; a message met twice kept once;
    a message-less exception by its type's name; a cause followed before a context."""
    assert root_cause(RuntimeError("  only \n this ")) == "only this"
    assert root_cause(chained(RuntimeError("top"), ValueError("bad   field\n at 3"), OSError("disk"))) == (
        "bad field at 3; disk")
    assert root_cause(chained(RuntimeError("top"), ValueError("a  b"), KeyError("a b"), ValueError("a b"),
                              cause=False)) == "a b; 'a b'"
    assert root_cause(chained(RuntimeError("top"), ValueError())) == "ValueError"
    both = RuntimeError("top")
    both.__cause__, both.__context__ = ValueError("the cause"), ValueError("the context")
    assert root_cause(both) == "the cause"
    middle = ValueError("middle")
    middle.__cause__, middle.__context__ = ValueError("its cause"), ValueError("its context")
    assert root_cause(chained(RuntimeError("top"), middle)) == "middle; its cause"


def test_offline_the_hub_is_not_tried_and_the_switch_is_put_back(monkeypatch: pytest.MonkeyPatch) -> None:
    import datasets
    import huggingface_hub.constants

    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen()
    monkeypatch.setenv("HF_ENDPOINT", f"http://127.0.0.1:{listener.getsockname()[1]}")  # a hub that answers
    monkeypatch.delenv("HF_DATASETS_OFFLINE", raising=False)
    monkeypatch.setenv("HF_HUB_OFFLINE", "0")
    assert hub_reachable() is True
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    assert hub_reachable() is False
    monkeypatch.setenv("HF_HUB_OFFLINE", "0")
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "true")
    assert hub_reachable() is False
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "")
    assert hub_reachable() is True
    listener.close()
    monkeypatch.setenv("HF_ENDPOINT", "http://127.0.0.1:9")  # nothing listens there
    assert hub_reachable(timeout=1) is False
    monkeypatch.delenv("HF_HUB_OFFLINE")
    before = (datasets.config.HF_HUB_OFFLINE, huggingface_hub.constants.HF_HUB_OFFLINE)
    with hub_offline():
        assert (os.environ["HF_HUB_OFFLINE"], os.environ["HF_DATASETS_OFFLINE"]) == ("1", "1")
        assert datasets.config.HF_HUB_OFFLINE is True and huggingface_hub.constants.HF_HUB_OFFLINE is True
    assert "HF_HUB_OFFLINE" not in os.environ and os.environ["HF_DATASETS_OFFLINE"] == ""
    assert before == (datasets.config.HF_HUB_OFFLINE, huggingface_hub.constants.HF_HUB_OFFLINE)
    with hub_offline(False):
        assert "HF_HUB_OFFLINE" not in os.environ


def test_the_hub_tried_is_the_endpoints_host_and_port_else_huggingface_co_443(monkeypatch: pytest.MonkeyPatch) -> None:
    """The address and timeout handed to the socket (which refuses: no network is used)."""
    tried: list[tuple[tuple[str, int], float]] = []

    def refuse(address: tuple[str, int], timeout: float) -> socket.socket:
        tried.append((address, timeout))
        raise ConnectionRefusedError(111, "Connection refused")

    monkeypatch.setattr(socket, "create_connection", refuse)
    monkeypatch.setenv("HF_HUB_OFFLINE", "")  # empty is not offline, as "0"
    monkeypatch.delenv("HF_DATASETS_OFFLINE", raising=False)
    monkeypatch.delenv("HF_ENDPOINT", raising=False)
    assert hub_reachable() is False
    monkeypatch.setenv("HF_ENDPOINT", "")
    assert hub_reachable(timeout=0.5) is False
    monkeypatch.setenv("HF_ENDPOINT", "https://hub.example.org")
    assert hub_reachable() is False
    monkeypatch.setenv("HF_ENDPOINT", "http://mirror.example.org:8080/hf")
    assert hub_reachable() is False
    assert tried == [(("huggingface.co", 443), 3.0), (("huggingface.co", 443), 0.5), (("hub.example.org", 443), 3.0),
                     (("mirror.example.org", 8080), 3.0)]


def test_datasets_reads_a_local_file_or_folder_afresh_a_tsv_by_tabs_and_names_a_file_it_cannot_parse(
        tmp_path: Path) -> None:
    cache = {"cache_dir": str(tmp_path / "cache")}
    table = tmp_path / "a.csv"
    table.write_text("text,label\nhello,1\n", encoding="utf-8")
    assert load_with_datasets("csv", str(table), **cache)["train"].to_list() == [{"text": "hello", "label": 1}]
    tabbed = tmp_path / "a.tsv"
    tabbed.write_text("text\tlabel\nhi there, you\t2\n", encoding="utf-8")
    assert load_with_datasets("csv", str(tabbed), **cache)["train"].to_list() == [{"text": "hi there, you", "label": 2}]
    folder = tmp_path / "set"
    folder.mkdir()
    (folder / "train.csv").write_text("text,label\nfirst,1\n", encoding="utf-8")
    stamp = (folder / "train.csv").stat()
    assert load_with_datasets(str(folder), **cache)["train"].to_list() == [{"text": "first", "label": 1}]
    # new rows under the old time stamp (a copy made with cp -p, an archive unpacked): datasets' own cache of the
    # folder would give the old rows back
    (folder / "train.csv").write_text("text,label\nedits,2\n", encoding="utf-8")
    os.utime(folder / "train.csv", ns=(stamp.st_atime_ns, stamp.st_mtime_ns))
    assert load_with_datasets(str(folder), **cache)["train"].to_list() == [{"text": "edits", "label": 2}]
    # the same when only some splits are asked for, through read_source's hub path with its own cache folder
    (folder / "train.csv").write_text("text,label\nagain,3\n", encoding="utf-8")
    os.utime(folder / "train.csv", ns=(stamp.st_atime_ns, stamp.st_mtime_ns))
    split_cache = tmp_path / "split-cache"
    assert load_with_datasets(str(folder), splits=("train",), **cache)["train"].to_list() == [
        {"text": "again", "label": 3}]
    assert read_source(str(folder), hub=True, hub_splits=["train"], cache_dir=str(split_cache)) == {
        "train": [Record(f"{folder}[train] row 1", {"text": "again", "label": 3})]}
    assert any(split_cache.iterdir())
    broken = tmp_path / "broken.jsonl"
    broken.write_text('{"text": "a"}\n{"text": \n', encoding="utf-8")
    with pytest.raises(InputError) as raised:  # a local file: the hub plays no part in the message
        load_with_datasets("json", str(broken), **cache)
    assert str(raised.value).startswith(f"{broken}: datasets could not load it: ")


def test_a_datasets_rows_are_named_by_line_in_jsonl_else_by_row_number() -> None:
    import datasets

    rows = [{"text": f"row {i}", "label": i % 3} for i in range(5)]
    table = datasets.Dataset.from_list(rows)
    assert list(dataset_records(table, "data/x.jsonl")) == [
        Record(f"data/x.jsonl:{i + 1}", row) for i, row in enumerate(rows)]
    assert [r.where for r in dataset_records(table, "hub/train.parquet")] == [
        f"hub/train.parquet row {i}" for i in range(1, 6)]


def test_a_header_is_found_through_a_byte_order_mark_broken_bytes_and_quoted_line_breaks(tmp_path: Path) -> None:
    table = tmp_path / "t.csv"
    table.write_bytes("text,label\nhello,1\n".encode("utf-8-sig"))
    assert csv_has_header(table, {"text", "label"})
    table.write_bytes("text,label\n".encode("utf-16"))
    assert csv_has_header(table, {"text", "label"})
    table.write_bytes(b"text , label\nbroken \xff bytes,1\n")  # names stripped; later bytes do not stop it
    assert csv_has_header(table, {"text", "label"}) and not csv_has_header(table, {"text", "label", "id"})
    table.write_bytes(b'"two\r\nlines",label\r\nx,1\r\n')  # csv reads the quoted break as written
    assert csv_has_header(table, {"two\r\nlines", "label"})
    table.write_bytes(b"")
    assert not csv_has_header(table, {"text"})


def test_json_lines_and_json_arrays_are_told_apart_in_any_encoding(tmp_path: Path) -> None:
    lines, array = tmp_path / "lines.json", tmp_path / "array.json"
    lines.write_bytes('{"a": 1}\n{"a": 2}\n'.encode("utf-16"))
    array.write_bytes('\n  [{"a": 1}]\n'.encode("utf-16"))
    assert is_json_lines(lines) and not is_json_lines(array)
    array.write_bytes(b'[{"a": "\xff"}]')  # a broken byte does not stop the look at the first line
    assert not is_json_lines(array)
    lines.write_bytes('{"a": "é"}\n{"a": \n[1]\n'.encode("utf-16"))
    assert list(read_json_lines(lines)) == [
        Record(f"{lines}:1", {"a": "é"}), Record(f"{lines}:2", {}, "not valid JSON (Expecting value)"),
        Record(f"{lines}:3", {}, "not a JSON object")]


def test_a_parquet_files_rows_are_named_by_row_number(tmp_path: Path) -> None:
    import datasets

    path = tmp_path / "train.parquet"
    datasets.Dataset.from_list([{"text": "a", "label": 0}, {"text": "b", "label": 1}]).to_parquet(str(path))
    assert read_file(path) == [Record(f"{path} row 1", {"text": "a", "label": 0}),
                               Record(f"{path} row 2", {"text": "b", "label": 1})]


def test_a_hub_id_offline_and_not_cached_is_one_line_naming_it(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HF_ENDPOINT", "http://127.0.0.1:9")  # nothing listens there
    with pytest.raises(InputError) as raised:
        load_with_datasets("nobody/no-such-set", cache_dir=str(tmp_path / "cache"))
    assert str(raised.value) == (
        "nobody/no-such-set: the hub is unreachable and this dataset is not in the local datasets cache: load it once "
        "where the hub is reachable, or pass --input with a local copy of its files")
