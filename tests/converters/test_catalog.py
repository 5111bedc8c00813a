"""converters/catalog.py: one declaration per dataset, and everything that reads it agrees with it."""

from __future__ import annotations

import json
import re
import socket
from collections import Counter
from pathlib import Path

import pytest
from conftest import ROOT, rows_of, run_cli, serving

from recipekit.converters import catalog
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


def test_the_chat_fixtures_become_the_turns_and_answers_they_are_written_with(tmp_path: Path) -> None:
    """Tulu: 16 prompts asking for i words (no commas), each answered with i + 1 words "word", 4 held out;
    UltraFeedback: 16 training and 4 test pairs, a clear answer chosen over "No." (the raw files named as the
    hub's splits)."""
    for name in ("tulu3_personas_if", "ultrafeedback_dpo"):
        make_fixture_dataset(name, tmp_path / "raw", tmp_path / "data")
    assert sorted(p.name for p in (tmp_path / "raw" / "ultrafeedback_dpo" / "uf").iterdir()) == [
        "test_prefs.jsonl", "train_prefs.jsonl"]
    tulu = rows_of(tmp_path / "data" / "tulu3_personas_if.jsonl")
    held = rows_of(tmp_path / "data" / "tulu3_personas_if_val.jsonl")
    assert (len(tulu), len(held)) == (12, 4)
    for row in tulu + held:
        i = int(row["id"][1:])
        assert row == {"id": f"p{i}", "messages": [{"role": "user", "content": f"Write {i} words."},
                                                   {"role": "assistant", "content": " ".join(["word"] * (i + 1))}],
                       "constraints": ["no commas"]}
    assert sorted(int(row["id"][1:]) for row in tulu + held) == list(range(16))

    def pair(i: int) -> dict:
        return {"id": f"u{i}", "conversations": [{"role": "user", "content": f"Explain idea {i}."}],
                "chosen": {"role": "assistant", "content": f"A clear answer about idea {i}."},
                "rejected": {"role": "assistant", "content": "No."}}

    train = sorted(rows_of(tmp_path / "data" / "ultrafeedback_dpo.jsonl"), key=lambda row: int(row["id"][1:]))
    assert train == [pair(i) for i in range(16)]
    assert sorted(rows_of(tmp_path / "data" / "ultrafeedback_dpo_val.jsonl"), key=lambda row: row["id"]) == [
        pair(100 + i) for i in range(4)]


