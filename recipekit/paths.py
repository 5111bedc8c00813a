"""Where the repository's files are: the one rule for the root that holds ``recipes/``, ``data/`` and ``outputs/``.

Commands find the repository from the working directory, as LLaMA-Factory finds ``dataset_dir``; ``llm-recipes
--root DIR`` (or ``LLM_RECIPES_ROOT``) points them at another clone. The repository's own paths (defaults such as
``outputs/...``, the ``recipes/`` folder, a recipe's relative paths) are read under the root (:func:`at_root`); a
path typed on the command line is read as typed, else under the root (:func:`given`). Files the library itself
ships (model configs, raw fixtures) sit inside the package and are found from it.
"""

from __future__ import annotations

import os
from pathlib import Path

ROOT_VARIABLE = "LLM_RECIPES_ROOT"
PACKAGE = Path(__file__).resolve().parent


def root() -> Path:
    """The repository root: ``$LLM_RECIPES_ROOT`` when set, else the working directory (absolute)."""
    return Path(os.environ.get(ROOT_VARIABLE) or Path.cwd()).resolve()


def at_root(path: str | Path) -> Path:
    """A path of the repository (``recipes/...``, ``data``, ``outputs/...``, a recipe's own relative paths): under
    the root unless absolute; left as it is when the root is the working directory (the same file, shorter)."""
    path = Path(path)
    if path.is_absolute() or root() == Path.cwd().resolve():
        return path
    return root() / path


def given(path: str | Path) -> Path:
    """A path typed on the command line: as typed when it exists from here, else under the root when it exists
    there, else as typed (so a message names what was typed)."""
    path = Path(path)
    if path.exists() or path.is_absolute() or not (root() / path).exists():
        return path
    return root() / path


def root_hint() -> str:
    """What to do when the root holds no repository: the root now, and ``--root``."""
    return f"the repository root is {root()}: run from the repository, or name it with `llm-recipes --root DIR`"


def shown(path: Path) -> Path:
    """``path`` relative to the root when it lies under it (for messages and commands), else as given."""
    path = Path(path)
    base = root()
    absolute = (path if path.is_absolute() else base / path).resolve()
    return absolute.relative_to(base) if absolute.is_relative_to(base) else path


def lock_path(folder: Path, kind: str) -> Path:
    """The lock of one ``kind`` of work on ``folder`` (a ``reproduction``): outside the folder, so that holding it
    or trying to adds nothing there; one per folder, the same for every process of this machine."""
    import hashlib
    import tempfile

    digest = hashlib.sha1(str(Path(folder).resolve()).encode()).hexdigest()[:16]
    return Path(tempfile.gettempdir()) / "llm-recipes-locks" / f"{kind}-{digest}.lock"
