"""Where the repository's files are: the one rule for the root that holds ``recipes/``, ``data/`` and ``outputs/``.

Commands find the repository from the working directory, as LLaMA-Factory finds ``dataset_dir``; ``llm-recipes
--root DIR`` (or ``LLM_RECIPES_ROOT``) points them at another clone. Files the library itself ships (model
configs, raw fixtures) sit inside the package and are found from it.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

ROOT_VARIABLE = "LLM_RECIPES_ROOT"
PACKAGE = Path(__file__).resolve().parent


def root() -> Path:
    """The repository root: ``$LLM_RECIPES_ROOT`` when set, else the working directory (absolute)."""
    return Path(os.environ.get(ROOT_VARIABLE) or Path.cwd()).resolve()


def shown(path: Path) -> Path:
    """``path`` relative to the root when it lies under it (for messages and commands), else as given."""
    path = Path(path)
    base = root()
    absolute = (path if path.is_absolute() else base / path).resolve()
    return absolute.relative_to(base) if absolute.is_relative_to(base) else path


def module_command(name: str) -> list[str]:
    """The argv that runs command module ``name`` (``gen_report``, ``agnews``) in a new interpreter, whatever the
    working directory: ``python -m recipekit.commands.gen_report`` (converters under ``recipekit.converters``)."""
    from recipekit.commands import converter_modules

    package = "recipekit.converters" if name in converter_modules() else "recipekit.commands"
    return [sys.executable, "-m", f"{package}.{name}"]
