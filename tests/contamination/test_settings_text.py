"""The comparison settings as a result records them, written out by hand: the template rule, the normalisation,
each method's rule with its n-gram length, permutations and thresholds; and a result's JSON for a set whose size
was never counted."""

from __future__ import annotations

from recipekit.contamination.check import Pair, Result, Settings, result_json

NORMALISATION = ("NFKC, casefold, punctuation and symbols dropped, whitespace collapsed; CJK characters one word "
                 "each")


def test_default_settings_described_in_full() -> None:
    assert Settings().described() == {
        "fields": "prompt",
        "template": ("13-grams and shingles found in at least 50% of a set's rows (its instruction template; sets of "
                     "10 rows or more, the first 2000 of a training set) are left out of the 13-gram and "
                     "near-duplicate methods"),
        "normalisation": NORMALISATION,
        "exact": "the same normalised text",
        "ngram": "a run of 13 normalised words in common",
        "near": ("MinHash LSH over token 2-gram shingles (128 permutations, LSH threshold 0.50), kept when the "
                 "exact Jaccard of the shingle sets is >= 0.7"),
    }


def test_other_settings_described_with_their_own_numbers() -> None:
    """An 8-word n-gram names 8-grams in the template rule too; a low threshold's LSH stops at its floor (0.10)."""
    settings = Settings(fields="prompt+response", ngram=8, threshold=0.25, permutations=64)
    assert settings.described() == {
        "fields": "prompt+response",
        "template": ("8-grams and shingles found in at least 50% of a set's rows (its instruction template; sets of "
                     "10 rows or more, the first 2000 of a training set) are left out of the 8-gram and "
                     "near-duplicate methods"),
        "normalisation": NORMALISATION,
        "exact": "the same normalised text",
        "ngram": "a run of 8 normalised words in common",
        "near": ("MinHash LSH over token 2-gram shingles (64 permutations, LSH threshold 0.10), kept when the "
                 "exact Jaccard of the shingle sets is >= 0.25"),
    }


def test_result_json_counts_a_set_without_a_size_as_empty() -> None:
    """Every count written as the pair holds it; a set named in the sides but never counted has 0 rows."""
    pair = Pair("train", "held", 4)
    pair.found = {"exact": {2}, "ngram": {0, 2}, "near": set()}
    pair.training_hits = {"exact": 1, "ngram": 3, "near": 0}
    pair.training_any = 3
    pair.ids = {0: "h-0", 2: "h-2"}
    example = {"method": "exact", "jaccard": 1.0, "training_id": "t-5", "scored_id": "h-2",
               "training_text": "x", "scored_text": "x"}
    pair.examples = [example]
    settings = Settings()
    result = Result(settings, [pair], {"held": 4}, {"held": "scored", "train": "training"}, {"train": {5}})
    assert result_json(result) == {
        "settings": settings.described(),
        "sets": {"held": {"rows": 4, "side": "scored"}, "train": {"rows": 0, "side": "training"}},
        "pairs": [{"training": "train", "scored": "held", "scored_rows": 4,
                   "methods": {"exact": {"scored_rows": 1, "training_rows": 1},
                               "ngram": {"scored_rows": 2, "training_rows": 3},
                               "near": {"scored_rows": 0, "training_rows": 0}},
                   "any": {"scored_rows": 2, "training_rows": 3},
                   "scored_ids": ["h-0", "h-2"], "examples": [example]}],
    }
