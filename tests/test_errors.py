"""A library's exception in one line: its type and the first line of its message, or its type alone."""

from __future__ import annotations

import pytest

from recipekit.errors import exception_line


@pytest.mark.parametrize(("exc", "line"), [
    (KeyError("arc_eazy"), "KeyError: 'arc_eazy'"),
    (ValueError("  first line\nsecond line\n"), "ValueError: first line"),
    (ConnectionError(), "ConnectionError"),
    (RuntimeError("   \n  "), "RuntimeError"),
])
def test_an_exception_is_its_type_and_its_messages_first_line(exc: BaseException, line: str) -> None:
    assert exception_line(exc) == line
