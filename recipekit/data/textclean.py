"""Text fixes shared by converters: the char-CNN releases' escapes, head+tail truncation to a budget."""

from __future__ import annotations

import html
import re

# The AG News / Yelp CSV releases (Zhang et al. 2015) write line breaks as a backslash ("\n" or "\\"),
# and AG News lost the '&' of HTML entities, leaving a space: "doesn #39;t", "By  #36;10", " quot;".
_ENTITY_GAP = re.compile(r" (?=#\d+;|quot;|amp;|lt;|gt;)")  # a literal first char keeps the scan fast
_LINE_BREAK = re.compile(r"\\n(?![a-z])|\\+")
_SPACES = re.compile(r"\t[ \t]*| [ \t]+")  # only runs that change: a tab, or two or more blanks
TRUNCATION_MARK = "\n[... {n} {unit} cut ...]\n"


def clean_release_text(text: str) -> str:
    """Undo the release's escapes (backslash line breaks, entities without '&'); squeeze spaces and blank lines."""
    if "\\" in text:
        text = _LINE_BREAK.sub("\n", text)
    if ";" in text:
        # the leading space lets an entity at the very start match; every line is stripped below
        text = _ENTITY_GAP.sub("&", " " + text)
    if "&" in text:
        text = html.unescape(text)
    if "\n" not in text:
        return squeeze_spaces(text)
    lines = (squeeze_spaces(line) for line in text.split("\n"))
    return "\n".join(line for line in lines if line)


def squeeze_spaces(line: str) -> str:
    """Runs of spaces/tabs become one space; ends stripped."""
    if "  " in line or "\t" in line:
        line = _SPACES.sub(" ", line)
    return line.strip()


def head_tail(text: str, budget: int) -> tuple[str, int]:
    """Keep the first and last ``budget // 2`` characters with a marker between; returns (text, chars cut)."""
    if budget <= 0 or len(text) <= budget:
        return text, 0
    head = budget - budget // 2
    tail = budget // 2
    cut = len(text) - head - tail
    return text[:head] + TRUNCATION_MARK.format(n=cut, unit="chars") + (text[-tail:] if tail else ""), cut


def head_tail_tokens(text: str, budget: int, tokenizer: object) -> tuple[str, int]:
    """Token-budget version of :func:`head_tail` using a transformers tokenizer; returns (text, tokens cut)."""
    ids = tokenizer.encode(text, add_special_tokens=False)  # type: ignore[attr-defined]
    if budget <= 0 or len(ids) <= budget:
        return text, 0
    head = budget - budget // 2
    tail = budget // 2
    cut = len(ids) - head - tail
    decode = tokenizer.decode  # type: ignore[attr-defined]
    kept = decode(ids[:head]) + TRUNCATION_MARK.format(n=cut, unit="tokens") + (decode(ids[-tail:]) if tail else "")
    return kept, cut


def unescape_backslash_newlines(text: str) -> str:
    """Yelp's release writes line breaks as the two characters ``\\n`` and quotes as ``\\"``; undo both,
    strip each line and keep at most one blank line between paragraphs."""
    if "\\" in text:
        text = text.replace("\\n", "\n").replace('\\"', '"')
    lines = [squeeze_spaces(line) for line in text.split("\n")]
    return _BLANK_RUNS.sub("\n\n", "\n".join(lines)).strip()


_BLANK_RUNS = re.compile(r"\n{3,}")
