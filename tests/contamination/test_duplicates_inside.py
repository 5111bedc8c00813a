"""Rows of one set that repeat an earlier row, by hand: exact repeats (the same normalised text) and near ones
(the shingle Jaccard of their content at or above 0.7, not exact), the set's shared instruction template left out
of the comparison, each near row shown beside the earlier row it is most like (the first five only)."""

from __future__ import annotations

from recipekit.contamination.check import Settings, duplicates_inside
from recipekit.contamination.sources import Row

# 20 words every row but the blank one starts with: the set's template (13-grams in at least half its rows)
TEMPLATE = ("please read the passage below with care and then answer the question that follows using one short "
            "word from it")
RULE = ("MinHash LSH over token 2-gram shingles (128 permutations, LSH threshold 0.50), kept when the exact Jaccard "
        "of the shingle sets is >= 0.7")


def words(letter: str, count: int) -> list[str]:
    return [f"{letter}{i}" for i in range(1, count + 1)]


def row(name: str, content: list[str]) -> Row:
    return Row(name, f"{TEMPLATE} {' '.join(content)}")


def with_word(content: list[str], position: int, word: str) -> list[str]:
    changed = list(content)
    changed[position] = word
    return changed


def shown(text: str) -> str:
    """A row's text as an example shows it: its first 119 characters and an ellipsis (every row is longer)."""
    assert len(text) > 121
    return text[:119] + "…"


A, B, C, D, E, F = words("a", 14), words("b", 14), words("c", 3), words("d", 14), words("e", 10), words("f", 14)
ROWS = [
    row("r0", A),
    row("r1", B),
    row("r2", C),
    Row("r3", f"PLEASE read the passage below, with care -- and then answer the question that follows using one "
              f"short word from it: {' '.join(A).upper()}!"),  # r0 again, case and punctuation aside
    row("r4", with_word(A, 13, "x1")),  # 12 of A's 13 bigrams, 14 in all: 12/14 like r0 (and r3, later)
    row("r5", with_word(B, 0, "y1")),  # 12/14 like r1
    row("r6", with_word(B, 13, "z1")),  # 12/14 like r1, 11/15 like r5: r1 is the one shown
    Row("r7", f"{TEMPLATE}  {' '.join(B)}."),  # r1 again
    row("r8", D),
    row("r9", with_word(D, 6, "v1")),  # a middle word: 2 bigrams out, 2 in: 11/15 like r8
    row("r10", E),
    row("r11", with_word(E, 9, "u1")),  # 8 of 9 bigrams, 10 in all: 8/10 like r10
    row("r12", F),
    row("r13", with_word(F, 0, "t1")),  # 12/14 like r12: the sixth near row, counted but not shown
    row("r14", A[:13] + words("g", 10)),  # A's first 13-gram, but 12 of 23 bigrams: neither exact nor near
    Row("r15", " ?! "),  # no words at all
    row("r16", with_word(C, 2, "s1")),  # 1 of 2 bigrams, 3 in all: 1/3 like r2, not near
]


def test_exact_and_near_repeats_inside_one_set_with_the_first_five_shown() -> None:
    found = duplicates_inside(ROWS, Settings())
    text = {r.id: r.text for r in ROWS}
    assert found == {
        "exact": 2, "near": 6, "rule": RULE,
        "examples": [
            {"row": "r4", "like": "r0", "jaccard": 0.857, "text": shown(text["r4"])},
            {"row": "r5", "like": "r1", "jaccard": 0.857, "text": shown(text["r5"])},
            {"row": "r6", "like": "r1", "jaccard": 0.857, "text": shown(text["r6"])},
            {"row": "r9", "like": "r8", "jaccard": 0.733, "text": shown(text["r9"])},
            {"row": "r11", "like": "r10", "jaccard": 0.8, "text": shown(text["r11"])},
        ]}


def test_rows_that_share_only_the_template_are_not_repeats() -> None:
    """Without the template left out, the 20 words every row starts with would make any two rows near repeats
    (19 of 25 bigrams for two rows of three different words each)."""
    rows = [row(f"r{i}", words(letter, 3)) for i, letter in enumerate("abcdefghijkl")]
    assert duplicates_inside(rows, Settings()) == {"exact": 0, "near": 0, "examples": [], "rule": RULE}


def test_a_set_too_small_to_tell_its_template_compares_whole_rows() -> None:
    """Fewer than ten rows have no template: two rows of the same 20 words and three words each are near
    (19/25 = 0.76); a near row of 119 characters is shown whole."""
    rows = [row("p", words("a", 3)), row("q", words("b", 3)), Row("s", "a short row"), Row("t", "A short row!")]
    found = duplicates_inside(rows, Settings())
    assert found == {"exact": 1, "near": 1, "rule": RULE,
                     "examples": [{"row": "q", "like": "p", "jaccard": 0.76, "text": rows[1].text}]}
