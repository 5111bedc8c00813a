"""Training sets against the sets a report is scored on, by three methods, the larger side streamed.

- ``exact``: the same normalised text (``recipekit.contamination.text``: case, whitespace, punctuation,
  full-width forms);
- ``ngram``: a run of 13 normalised words in common (lm-evaluation-harness's decontamination rule, as the GPT-3
  and Tulu-3 reports applied it; rows shorter than 13 words have no 13-gram and are left to the other two);
- ``near``: near-duplicates by MinHash LSH (``datasketch``, 128 permutations) over token-bigram shingles, each
  candidate kept when the exact Jaccard similarity of the two shingle sets is at least the threshold (0.7; the
  LSH itself looks 0.2 lower, so pairs just above the threshold are not lost to its banding).

The scored sets (held-out sets, predict sets, benchmark tasks: thousands of rows) are indexed in memory; the
training rows (up to hundreds of thousands) are read one chunk at a time and never held whole. Counts are per
pair of sets and per method: scored rows found in the training set, and training rows that match.
"""

from __future__ import annotations

import zlib
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from itertools import accumulate, islice
from typing import Any, NamedTuple

from recipekit.contamination.sources import Row
from recipekit.contamination.text import NGRAM, SHINGLE, jaccard, ngrams, shingles, tokens

METHODS = ("exact", "ngram", "near")
THRESHOLD = 0.7
PERMUTATIONS = 128
EXAMPLES = 5  # side-by-side examples kept per pair of sets
IDS_KEPT = 1000  # flagged scored-row ids kept per pair
CHUNK = 4096  # training rows hashed together
SHARED = 0.5  # n-grams and shingles in at least this share of a set's rows are its template, not its content
SHARED_MIN_ROWS = 10  # sets smaller than this do not say what their template is
SHARED_SAMPLE = 2000  # training rows read first to find the training set's template
LSH_MARGIN, LSH_FLOOR = 0.2, 0.1  # the LSH looks for candidates this far below the threshold


@dataclass(frozen=True)
class Settings:
    """How rows are compared (written with every result)."""

    fields: str = "prompt"
    ngram: int = NGRAM
    threshold: float = THRESHOLD
    permutations: int = PERMUTATIONS

    def lsh_threshold(self) -> float:
        """The LSH's own threshold, below the kept one: its bands then miss few pairs near the threshold, and
        each candidate's exact Jaccard decides."""
        return max(LSH_FLOOR, self.threshold - LSH_MARGIN)

    def described(self) -> dict[str, Any]:
        return {"fields": self.fields, "template": f"{self.ngram}-grams and shingles found in at least {SHARED:.0%} "
                f"of a set's rows (its instruction template; sets of {SHARED_MIN_ROWS} rows or more, the first "
                f"{SHARED_SAMPLE} of a training set) are left out of the {self.ngram}-gram and near-duplicate "
                "methods",
                "normalisation": "NFKC, casefold, punctuation and symbols dropped, "
                "whitespace collapsed; CJK characters one word each",
                "exact": "the same normalised text", "ngram": f"a run of {self.ngram} normalised words in common",
                "near": f"MinHash LSH over token {SHINGLE}-gram shingles ({self.permutations} permutations, LSH "
                        f"threshold {self.lsh_threshold():.2f}), kept when the exact Jaccard of the shingle sets is "
                        f">= {self.threshold}"}


@dataclass
class Pair:
    """One training set against one scored set."""

    training: str
    scored: str
    scored_rows: int
    found: dict[str, set[int]] = field(default_factory=lambda: {m: set() for m in METHODS})  # scored rows
    training_hits: dict[str, int] = field(default_factory=lambda: dict.fromkeys(METHODS, 0))
    training_any: int = 0
    examples: list[dict[str, Any]] = field(default_factory=list)
    ids: dict[int, str] = field(default_factory=dict)  # scored row -> its id


@dataclass(frozen=True)
class Template:
    """The n-grams and shingles that most rows of some set share: an instruction template, not content."""

    grams: frozenset[str] = frozenset()
    shingles: frozenset[str] = frozenset()


def template_of(rows: Iterable[Row], n: int) -> Template:
    """The n-grams and shingles in at least ``SHARED`` of the rows (none for fewer than ``SHARED_MIN_ROWS``)."""
    from collections import Counter

    grams: Counter[str] = Counter()
    shingle_counts: Counter[str] = Counter()
    count = 0
    for row in rows:
        words = tokens(row.text)
        grams.update(set(ngrams(words, n)))
        shingle_counts.update(shingles(words))
        count += 1
    if count < SHARED_MIN_ROWS:
        return Template()
    least = SHARED * count
    return Template(frozenset(g for g, c in grams.items() if c >= least),
                    frozenset(s for s, c in shingle_counts.items() if c >= least))


