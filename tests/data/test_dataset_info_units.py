"""The registry's reading rules: which converter wrote a set, and a set's distinct answers (its labels)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest import ascii_locale, write_jsonl

from recipekit.data.dataset_info import dataset_answers, load_registry, maker_of
from recipekit.errors import InputError


def test_a_registry_is_read_as_utf_8_and_a_missing_or_empty_one_is_empty(tmp_path: Path) -> None:
    path = tmp_path / "dataset_info.json"
    assert load_registry(path) == {}
    path.write_text("", encoding="utf-8")
    assert load_registry(path) == {}
    path.write_text(json.dumps({"新闻": {"file_name": "新闻.jsonl"}}, ensure_ascii=False), encoding="utf-8")
    with ascii_locale():
        assert load_registry(path) == {"新闻": {"file_name": "新闻.jsonl"}}


def test_a_registry_that_is_not_an_object_of_entries_is_named(tmp_path: Path) -> None:
    path = tmp_path / "dataset_info.json"
    path.write_text('["agnews"]', encoding="utf-8")
    with pytest.raises(InputError) as caught:
        load_registry(path)
    assert str(caught.value) == f"{path}: expected a JSON object of dataset entries"
    path.write_text('{"a": 1,\n}', encoding="utf-8")
    with pytest.raises(InputError) as caught:
        load_registry(path)
    assert str(caught.value) == f"{path}:2: not valid JSON (Expecting property name enclosed in double quotes)"


def test_the_maker_is_a_non_empty_text_of_a_mapping_entry() -> None:
    assert maker_of({"file_name": "a.jsonl", "converter": "agnews"}) == "agnews"
    assert maker_of({"file_name": "a.jsonl", "converter": ""}) is None
    assert maker_of({"file_name": "a.jsonl", "converter": 3}) is None
    assert maker_of({"file_name": "a.jsonl"}) is None
    assert maker_of("a.jsonl") is None  # type: ignore[arg-type]  (a hand-edited registry)


def test_a_sets_answers_are_its_distinct_non_blank_outputs_between_two_and_the_most(tmp_path: Path) -> None:
    (tmp_path / "dataset_info.json").write_text(json.dumps({
        "labels": {"file_name": "labels.jsonl"},
        "renamed": {"file_name": "renamed.jsonl", "columns": {"response": "y"}},
        "chat": {"file_name": "chat.jsonl", "formatting": "sharegpt"}}), encoding="utf-8")
    write_jsonl(tmp_path / "labels.jsonl", [{"instruction": "q", "output": answer} for answer in
                                            ("World", " Sports ", "World", "", "   ")] + [{"instruction": "no output"}])
    assert dataset_answers(tmp_path, "labels") == ["Sports", "World"]  # stripped; blank and missing ones left out
    assert dataset_answers(tmp_path, "labels", most=2) == ["Sports", "World"]  # exactly the most
    assert dataset_answers(tmp_path, "labels", most=1) is None
    write_jsonl(tmp_path / "renamed.jsonl", [{"x": "q", "y": "yes"}, {"x": "q", "y": "yes"}, {"x": "q"}])
    assert dataset_answers(tmp_path, "renamed") is None  # one answer is no label set
    write_jsonl(tmp_path / "chat.jsonl", [{"messages": []}])
    assert dataset_answers(tmp_path, "chat") is None and dataset_answers(tmp_path, "unregistered") is None
    # fifty distinct answers are still a label set by default; fifty-one are free text
    write_jsonl(tmp_path / "labels.jsonl", [{"instruction": "q", "output": f"class {i:02d}"} for i in range(50)])
    assert dataset_answers(tmp_path, "labels") == [f"class {i:02d}" for i in range(50)]
    write_jsonl(tmp_path / "labels.jsonl", [{"instruction": "q", "output": f"class {i:02d}"} for i in range(51)])
    assert dataset_answers(tmp_path, "labels") is None
