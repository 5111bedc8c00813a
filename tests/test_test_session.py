"""The test session itself: the plan cache every fixture sees, and the threads of processes side by side."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import NamedTuple

import conftest
import pytest
import torch


@pytest.fixture(scope="module")
def module_cache() -> str | None:
    return os.environ.get("LLM_RECIPES_CACHE")


def test_a_fixture_a_whole_module_shares_caches_in_the_sessions_folder(
        module_cache: str | None, tmp_path_factory: pytest.TempPathFactory) -> None:
    """The smoke and reproduction fixtures plan before any test of theirs runs: never into the user's cache."""
    assert module_cache is not None
    assert Path(module_cache).parent == tmp_path_factory.getbasetemp()
    assert os.environ["LLM_RECIPES_CACHE"] == module_cache


@pytest.mark.parametrize(("workers", "mutant", "cores", "threads"),
                         [("2", "", 2, "1"), ("2", "", 16, "8"), ("3", "", 2, "1"), (None, "x.y__mutmut_1", 8, "4"),
                          (None, "", 2, None), ("1", "", 2, None)])
def test_processes_side_by_side_get_their_share_of_the_cores(monkeypatch: pytest.MonkeyPatch, workers: str | None,
                                                             mutant: str, cores: int, threads: str | None) -> None:
    before = torch.get_num_threads()
    monkeypatch.setenv("OMP_NUM_THREADS", "")  # recorded, so the value the hook sets is undone after the test
    monkeypatch.delenv("OMP_NUM_THREADS")
    if workers is None:
        monkeypatch.delenv("PYTEST_XDIST_WORKER_COUNT", raising=False)
    else:
        monkeypatch.setenv("PYTEST_XDIST_WORKER_COUNT", workers)
    monkeypatch.setenv("MUTANT_UNDER_TEST", mutant)
    monkeypatch.setattr(os, "cpu_count", lambda: cores)
    try:
        conftest.pytest_configure(None)
        assert os.environ.get("OMP_NUM_THREADS") == threads
        show = "import os, torch; print(os.environ.get('OMP_NUM_THREADS'), torch.get_num_threads())"
        child = subprocess.run([sys.executable, "-c", show], capture_output=True, text=True, check=True)
        said, child_threads = child.stdout.split()
        assert said == str(threads)
        if threads is not None:
            assert torch.get_num_threads() == int(threads)
        if threads == "1":
            assert child_threads == "1"
    finally:
        torch.set_num_threads(before)


def test_a_thread_count_the_user_set_is_kept(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OMP_NUM_THREADS", "3")
    monkeypatch.setenv("PYTEST_XDIST_WORKER_COUNT", "2")
    conftest.pytest_configure(None)
    assert os.environ["OMP_NUM_THREADS"] == "3"


class Collected(NamedTuple):
    """What the ordering reads of a collected test: its file and its ``slow`` marks."""

    name: str
    path: Path
    marks: tuple[pytest.Mark, ...]

    def iter_markers(self, name: str) -> tuple[pytest.Mark, ...]:
        return tuple(mark for mark in self.marks if mark.name == name)


def test_files_that_say_they_take_minutes_come_first_longest_first_each_file_kept_together(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("MUTANT_UNDER_TEST", raising=False)  # mutmut's own order is the fastest test first
    slow, seven, eight = pytest.mark.slow.mark, pytest.mark.slow(minutes=7).mark, pytest.mark.slow(minutes=8).mark
    items = [Collected("a", Path("a.py"), ()), Collected("b", Path("b.py"), (slow,)),
             Collected("c1", Path("c.py"), (seven,)), Collected("c2", Path("c.py"), (slow,)),
             Collected("d", Path("d.py"), (pytest.mark.integration.mark, eight)), Collected("e", Path("e.py"), ()),
             Collected("c3", Path("c.py"), ())]
    conftest.pytest_collection_modifyitems(items)
    assert [item.name for item in items] == ["d", "c1", "c2", "c3", "a", "b", "e"]
