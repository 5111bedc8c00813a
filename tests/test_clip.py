"""The one clipper of free text, at its edges and at its call sites."""

from __future__ import annotations

import pytest

from recipekit.data.readers import Record
from recipekit.data.rows import RowLog, Skip, map_records
from recipekit.report.contamination import render_markdown
from recipekit.text import clip


@pytest.mark.parametrize(("text", "width", "ellipsis", "expected"), [
    ("abcde", 5, "…", "abcde"),  # exactly at the limit: whole
    ("abcdef", 5, "…", "abcd…"),  # one over: cut, the ellipsis counted in the width
    ("abcde", 5, "...", "abcde"),
    ("abcdef", 5, "...", "ab..."),
    ("", 1, "…", ""),
])
def test_clip_at_the_limit_and_one_over(text: str, width: int, ellipsis: str, expected: str) -> None:
    assert clip(text, width, ellipsis=ellipsis) == expected


def test_clip_flattens_whitespace_unless_asked_not_to() -> None:
    assert clip("a \n\t b  c", 10) == "a b c"
    assert clip("a \n b", 10, flatten=False) == "a \n b"
    assert clip("a   b   c", 6, flatten=False) == "a   b…"


def test_a_skipped_value_shows_as_its_repr_cut_to_40_characters() -> None:
    def mapper(record: Record) -> None:
        raise Skip("bad text", "text")

    log = RowLog()
    at_limit, over = "x" * 38, "y" * 39  # reprs of 40 and 41 characters
    map_records([Record("f:1", {"text": at_limit}), Record("f:2", {"text": over})], mapper, log)
    assert log.examples["bad text"] == [f"f:1 (field text = '{'x' * 38}')", f"f:2 (field text = '{'y' * 36}...)"]


def test_a_contamination_example_shows_its_text_quoted_and_cut_to_100_characters() -> None:
    counts = {"scored_rows": 1, "training_rows": 1}
    pair = {"training": "t", "scored": "s", "scored_rows": 1, "methods": dict.fromkeys(("exact", "ngram", "near"),
                                                                                        counts),
            "any": counts, "scored_ids": ["s1"],
            "examples": [{"method": "exact", "jaccard": 1.0, "training_id": "t1", "training_text": "a" * 100,
                          "scored_id": "s1", "scored_text": "b" * 101}]}
    settings = dict.fromkeys(("fields", "normalisation", "exact", "ngram", "near", "template"), "-")
    markdown = render_markdown({"pairs": [pair], "settings": settings})
    assert f"| t1: '{'a' * 100}' | s1: '{'b' * 99}…' |" in markdown


def test_a_failed_steps_reason_is_cut_to_300_characters() -> None:
    from recipekit.steps import said_why

    assert said_why("x" * 300) == "x" * 300
    assert said_why("y" * 301) == "y" * 297 + "..."
