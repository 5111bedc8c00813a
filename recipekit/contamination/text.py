"""Text as the contamination checks compare it: normalised, cut into tokens, n-grams and shingles.

Normalising folds full-width forms to half-width and compatibility characters to their plain form (NFKC),
case (casefold), turns every run of characters that are not letters or digits (punctuation, symbols, spaces,
underscores) into one space, so rows that differ only by those compare equal. Tokens are the words between
spaces, and each CJK character on its own (Chinese has no spaces), as the decontamination of
lm-evaluation-harness and the GPT-3 paper counts words.
"""

from __future__ import annotations

import re
import unicodedata

NGRAM = 13  # the long n-gram of lm-evaluation-harness's decontamination and of the GPT-3 and Tulu-3 reports
SHINGLE = 2  # tokens per MinHash shingle (token bigrams: short rows keep enough of them to compare)
CJK = re.compile(r"([\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\u3040-\u30ff\uac00-\ud7af])")


NOT_WORD = re.compile(r"[\W_]+")  # punctuation, symbols, spaces, control characters: anything not a letter or digit


ASCII_NOT_WORD = str.maketrans({chr(c): " " for c in range(128) if not chr(c).isalnum()})


def normalise(text: str) -> str:
    """NFKC, casefolded, punctuation and symbols dropped, whitespace collapsed to single spaces."""
    if text.isascii():  # the same result, by a translation table (NFKC leaves ASCII as it is)
        return " ".join(text.lower().translate(ASCII_NOT_WORD).split())
    return NOT_WORD.sub(" ", unicodedata.normalize("NFKC", text).casefold()).strip()


def tokens(text: str) -> list[str]:
    """The normalised text's words, each CJK character a word of its own."""
    return CJK.sub(r" \1 ", normalise(text)).split()


def ngrams(words: list[str], n: int = NGRAM) -> list[tuple[str, ...]]:
    """Every run of ``n`` consecutive words (none when the text is shorter)."""
    return list(zip(*(words[i:] for i in range(n)), strict=False)) if len(words) >= n else []  # shifted copies


def shingles(words: list[str], size: int = SHINGLE) -> set[str]:
    """The distinct runs of ``size`` words (the words themselves when fewer): what MinHash compares."""
    if len(words) < size:
        return set(words)
    return {" ".join(group) for group in zip(*(words[i:] for i in range(size)), strict=False)}


def jaccard(a: set[str], b: set[str]) -> float:
    return len(a & b) / len(a | b) if a or b else 1.0
