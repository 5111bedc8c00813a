"""Which model made a predictions file, as a report records it: the adapter saved beside it (read as UTF-8 in
any locale), and adapters named on the command line, each as a recipe would name it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest import ascii_locale

from recipekit.report.provenance import predicted_by


def test_the_adapter_beside_the_predictions_names_its_base_model_in_any_locale(tmp_path: Path) -> None:
    folder = tmp_path / "run"
    folder.mkdir()
    config = {"base_model_name_or_path": "models/qwen-\u5c0f", "peft_type": "LORA"}
    (folder / "adapter_config.json").write_text(json.dumps(config, ensure_ascii=False), encoding="utf-8")
    with ascii_locale():
        found = predicted_by(folder / "generated_predictions.jsonl")
    assert found == {"model_name_or_path": "models/qwen-\u5c0f", "adapter_name_or_path": str(folder),
                     "from": f"the adapter beside the predictions ({folder / 'adapter_config.json'})"}


def test_adapters_named_on_the_command_line_are_each_recorded_and_joined_by_commas(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir((tmp_path / "w").mkdir() or tmp_path / "w")
    found = predicted_by(tmp_path / "p.jsonl", adapter="a/b,..", recipes=tmp_path / "no-recipes")
    # each resolved on its own: a/b under the root (the working folder here) stays relative, ".." is its parent
    assert found == {"model_name_or_path": None, "adapter_name_or_path": f"a/b,{tmp_path}", "from": "--adapter"}
    assert predicted_by(tmp_path / "p.jsonl", recipes=tmp_path / "no-recipes") is None
