"""Argument helpers every script shares: the parser built from the module docstring, and flag-value parsers."""

from __future__ import annotations

import argparse

from recipekit.errors import InputError


def script_parser(doc: str | None) -> argparse.ArgumentParser:
    """A parser whose description is the docstring's first paragraph and whose epilog is the rest (the example)."""
    summary, _, rest = (doc or "").strip().partition("\n\n")
    return argparse.ArgumentParser(description=summary, epilog=rest,
                                   formatter_class=argparse.RawDescriptionHelpFormatter)


def parse_pairs(text: str, flag: str, shape: str = "KEY=VALUE") -> dict[str, str]:
    """``'a=x,b=y'`` -> ``{'a': 'x', 'b': 'y'}`` (stripped); an item that is not ``KEY=VALUE`` or a repeated
    key is an error naming ``flag`` and the expected ``shape``."""
    pairs: dict[str, str] = {}
    for item in text.split(","):
        key, sep, value = item.partition("=")
        if not sep or not key.strip() or not value.strip():
            raise InputError(f"{flag} expects {shape} pairs separated by commas, got {item!r}")
        if key.strip() in pairs:
            raise InputError(f"{flag} names {key.strip()!r} twice")
        pairs[key.strip()] = value.strip()
    return pairs


def parse_names(text: str, count: int, flag: str) -> list[str]:
    """``a,b,c`` -> names, exactly ``count`` distinct non-empty ones."""
    names = [name.strip() for name in text.split(",")]
    if len(names) != count or len(set(names)) != count or not all(names):
        raise InputError(f"{flag} needs {count} distinct comma-separated names, got {text!r}")
    return names
