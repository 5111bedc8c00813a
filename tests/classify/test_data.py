"""recipekit/classify/data.py and the prediction rows: label ids in the recipe's order checked against the
dataset's own answers, text pairs cut at the separator, caps, unlabeled rows, class weights and their errors."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
from conftest import rows_of

from recipekit.classify.data import UNLABELED, ClassSet, class_weights, load_set
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
