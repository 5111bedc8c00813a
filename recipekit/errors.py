"""One error type for bad input, and the one-line exit every script uses for it."""

from __future__ import annotations

import sys
from collections.abc import Callable
from functools import wraps
from typing import TypeVar

T = TypeVar("T")


class InputError(Exception):
    """Bad user input: a missing file, a malformed line, a missing field, an empty file."""

    def __init__(self, message: str, path: str | None = None, line: int | None = None) -> None:
        where = ""
        if path is not None:
            where = f"{path}:{line}: " if line is not None else f"{path}: "
        super().__init__(where + message)
        self.path = path
        self.line = line


def exit_on_input_error(main: Callable[..., T]) -> Callable[..., T]:
    """Turn an InputError raised by ``main`` into ``error: ...`` on stderr and exit status 2."""

    @wraps(main)
    def wrapper(*args: object, **kwargs: object) -> T:
        try:
            return main(*args, **kwargs)
        except InputError as exc:
            print(f"error: {exc}", file=sys.stderr)
            raise SystemExit(2) from None

    return wrapper
