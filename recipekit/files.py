"""Atomic writes (one file, or several as one unit), line-numbered JSONL reading with encodings detected, and a
paused garbage collector for loops that build many rows."""

from __future__ import annotations

import contextlib
import functools
import gc
import hashlib
import json
import os
import signal
import sys
import tempfile
import threading
from collections.abc import Callable, Hashable, Iterable, Iterator
from pathlib import Path
from typing import Any

from recipekit.errors import InputError, exit_on_input_error, interrupts_ignored_until_return


def usual_mode(target: Path) -> int:
    """The permission bits a new file gets from ``open()`` under the current umask, or an existing file's own."""
    try:
        return target.stat().st_mode & 0o7777
    except FileNotFoundError:
        mask = os.umask(0)
        os.umask(mask)
        return 0o666 & ~mask


def ensure_folder(path: str | os.PathLike[str], flag: str | None = None, create: bool = True) -> Path:
    """``path`` as a folder, created when missing (unless ``create`` is False); a file in its place is an error
    naming ``flag``."""
    folder = Path(path)
    if folder.exists() and not folder.is_dir():
        raise InputError(f"{'given to ' + flag + ' ' if flag else ''}is a file, not a folder", str(folder))
    if create:
        folder.mkdir(parents=True, exist_ok=True)
    return folder


_HELD: dict[Path, bytes | None] | None = None  # files held back by writes_held() (None: delete it)
_ANNOUNCED: list[tuple[str, bool]] = []  # what the held unit wrote (line, to stderr), said once it has landed


@contextlib.contextmanager
def writes_held(last: bool = False) -> Iterator[None]:
    """The one way to write several files as one unit: every file written (or removed) through this module inside
    the block is held back and written, as one unit, when the block ends; an error or Ctrl-C before that leaves
    every file as it was. Once the unit has landed, the lines :func:`announce` held are printed. With ``last``
    (the unit is its command's last work), Ctrl-C is then ignored until the command returns
    (:func:`recipekit.errors.exit_on_input_error`): what is left is saying what was written, and a Ctrl-C there
    must not end the run as if nothing had been."""
    global _HELD
    if _HELD is not None:  # already inside one unit
        yield
        return
    _HELD = {}
    try:
        yield
        held, _HELD = _HELD, None
        _write_together({p: data for p, data in held.items() if data is not None},
                        [p for p, data in held.items() if data is None], landing=last)
        said = list(_ANNOUNCED)
    finally:
        _HELD = None
        _ANNOUNCED.clear()
    for line, err in said:
        print(line, file=sys.stderr if err else sys.stdout)


def announce(line: str, err: bool = False) -> None:
    """Say what a command wrote (``wrote ...``; with ``err``, a line about those files on stderr): printed now,
    or, inside :func:`writes_held`, once the unit is in place (a unit that fails to land says nothing of it)."""
    if _HELD is None:
        print(line, file=sys.stderr if err else sys.stdout)
    else:
        _ANNOUNCED.append((line, err))


@functools.cache
def unique_key_loader() -> type:
    """``yaml.SafeLoader`` that refuses a key given twice in one mapping, naming both lines."""
    import yaml

    class UniqueKeys(yaml.SafeLoader):
        where = ""

        def construct_mapping(self, node: Any, deep: bool = False) -> Any:
            first: dict[Any, int] = {}
            for key_node, _ in node.value:
                if key_node.tag == "tag:yaml.org,2002:merge":  # `<<: *base` may override what it merges
                    continue
                key, line = self.construct_object(key_node, deep=True), key_node.start_mark.line + 1
                if not isinstance(key, Hashable):
                    continue
                if key in first:
                    raise InputError(f"key {key!r} is given twice (lines {first[key]} and {line}); YAML would keep "
                                     "the last one silently", self.where, line)
                first[key] = line
            return super().construct_mapping(node, deep=deep)

    return UniqueKeys


