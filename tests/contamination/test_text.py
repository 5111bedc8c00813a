"""The contamination check's text rules by hand: normalising, tokens, 13-grams, shingles, the shared template
masked out, row texts by registry formatting."""

from __future__ import annotations

from recipekit.contamination.check import ScoredIndex, Settings, Template, template_of
from recipekit.contamination.sources import Row, row_text
from recipekit.contamination.text import jaccard, ngrams, normalise, shingles, tokens


def test_normalising_folds_width_case_punctuation_and_spaces() -> None:
    assert normalise("Ｈｅｌｌｏ,  WORLD!!\tIt's — “x”_y") == "hello world it s x y"
    assert normalise("Straße") == normalise("STRASSE")  # casefold, not lower
    assert normalise("ﬁne ①") == "fine 1"  # compatibility forms (NFKC)
    assert normalise("  ...  ") == ""


def test_cjk_characters_are_words_of_their_own() -> None:
    assert tokens("花呗，怎么还款？ Pay 2x") == ["花", "呗", "怎", "么", "还", "款", "pay", "2x"]


def test_ngrams_shingles_and_jaccard_by_hand() -> None:
    words = [f"w{i}" for i in range(15)]
    assert ngrams(words) == [tuple(words[0:13]), tuple(words[1:14]), tuple(words[2:15])]
    assert ngrams(words[:12]) == []  # shorter than 13 words: no 13-gram
    assert shingles(["a", "b", "a", "b"]) == {"a b", "b a"}
    assert shingles(["solo"]) == {"solo"}
    assert jaccard({"a", "b", "c"}, {"b", "c", "d"}) == 2 / 4


def test_the_template_is_what_half_the_rows_share() -> None:
    shared = " ".join(f"t{i}" for i in range(14))
    rows = [Row(str(i), f"{shared} c{i} d{i}") for i in range(10)]
    template = template_of(rows, 13)
    assert template.grams == {tuple(f"t{i}" for i in range(13)), tuple(f"t{i}" for i in range(1, 14))}
    assert "t0 t1" in template.shingles and "c0 d0" not in template.shingles
    assert template_of(rows[:9], 13) == Template()  # too few rows to tell a template


def test_a_template_takes_what_exactly_half_the_rows_share_at_any_n() -> None:
    """Ten rows: "h0 h1 h2" in exactly five (half: template), "q0 q1 q2" in four (content), trigrams asked for."""
    shared = " ".join(f"t{i}" for i in range(14))
    rows = [Row(str(i), f"{'h0 h1 h2' if i < 5 else 'q0 q1 q2' if i < 9 else ''} {shared} c{i}") for i in range(10)]
    template = template_of(rows, 3)
    assert ("h0", "h1", "h2") in template.grams and ("q0", "q1", "q2") not in template.grams
    assert {tuple(f"t{j}" for j in range(i, i + 3)) for i in range(12)} <= template.grams
    assert "h0 h1" in template.shingles and "q0 q1" not in template.shingles


def test_an_index_of_other_settings_compares_with_them() -> None:
    """Trigrams and 64 permutations: "a".."h" and "a".."i" share trigrams and 7 of 8 shingles (Jaccard 7/8)."""
    index = ScoredIndex(Settings(ngram=3, permutations=64))
    assert index.content(["a", "b", "c", "d"])[0] == [("a", "b", "c"), ("b", "c", "d")]
    index.add("scored", [Row("0", "a b c d e f g h")])
    [prepared] = index.prepare([Row("t", "a b c d e f g h i")])
    assert index.matches(prepared) == {0: ({"ngram", "near"}, 7 / 8)}


def test_a_pair_exactly_at_the_threshold_is_near() -> None:
    for threshold, methods in ((7 / 8, {"near"}), (0.876, set())):
        index = ScoredIndex(Settings(threshold=threshold))
        index.add("scored", [Row("0", "a b c d e f g h")])
        [prepared] = index.prepare([Row("t", "a b c d e f g h i")])
        assert {i: found for i, (found, _) in index.matches(prepared).items() if found} == (
            {0: methods} if methods else {}), threshold


def test_an_exact_match_without_content_shingles_is_not_near() -> None:
    """Both rows' only shingle is the template's: the exact match stands, their similarity is 0, not the 1.0 that
    the Jaccard of two empty sets would give."""
    index = ScoredIndex(Settings(), Template(frozenset(), frozenset({"a b"})))
    index.add("scored", [Row("0", "a b")])
    [prepared] = index.prepare([Row("t", "A, b!")])
    assert prepared.shingles == set() and index.matches(prepared) == {0: ({"exact"}, 0.0)}


