"""The plan cache's key follows the simulator's own code: an edit to any module the step comes from is a new key."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from recipekit.plan import simulate


def test_an_edit_to_the_steps_code_is_a_new_cache_key(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from transformers import GPT2Config

    package = Path(simulate.__file__).resolve().parents[1]
    for name in simulate.SIMULATOR_SOURCES:
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(package / name, tmp_path / name)
    monkeypatch.setattr(simulate, "__file__", str(tmp_path / "plan" / "simulate.py"))
    config, shape = GPT2Config(n_layer=2), simulate.Shape(1, 8)
    keys = []
    for name in ["", *simulate.SIMULATOR_SOURCES]:
        if name:
            with (tmp_path / name).open("a", encoding="utf-8") as source:
                source.write("\n# edited\n")
        simulate.simulator_version.cache_clear()
        keys.append(simulate.cache_key(config, shape))
    simulate.simulator_version.cache_clear()
    assert len(set(keys)) == len(keys)  # each edit a key of its own


def test_tests_cache_in_a_temporary_folder_not_the_users(tmp_path_factory: pytest.TempPathFactory) -> None:
    assert simulate.cache_dir().parent == tmp_path_factory.getbasetemp() / "llm-recipes-cache0"
