"""One error type for bad input, and the one-line exit every script uses for it (and for Ctrl-C and OS errors)."""

from __future__ import annotations

import sys
from collections.abc import Callable
from functools import wraps
from typing import TypeVar

T = TypeVar("T")
INTERRUPTED = 130  # the shell's code for a process ended by SIGINT
INTERRUPTED_LINE = "interrupted (Ctrl-C): stopped without leaving a partial file"


class InputError(Exception):
    """Bad user input: a missing file, a malformed line, a missing field, an empty file."""

    def __init__(self, message: str, path: str | None = None, line: int | None = None) -> None:
        where = ""
        if path is not None:
            where = f"{path}:{line}: " if line is not None else f"{path}: "
        super().__init__(where + message)
        self.message = message
        self.path = path
        self.line = line


def os_error_line(exc: OSError) -> str:
    """``PATH: what went wrong`` for an OSError (permission denied, not a directory, disk full...)."""
    what = exc.strerror or exc.__class__.__name__
    names = [str(name) for name in (exc.filename, exc.filename2) if name is not None]
    return f"{' -> '.join(names)}: {what}" if names else what


def quiet_interrupts() -> None:
    """Ctrl-C before a script's ``main`` runs (while it imports) prints one line instead of a traceback."""
    previous = sys.excepthook

    def hook(kind: type[BaseException], value: BaseException, trace: object) -> None:
        if issubclass(kind, KeyboardInterrupt):
            print(INTERRUPTED_LINE, file=sys.stderr)
        else:
            previous(kind, value, trace)  # type: ignore[arg-type]

    if getattr(previous, "__name__", "") != "hook":
        sys.excepthook = hook


def exit_on_input_error(main: Callable[..., T]) -> Callable[..., T]:
    """Turn bad input (InputError), an OS refusal (OSError: permissions, a file where a folder belongs) into
    ``error: ...`` on stderr and exit status 2, and Ctrl-C into one line and exit status 130: no traceback."""

    @wraps(main)
    def wrapper(*args: object, **kwargs: object) -> T:
        try:
            return main(*args, **kwargs)
        except InputError as exc:
            print(f"error: {exc}", file=sys.stderr)
            raise SystemExit(2) from None
        except OSError as exc:
            print(f"error: {os_error_line(exc)}", file=sys.stderr)
            raise SystemExit(2) from None
        except KeyboardInterrupt as exc:  # a step runner words what its stopped step left (recipekit.steps)
            print(str(exc) or INTERRUPTED_LINE, file=sys.stderr)
            raise SystemExit(INTERRUPTED) from None

    return wrapper