def test_masked_rows_keep_only_their_content() -> None:
    shared = [f"t{i}" for i in range(14)]
    template = Template(frozenset(ngrams(shared)), frozenset())
    index = ScoredIndex(Settings(), template)
    words = ["a", "b", *shared, "c", "d"]
    assert index.content(words) == ([], {"a b", "c d"})  # no n-gram or shingle reaches into the template
    long = [f"x{i}" for i in range(13)]
    assert index.content([*shared, *long]) == ([tuple(long)], {f"x{i} x{i + 1}" for i in range(12)})
    plain = ScoredIndex(Settings(), Template(frozenset(), frozenset({"a b"})))
    assert plain.content(["a", "b", "c"]) == ([], {"b c"})  # a template shingle alone is left out too


def test_row_text_by_formatting_and_fields() -> None:
    alpaca = {"columns": {"prompt": "instruction", "query": "input", "response": "output"}}
    row = {"instruction": "Ask", "input": "this", "output": "answer"}
    assert row_text(row, alpaca, "prompt") == "Ask\nthis"
    assert row_text(row, alpaca, "all") == "Ask\nthis\nanswer"
    tags = {"role_tag": "role", "content_tag": "content", "user_tag": "user", "assistant_tag": "assistant"}
    sharegpt = {"formatting": "sharegpt", "columns": {"messages": "messages"}, "tags": tags}
    chat = {"messages": [{"role": "system", "content": "Be brief"}, {"role": "user", "content": "Hi"},
                         {"role": "assistant", "content": "Hello"}]}
    assert row_text(chat, sharegpt, "prompt") == "Be brief\nHi"
    assert row_text(chat, sharegpt, "all") == "Be brief\nHi\nHello"
    ranking = {"formatting": "sharegpt", "ranking": True, "columns": {"messages": "messages", "chosen": "chosen",
                                                                     "rejected": "rejected"},
               "tags": sharegpt["tags"]}
    pair = {"messages": [{"role": "user", "content": "Q"}], "chosen": {"role": "assistant", "content": "good"},
            "rejected": {"role": "assistant", "content": "bad"}}
    assert row_text(pair, ranking, "prompt") == "Q"
    assert row_text(pair, ranking, "all") == "Q\ngood\nbad"


def test_the_ascii_path_normalises_as_the_unicode_rule_does() -> None:
    """ASCII text takes a translation table; its result must be the general rule's (NFKC, casefold, every run of
    non-letters and non-digits one space), written here from unicodedata and re."""
    import random
    import re
    import string
    import unicodedata

    rule = re.compile(r"[\W_]+")
    rng = random.Random(0)
    for _ in range(5000):
        text = "".join(rng.choice(string.printable) for _ in range(rng.randint(0, 40)))
        assert normalise(text) == rule.sub(" ", unicodedata.normalize("NFKC", text).casefold()).strip(), repr(text)


def test_the_cjk_ranges_end_where_their_blocks_do() -> None:
    """The first and last ideograph of CJK Extension A and of the unified block, the first Hangul syllable and a
    kana are words of their own; letters of the blocks just after (Yi, Hangul Jamo Extended-B) stay whole words."""
    for char in "\u3400\u4dbf\u4e00\u9fff\uac00\u3041":
        assert tokens(f"x{char}y") == ["x", char, "y"], hex(ord(char))
    assert tokens("\ua000\ua001 \ud7b0\ud7b1") == ["\ua000\ua001", "\ud7b0\ud7b1"]
    assert tokens("") == [] and normalise("") == ""
    assert normalise("¡Olé, Ünïcode!") == "olé ünïcode"  # no space left at either end


def test_ngrams_shingles_and_jaccard_at_their_sizes() -> None:
    words = [f"w{i}" for i in range(13)]
    assert ngrams(words) == [tuple(words)]  # exactly 13 words: one 13-gram
    assert ngrams(["a", "b", "c"], 2) == [("a", "b"), ("b", "c")]
    assert ngrams([], 1) == [] and ngrams(["a"], 1) == [("a",)]
    assert shingles(["a", "b"]) == {"a b"}  # exactly a shingle's size: one shingle, not the words
    assert shingles(["a", "b"], 3) == {"a", "b"}
    assert shingles(["a", "b", "c"], 3) == {"a b c"}
    assert shingles([]) == set()
    assert jaccard(set(), set()) == 1.0  # two empty rows are the same
    assert jaccard({"a"}, set()) == 0.0
    assert jaccard({"a", "b"}, {"a", "b"}) == 1.0
    assert jaccard({"a"}, {"a", "b", "c"}) == 1 / 3
