"""The contamination report's Markdown, every line of it written out by hand from the report's numbers."""

from __future__ import annotations

from typing import Any

from recipekit.report.contamination import render_markdown

SETTINGS = {"fields": "instruction+input", "normalisation": "NFKC", "exact": "same text", "ngram": "13 words",
            "near": "Jaccard >= 0.8", "template": "shared 13-grams left out"}


def methods(exact: tuple[int, int], ngram: tuple[int, int], near: tuple[int, int]) -> dict[str, Any]:
    return {m: {"scored_rows": s, "training_rows": t} for m, (s, t) in
            {"exact": exact, "ngram": ngram, "near": near}.items()}


def test_each_pair_its_counts_shares_ids_and_examples() -> None:
    long_text = "word " * 60  # 300 characters: clipped to 100 in the table, one line
    report = {"settings": SETTINGS, "pairs": [
        {"training": "train_a", "scored": "test_x", "scored_rows": 8, "methods": methods((1, 2), (3, 3), (0, 0)),
         "any": {"scored_rows": 3, "training_rows": 4}, "scored_ids": [f"r{i}" for i in range(21)],
         "examples": [{"method": "ngram", "jaccard": 0.42, "training_id": "t7", "training_text": "a | b\nc",
                       "scored_id": "s1", "scored_text": long_text},
                      {"method": "near", "jaccard": 0.9, "training_id": "t8", "training_text": long_text,
                       "scored_id": "s2", "scored_text": "y"}]},
        {"training": "train_a", "scored": "test_y", "scored_rows": 0, "methods": methods((0, 0), (0, 0), (0, 0)),
         "any": {"scored_rows": 0, "training_rows": 0}, "scored_ids": [], "examples": []},
        {"training": "train_b", "scored": "test_x", "scored_rows": 8, "methods": methods((0, 0), (0, 0), (2, 5)),
         "any": {"scored_rows": 2, "training_rows": 5}, "scored_ids": [f"r{i}" for i in range(20)],
         "examples": []}],
        "dropped": [{"rows": 3, "from": "train_a", "kept": 97, "name": "train_a_clean", "file": "train_a_clean.jsonl"},
                    {"rows": 2, "from": "train_b", "kept": 8, "name": "train_b_clean", "file": "b.jsonl"}]}
    clipped = "word " * 19 + "word…"  # 99 characters kept and the ellipsis
    ids21 = ", ".join(f"r{i}" for i in range(20))
    expected = f"""# Contamination: training sets against the sets a report is scored on

Compared: instruction+input fields, normalised (NFKC).
- exact: same text
- 13-gram: 13 words
- near-duplicate: Jaccard >= 0.8
- template: shared 13-grams left out

Each cell: scored rows found in the training set (share of the scored set) / training rows that match them.

| training | scored | rows | exact (normalised) | 13-gram | near-duplicate | any |
|---|---|---|---|---|---|---|
| train_a | test_x | 8 | 1 (12.5%) / 2 | 3 (37.5%) / 3 | 0 (0.0%) / 0 | 3 (37.5%) / 4 |
| train_a | test_y | 0 | 0 / 0 | 0 / 0 | 0 / 0 | 0 / 0 |
| train_b | test_x | 8 | 0 (0.0%) / 0 | 0 (0.0%) / 0 | 2 (25.0%) / 5 | 2 (25.0%) / 5 |

2 pair(s) share rows: a number scored on such a set was partly seen in training.

## train_a / test_x

Scored rows found: {ids21} ...

| method | Jaccard | training row | scored row |
|---|---|---|---|
| 13-gram | 0.42 | t7: 'a \\| b c' | s1: '{clipped}' |
| near-duplicate | 0.9 | t8: '{clipped}' | s2: 'y' |

## train_b / test_x

Scored rows found: {ids21}

| method | Jaccard | training row | scored row |
|---|---|---|---|

Dropped 3 row(s) of train_a: 97 kept as train_a_clean (train_a_clean.jsonl); train on it with `dataset=train_a_clean`.

Dropped 2 row(s) of train_b: 8 kept as train_b_clean (b.jsonl); train on it with `dataset=train_b_clean`.
"""
    assert len(clipped) == 100
    assert render_markdown(report) == expected


def test_no_shared_row_says_so_and_a_report_without_drops_ends_there() -> None:
    report = {"settings": SETTINGS, "pairs": [
        {"training": "t", "scored": "s", "scored_rows": 3, "methods": methods((0, 0), (0, 0), (0, 0)),
         "any": {"scored_rows": 0, "training_rows": 0}, "scored_ids": [], "examples": []}]}
    text = render_markdown(report)
    assert text.endswith("| t | s | 3 | 0 (0.0%) / 0 | 0 (0.0%) / 0 | 0 (0.0%) / 0 | 0 (0.0%) / 0 |\n\n"
                         "No scored row was found in any training set.\n")
    assert "##" not in text
