"""The README stays short, and every relative link of the README and docs/ reaches a file (and its heading)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from conftest import ROOT

PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]


def broken_links(page: Path) -> list[str]:
    """The relative links of ``page`` whose file is missing, or whose ``#anchor`` names no heading of that file
    (GitHub's rule: lower case, punctuation but ``-`` and ``_`` dropped, spaces as ``-``)."""
    broken = []
    text = re.sub(r"```.*?```", "", page.read_text(encoding="utf-8"), flags=re.S)
    for target in re.findall(r"\]\(([^)\s]+)\)", text):
        if re.match(r"[a-z]+:", target):
            continue
        path, _, anchor = target.partition("#")
        file = (page.parent / path).resolve() if path else page
        if not file.exists():
            broken.append(target)
        elif anchor and file.suffix == ".md":
            headings = re.findall(r"^#+ (.+)$", file.read_text(encoding="utf-8"), flags=re.M)
            if anchor not in {re.sub(r"[^\w\- ]", "", h.strip().lower()).replace(" ", "-") for h in headings}:
                broken.append(target)
    return broken


def test_the_readme_is_at_most_250_lines() -> None:
    assert len((ROOT / "README.md").read_text(encoding="utf-8").splitlines()) <= 250


@pytest.mark.parametrize("page", PAGES, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_relative_link_reaches_its_file_and_heading(page: Path) -> None:
    assert broken_links(page) == []


def test_a_missing_file_or_heading_is_a_broken_link(tmp_path: Path) -> None:
    (tmp_path / "other.md").write_text("# Other page\n\n## Planning: memory, `plan --measure`\n", encoding="utf-8")
    page = tmp_path / "page.md"
    page.write_text("[a](other.md) [b](other.md#planning-memory-plan---measure) [c](https://example.org/x)\n"
                    "[d](missing.md) [e](other.md#no-such-heading) [f](#other-page)\n", encoding="utf-8")
    assert broken_links(page) == ["missing.md", "other.md#no-such-heading", "#other-page"]
