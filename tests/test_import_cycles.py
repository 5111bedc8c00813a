"""The package's modules import one another only downward: no import circle, counting imports inside functions."""

from __future__ import annotations

import ast
import graphlib
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "recipekit"


def module_names(package: Path) -> dict[str, Path]:
    """Every module of ``package`` by dotted name (a package by its own name, for its ``__init__.py``)."""
    found = {}
    for path in package.rglob("*.py"):
        parts = path.relative_to(package.parent).with_suffix("").parts
        found[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return found


def import_graph(package: Path) -> dict[str, set[str]]:
    """Each module of ``package`` and the modules of it that it imports anywhere (top level or in a function)."""
    modules = module_names(package)
    graph: dict[str, set[str]] = {}
    for name, path in modules.items():
        is_package = path.name == "__init__.py"
        targets = set()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                targets |= {alias.name for alias in node.names}
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:  # relative: from the module's own package upward
                    anchor = name.split(".")[: len(name.split(".")) - node.level + is_package]
                    base = ".".join([*anchor, *([base] if base else [])])
                # `from pkg import sub` imports the module pkg.sub; `from pkg import name` imports pkg
                targets |= {f"{base}.{alias.name}" if f"{base}.{alias.name}" in modules else base
                            for alias in node.names}
        graph[name] = {target for target in targets if target in modules and target != name}
    return graph


def import_circle(package: Path) -> list[str] | None:
    """One import circle among ``package``'s modules, each importing the next, from the first by name and back to
    it; None when there is none."""
    try:
        tuple(graphlib.TopologicalSorter(import_graph(package)).static_order())
    except graphlib.CycleError as exc:
        circle = list(reversed(exc.args[1][1:]))  # graphlib lists each module before the ones that import it
        start = circle.index(min(circle))
        return [*circle[start:], *circle[:start], circle[start]]
    return None


def test_no_import_circle_in_the_package() -> None:
    assert import_circle(PACKAGE) is None


def test_a_planted_circle_is_found(tmp_path: Path) -> None:
    package = tmp_path / "pkg"
    (package / "sub").mkdir(parents=True)
    (package / "__init__.py").write_text("")
    (package / "sub" / "__init__.py").write_text("")
    (package / "low.py").write_text("import os\n")
    (package / "sub" / "top.py").write_text("from pkg import low\n")
    (package / "sub" / "middle.py").write_text("from . import top\n\n\ndef f():\n    from ..sub.top import x\n")
    assert import_circle(package) is None  # all downward
    (package / "low.py").write_text("def f():\n    from pkg.sub import middle\n")
    (package / "sub" / "top.py").write_text("from pkg.low import f\n")
    assert import_circle(package) == ["pkg.low", "pkg.sub.middle", "pkg.sub.top", "pkg.low"]


@pytest.mark.parametrize(("line", "target"), [("import pkg.low", "pkg.low"), ("from pkg import low", "pkg.low"),
                                              ("from . import low", "pkg.low"), ("from .low import f", "pkg.low"),
                                              ("from pkg import f", "pkg")])
def test_each_import_form_is_an_edge(tmp_path: Path, line: str, target: str) -> None:
    package = tmp_path / "pkg"
    package.mkdir()
    (package / "__init__.py").write_text("f = 1\n")
    (package / "low.py").write_text("")
    (package / "user.py").write_text(f"def g():\n    {line}\n")
    assert import_graph(package)["pkg.user"] == {target}