def crc32(data: bytes) -> int:
    """The 32-bit hash MinHash starts from: zlib's CRC-32 (deterministic, and a tenth of SHA-1's time)."""
    return zlib.crc32(data)


def minhashes(shingle_sets: list[set[str]], permutations: int) -> list[Any]:
    from datasketch import MinHash

    return MinHash.bulk([[s.encode("utf-8") for s in group] for group in shingle_sets], num_perm=permutations,
                        hashfunc=crc32)


class Prepared(NamedTuple):
    """One row as the methods compare it: its words, its content n-grams and shingles, their MinHash."""

    row: Row
    words: list[str]
    grams: list[tuple[str, ...]]
    shingles: set[str]
    minhash: Any


class ScoredIndex:
    """The scored sets' rows: normalised text, 13-grams and MinHash LSH, each row tagged with its set."""

    def __init__(self, settings: Settings, template: Template = Template()) -> None:
        from datasketch import MinHashLSH

        self.settings, self.template = settings, template
        self.rows: list[tuple[str, Row, frozenset[str]]] = []
        self.sizes: dict[str, int] = {}
        self.exact: dict[str, list[int]] = {}
        self.grams: dict[tuple[str, ...], list[int]] = {}
        self.lsh = MinHashLSH(threshold=settings.lsh_threshold(), num_perm=settings.permutations)

    def prepare(self, rows: list[Row]) -> list[Prepared]:
        """Each row's words, content n-grams and shingles (the template masked out) and MinHash."""
        parts = [(row, words, *self.content(words)) for row, words in zip(rows, map(tokens, (r.text for r in rows)),
                                                                          strict=True)]
        signatures = minhashes([part[3] for part in parts], self.settings.permutations)
        return [Prepared(*part, minhash) for part, minhash in zip(parts, signatures, strict=True)]

    def add(self, name: str, rows: Iterable[Row]) -> None:
        self.sizes[name] = 0
        for chunk in chunked(rows):
            for prepared in self.prepare(chunk):
                self.sizes[name] += 1
                self.insert(name, prepared)

    def insert(self, name: str, prepared: Prepared) -> None:
        """Index one row of set ``name``."""
        if not prepared.words:
            return
        index = len(self.rows)
        self.rows.append((name, prepared.row, frozenset(prepared.shingles)))
        self.exact.setdefault(" ".join(prepared.words), []).append(index)
        for gram in set(prepared.grams):
            self.grams.setdefault(gram, []).append(index)
        if prepared.shingles:
            self.lsh.insert(str(index), prepared.minhash)

    def covered(self, words: list[str], grams: list[tuple[str, ...]]) -> list[bool]:
        """Which words a template n-gram covers."""
        n = self.settings.ngram
        masked = [False] * len(words)
        if self.template.grams:
            for i, gram in enumerate(grams):
                if gram in self.template.grams:
                    masked[i:i + n] = [True] * n
        return masked

    def content(self, words: list[str]) -> tuple[list[tuple[str, ...]], set[str]]:
        """A row's n-grams and shingles that lie wholly in its content (no word of the template), the template's
        shingles left out."""
        grams = ngrams(words, self.settings.ngram)
        masked = self.covered(words, grams)
        if not any(masked):
            return grams, shingles(words) - self.template.shingles
        before = list(accumulate(masked, initial=0))  # masked words before each position
        n, size = self.settings.ngram, SHINGLE
        kept = [g for i, g in enumerate(grams) if before[i + n] == before[i]]
        pieces = {" ".join(words[i:i + size]) for i in range(len(words) - size + 1) if before[i + size] == before[i]}
        return kept, pieces - self.template.shingles

    def matches(self, prepared: Prepared) -> dict[int, tuple[set[str], float]]:
        """Each scored row a training row matches -> (every method that finds it, the shingle Jaccard)."""
        found: dict[int, set[str]] = {}
        for index in self.exact.get(" ".join(prepared.words), []):
            found.setdefault(index, set()).add("exact")
        for gram in prepared.grams:
            for index in self.grams.get(gram, ()):
                found.setdefault(index, set()).add("ngram")
        shingle_set = prepared.shingles
        candidates = set(found) | ({int(key) for key in self.lsh.query(prepared.minhash)} if shingle_set else set())
        similarity = {index: jaccard(shingle_set, self.rows[index][2]) if shingle_set and self.rows[index][2]
                      else 0.0 for index in candidates}
        for index in candidates:
            if similarity[index] >= self.settings.threshold:
                found.setdefault(index, set()).add("near")
        return {index: (methods, similarity[index]) for index, methods in found.items()}


