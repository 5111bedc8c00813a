"""The dataset catalog's answers: which conversion writes a set, its hub id, the hint that makes a missing set, the
check that every set a run needs is converted, and the flags a tiny run converts from (its fixture or a local
copy of the original files)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from recipekit.converters import catalog
from recipekit.converters.catalog import (
    DATASETS,
    fixture_flags,
    hub_id,
    make_hint,
    require_converted,
    spec_for,
    tiny_source_flags,
)
from recipekit.errors import InputError


@pytest.mark.parametrize(("name", "base"), [
    ("yelp5", "yelp5"), ("yelp5_test", "yelp5"), ("arena_val", "arena"), ("arena_test_swapped", "arena"),
    ("ultrafeedback_dpo_pref", "ultrafeedback_dpo"), ("agnews_train", None)])
def test_a_split_is_written_by_its_sets_conversion(name: str, base: str | None) -> None:
    assert spec_for(name) is (DATASETS[base] if base else None)


def test_the_hub_id_is_the_commands_hf_flag() -> None:
    assert hub_id("agnews_val") == "fancyzhx/ag_news"
    assert hub_id("ultrafeedback_dpo") == "HuggingFaceH4/ultrafeedback_binarized"
    assert hub_id("afqmc") is None and hub_id("arena") is None  # local sources
    assert hub_id("unknown") is None


def test_the_hint_names_the_conversion_and_a_data_folder_other_than_data() -> None:
    assert make_hint("agnews") == "make it with: python converters/agnews.py --hf fancyzhx/ag_news --val-size 1000"
    assert make_hint("afqmc_val", "data/") == "make it with: python converters/afqmc.py --input afqmc_public/"
    assert make_hint("afqmc", Path("mine")) == "make it with: python converters/afqmc.py --input afqmc_public/ " \
                                               "--data-dir mine"
    assert make_hint("reviews") == "convert it first (llm-recipes convert generic --input FILE --name reviews ...)"
    assert make_hint("reviews", "other") == ("convert it first (llm-recipes convert generic --input FILE --name "
                                             "reviews --data-dir other ...)")


def registry(folder: Path, entries: dict) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "dataset_info.json").write_text(json.dumps(entries), encoding="utf-8")
    return folder / "dataset_info.json"


def test_every_set_converted_gives_the_registry(tmp_path: Path) -> None:
    entries = {"a": {"file_name": "a.jsonl"}, "hub": {"hf_hub_url": "x/y"}, "bare": {}}
    registry(tmp_path, entries)
    (tmp_path / "a.jsonl").write_text("{}\n", encoding="utf-8")
    assert require_converted(tmp_path, ["a", "hub", "bare"]) == entries  # registered, no local file to find
    assert require_converted(str(tmp_path), []) == entries


def test_the_first_set_not_registered_or_not_written_is_the_error(tmp_path: Path) -> None:
    path = registry(tmp_path, {"agnews": {"file_name": "agnews_train.jsonl"}, "a": {"file_name": "a.jsonl"}})
    (tmp_path / "a.jsonl").write_text("{}\n", encoding="utf-8")
    with pytest.raises(InputError) as raised:
        require_converted(tmp_path, ["a", "agnews", "reviews"])
    assert str(raised.value) == (f"{path}: dataset 'agnews' is registered but {tmp_path / 'agnews_train.jsonl'} is "
                                 f"not there: make it with: {DATASETS['agnews'].command} --data-dir {tmp_path}")
    with pytest.raises(InputError) as raised:
        require_converted(tmp_path, ["reviews", "agnews"])
    assert str(raised.value) == (f"{path}: dataset 'reviews' is not registered: convert it first (llm-recipes convert "
                                 f"generic --input FILE --name reviews --data-dir {tmp_path} ...)")


def test_a_dataset_without_a_fixture_is_one_error_listing_those_with_one(tmp_path: Path) -> None:
    with pytest.raises(InputError) as raised:
        tiny_source_flags("reviews", tmp_path)
    assert str(raised.value) == ("no raw fixture for dataset 'reviews' (known: agnews, yelp5, afqmc, arena, "
                                 "tulu3_personas_if, ultrafeedback_dpo)")


@pytest.fixture
def agnews_copy(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """AG News's original files at a folder of this test's own (the catalog's default copy), no AG_NEWS."""
    copy = tmp_path / "ag_news_csv"
    monkeypatch.delenv("AG_NEWS", raising=False)
    monkeypatch.setitem(catalog.LOCAL_SOURCES, "agnews", ("AG_NEWS", str(copy), ["--val-size", "200"]))
    return copy


def test_a_local_copy_of_the_original_files_is_read_when_it_is_there(agnews_copy: Path, tmp_path: Path,
                                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    agnews_copy.mkdir()
    assert tiny_source_flags("agnews", tmp_path / "raw") == ["--input", str(agnews_copy), "--val-size", "200"]
    mine = tmp_path / "mine"
    mine.mkdir()
    monkeypatch.setenv("AG_NEWS", str(mine))  # the variable's folder first
    assert tiny_source_flags("agnews", tmp_path / "raw") == ["--input", str(mine), "--val-size", "200"]
    assert not (tmp_path / "raw").exists()


def test_without_a_local_copy_the_fixture_is_written_and_read(agnews_copy: Path, tmp_path: Path,
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AG_NEWS", str(tmp_path / "not_a_folder"))
    flags = tiny_source_flags("agnews", tmp_path / "raw")
    assert flags == ["--input", str(tmp_path / "raw" / "agnews" / "train.csv"), "--val-size", "8"]
    assert len((tmp_path / "raw" / "agnews" / "train.csv").read_text(encoding="utf-8").splitlines()) == 32
    assert tiny_source_flags("yelp5", tmp_path / "raw")[:2] == ["--input", str(tmp_path / "raw" / "yelp5" /
                                                                               "train.csv")]


def test_a_dry_run_names_the_fixture_without_writing_it(tmp_path: Path) -> None:
    flags = tiny_source_flags("arena", tmp_path / "raw", write=False)
    assert str(tmp_path / "raw" / "arena") in " ".join(flags) and not (tmp_path / "raw").exists()
    assert fixture_flags("arena", tmp_path / "raw", write=False) == flags


def test_the_fixture_is_rewritten_only_where_it_differs(tmp_path: Path) -> None:
    """A re-run finds the same files untouched (their times kept); a changed file is put back."""
    raw = tmp_path / "raw"
    flags = fixture_flags("tulu3_personas_if", raw)
    files = sorted(p for p in raw.rglob("*") if p.is_file())
    assert files and all(str(raw) in flag or not flag.startswith("/") for flag in flags)
    for path in files:
        os.utime(path, ns=(1_000_000_000, 1_000_000_000))
    original = files[0].read_bytes()
    assert fixture_flags("tulu3_personas_if", raw) == flags
    assert [p.stat().st_mtime_ns for p in files] == [1_000_000_000] * len(files)
    files[0].write_bytes(b"changed\n")
    os.utime(files[0], ns=(1_000_000_000, 1_000_000_000))
    fixture_flags("tulu3_personas_if", raw)
    assert files[0].read_bytes() == original and files[0].stat().st_mtime_ns != 1_000_000_000
