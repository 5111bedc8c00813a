"""A reproduction on the step runner, with bare steps that end at once: its logs and state under its folder (read
under the repository root), the state saved after each step, the one line of a failure, and the lock that keeps a
second run out of the same folder. Expected texts are written by hand."""

from __future__ import annotations

import json
import logging
import os
import shlex
import sys
import tempfile
from pathlib import Path

import pytest
from filelock import FileLock

from recipekit.errors import InputError
from recipekit.paths import lock_path
from recipekit.reproduce.chain import Chain, Layout
from recipekit.reproduce.runner import ChainRunner, held, load_state, named_inputs, run_chain
from recipekit.steps import Step


@pytest.fixture
def layout(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Layout:
    """A reproduction into ``out``, a path relative to the repository root (``tmp_path``, not the working
    directory); its locks under ``tmp_path`` too (this machine's temporary folder is where they lie)."""
    monkeypatch.setenv("LLM_RECIPES_ROOT", str(tmp_path))
    (tmp_path / "tmp").mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path / "tmp"))
    assert Path.cwd().resolve() != tmp_path.resolve()
    return Layout(Chain("demo", tmp_path / "demo.yaml", "r.md", "Demo", [], []), Path("out"), tiny=False)


def test_a_steps_inputs_as_the_dry_run_names_them() -> None:
    step = Step("train", ["x"], inputs=[Path("data/train.jsonl"), Path("/abs/model")])
    assert named_inputs(step) == ["data/train.jsonl", "/abs/model"]
    assert named_inputs(Step("s", ["x"])) == []


def test_a_reproductions_logs_lie_in_its_folder_under_the_root(tmp_path: Path, layout: Layout) -> None:
    runner = ChainRunner(layout)
    assert runner.logs == tmp_path.resolve() / "out" / "logs" and runner.layout is layout
    notes: list[str] = []
    assert runner.ready(Step("s", ["x"]), notes=notes) is True and notes == []  # not tiny: nothing prepared


def test_each_step_is_saved_in_the_state_as_it_ends(tmp_path: Path, layout: Layout,
                                                    capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path.resolve() / "out"
    steps = [Step("one", [sys.executable, "-c", "import time; time.sleep(0.15); print('one ran')"]),
             Step("two", [sys.executable, "-c", "pass"], env={"K": "v"})]
    outcomes = run_chain(layout, steps, None)
    assert [o.status for o in outcomes] == ["ran", "ran"]
    assert (out / "logs" / "one.log").read_text(encoding="utf-8") == "one ran\n"
    state = json.loads((out / "reproduce.json").read_text(encoding="utf-8"))
    assert state == {"chain": "demo", "tiny": False, "group": "reproduce-demo", "out": "out", "steps": {
        "one": {"status": "ran", "seconds": outcomes[0].seconds, "log": str(out / "logs" / "one.log"),
                "command": f"{shlex.quote(sys.executable)} -c {shlex.quote(steps[0].command[2])}"},
        "two": {"status": "ran", "seconds": outcomes[1].seconds, "log": str(out / "logs" / "two.log"),
                "command": f"K=v {shlex.quote(sys.executable)} -c pass"}}}
    assert load_state(out) == state
    assert [o.status for o in run_chain(layout, steps, "two")] == ["skipped", "ran"]
    assert outcomes[0].seconds >= 0.1
    assert load_state(out)["steps"]["one"] == {**state["steps"]["one"], "status": "skipped"}  # its seconds kept
    capsys.readouterr()


def test_a_failed_step_is_one_line_that_says_how_to_resume_and_the_steps_before_it_are_saved(
        tmp_path: Path, layout: Layout) -> None:
    out = tmp_path.resolve() / "out"
    steps = [Step("convert", [sys.executable, "-c", "pass"]),
             Step("train", [sys.executable, "-c", "import sys; sys.exit('error: no GPU')"]),
             Step("eval", [sys.executable, "-c", "pass"])]
    with pytest.raises(InputError) as caught:
        run_chain(layout, steps, None)
    assert str(caught.value) == (f"step train failed (exit 1): no GPU; its log: {out / 'logs' / 'train.log'}; fix "
                                 "it and run the same command again to resume from this step")
    assert caught.value.path is None and caught.value.__suppress_context__
    assert list(load_state(out)["steps"]) == ["convert"]
    assert not (out / "logs" / "eval.log").exists()


def test_a_folder_without_a_state_has_none(tmp_path: Path) -> None:
    assert load_state(tmp_path) == {}
    assert load_state(tmp_path / "missing") == {}


def test_a_second_run_into_the_same_folder_is_refused_at_once_with_who_holds_it(
        tmp_path: Path, layout: Layout, caplog: pytest.LogCaptureFixture) -> None:
    folder = tmp_path.resolve() / "out"
    lock = lock_path(folder, "reproduction")
    assert lock.parent == tmp_path / "tmp" / "llm-recipes-locks"
    holder = lock.with_suffix(".who")
    with held(layout):
        assert holder.read_text(encoding="utf-8") == f"pid {os.getpid()}, reproduce demo"
        caplog.clear()
        with caplog.at_level(logging.DEBUG, logger="filelock"), pytest.raises(InputError) as caught, held(layout):
            pass
        # at once: filelock's own account of the refused try is one attempt, never a wait and another attempt
        tries = [r.getMessage() for r in caplog.records if r.getMessage().startswith("Attempting to acquire lock")]
        waits = [r.getMessage() for r in caplog.records if "waiting" in r.getMessage()]
        assert len(tries) == 1 and waits == [], caplog.records
        assert str(caught.value) == (f"{folder}: another run holds this reproduction's folder (pid {os.getpid()}, "
                                     "reproduce demo): wait for it to end, or give another --out")
        assert caught.value.__suppress_context__
        assert holder.is_file()  # the refused run changed nothing
    assert not holder.exists() and not folder.exists()  # the lock lies outside the folder
    with pytest.raises(ValueError, match=r"^inside$"), held(layout):
        raise ValueError("inside")
    assert not holder.exists()
    with held(layout):  # released even after a failure
        pass


def test_a_holder_that_did_not_say_who_it_is_is_another_process(tmp_path: Path, layout: Layout) -> None:
    lock = FileLock(lock_path(tmp_path.resolve() / "out", "reproduction"))
    lock.acquire(timeout=0)
    try:
        with pytest.raises(InputError, match=r"\(another process\): wait for it to end"), held(layout):
            pass
    finally:
        lock.release()