def load_yaml(text: str, where: str) -> Any:
    """YAML read as ``yaml.safe_load`` reads it, except that a key given twice in one mapping is refused (YAML
    would keep the last silently); every problem is one InputError naming ``where`` and the line."""
    import yaml

    loader = unique_key_loader()(text)
    loader.where = where
    try:
        return loader.get_single_data()
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        raise InputError(f"not valid YAML ({getattr(exc, 'problem', None) or exc})", where,
                         None if mark is None else mark.line + 1) from None
    finally:
        loader.dispose()


def read_utf8(path: str | os.PathLike[str]) -> str:
    """A UTF-8 text file's text; bytes that are not UTF-8 are one InputError naming the file, the line and the
    byte offset."""
    data = Path(path).read_bytes()
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InputError(f"not valid UTF-8 at byte {exc.start} ({data[exc.start:exc.end]!r}: {exc.reason}); save it "
                         "as UTF-8", str(path), data.count(b"\n", 0, exc.start) + 1) from None


def read_yaml_mapping(path: str | os.PathLike[str], what: str) -> dict[str, Any]:
    """A YAML file that must be a mapping (``what`` names the kind of file, for the errors); every problem is one
    InputError naming the file."""
    source = Path(path)
    if not source.is_file():
        raise InputError(f"no such {what}", str(source))
    data = load_yaml(read_utf8(source), str(source))
    if not isinstance(data, dict):
        raise InputError(f"a {what} is a YAML mapping", str(source))
    return data


def writing_command(main: Callable[..., Any]) -> Callable[..., Any]:
    """A command's ``main`` whose files are written as one unit (:func:`writes_held`) and whose bad input is one
    line and exit 2, with nothing written (:func:`recipekit.errors.exit_on_input_error`)."""
    return exit_on_input_error(writes_held(last=True)(main))


def remove_file(path: str | os.PathLike[str]) -> None:
    """Delete ``path`` (if it is there); inside :func:`writes_held`, when the unit is written."""
    target = Path(path)
    if _HELD is not None:
        _HELD[target] = None
    else:
        _write_together({}, [target])


def held_bytes(path: str | os.PathLike[str]) -> bytes | None:
    """The bytes of a file written inside :func:`writes_held` and not yet on disk, else None."""
    return None if _HELD is None else _HELD.get(Path(path))


def atomic_write_bytes(path: str | os.PathLike[str], data: bytes) -> None:
    """Write ``data`` to a temp file beside ``path`` and rename it over ``path`` (usual permissions kept); inside
    :func:`writes_held`, hold it back until the block ends."""
    target = Path(path)
    if target.is_dir():
        raise InputError("is a folder, not a file", str(target))
    if _HELD is not None:
        for folder in (target.parent, *target.parent.parents):
            if folder.exists():
                ensure_folder(folder, create=False)  # a file where a folder belongs: refused now
                break
        _HELD[target] = data
        return
    ensure_folder(target.parent)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        os.chmod(tmp, usual_mode(target))  # mkstemp makes 0600
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


@contextlib.contextmanager
def folder_written(target: str | os.PathLike[str]) -> Iterator[Path]:
    """A new folder for ``target``'s contents, made beside it: when the block ends it replaces ``target`` (the old
    folder set aside, then deleted); an error or Ctrl-C inside the block leaves ``target`` as it was."""
    import shutil

    final = Path(target)
    if final.exists() and not final.is_dir():
        raise InputError("is a file, not a folder", str(final))
    ensure_folder(final.parent)
    staging = Path(tempfile.mkdtemp(prefix=f".{final.name}.", suffix=".partial", dir=final.parent))
    mask = os.umask(0)
    os.umask(mask)
    os.chmod(staging, 0o777 & ~mask)  # mkdtemp makes 0700
    try:
        yield staging
        with sigint_deferred():  # the old folder's removal too: a Ctrl-C there would leave it hidden beside the new
            aside = final.with_name(f".{final.name}.old-{os.getpid()}") if final.exists() else None
            if aside is not None:
                os.replace(final, aside)
            os.replace(staging, final)
            if aside is not None:
                shutil.rmtree(aside, ignore_errors=True)
    finally:
        shutil.rmtree(staging, ignore_errors=True)


