"""A library's exception in one line: its type and the first line of its message, or its type alone."""

from __future__ import annotations

import io
import signal
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest

from recipekit import errors
from recipekit.errors import (
    INTERRUPTED_LINE,
    InputError,
    ends_the_process,
    exception_line,
    exit_on_input_error,
    interrupts_ignored_until_return,
    os_error_line,
    quiet_interrupts,
)


@pytest.mark.parametrize(("exc", "line"), [
    (KeyError("arc_eazy"), "KeyError: 'arc_eazy'"),
    (ValueError("  first line\nsecond line\n"), "ValueError: first line"),
    (ConnectionError(), "ConnectionError"),
    (RuntimeError("   \n  "), "RuntimeError"),
])
def test_an_exception_is_its_type_and_its_messages_first_line(exc: BaseException, line: str) -> None:
    assert exception_line(exc) == line


@pytest.mark.parametrize(("exc", "line"), [
    (PermissionError(13, "Permission denied", "data/ag_news.jsonl"), "data/ag_news.jsonl: Permission denied"),
    (OSError(18, "Invalid cross-device link", "a.tmp", None, "data/a.jsonl"),
     "a.tmp -> data/a.jsonl: Invalid cross-device link"),
    (OSError(28, "No space left on device"), "No space left on device"),
    (IsADirectoryError(21, "Is a directory", "", None), ": Is a directory"),
    (FileNotFoundError(), "FileNotFoundError"),
])
def test_an_os_error_is_the_paths_it_names_and_what_went_wrong(exc: OSError, line: str) -> None:
    assert os_error_line(exc) == line


@pytest.mark.parametrize(("path", "line", "shown"), [
    ("data/x.jsonl", 3, "data/x.jsonl:3: no 'output'"), ("data/x.jsonl", None, "data/x.jsonl: no 'output'"),
    (None, None, "no 'output'"), ("data/x.jsonl", 0, "data/x.jsonl:0: no 'output'")])
def test_an_input_error_names_its_file_and_line_before_the_message(path: str | None, line: int | None,
                                                                    shown: str) -> None:
    exc = InputError("no 'output'", path, line)
    assert (str(exc), exc.message, exc.path, exc.line) == (shown, "no 'output'", path, line)


def test_a_command_ends_bad_input_os_refusals_and_ctrl_c_in_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    def failing(exc: BaseException) -> int:
        raise exc

    command = exit_on_input_error(failing)
    for exc, code, line in [
        (InputError("missing field 'label'", "raw.csv", 2), 2, "error: raw.csv:2: missing field 'label'"),
        (PermissionError(13, "Permission denied", "out"), 2, "error: out: Permission denied"),
        (KeyboardInterrupt(), 130, INTERRUPTED_LINE),
        (KeyboardInterrupt("stopped in step 2 (train): its folder is kept"), 130,
         "stopped in step 2 (train): its folder is kept")]:
        with pytest.raises(SystemExit) as ended:
            command(exc)
        assert (ended.value.code, capsys.readouterr().err) == (code, line + "\n")
        assert ended.value.__suppress_context__  # no "during handling..." chain either
    with pytest.raises(ValueError, match="a bug"):  # anything else is a bug, shown as Python shows it
        command(ValueError("a bug"))
    assert exit_on_input_error(lambda: 7)() == 7 and command.__name__ == "failing"


