"""Label sets: parsing ``--labels``, normalising generated text, mapping it onto a label, and the one check that
gold labels belong to the set."""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence

from recipekit.errors import InputError

# Special tokens that templates leave in decoded text; `<|...|>` forms are caught by the pattern.
SPECIAL_TOKENS = ("</s>", "<s>", "<eos>", "<bos>", "<pad>", "<unk>", "<end_of_turn>", "<start_of_turn>",
                  "[PAD]", "[SEP]", "[CLS]", "<|endoftext|>")
_SPECIAL = re.compile("|".join([re.escape(t) for t in SPECIAL_TOKENS] + [r"<\|[A-Za-z0-9_]{1,40}\|>"]))
_WHITESPACE = re.compile(r"\s+")
_NUMBERED = re.compile(r"^(\d+)\s*:\s*(\S.*)$")

INVALID = "(invalid)"
EXACT_RULE = "exact match after whitespace/special-token normalisation; 'N: Name' labels also match 'N' or 'Name'"
LENIENT_RULE = (EXACT_RULE + "; then, lenient: case ignored, surrounding punctuation/quotes/brackets dropped and a "
                "leading 'the answer is', 'answer:', 'label:', 'category:' or 'output:' removed")
_PREFIX = re.compile(r"^(?:the\s+)?(?:final\s+)?(?:answer|label|category|class|output|prediction)\s*(?:is|:|=|-)\s*",
                     re.I)
_EDGE = re.compile(r"^[\s\"'`*.,;:!?()\[\]{}<>]+|[\s\"'`*.,;:!?()\[\]{}<>]+$")


def parse_labels(text: str | None) -> list[str] | None:
    """--labels 'A,B,C' -> ['A', 'B', 'C'] (stripped, empty parts dropped); None stays None."""
    if text is None:
        return None
    labels = [part.strip() for part in text.split(",") if part.strip()]
    if not labels:
        raise InputError("--labels names no label")
    return labels


def label_codes(gold: Sequence[str], labels: Sequence[str], path: str, lines: Sequence[int]) -> list[int]:
    """Each gold label's index in ``labels``; the first one outside the set is an error naming its file and line."""
    codes = {label: k for k, label in enumerate(labels)}
    for label, line in zip(gold, lines, strict=True):
        if label not in codes:
            raise InputError(f"label {label!r} is not in the label set {list(labels)}", path, line)
    return [codes[g] for g in gold]


def normalize_text(text: str) -> str:
    """Drop special tokens, fold runs of whitespace (newlines included) to one space, strip."""
    return _WHITESPACE.sub(" ", _SPECIAL.sub(" ", text)).strip()


def split_numbered(label: str) -> tuple[str, str] | None:
    """('3', 'Business') for '3: Business'; None when the label is not of that form."""
    found = _NUMBERED.match(label)
    return (found.group(1), found.group(2)) if found else None


class LabelMatcher:
    """Maps a normalised prediction to a label, or None when it is none of them.

    A prediction matches a label when it equals it; for label sets whose labels are all of the form
    "N: Name" it also matches by number alone ("3") or by name alone ("Business"), and "3:Business"
    with other spacing. A number and a name that disagree ("3: Sports") match nothing.
    """

    def __init__(self, labels: Iterable[str], lenient: bool = False) -> None:
        self.labels = list(dict.fromkeys(labels))
        self.lenient = lenient
        self.numbered = bool(self.labels) and all(split_numbered(label) for label in self.labels)
        self._lookup: dict[str, str] = {label: label for label in self.labels}
        if self.numbered:
            for label in self.labels:
                number, name = split_numbered(label)  # type: ignore[misc]
                self._lookup.setdefault(number, label)
                self._lookup.setdefault(name, label)

    @property
    def rule(self) -> str:
        return LENIENT_RULE if self.lenient else EXACT_RULE

    def match(self, prediction: str) -> str | None:
        found = self._match_exact(normalize_text(prediction))
        if found is not None or not self.lenient:
            return found
        return self._match_lenient(normalize_text(prediction))

    def _match_lenient(self, text: str) -> str | None:
        """Case-blind, after surrounding punctuation and an 'answer is' style prefix are dropped."""
        stripped = _EDGE.sub("", _PREFIX.sub("", _EDGE.sub("", text)))
        folded = {key.casefold(): label for key, label in self._lookup.items()}
        if stripped.casefold() in folded:
            return folded[stripped.casefold()]
        found = self._match_exact(stripped)
        return found

    def _match_exact(self, text: str) -> str | None:
        if text in self._lookup:
            return self._lookup[text]
        parts = split_numbered(text) if self.numbered else None
        if parts is not None:
            by_number, by_name = self._lookup.get(parts[0]), self._lookup.get(parts[1])
            if by_number is not None and by_number == by_name:
                return by_number
        return None
