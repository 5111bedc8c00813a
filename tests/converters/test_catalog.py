"""converters/catalog.py: one declaration per dataset, and everything that reads it agrees with it."""

from __future__ import annotations

import json
from pathlib import Path

from conftest import ROOT, run_cli

from recipekit.converters.catalog import DATASETS, converter_commands, make_fixture_dataset, spec_for


def test_every_dataset_names_a_real_converter_and_its_command_runs_it() -> None:
    readme = (ROOT / "converters" / "README.md").read_text(encoding="utf-8")
    for name, spec in DATASETS.items():
        assert (ROOT / "converters" / f"{spec.converter}.py").is_file(), name
        assert spec.command.startswith(f"python converters/{spec.converter}.py "), spec.command
        assert f"`{spec.converter}.py`" in readme and f"`{name}" in readme, name
    assert spec_for("arena_val_swapped") is DATASETS["arena"] and spec_for("unknown") is None
    assert converter_commands()["yelp5"] == DATASETS["yelp5"].command


def test_every_fixture_converts_into_the_dataset_it_declares(tmp_path: Path) -> None:
    for name in DATASETS:
        make_fixture_dataset(name, tmp_path / "raw", tmp_path / "data")
    registry = json.loads((tmp_path / "data" / "dataset_info.json").read_text(encoding="utf-8"))
    for name in DATASETS:
        assert name in registry, name
        rows = (tmp_path / "data" / registry[name]["file_name"]).read_text(encoding="utf-8").splitlines()
        assert len(rows) >= 4, name


def test_a_missing_dataset_names_the_catalog_command(tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir()
    (data / "dataset_info.json").write_text("{}\n", encoding="utf-8")
    result = run_cli("check", "recipes", "recipes/yelp5_lora.yaml", "--data-dir", data)
    assert result.returncode == 1
    assert f"dataset 'yelp5' is not in {data / 'dataset_info.json'}: run `{DATASETS['yelp5'].command}`" in result.stdout
