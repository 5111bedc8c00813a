"""The contamination check in the test's own process on rows written here: every training set's pairs, each side
named, the training rows counted on a progress bar, examples kept to five and their texts to 300 characters, the
scored sets' own template and the templates' short shared phrases left out, the training template from its first
rows only."""

from __future__ import annotations

import io
from collections.abc import Callable, Iterable

from tqdm import tqdm

from recipekit.contamination.check import SHARED_SAMPLE, Settings, check, chunked, result_json
from recipekit.contamination.sources import Row


def reader(rows: list[Row]) -> Callable[[], Iterable[Row]]:
    return lambda: iter(rows)


def words(prefix: str, n: int) -> str:
    return " ".join(f"{prefix}{i}" for i in range(n))


def test_rows_are_read_in_chunks_of_the_asked_size() -> None:
    assert list(chunked(iter(range(5)), 2)) == [[0, 1], [2, 3], [4]]


def test_every_training_set_is_paired_with_every_scored_set_and_counted_on_the_bar() -> None:
    scored = {"val": [Row("v0", words("a", 20)), Row("v1", words("b", 20))]}
    training = {"one": reader([Row("1", words("a", 20))]), "two": reader([Row("2", words("b", 20)), Row("3", "x")])}
    with tqdm(file=io.StringIO(), disable=False) as bar:
        report = result_json(check(training, scored, Settings(), bar))
        assert bar.n == 3  # every training row read, once
    assert {name: entry["side"] for name, entry in report["sets"].items()} == {
        "val": "scored", "one": "training", "two": "training"}
    assert [(p["training"], p["scored"], p["scored_ids"]) for p in report["pairs"]] == [
        ("one", "val", ["v0"]), ("two", "val", ["v1"])]


def test_five_examples_are_kept_each_text_cut_at_300_characters() -> None:
    long = words("w", 100)  # 389 characters
    scored = {"val": [Row(f"v{i}", f"{long} {i}") for i in range(7)]}
    report = result_json(check({"train": reader([Row(f"t{i}", f"{long} {i}") for i in range(7)])}, scored,
                               Settings()))
    (pair,) = report["pairs"]
    assert pair["methods"]["exact"]["scored_rows"] == 7 and len(pair["examples"]) == 5
    first = pair["examples"][0]
    assert (first["method"], first["jaccard"]) == ("exact", 1.0)
    assert first["training_text"] == first["scored_text"] == long[:299] + "…"


def test_a_jaccard_example_has_three_decimals() -> None:
    # the training row's 13 bigrams are 13 of the scored row's 15: Jaccard 13/15 = 0.8667 (no 20-gram, no copy)
    scored = {"val": [Row("v", words("a", 16))]}
    report = result_json(check({"train": reader([Row("t", words("a", 14))])}, scored, Settings(ngram=20)))
    (example,) = report["pairs"][0]["examples"]
    assert (example["method"], example["jaccard"]) == ("near", 0.867)


def test_a_scored_sets_own_template_is_no_match() -> None:
    """Ten scored rows share a 20-word instruction the training set does not have; a training row that copies
    only that instruction matches nothing."""
    instruction = words("s", 20)
    scored = {"val": [Row(f"v{i}", f"{instruction} {words(f'c{i}x', 15)}") for i in range(10)]}
    report = result_json(check({"train": reader([Row("t", f"{instruction} {words('other', 15)}")])}, scored,
                               Settings()))
    assert report["pairs"][0]["any"]["scored_rows"] == 0


def test_a_short_phrase_every_row_shares_is_left_out_of_the_jaccard() -> None:
    """Every scored row ends "label is": its shingle is template, not content. The pair shares 8 of 11 content
    bigrams (8/11 = 0.727 >= 0.7); with "label is" counted it would be 9/12 = 0.75."""
    rows = [Row(f"v{i}", f"{words(f'z{i}x', 8)} label is") for i in range(9)]
    scored = {"val": [*rows, Row("v9", f"{words('a', 9)} label is")]}
    report = result_json(check({"train": reader([Row("t", f"{words('a', 9)} c label is")])}, scored, Settings()))
    (example,) = report["pairs"][0]["examples"]
    assert (example["scored_id"], example["jaccard"]) == ("v9", 0.727)


def test_the_training_template_is_read_from_its_first_rows() -> None:
    """A phrase in exactly half of the training set's first rows is its template; the rows after those first ones
    (which lack it) do not count, so a scored row sharing only that phrase matches nothing."""
    phrase = words("p", 13)
    first = [Row(str(i), f"{phrase if i % 2 else ''} {words(f'r{i}x', 3)}") for i in range(SHARED_SAMPLE)]
    later = [Row(f"late{i}", words(f"l{i}x", 3)) for i in range(10)]
    report = result_json(check({"train": reader(first + later)}, {"val": [Row("v", f"{phrase} {words('q', 5)}")]},
                               Settings()))
    assert report["pairs"][0]["any"]["scored_rows"] == 0