@contextlib.contextmanager
def sigint_deferred(landing: bool = False) -> Iterator[None]:
    """Ignore Ctrl-C (SIGINT) for a block that takes milliseconds and must not stop half-way: the work it
    finishes is whole, so a Ctrl-C that lands there lets the run end normally. With ``landing`` (the last unit
    of files of a command) and the block done, Ctrl-C stays ignored until the command returns
    (:func:`recipekit.errors.interrupts_ignored_until_return`)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    restore = True
    try:
        yield
        restore = not (landing and interrupts_ignored_until_return(previous))
    finally:
        if restore:
            signal.signal(signal.SIGINT, previous if previous is not None else signal.default_int_handler)


def _temp_beside(target: Path, data: bytes) -> Path:
    ensure_folder(target.parent)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        os.chmod(tmp, usual_mode(target))
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return Path(tmp)


def _keep_aside(target: Path) -> Path | None:
    """A hard link (else a copy) of ``target`` beside it, to put back if the transaction fails."""
    if not target.exists():
        return None
    backup = target.with_name(f".{target.name}.{os.getpid()}.bak")
    backup.unlink(missing_ok=True)
    try:
        os.link(target, backup)
    except OSError:
        import shutil

        shutil.copy2(target, backup)
    return backup


def _write_together(writes: dict[Path, bytes], deletes: Iterable[Path] = (), landing: bool = False) -> None:
    """Write several files and delete others as one unit, in the order given (an index last): the commit of
    :func:`writes_held` (``landing``: see :func:`sigint_deferred`).

    Every new file is written beside its target first (a failure there changes nothing); then, with Ctrl-C
    held off, each is renamed over its target and each delete done, keeping the old files aside; any error
    puts every old file back, byte for byte, and removes the new ones.
    """
    for path in [*writes, *deletes]:
        if Path(path).is_dir():
            raise InputError("is a folder, not a file", str(path))
    staged: list[tuple[Path, Path]] = []
    try:
        for path, data in writes.items():
            staged.append((Path(path), _temp_beside(Path(path), data)))
        done: list[tuple[Path, Path | None]] = []
        with sigint_deferred(landing):
            try:
                for target, tmp in staged:
                    done.append((target, _keep_aside(target)))
                    os.replace(tmp, target)
                for target in map(Path, deletes):
                    backup = _keep_aside(target)
                    if backup is not None:
                        done.append((target, backup))
                        target.unlink()
            except BaseException:
                for target, backup in reversed(done):
                    if backup is not None:
                        os.replace(backup, target)  # a no-op when both still name the same file (not yet replaced)
                        backup.unlink(missing_ok=True)
                    else:
                        target.unlink(missing_ok=True)
                raise
            for _, backup in done:
                if backup is not None:
                    backup.unlink(missing_ok=True)
    finally:
        for _, tmp in staged:
            tmp.unlink(missing_ok=True)


def atomic_write_text(path: str | os.PathLike[str], text: str) -> None:
    """Atomically write UTF-8 text."""
    atomic_write_bytes(path, text.encode("utf-8"))


def dumps_json(obj: Any) -> str:
    """The one JSON style for files we write: indented, UTF-8, trailing newline."""
    return json.dumps(obj, ensure_ascii=False, indent=2) + "\n"


def write_json(path: str | os.PathLike[str], obj: Any) -> None:
    """Atomically write ``obj`` as indented JSON."""
    atomic_write_text(path, dumps_json(obj))


_COMPACT = json.JSONEncoder(ensure_ascii=False)  # one encoder: json.dumps(**kwargs) builds a new one per call


def jsonl_lines(rows: Iterable[dict[str, Any]]) -> Iterator[str]:
    """Each row as ``json.dumps(row, ensure_ascii=False) + "\\n"``, byte for byte.

    A value that is the very same object as in the previous row (a shared instruction, say) reuses its
    encoding instead of escaping it again.
    """
    encode = _COMPACT.encode
    previous: dict[str, tuple[Any, str]] = {}
    keys: dict[str, str] = {}
    for row in rows:
        if not all(type(key) is str for key in row):
            yield encode(row) + "\n"
            continue
        parts = []
        for key, value in row.items():
            seen = previous.get(key)
            if seen is not None and seen[0] is value:
                text = seen[1]
            else:
                text = encode(value)
                previous[key] = (value, text)
            name = keys.get(key)
            if name is None:
                name = keys[key] = encode(key)
            parts.append(f"{name}: {text}")
        yield "{" + ", ".join(parts) + "}\n"


def write_jsonl(path: str | os.PathLike[str], rows: Iterable[dict[str, Any]]) -> int:
    """Atomically write one compact JSON object per line (as json.dumps(ensure_ascii=False)); returns the count."""
    lines = list(jsonl_lines(rows))
    atomic_write_text(path, "".join(lines))
    return len(lines)


BOMS = ((b"\x00\x00\xfe\xff", "utf-32"), (b"\xff\xfe\x00\x00", "utf-32"), (b"\xef\xbb\xbf", "utf-8-sig"),
        (b"\xff\xfe", "utf-16"), (b"\xfe\xff", "utf-16"))


def text_encoding(path: str | os.PathLike[str]) -> str:
    """The encoding to read a text file with: its byte-order mark's (UTF-8, UTF-16, UTF-32), else UTF-8.

    NUL bytes without a byte-order mark (UTF-16/32 saved without one) are refused, naming the encoding.
    """
    with open(path, "rb") as handle:
        head = handle.read(4096)
    for bom, encoding in BOMS:
        if head.startswith(bom):
            return encoding
    if b"\x00" in head:
        guess = "UTF-32" if b"\x00\x00\x00" in head else "UTF-16"
        raise InputError(f"looks like {guess} without a byte-order mark (NUL bytes); save it as UTF-8", str(path))
    return "utf-8"


def read_jsonl(path: str | os.PathLike[str]) -> Iterator[tuple[int, dict[str, Any]]]:
    """Yield ``(line_number, object)`` for each non-blank line; bad lines raise InputError.

    A byte-order mark (UTF-8/16/32) is honoured; bytes that are not valid in the encoding are an error.
    """
    source = Path(path)
    if not source.is_file():
        raise InputError("no such file" if not source.exists() else "is a folder, not a file", str(source))
    encoding = text_encoding(source)
    with source.open(encoding=encoding) as handle:
        lines = iter(handle)
        number = 0
        while True:
            try:
                line = next(lines)
            except StopIteration:
                return
            except UnicodeDecodeError as exc:
                raise InputError(f"not valid {encoding.upper().removesuffix('-SIG')} after line {number} "
                                 f"({exc.reason})", str(source)) from None
            number += 1
            if not line.strip():
                continue
            try:
                obj = json.loads(line)
            except json.JSONDecodeError as exc:
                raise InputError(f"not valid JSON ({exc.msg})", str(source), number) from None
            if not isinstance(obj, dict):
                raise InputError("expected a JSON object", str(source), number)
            yield number, obj


def sha256_file(path: str | os.PathLike[str]) -> str:
    """Hex sha256 of a file's bytes."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


@contextlib.contextmanager
def paused_gc() -> Iterator[None]:
    """Pause the cyclic GC while a loop builds many small containers that all stay alive (it would
    otherwise rescan them again and again); reference counting still frees everything else."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()
