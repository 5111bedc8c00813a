"""recipekit/classify/data.py and the prediction rows: label ids in the recipe's order checked against the
dataset's own answers, text pairs cut at the separator, caps, unlabeled rows, class weights and their errors."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from conftest import rows_of

from recipekit.classify.data import (
    UNLABELED,
    ClassSet,
    class_weights,
    load_set,
    raw_answers,
    split_pair,
    tokenized,
)
from recipekit.classify.training import prediction_rows
from recipekit.converters.catalog import make_fixture_dataset
from recipekit.errors import InputError

LABELS = ["是", "否"]  # the AFQMC recipe's order; sorted order would be 否, 是


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("classify_data")
    make_fixture_dataset("afqmc", folder / "raw", folder / "data")
    return folder / "data"


def test_label_ids_follow_the_recipes_order_and_the_datasets_answers(data: Path) -> None:
    gold = rows_of(data / "afqmc_val.jsonl")
    loaded = load_set(data, "afqmc_val", LABELS, separator="句子2：")
    assert loaded.label_ids == [0 if row["output"] == "是" else 1 for row in gold]
    assert {0, 1} == set(loaded.label_ids)  # both answers occur, so an order swap shows
    reversed_order = load_set(data, "afqmc_val", ["否", "是"], separator="句子2：")
    assert reversed_order.label_ids == [1 - i for i in loaded.label_ids]


def test_text_pairs_are_cut_where_the_separator_starts(data: Path) -> None:
    gold = rows_of(data / "afqmc_val.jsonl")
    loaded = load_set(data, "afqmc_val", LABELS, separator="句子2：")
    first, second = gold[0]["input"].split("\n")  # 句子1：... / 句子2：...
    assert (loaded.texts[0], loaded.pairs[0]) == (first, second)
    whole = load_set(data, "afqmc_val", LABELS)
    assert whole.pairs is None and whole.texts == [row["input"] for row in gold]
    with_instruction = load_set(data, "afqmc_val", LABELS, include_instruction=True, max_samples=3)
    assert with_instruction.texts == [f"{row['instruction']}\n{row['input']}" for row in gold[:3]]


def test_unlabeled_rows_keep_their_ids_and_need_no_answer(data: Path) -> None:
    test = load_set(data, "afqmc_test", LABELS, need_labels=False)
    gold = rows_of(data / "afqmc_test.jsonl")
    assert test.label_ids == [UNLABELED] * len(gold) and not test.labeled
    assert [keep.get("id") for keep in test.keep] == [row.get("id") for row in gold]
    with pytest.raises(InputError, match="no answer in field 'output'") as error:
        load_set(data, "afqmc_test", LABELS)
    assert str(error.value.path).endswith("afqmc_test.jsonl") and error.value.line == 1


def test_an_answer_outside_the_labels_names_its_line(data: Path) -> None:
    gold = rows_of(data / "afqmc.jsonl")
    first_no = next(i for i, row in enumerate(gold, 1) if row["output"] == "否")
    with pytest.raises(InputError, match="answer '否' is not one of the labels") as error:
        load_set(data, "afqmc", ["是", "相同"])
    assert str(error.value.path).endswith("afqmc.jsonl") and error.value.line == first_no
    with pytest.raises(InputError, match="text_pair_separator '@@' does not occur"):
        load_set(data, "afqmc", LABELS, separator="@@")


def test_class_weights_land_on_the_named_label_whatever_the_order() -> None:
    assert class_weights({"是": 3.0}, ["是", "否"], [0, 1]) == [3.0, 1.0]
    assert class_weights({"是": 3.0}, ["否", "是"], [0, 1]) == [1.0, 3.0]
    assert class_weights("balanced", ["a", "b", "c"], [0, 0, 0, 0, 1, 2]) == pytest.approx([0.5, 2.0, 2.0])  # 6/(3n)
    assert class_weights(None, LABELS, [0]) is None
    for bad in ({"是": 0}, {"是": -1.0}, {"是": float("nan")}):
        with pytest.raises(InputError, match="must be positive numbers"):
            class_weights(bad, LABELS, [0, 1])


def test_prediction_rows_name_the_gold_label_and_the_argmax_by_the_recipes_order() -> None:
    rows = ClassSet("s", Path("s.jsonl"), texts=["x", "y"], label_ids=[1, UNLABELED], keep=[{"id": 7}, {"id": 8}])
    logits = np.log(np.array([[0.2, 0.8], [0.9, 0.1]]))
    out = prediction_rows(rows, logits, ["是", "否"])
    assert [(r["label"], r["predict"], r["id"]) for r in out] == [("否", "否", 7), ("", "是", 8)]
    assert out[0]["probs"] == pytest.approx({"是": 0.2, "否": 0.8})
    assert math.isclose(out[1]["logprobs"]["否"], math.log(0.1), rel_tol=1e-9)


def hand_made(folder: Path) -> Path:
    """A data folder with a set under its own column names, an empty set, a text-free row and a ShareGPT entry."""
    folder.mkdir(parents=True, exist_ok=True)
    registry = {"reviews": {"file_name": "reviews.jsonl", "columns": {"prompt": "task", "query": "text",
                                                                      "response": "stars"}},
                "empty": {"file_name": "empty.jsonl"}, "blank": {"file_name": "blank.jsonl"},
                "chat": {"file_name": "chat.jsonl", "formatting": "sharegpt"},
                "yelp5_val": {"file_name": "yelp5_val.jsonl"}}
    (folder / "dataset_info.json").write_text(json.dumps(registry), encoding="utf-8")
    rows = [{"task": "Rate it.", "text": "good food", "stars": "5", "id": "r1", "fold": 2, "other": "x"},
            {"task": "Rate it.", "text": "", "stars": " 1 ", "swapped": True},
            {"task": "Rate it.", "text": "so so", "stars": ""},
            {"task": "Rate it.", "text": "fine", "stars": "3"}]
    (folder / "reviews.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    (folder / "empty.jsonl").write_text("", encoding="utf-8")
    (folder / "blank.jsonl").write_text(json.dumps({"instruction": " ", "input": "", "output": "5"}) + "\n",
                                        encoding="utf-8")
    return folder


def test_a_sets_own_column_names_caps_and_kept_fields(tmp_path: Path) -> None:
    folder = hand_made(tmp_path / "data")
    loaded = load_set(folder, "reviews", ["1", "3", "5"], need_labels=False)
    # the second row has no text: its instruction stands in; the third has no answer: unlabeled
    assert loaded.texts == ["good food", "Rate it.", "so so", "fine"]
    assert loaded.label_ids == [2, 0, UNLABELED, 1] and not loaded.labeled and len(loaded) == 4
    assert loaded.keep == [{"id": "r1", "fold": 2}, {"swapped": True}, {}, {}]
    assert (loaded.name, loaded.path) == ("reviews", folder / "reviews.jsonl")
    capped = load_set(folder, "reviews", ["1", "3", "5"], max_samples=2, include_instruction=True)
    assert capped.texts == ["Rate it.\ngood food", "Rate it."] and capped.labeled
    assert raw_answers(folder, ["reviews"]) == ["5", "1", "3"]
    assert raw_answers(folder, ["reviews", "reviews"], max_samples=2) == ["5", "1", "5", "1"]
    assert raw_answers(folder, ["reviews"], max_samples=0) == []


def test_a_set_that_cannot_be_read_is_one_line_naming_the_registry_or_the_file(tmp_path: Path) -> None:
    folder = hand_made(tmp_path / "data")
    registry = str(folder / "dataset_info.json")
    hint = f"convert it first (llm-recipes convert generic --input FILE --name nope --data-dir {folder} ...)"
    cases = [(lambda: load_set(folder, "nope", LABELS), f"{registry}: dataset 'nope' is not registered: {hint}"),
             (lambda: load_set(folder, "chat", LABELS),
              f"{registry}: dataset 'chat' is not a local Alpaca file (a classifier reads input -> answer rows)"),
             (lambda: raw_answers(folder, ["nope"]), f"{registry}: dataset 'nope' is not registered: {hint}"),
             (lambda: load_set(folder, "empty", LABELS), f"{folder / 'empty.jsonl'}: dataset 'empty' has no rows"),
             (lambda: load_set(folder, "blank", ["5"]),
              f"{folder / 'blank.jsonl'}:1: no text in fields 'input' / 'instruction'"),
             (lambda: load_set(folder, "reviews", ["1", "3", "5"]),
              f"{folder / 'reviews.jsonl'}:3: no answer in field 'stars'"),
             (lambda: load_set(folder, "reviews", ["1", "5"], need_labels=False),
              f"{folder / 'reviews.jsonl'}:4: answer '3' is not one of the labels ['1', '5']"),
             (lambda: load_set(folder, "reviews", ["1", "3", "5"], separator="@@"),
              f"{folder / 'reviews.jsonl'}:1: text_pair_separator '@@' does not occur in the text"),
             (lambda: load_set(folder, "yelp5_val", ["1"]),  # registered, its file never written
              f"{registry}: dataset 'yelp5_val' is registered but {folder / 'yelp5_val.jsonl'} is not there: make it "
              f"with: python converters/yelp.py --hf Yelp/yelp_review_full --max-samples 8000 --val-size 500 "
              f"--data-dir {folder}")]
    for call, message in cases:
        with pytest.raises(InputError) as caught:
            call()
        assert str(caught.value) == message


def test_rows_missing_a_column_read_as_empty(tmp_path: Path) -> None:
    """A row without the instruction, input or answer column (or with null there) reads as empty: the other field
    stands in for the text, and a missing answer is no label (never the text 'None')."""
    folder = tmp_path / "data"
    folder.mkdir()
    (folder / "dataset_info.json").write_text(json.dumps({"s": {"file_name": "s.jsonl"}}), encoding="utf-8")
    rows = [{"input": "only input", "output": "a"}, {"instruction": "only instruction", "output": "b"},
            {"instruction": None, "input": "null instruction", "output": None}, {"instruction": "", "input": "x"},
            {"instruction": "", "input": "y", "output": "a"}]
    (folder / "s.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    loaded = load_set(folder, "s", ["a", "b"], need_labels=False)
    assert loaded.texts == ["only input", "only instruction", "null instruction", "x", "y"]
    assert loaded.label_ids == [0, 1, UNLABELED, UNLABELED, 0]
    with_instruction = load_set(folder, "s", ["a", "b"], include_instruction=True, need_labels=False)
    assert with_instruction.texts == ["only input", "only instruction", "null instruction", "x", "y"]
    assert raw_answers(folder, ["s"]) == ["a", "b", "a"]


def test_a_pair_is_cut_at_the_first_separator() -> None:
    assert split_pair("A: one | B: two | B: three", "B:") == ("A: one |", "B: two | B: three")
    assert split_pair("B: at the start", "B:") == ("", "B: at the start")
    assert split_pair("no separator", "B:") is None


def test_balanced_weights_need_every_label_and_named_weights_only_labels() -> None:
    with pytest.raises(InputError) as caught:
        class_weights("balanced", ["a", "b", "c", "d"], [0, 2, 2])
    assert str(caught.value) == "class_weights balanced: labels ['b', 'd'] never occur in the training set"
    with pytest.raises(InputError) as caught:
        class_weights({"是": 2, "同": 1, "异": 1}, LABELS, [0, 1])
    assert str(caught.value) == "class_weights names ['同', '异'], which are not labels ['是', '否']"
    assert class_weights({"否": "2.5"}, LABELS, [0]) == [1.0, 2.5]
    with pytest.raises(InputError) as caught:
        class_weights({"否": float("inf")}, LABELS, [0])
    assert str(caught.value) == "class_weights must be positive numbers, got {'否': inf}"


def word_tokenizer() -> Any:
    """A BERT WordPiece tokenizer over a vocabulary given here: a word's id is its place in the list."""
    from transformers import BertTokenizerFast

    words = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "good", "food", "so", "bad", "very"]
    return BertTokenizerFast(vocab={word: index for index, word in enumerate(words)})


def test_tokenized_rows_are_truncated_longest_first_and_keep_labels_only_when_all_have_one() -> None:
    tokenizer = word_tokenizer()
    rows = ClassSet("s", Path("s.jsonl"), texts=["good food", "very very very bad"], pairs=["so good", "bad"],
                    label_ids=[1, 0])
    encoded = tokenized(rows, tokenizer, cutoff_len=7)
    # [CLS]=2 good=5 food=6 [SEP]=3 so=7 good=5 [SEP]=3; the second pair is cut on its longer (first) side
    assert encoded["input_ids"] == [[2, 5, 6, 3, 7, 5, 3], [2, 9, 9, 9, 3, 8, 3]]
    assert encoded["token_type_ids"] == [[0, 0, 0, 0, 1, 1, 1], [0, 0, 0, 0, 0, 1, 1]]
    assert encoded["labels"] == [1, 0]
    assert set(encoded.column_names) == {"input_ids", "token_type_ids", "attention_mask", "labels"}
    single = tokenized(ClassSet("s", Path("s.jsonl"), texts=["good bad food"], label_ids=[UNLABELED]), tokenizer, 4)
    assert single["input_ids"] == [[2, 5, 8, 3]]
    assert "labels" not in single.column_names
