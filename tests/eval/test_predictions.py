"""Reading LLaMA-Factory's predictions file, and pairing it with its baseline's rows: by id when every row of both
has one, else by position, each way of not being the same rows refused in one line naming the baseline."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from conftest import write_jsonl

from recipekit.errors import InputError
from recipekit.eval.predictions import Prediction, load_predictions, pair_baseline


def rows(*labels: str, ids: list[Any] | None = None) -> list[Prediction]:
    """Rows on lines 1, 2, ... with these gold labels (the answer says which row it is), with ids when given."""
    return [Prediction(n, f"answer {n}", label, "", {} if ids is None else {"id": ids[n - 1]})
            for n, label in enumerate(labels, 1)]


def refusal(new: list[Prediction], base: list[Prediction]) -> str:
    with pytest.raises(InputError) as caught:
        pair_baseline(new, base, "new.jsonl", "base.jsonl")
    return str(caught.value)


def test_rows_of_another_length_are_refused() -> None:
    assert refusal(rows("a", "b"), rows("a")) == \
        "base.jsonl: the baseline has 1 rows and new.jsonl has 2: a baseline must score the same rows"


def test_rows_with_ids_pair_by_id_in_the_order_of_this_file() -> None:
    new, base = rows("a", "b", "c", ids=[1, "2", 3]), rows("c", "a", "b", ids=["3", 1, 2])
    paired, how = pair_baseline(new, base, "new.jsonl", "base.jsonl")
    assert how == "by id" and [row.line for row in paired] == [2, 3, 1]  # ids compare as text: 2 and "2" pair


@pytest.mark.parametrize("without", ["new", "base"])
def test_one_row_without_an_id_pairs_every_row_by_position(without: str) -> None:
    new, base = rows("a", "b", ids=[1, 2]), rows("a", "b", ids=[2, 1])
    del (new if without == "new" else base)[1].extra["id"]
    paired, how = pair_baseline(new, base, "new.jsonl", "base.jsonl")
    assert how == "by position" and paired == base


def test_an_id_the_baseline_lacks_is_named_with_its_row() -> None:
    assert refusal(rows("a", "b", "c", ids=[1, 2, 7]), rows("a", "b", "c", ids=[1, 2, 3])) == \
        "base.jsonl: the baseline does not hold the same ids: id 7 (new.jsonl:3)"
    assert refusal(rows("a", "b", ids=["x", "y"]), rows("a", "b", ids=["x", "x"])) == \
        "base.jsonl: the baseline does not hold the same ids: id 'y' (new.jsonl:2)"


def test_a_repeated_id_in_the_baseline_is_refused_even_when_every_id_is_found() -> None:
    assert refusal(rows("a", "a", ids=[1, 1]), rows("a", "a", ids=[1, 1])) == \
        "base.jsonl: the baseline does not hold the same ids: a repeated id"


def test_rows_with_other_gold_labels_are_refused_at_the_baselines_row() -> None:
    assert refusal(rows("a", "b"), rows("a", "c")) == (
        "base.jsonl:2: row 2 of new.jsonl and row 2 of the baseline have different gold labels ('b' vs 'c'): "
        "paired by position, they are not the same rows")
    long_new, long_base = "x" * 40 + "new", "x" * 40 + "base"  # differ after the 40 characters shown
    assert refusal(rows("a", long_new, ids=[1, 2]), rows(long_base, "a", ids=[2, 1])) == (
        f"base.jsonl:1: row 2 of new.jsonl and row 1 of the baseline have different gold labels ({'x' * 40!r} vs "
        f"{'x' * 40!r}): paired by id, they are not the same rows")


def test_gold_labels_that_differ_in_surrounding_space_are_the_same() -> None:
    paired, how = pair_baseline(rows(" a", "b\n"), rows("a ", " b"), "new.jsonl", "base.jsonl")
    assert how == "by position" and [row.line for row in paired] == [1, 2]


def test_a_rows_prompt_and_its_other_fields_are_kept_apart_and_a_missing_prompt_is_empty(tmp_path: Path) -> None:
    path = write_jsonl(tmp_path / "p.jsonl", [{"prompt": "Q1", "predict": "a", "label": "b", "id": 7},
                                              {"predict": "c", "label": "d"}])
    assert load_predictions(path) == [Prediction(1, "a", "b", "Q1", {"id": 7}), Prediction(2, "c", "d", "", {})]


@pytest.mark.parametrize(("row", "message"), [
    ({"predict": "a"}, "missing field 'label'"),
    ({"predict": "a", "label": 3}, "field 'label' must be a string, got int"),
    ({"predict": None, "label": "b"}, "field 'predict' must be a string, got NoneType"),
])
def test_a_row_without_text_answers_is_named_with_its_line(tmp_path: Path, row: dict, message: str) -> None:
    path = write_jsonl(tmp_path / "p.jsonl", [{"predict": "a", "label": "b"}, row])
    with pytest.raises(InputError) as caught:
        load_predictions(path)
    assert str(caught.value) == f"{path}:2: {message}"


def test_a_file_without_rows_is_named(tmp_path: Path) -> None:
    path = tmp_path / "p.jsonl"
    path.write_text("\n", encoding="utf-8")
    with pytest.raises(InputError) as caught:
        load_predictions(path)
    assert str(caught.value) == f"{path}: empty file: no prediction rows"
