"""The near-duplicate method's recall and precision against a brute-force exact Jaccard: 200 planted pairs spread
over Jaccard 0.70-0.85 are found, and 100 pairs at 0.50-0.65 are not.

Each row is distinct lowercase words (already normal, so its tokens are its words), and its partner the same words
with one word in every 10-13 replaced by a new one (5-8 for the far pairs): no 13 words in common, so the 13-gram
method finds none of them and every candidate comes from the MinHash LSH. The Jaccard each pair is planted at is
computed here on token bigrams, the shingles the check compares, with no code of the check."""

from __future__ import annotations

import random
from collections.abc import Iterator
from itertools import pairwise

from recipekit.contamination.check import Settings, check
from recipekit.contamination.sources import Row

NEAR_BINS = [(0.70, 0.74), (0.74, 0.78), (0.78, 0.82), (0.82, 0.85)]  # 50 pairs each
FAR = (0.50, 0.65)  # 100 pairs


def bigram_jaccard(a: list[str], b: list[str]) -> float:
    x, y = set(pairwise(a)), set(pairwise(b))
    return len(x & y) / len(x | y)


def share_13_words(a: list[str], b: list[str]) -> bool:
    runs = {tuple(a[i:i + 13]) for i in range(len(a) - 12)}
    return any(tuple(b[i:i + 13]) in runs for i in range(len(b) - 12))


def planted_pairs() -> tuple[list[tuple[list[str], list[str]]], list[tuple[list[str], list[str]]]]:
    """(near pairs, far pairs), each a row and its edited partner, at Jaccards drawn into their bins."""
    rng = random.Random(3)
    fresh: Iterator[str] = (f"w{i}" for i in range(10**8))
    near: dict[tuple[float, float], list[tuple[list[str], list[str]]]] = {b: [] for b in NEAR_BINS}
    far: list[tuple[list[str], list[str]]] = []
    while any(len(v) < 50 for v in near.values()) or len(far) < 100:
        size = rng.randint(20, 80)
        apart = (rng.randint(10, 13), 13) if rng.random() < 0.7 else (5, 8)
        row = [next(fresh) for _ in range(size)]
        partner = list(row)
        at = rng.randint(0, 12)
        while at < size:
            partner[at] = next(fresh)
            at += rng.randint(*apart)
        similarity = bigram_jaccard(row, partner)
        if share_13_words(row, partner):
            continue
        for low, high in NEAR_BINS:
            if (low <= similarity < high or similarity == high == 0.85) and len(near[(low, high)]) < 50:
                near[(low, high)].append((row, partner))
        if FAR[0] <= similarity <= FAR[1] and len(far) < 100:
            far.append((row, partner))
    return [pair for pairs in near.values() for pair in pairs], far


def test_near_duplicates_are_found_as_brute_force_jaccard_says() -> None:
    near, far = planted_pairs()
    pairs = near + far
    scored = [Row(f"s{i}", " ".join(row)) for i, (row, _) in enumerate(pairs)]
    training = [Row(f"t{i}", " ".join(partner)) for i, (_, partner) in enumerate(pairs)]
    words = {row.id: row.text.split() for row in scored + training}
    best = {s.id: max(bigram_jaccard(words[s.id], words[t.id]) for t in training) for s in scored}  # brute force
    above = {name for name, similarity in best.items() if similarity >= 0.7}
    assert above == {f"s{i}" for i in range(len(near))}  # the planted near pairs, and only they, reach 0.7
    assert all(FAR[0] <= best[f"s{i}"] <= FAR[1] for i in range(len(near), len(pairs)))

    result = check({"train": lambda: training}, {"held": scored}, Settings())
    (pair,) = result.pairs
    found = {pair.ids[index] for index in pair.found["near"]}
    assert pair.found["ngram"] == set() and pair.found["exact"] == set()
    assert found <= above  # nothing under the threshold, no far pair
    assert len(found) >= 0.99 * len(above), f"recall {len(found)}/{len(above)}"