def test_ctrl_c_at_import_is_one_line_and_the_hook_is_installed_once(
        monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    class Recorder:  # a hook with no __name__ (a callable object) is wrapped too
        def __init__(self) -> None:
            self.seen: list[tuple[type[BaseException], BaseException, object]] = []

        def __call__(self, kind: type[BaseException], value: BaseException, trace: object) -> None:
            self.seen.append((kind, value, trace))

    before = Recorder()
    monkeypatch.setattr(sys, "excepthook", before)
    quiet_interrupts()
    hook = sys.excepthook
    assert hook is not before
    quiet_interrupts()  # a second command imported in the same process does not wrap it again
    assert sys.excepthook is hook

    class Stop(KeyboardInterrupt):
        pass

    for kind in (KeyboardInterrupt, Stop):
        hook(kind, kind(), None)
        assert capsys.readouterr().err == INTERRUPTED_LINE + "\n"
    bug, trace = ValueError("a bug"), object()
    hook(ValueError, bug, trace)  # anything else goes to the hook that was there, as it came
    assert before.seen == [(ValueError, bug, trace)] and capsys.readouterr().err == ""


def test_ctrl_c_ignored_once_the_files_landed_is_back_when_the_command_returns(
        monkeypatch: pytest.MonkeyPatch) -> None:
    def mine(signum: int, frame: object) -> None:
        """a handler the caller had"""

    def landed(previous: object, also: object = None) -> bool:
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        first = interrupts_ignored_until_return(previous)
        second = interrupts_ignored_until_return(also)  # the first handler named is the one put back
        assert signal.getsignal(signal.SIGINT) is signal.SIG_IGN
        return first and second

    original = signal.getsignal(signal.SIGINT)
    try:
        assert not interrupts_ignored_until_return(mine)  # outside a command
        assert exit_on_input_error(landed)(mine, signal.SIG_DFL) is True
        assert signal.getsignal(signal.SIGINT) is mine
        exit_on_input_error(landed)(None)
        assert signal.getsignal(signal.SIGINT) is signal.default_int_handler
        # a command that set nothing leaves the handler alone
        signal.signal(signal.SIGINT, mine)
        exit_on_input_error(lambda: None)()
        assert signal.getsignal(signal.SIGINT) is mine
        # an inner command returning while its caller still runs puts it back though its process would end
        monkeypatch.setattr(errors, "ends_the_process", lambda frame: True)
        exit_on_input_error(lambda: exit_on_input_error(landed)(mine))()
        assert signal.getsignal(signal.SIGINT) is mine
        # the process's own command leaves it ignored: the interpreter's exit cannot be cut short
        exit_on_input_error(landed)(mine)
        assert signal.getsignal(signal.SIGINT) is signal.SIG_IGN
    finally:
        signal.signal(signal.SIGINT, original)


def test_a_writing_commands_wrote_lines_are_said_with_ctrl_c_ignored_and_its_handler_back_after(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from recipekit.files import announce, atomic_write_bytes, writing_command

    seen: list[tuple[str, object, bool]] = []

    class Watched(io.StringIO):
        def write(self, text: str) -> int:
            seen.append((text, signal.getsignal(signal.SIGINT), (tmp_path / "a.txt").exists()))
            return super().write(text)

    @writing_command
    def main() -> None:
        atomic_write_bytes(tmp_path / "a.txt", b"x")
        announce("wrote a.txt")

    original = signal.getsignal(signal.SIGINT)
    monkeypatch.setattr(sys, "stdout", Watched())
    main()
    # said once the file is in place, while a Ctrl-C could no longer end the run as if nothing had been written
    assert seen[0] == ("wrote a.txt", signal.SIG_IGN, True)
    assert signal.getsignal(signal.SIGINT) is original


def frames(*names: str) -> SimpleNamespace | None:
    """A chain of stand-in frames, innermost first, each with only the module name the walk reads."""
    frame = None
    for name in reversed(names):
        frame = SimpleNamespace(f_globals={"__name__": name}, f_back=frame)
    return frame


def test_a_command_ends_the_process_only_when_every_caller_is_the_interpreters_start_or_this_package() -> None:
    assert ends_the_process(frames("recipekit.commands.plan", "recipekit.commands", "runpy", "__main__"))
    assert ends_the_process(frames("recipekit", "__main__")) and ends_the_process(None)
    assert not ends_the_process(frames("recipekit.commands.plan", "test_plan", "__main__"))
    assert not ends_the_process(frames("recipekit_extra.tool", "__main__"))
    assert not ends_the_process(frames("recipekit.errors", "runpy", "ipykernel.kernelapp"))
    no_name = SimpleNamespace(f_globals={}, f_back=None)
    assert not ends_the_process(SimpleNamespace(f_globals={"__name__": "recipekit.errors"}, f_back=no_name))
