"""The rows the contamination check compares: a registered set's file and entry, each row's id and text, its
held-out sets, an lm-eval task dict opened, a suite's tasks, and a training set written without flagged rows."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest import rows_of, write_jsonl

from recipekit.contamination.sources import (
    FIELDS,
    LLAMAFACTORY_TAGS,
    Row,
    drop_flagged,
    flatten,
    held_out,
    registered,
    row_text,
    set_rows,
    suite_tasks,
    task_rows,
)
from recipekit.errors import InputError

ALPACA = {"formatting": "alpaca", "columns": {"prompt": "instruction", "query": "input", "response": "output"}}


def register(data: Path, entries: dict) -> Path:
    data.mkdir(parents=True, exist_ok=True)
    (data / "dataset_info.json").write_text(json.dumps(entries), encoding="utf-8")
    return data


def message(caught: pytest.ExceptionInfo[InputError]) -> str:
    return str(caught.value)


def test_a_registered_sets_file_and_entry_or_one_line_why_not(tmp_path: Path) -> None:
    data = register(tmp_path / "data", {"s": {"file_name": "s.jsonl", "x": 1}, "gone": {"file_name": "g.jsonl"},
                                        "hub": {"hf_hub_url": "org/x"}, "folder": {"file_name": "sub"}})
    write_jsonl(data / "s.jsonl", [{"instruction": "a"}])
    (data / "sub").mkdir()
    assert registered(data, "s") == (data / "s.jsonl", {"file_name": "s.jsonl", "x": 1})
    with pytest.raises(InputError) as caught:
        registered(data, "nope")
    assert message(caught) == f"{data / 'dataset_info.json'}: dataset 'nope' is not registered"
    with pytest.raises(InputError) as caught:
        registered(data, "gone")
    assert message(caught) == f"{data / 'g.jsonl'}: dataset 'gone': its file is not here"
    with pytest.raises(InputError) as caught:
        registered(data, "hub")
    assert message(caught) == f"{data}: dataset 'hub': its file is not here"
    with pytest.raises(InputError) as caught:
        registered(data, "folder")
    assert message(caught) == f"{data / 'sub'}: dataset 'folder': its file is not here"


def test_a_sets_rows_with_their_ids_or_line_numbers(tmp_path: Path) -> None:
    data = register(tmp_path, {"s": {"file_name": "s.jsonl", **ALPACA}})
    (data / "s.jsonl").write_text("\n".join(json.dumps(r) for r in [
        {"instruction": "Q1", "input": "x", "output": "A1", "id": 7},
        {"instruction": "Q2", "output": "A2", "id": None},
        {"instruction": "Q3", "output": "A3", "id": 0}]).replace("\n", "\n\n", 1) + "\n", encoding="utf-8")
    assert list(set_rows(data, "s", "prompt")) == [Row("7", "Q1\nx"), Row("line 3", "Q2"), Row("0", "Q3")]
    assert [r.text for r in set_rows(data, "s", "all")] == ["Q1\nx\nA1", "Q2\nA2", "Q3\nA3"]
    assert FIELDS == ("prompt", "all")


def test_row_text_defaults_and_columns() -> None:
    assert LLAMAFACTORY_TAGS == {"role_tag": "from", "content_tag": "value", "user_tag": "human",
                                 "assistant_tag": "gpt", "system_tag": "system"}
    plain = {"instruction": "Ask", "input": "", "system": "Sys", "output": "ans", "other": "no"}
    assert row_text(plain, {}, "prompt") == "Ask\nSys"  # alpaca by default, empty parts left out
    assert row_text(plain, {}, "all") == "Ask\nSys\nans"
    renamed = {"columns": {"prompt": "q", "query": "ctx", "system": "sys", "response": "a"}}
    assert row_text({"q": "Q", "ctx": "C", "sys": "S", "a": "A", "instruction": "no"}, renamed, "all") == \
        "Q\nC\nS\nA"
    chat = {"conversations": [{"from": "system", "value": "Be"}, {"from": "human", "value": "Hi"},
                              {"from": "gpt", "value": "Yo"}, "not a message", {"from": "human"}],
            "system": "top"}
    sharegpt = {"formatting": "sharegpt"}
    assert row_text(chat, sharegpt, "prompt") == "Be\nHi\ntop"  # LLaMA-Factory's ShareGPT tags and column
    assert row_text(chat, sharegpt, "all") == "Be\nHi\nYo\ntop"
    openai = {"messages": [{"from": "user", "value": "U"}, {"from": "assistant", "value": "A"}]}
    assert row_text(openai, {"formatting": "sharegpt", "columns": {"messages": "messages"}}, "prompt") == "U"
    assert row_text({"conversations": None}, sharegpt, "all") == ""
    own_tags = {"formatting": "sharegpt", "tags": {"user_tag": "u", "system_tag": "s"}}
    mixed = {"conversations": [{"from": "s", "value": "1"}, {"from": "system", "value": "2"},
                               {"from": "u", "value": "3"}, {"from": "user", "value": "4"},
                               {"from": "human", "value": "5"}, {"from": "gpt", "value": "6"}]}
    assert row_text(mixed, own_tags, "prompt") == "1\n2\n3\n4"  # the set's own tags and the OpenAI roles asked
    pairs = {"formatting": "alpaca", "ranking": True, "columns": {"chosen": "good", "rejected": "bad"}}
    row = {"instruction": "Q", "good": "G", "bad": [{"value": "B1"}, "B2"], "output": "O"}
    assert row_text(row, pairs, "all") == "Q\nG\nB1\nB2\nO"
    assert row_text(row, pairs, "prompt") == "Q"
    tagged = {"formatting": "sharegpt", "ranking": True, "tags": {"content_tag": "text", "role_tag": "who"},
              "columns": {"messages": "m"}}
    row = {"m": [{"who": "human", "text": "P"}], "chosen": {"text": "C"}, "rejected": {"text": "R"}}
    assert row_text(row, tagged, "all") == "P\nC\nR"


def test_held_out_sets_of_each_training_set_in_order(tmp_path: Path) -> None:
    data = register(tmp_path, {n: {} for n in ("a", "a_val", "a_test", "a_val_swapped", "a_test_swapped",
                                               "a_dev", "b_test", "b", "c_val")})
    assert held_out(data, ["a", "b"]) == ["a_val", "a_test", "a_val_swapped", "a_test_swapped", "b_test"]
    assert held_out(data, []) == [] and held_out(tmp_path / "none", ["a"]) == []


class Group:
    def __init__(self, name: str) -> None:
        self.group_name = name


def test_an_lm_eval_task_dict_opened_group_by_group() -> None:
    a, b, c = object(), object(), object()
    tasks = {"solo": a, Group("grp"): {"inner": b, Group("sub"): {"deep": c}}}
    assert list(flatten(tasks)) == [("solo", a), ("inner", b), ("deep", c)]
    d = object()
    assert list(flatten({Group("g"): d})) == [("g", d)]  # a task keyed by a group object: its group's name
    assert list(flatten({})) == []


def test_a_suites_distinct_tasks_in_order(tmp_path: Path) -> None:
    suite = tmp_path / "suite.yaml"
    suite.write_text("dimensions:\n  knowledge: {tasks: [mmlu, arc_easy], shots: 0}\n  reasoning: {tasks: [arc_easy, "
                     "gsm8k]}\n  one: {tasks: hellaswag}\n", encoding="utf-8")
    assert suite_tasks(str(suite)) == ["mmlu", "arc_easy", "gsm8k", "hellaswag"]


def test_a_task_folder_that_is_not_there_is_one_line(tmp_path: Path) -> None:
    with pytest.raises(InputError) as caught:
        task_rows("tiny_mc", str(tmp_path / "nowhere"))
    assert message(caught) == f"{tmp_path / 'nowhere'}: no such folder"


def test_the_training_set_without_its_flagged_rows(tmp_path: Path) -> None:
    data = register(tmp_path / "data", {"t": {"file_name": "t.jsonl", **ALPACA, "converter": "generic"}})
    rows = [{"instruction": f"q{i}", "output": "a"} for i in range(5)]
    write_jsonl(data / "t.jsonl", rows)
    done = drop_flagged(data, "t", {0, 3, 9}, "t_clean")
    assert done == {"from": "t", "name": "t_clean", "rows": 3, "kept": 3, "file": str(data / "t_clean.jsonl")}
    assert rows_of(data / "t_clean.jsonl") == [rows[1], rows[2], rows[4]]
    registry = json.loads((data / "dataset_info.json").read_text(encoding="utf-8"))
    clean = {k: v for k, v in registry["t_clean"].items() if k != "converter"}
    assert clean == {**ALPACA, "file_name": "t_clean.jsonl"}
    assert rows_of(data / "t.jsonl") == rows  # the set itself untouched
    with pytest.raises(InputError) as caught:
        drop_flagged(data, "t", set(range(5)), "t_none")
    assert message(caught) == (f"{data / 't.jsonl'}: --drop would leave t with 0 rows: every row matches a scored "
                               "set; nothing was written")
    assert not (data / "t_none.jsonl").exists()
    assert drop_flagged(data, "t", set(), "t_all")["kept"] == 5
