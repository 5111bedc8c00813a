"""The one way scripts build their argument parser: summary and example come from the module docstring."""

from __future__ import annotations

import argparse


def script_parser(doc: str | None) -> argparse.ArgumentParser:
    """A parser whose description is the docstring's first paragraph and whose epilog is the rest (the example)."""
    summary, _, rest = (doc or "").strip().partition("\n\n")
    return argparse.ArgumentParser(description=summary, epilog=rest,
                                   formatter_class=argparse.RawDescriptionHelpFormatter)
