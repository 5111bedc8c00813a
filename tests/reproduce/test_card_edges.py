"""Edges of the reproduction card: contamination counts beside each number."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest import ascii_locale

from recipekit.reproduce.card import contamination
from recipekit.reproduce.chain import Number
from recipekit.steps import Step

REPORT = {
    "settings": {"ngram": 13, "methods": ["exact", "ngram"]},
    "pairs": [
        {"scored": "test", "training": "train", "scored_rows": 100, "scored_ids": [1, 2, 3],
         "methods": {"exact": {"scored_rows": 2}, "ngram": {"scored_rows": 3}}},
        {"scored": "test", "training": "extra", "scored_rows": 100, "scored_ids": [3, 4],
         "methods": {"exact": {"scored_rows": 1}, "ngram": {"scored_rows": 2}}},
        {"scored": "dev", "training": "train", "scored_rows": 50, "scored_ids": [],
         "methods": {"exact": {"scored_rows": 0}}},
    ],
}


def check_steps(tmp_path: Path) -> tuple[list[Step], Path]:
    found = tmp_path / "out" / "contamination.json"
    found.parent.mkdir()
    found.write_text(json.dumps(REPORT), encoding="utf-8")
    return [Step("train", ["true"], outputs=[tmp_path / "out" / "model"]),
            Step("check", ["true"], outputs=[found])], found


def test_contamination_beside_each_number_after_an_unmatched_one(tmp_path: Path) -> None:
    steps, found = check_steps(tmp_path)
    numbers = [Number("unscored", 1.0, "accuracy", "r"), Number("other set", 2.0, "accuracy", "r", set="holdout"),
               Number("test accuracy", 90.0, "accuracy", "r", set="test")]
    scored: list[dict] = [{"name": n.name} for n in numbers]
    assert contamination(scored, numbers, steps) == {"file": str(found), "settings": REPORT["settings"]}
    assert scored == [
        {"name": "unscored", "contamination": None},
        {"name": "other set", "contamination": None},
        {"name": "test accuracy", "contamination": {
            "set": "test", "rows": 100, "found": 4,
            "by_training_set": {"train": {"exact": 2, "ngram": 3}, "extra": {"exact": 1, "ngram": 2}}}},
    ]


def test_contamination_needs_one_entry_per_number(tmp_path: Path) -> None:
    steps, _ = check_steps(tmp_path)
    numbers = [Number("a", 1.0, "accuracy", "r", set="test"), Number("b", 1.0, "accuracy", "r", set="dev")]
    with pytest.raises(ValueError, match="zip"):
        contamination([{"name": "a"}], numbers, steps)


def test_no_contamination_file_gives_none(tmp_path: Path) -> None:
    steps = [Step("check", ["true"], outputs=[tmp_path / "contamination.json"])]
    scored = [{"name": "a"}]
    assert contamination(scored, [Number("a", 1.0, "accuracy", "r", set="test")], steps) is None
    assert scored == [{"name": "a"}]


def test_the_card_of_a_tiny_run_of_the_users_own_dataset(tmp_path: Path) -> None:
    from dataclasses import replace

    from recipekit.reproduce.card import build_card
    from recipekit.reproduce.chain import Layout, load_chain

    chain = load_chain("yelp5")
    chain.numbers = [replace(number, published=None) for number in chain.numbers]
    out = tmp_path / "out"
    card = build_card(Layout(chain, out, tiny=True), [], {})
    assert card["first_line"] == (f"Tiny run: a tiny model on small local data ({out}/data, not the report's), to "
                                  "check that the chain works end to end. "
                                  "Its numbers say nothing about the dataset; there are no published numbers to "
                                  "compare.")


def test_a_contamination_report_with_non_ascii_names_is_read_as_utf8_in_an_ascii_locale(tmp_path: Path) -> None:
    """As a Windows or Latin-1 locale would read it by default: the check writes UTF-8, the card reads UTF-8."""
    report = {"settings": {"ngram": 8},
              "pairs": [{"scored": "afqmc_验证", "training": "afqmc_训练", "scored_rows": 8, "scored_ids": ["行1"],
                         "methods": {"exact": {"scored_rows": 1}}}]}
    found = tmp_path / "contamination.json"
    found.write_text(json.dumps(report, ensure_ascii=False), encoding="utf-8")
    scored: list[dict] = [{}]
    with ascii_locale():
        checked = contamination(scored, [Number("acc", 0.7, "accuracy", "r", set="afqmc_验证")],
                                [Step("check", ["true"], outputs=[found])])
    assert [checked, scored] == [{"file": str(found), "settings": {"ngram": 8}},
                                [{"contamination": {"set": "afqmc_验证", "rows": 8, "found": 1,
                                                    "by_training_set": {"afqmc_训练": {"exact": 1}}}}]]