def duplicates_inside(rows: list[Row], settings: Settings) -> dict[str, Any]:
    """Rows of one set that repeat an earlier row: exactly (the same normalised text) or nearly (the
    near-duplicate rule, not exact), with a few examples."""
    from recipekit.text import clip

    index = ScoredIndex(settings, template_of(rows, settings.ngram))
    found: dict[str, Any] = {"exact": 0, "near": 0, "examples": [], "rule": settings.described()["near"]}
    for chunk in chunked(rows):
        for prepared in index.prepare(chunk):
            row = prepared.row
            hits = index.matches(prepared) if prepared.words else {}
            kind = "exact" if any("exact" in m for m, _ in hits.values()) else \
                "near" if any("near" in m for m, _ in hits.values()) else None
            if kind:
                found[kind] += 1
                earlier, similarity = max(hits.items(), key=lambda item: item[1][1])
                if kind == "near" and len(found["examples"]) < EXAMPLES:
                    found["examples"].append({"row": row.id, "like": index.rows[earlier][1].id,
                                              "jaccard": round(similarity[1], 3), "text": clip(row.text, 120)})
            index.insert("", prepared)
    return found


def chunked(rows: Iterable[Row], size: int = CHUNK) -> Iterator[list[Row]]:
    iterator = iter(rows)
    while chunk := list(islice(iterator, size)):
        yield chunk


@dataclass
class Result:
    """Every pair's counts, the sets' sizes, and the training rows flagged (by set, their positions)."""

    settings: Settings
    pairs: list[Pair]
    sizes: dict[str, int]
    sides: dict[str, str]
    flagged: dict[str, set[int]]


def check(training: dict[str, Callable[[], Iterable[Row]]], scored: dict[str, list[Row]], settings: Settings,
          progress: Any = None) -> Result:
    """Each training set (read by its callable, streamed; its first rows once more for its template) against
    every scored set (indexed)."""
    from recipekit.text import clip

    parts = [template_of(rows, settings.ngram) for rows in scored.values()]
    parts += [template_of(islice(read(), SHARED_SAMPLE), settings.ngram) for read in training.values()]
    template = Template(frozenset().union(*(t.grams for t in parts)), frozenset().union(*(t.shingles for t in parts)))
    index = ScoredIndex(settings, template)
    for name, rows in scored.items():
        index.add(name, rows)
    pairs: list[Pair] = []
    sizes = dict(index.sizes)
    flagged: dict[str, set[int]] = {}
    for train, read in training.items():
        rows = read()
        by_set = {name: Pair(train, name, size) for name, size in index.sizes.items()}
        flagged[train] = set()
        position = 0
        for chunk in chunked(rows):
            for prepared in index.prepare(chunk):
                row = prepared.row
                hits = index.matches(prepared) if prepared.words else {}
                seen: dict[str, set[str]] = {}
                for held_index, (methods, similarity) in hits.items():
                    name, held, _ = index.rows[held_index]
                    pair = by_set[name]
                    for method in methods:
                        pair.found[method].add(held_index)
                    pair.ids[held_index] = held.id
                    seen.setdefault(name, set()).update(methods)
                    if len(pair.examples) < EXAMPLES:
                        strongest = next(m for m in METHODS if m in methods)
                        pair.examples.append({"method": strongest, "jaccard": round(similarity, 3),
                                              "training_id": row.id, "scored_id": held.id,
                                              "training_text": clip(row.text, 300),
                                              "scored_text": clip(held.text, 300)})
                for name, methods in seen.items():
                    by_set[name].training_any += 1
                    for method in methods:
                        by_set[name].training_hits[method] += 1
                if hits:
                    flagged[train].add(position)
                position += 1
            if progress is not None:
                progress.update(len(chunk))
        sizes[train] = position
        pairs += by_set.values()
    sides = {**dict.fromkeys(scored, "scored"), **dict.fromkeys(training, "training")}
    return Result(settings, pairs, sizes, sides, flagged)


def result_json(result: Result) -> dict[str, Any]:
    """The result as the report writes it."""
    pairs = []
    for pair in result.pairs:
        any_found = set().union(*pair.found.values())
        pairs.append({
            "training": pair.training, "scored": pair.scored, "scored_rows": pair.scored_rows,
            "methods": {m: {"scored_rows": len(pair.found[m]), "training_rows": pair.training_hits[m]}
                        for m in METHODS},
            "any": {"scored_rows": len(any_found), "training_rows": pair.training_any},
            "scored_ids": [pair.ids[i] for i in sorted(any_found)][:IDS_KEPT], "examples": pair.examples})
    return {"settings": result.settings.described(), "sets": {name: {"rows": result.sizes.get(name, 0), "side": side}
                                                             for name, side in result.sides.items()},
            "pairs": pairs}