def test_a_missing_dataset_names_the_catalog_command(tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir()
    (data / "dataset_info.json").write_text("{}\n", encoding="utf-8")
    result = run_cli("check", "recipes", "recipes/yelp5_lora.yaml", "--data-dir", data)
    assert result.returncode == 1
    assert f"dataset 'yelp5' is not in {data / 'dataset_info.json'}: run `{DATASETS['yelp5'].command}`" in result.stdout


def closed_port() -> int:
    """A local port nothing listens on."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture
def offline_world(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """No AG_NEWS, no offline switch, a hub endpoint that does not answer, and a local copy in tmp_path."""
    copy = tmp_path / "ag_news_csv"
    copy.mkdir()
    for key in ("AG_NEWS", "HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE"):
        monkeypatch.delenv(key, raising=False)
    monkeypatch.setenv("HF_ENDPOINT", f"http://127.0.0.1:{closed_port()}")
    monkeypatch.setitem(catalog.LOCAL_SOURCES, "agnews", ("AG_NEWS", str(copy), ["--val-size", "200"]))
    return copy


def test_without_the_hub_the_demo_reads_the_local_copy_and_says_so(offline_world: Path) -> None:
    assert not catalog.hub_reachable(timeout=2)
    flags, said = catalog.source_flags("agnews", "fancyzhx/ag_news")
    assert flags == ["--input", str(offline_world)]
    assert said == f"the hub does not answer: reading agnews from the local copy {offline_world}"


def test_a_folder_in_the_variable_wins_and_an_offline_switch_means_no_hub(offline_world: Path,
                                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AG_NEWS", "/data/mine")
    assert catalog.source_flags("agnews", "fancyzhx/ag_news") == (["--input", "/data/mine"],
                                                                  "reading agnews from /data/mine (AG_NEWS)")
    monkeypatch.delenv("AG_NEWS")
    with serving() as endpoint:
        monkeypatch.setenv("HF_ENDPOINT", endpoint)
        assert catalog.source_flags("agnews", "fancyzhx/ag_news") == (["--hf", "fancyzhx/ag_news"],
                                                                      "reading agnews from the hub (fancyzhx/ag_news)")
        monkeypatch.setenv("HF_HUB_OFFLINE", "1")
        assert not catalog.hub_reachable()
        assert catalog.source_flags("agnews", "fancyzhx/ag_news")[0] == ["--input", str(offline_world)]


def test_no_hub_and_no_local_copy_tries_the_hub_for_datasets_cache(offline_world: Path) -> None:
    offline_world.rmdir()
    flags, said = catalog.source_flags("agnews", "fancyzhx/ag_news")
    assert flags == ["--hf", "fancyzhx/ag_news"] and "there is no local copy" in said


AG_NEWS_LINE = r'"[1-4]","[^"]+","[^"]+"'  # the release: "3","Fears for T N pension after talks","Unions ..."
YELP_LINE = r'"([1-5])","Review [0-5]: (great|poor) food\.\\nStars \1\."'  # every field quoted, "\n" as two chars
ARENA_HEADER = "id,model_a,model_b,prompt,response_a,response_b,winner_model_a,winner_model_b,winner_tie"


@pytest.mark.parametrize(("dataset", "file", "first", "line"), [
    ("agnews", "train.csv", AG_NEWS_LINE, AG_NEWS_LINE),
    ("yelp5", "train.csv", YELP_LINE, YELP_LINE),
    ("arena", "kaggle/train.csv", ARENA_HEADER, r'1\d\d,m1,m2,"\[""question \d+\?""\]",.*,[01],[01],[01]'),
])
def test_each_raw_fixture_is_written_as_its_release_writes_it(tmp_path: Path, dataset: str, file: str, first: str,
                                                              line: str) -> None:
    """Quoting as the release quotes (AG News and Yelp quote every field, Kaggle's CSV only what needs it) and
    Unix line ends."""
    from recipekit.converters import fixtures

    getattr(fixtures, dataset)(tmp_path)
    text = (tmp_path / file).read_bytes().decode("utf-8")
    lines = text.split("\n")
    assert "\r" not in text and lines[-1] == "" and re.fullmatch(first, lines[0]), lines[0]
    assert all(re.fullmatch(line, row) for row in lines[1:-1]), lines[1]
    if dataset == "yelp5":  # six reviews of each star count 1-5, none outside the scale the converter reads
        assert Counter(re.fullmatch(line, row)[1] for row in lines[:-1]) == {str(s): 6 for s in range(1, 6)}


def test_the_yelp_fixture_has_six_reviews_of_each_star_count_ten_held_out(tmp_path: Path) -> None:
    from recipekit.converters.yelp import LABEL_NAMES

    make_fixture_dataset("yelp5", tmp_path / "raw", tmp_path / "data")
    rows = rows_of(tmp_path / "data" / "yelp5.jsonl") + rows_of(tmp_path / "data" / "yelp5_val.jsonl")
    assert len(rows_of(tmp_path / "data" / "yelp5_val.jsonl")) == 10
    expected = sorted((f"Review {i}: {'great' if stars >= 4 else 'poor'} food.\nStars {stars}.", LABEL_NAMES[stars - 1])
                      for i in range(6) for stars in (1, 2, 3, 4, 5))
    assert sorted((row["input"], row["output"]) for row in rows) == expected


def test_the_afqmc_fixture_is_clues_folder_of_24_train_8_dev_and_4_test_pairs(tmp_path: Path) -> None:
    """CLUE's afqmc_public/ (train.json, dev.json, test.json: JSON lines, Chinese as is, labels as strings)."""
    make_fixture_dataset("afqmc", tmp_path / "raw", tmp_path / "data")
    folder = tmp_path / "raw" / "afqmc" / "afqmc_public"
    assert sorted(p.name for p in folder.iterdir()) == ["dev.json", "test.json", "train.json"]
    assert (folder / "train.json").read_text(encoding="utf-8").startswith(
        '{"sentence1": "花呗0怎么还款", "sentence2": "借呗额度", "label": "0"}\n')
    answer = {0: "否", 1: "是"}

    def pair(first: str, second: str) -> str:
        return f"句子1：{first}\n句子2：{second}"

    train = sorted((r["input"], r["output"]) for r in rows_of(tmp_path / "data" / "afqmc.jsonl"))
    assert train == sorted((pair(f"花呗{i}怎么还款", f"花呗{i}如何还钱" if i % 2 else "借呗额度"), answer[i % 2])
                           for i in range(24))
    val = sorted((r["input"], r["output"]) for r in rows_of(tmp_path / "data" / "afqmc_val.jsonl"))
    assert val == sorted((pair(f"余额宝{i}", f"余额宝{i}收益"), answer[i % 2]) for i in range(8))
    assert [(r["id"], r["input"], r["output"]) for r in rows_of(tmp_path / "data" / "afqmc_test.jsonl")] == [
        (i, pair(f"蚂蚁{i}", "能量"), "") for i in range(4)]


def test_the_arena_fixture_has_24_kaggle_rows_cycling_a_b_tie_and_one_test_row(tmp_path: Path) -> None:
    """Kaggle's train.csv (winner columns one-hot, a response's second turn null) and test.csv (no answer)."""
    make_fixture_dataset("arena", tmp_path / "raw", tmp_path / "data")
    rows = [row for name in ("arena", "arena_val") for row in rows_of(tmp_path / "data" / f"{name}.jsonl")
            if not row["swapped"]]
    assert len(rows_of(tmp_path / "data" / "arena_val.jsonl")) == 6
    seen = {}
    for row in rows:
        i = int(row["id"]) - 100
        assert row["input"] == (f"### Prompt\nquestion {i}?\n\n### Response A\nanswer a{i}\n\n### Response B\n"
                                f"[Turn 1] answer b{i}\n\n[Turn 2]"), row
        seen[i] = row["output"]
    assert seen == {i: ("A", "B", "tie")[i % 3] for i in range(24)}
    test = rows_of(tmp_path / "data" / "arena_test.jsonl")
    assert [(row["id"], row["output"], row["input"]) for row in test] == [
        ("900", "", "### Prompt\nq?\n\n### Response A\na\n\n### Response B\nb")]
