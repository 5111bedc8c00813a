"""One error type for bad input, and the one-line exit every script uses for it (and for Ctrl-C and OS errors)."""

from __future__ import annotations

import sys
from collections.abc import Callable
from functools import wraps
from types import FrameType
from typing import Any, TypeVar

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


def exception_line(exc: BaseException) -> str:
    """``Type: first line of its message`` (the type alone when it has none): a library's error in one line."""
    lines = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {lines[0]}" if lines else type(exc).__name__


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


_RUNNING: list[list[Any]] = []  # per command running (inner ones last): the SIGINT handler to put back, if any


def interrupts_ignored_until_return(previous: Any) -> bool:
    """Keep Ctrl-C ignored (it is, now) until the running command returns, then put ``previous`` back: its files
    have landed, and a Ctrl-C must not end it as if they had not. False outside a command."""
    if not _RUNNING:
        return False
    if not _RUNNING[-1]:
        _RUNNING[-1].append(previous)
    return True


def ends_the_process(frame: FrameType | None) -> bool:
    """Whether every caller from ``frame`` up is the interpreter's start (``__main__``, runpy) or this package:
    the command is the process's own, which ends when it returns (not a call from a test or a notebook)."""
    while frame is not None:
        name = str(frame.f_globals.get("__name__", ""))
        if name not in ("__main__", "runpy") and name.partition(".")[0] != "recipekit":
            return False
        frame = frame.f_back
    return True


def _returned(caller: FrameType | None) -> None:
    """A command returned: Ctrl-C, ignored since its files landed, is back as it was; unless the process ends
    now, when it stays ignored so that the interpreter's exit cannot be cut short (no ``Exception ignored``
    and no death by SIGINT after the files are in place)."""
    import signal

    restore = _RUNNING.pop()
    if restore and (_RUNNING or not ends_the_process(caller)):
        signal.signal(signal.SIGINT, restore[0] if restore[0] is not None else signal.default_int_handler)


def exit_on_input_error(main: Callable[..., T]) -> Callable[..., T]:
    """Turn bad input (InputError), an OS refusal (OSError: permissions, a file where a folder belongs) into
    ``error: ...`` on stderr and exit status 2, and Ctrl-C into one line and exit status 130: no traceback.
    Ctrl-C after the command's unit of files has landed is ignored (:func:`interrupts_ignored_until_return`)."""

    @wraps(main)
    def wrapper(*args: object, **kwargs: object) -> T:
        _RUNNING.append([])
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
        finally:
            _returned(sys._getframe(1))

    return wrapper
