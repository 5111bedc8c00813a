"""converters/afqmc.py on CLUE-layout and hub-layout fixtures."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest
from conftest import rows_of, run_cli, run_script, write_jsonl
from raw_formats import clue_folder

from recipekit.converters import afqmc

PROMPT = afqmc.instruction(["是", "否"])


def test_clue_folder_gives_train_val_and_predict_ready_test(tmp_path: Path) -> None:
    result = afqmc.main(["--input", str(clue_folder(tmp_path)), "--data-dir", str(tmp_path / "data")])
    data = tmp_path / "data"
    assert result.counts == {"afqmc": 12, "afqmc_val": 2, "afqmc_test": 2} and result.read == 16
    assert sorted(rows_of(data / "afqmc_val.jsonl"), key=lambda r: r["output"]) == [
        {"instruction": PROMPT, "input": "句子1：借呗额度\n句子2：花呗分期", "output": "否"},
        {"instruction": PROMPT, "input": "句子1：借呗额度\n句子2：借呗的额度", "output": "是"},
    ]
    assert rows_of(data / "afqmc_test.jsonl") == [
        {"id": 0, "instruction": PROMPT, "input": "句子1：余额宝\n句子2：余额宝收益", "output": ""},
        {"id": 1, "instruction": PROMPT, "input": "句子1：蚂蚁森林\n句子2：能量", "output": ""},
    ]
    assert result.balance["afqmc"] == Counter({"否": 8, "是": 4})
    info = json.loads((data / "dataset_info.json").read_text(encoding="utf-8"))
    assert list(info) == ["afqmc", "afqmc_val", "afqmc_test"]
    assert info["afqmc_test"]["file_name"] == "afqmc_test.jsonl" and info["afqmc_test"]["formatting"] == "alpaca"


@pytest.mark.integration
def test_class_balance_is_printed_and_answers_configurable(tmp_path: Path) -> None:
    result = run_script("converters/afqmc.py", "--input", clue_folder(tmp_path), "--data-dir", tmp_path / "data",
                        "--answers", "yes,no")
    assert result.returncode == 0, result.stderr
    assert "class balance: no 8 (66.7%), yes 4 (33.3%)" in result.stdout
    rows = rows_of(tmp_path / "data" / "afqmc.jsonl")
    assert {r["output"] for r in rows} == {"yes", "no"}
    assert rows[0]["instruction"] == "判断下面两个句子的意思是否相同。相同回答“yes”，不同回答“no”，只输出一个字。"


def test_hub_layout_matches_clue_layout(tmp_path: Path) -> None:
    """The hub's parquet layout (integer labels, -1 on the unlabeled test split, `idx` as the id) in a repo of
    several configs, read through datasets.load_dataset with --hf-config (default afqmc)."""
    import pandas as pd

    clue = clue_folder(tmp_path)
    hub = tmp_path / "clue_hub"
    for split, name in (("train", "train"), ("dev", "validation"), ("test", "test")):
        frame = pd.read_json(clue / f"{split}.json", lines=True, dtype=False)
        frame["label"] = frame["label"].astype(int) if "label" in frame else -1
        frame = frame.rename(columns={"id": "idx"}) if "id" in frame else frame.assign(idx=range(len(frame)))
        for config, rows in (("afqmc", frame), ("other", frame.head(1))):
            (hub / config).mkdir(parents=True, exist_ok=True)
            rows.to_parquet(hub / config / f"{name}-00000-of-00001.parquet")
    (hub / "README.md").write_text("---\nconfigs:\n" + "".join(
        f"- config_name: {config}\n  data_files:\n" + "".join(f"  - split: {name}\n    path: {config}/{name}-*\n"
                                                           for name in ("train", "validation", "test"))
        for config in ("afqmc", "other")) + "---\n", encoding="utf-8")
    afqmc.main(["--input", str(clue), "--data-dir", str(tmp_path / "clue"), "--max-samples", "9"])
    afqmc.main(["--hf", str(hub), "--data-dir", str(tmp_path / "hub"), "--max-samples", "9"])
    for file in ("afqmc.jsonl", "afqmc_val.jsonl", "afqmc_test.jsonl"):
        assert (tmp_path / "clue" / file).read_bytes() == (tmp_path / "hub" / file).read_bytes()
    other = afqmc.main(["--hf", str(hub), "--hf-config", "other", "--data-dir", str(tmp_path / "other")])
    assert other.counts == {"afqmc": 1, "afqmc_val": 1, "afqmc_test": 1}


def test_same_input_and_seed_give_the_same_bytes(tmp_path: Path) -> None:
    folder = clue_folder(tmp_path)
    for run in ("a", "b"):
        afqmc.main(["--input", str(folder), "--data-dir", str(tmp_path / run), "--max-samples", "6"])
    assert (tmp_path / "a" / "afqmc.jsonl").read_bytes() == (tmp_path / "b" / "afqmc.jsonl").read_bytes()
    assert Counter(r["output"] for r in rows_of(tmp_path / "a" / "afqmc.jsonl")) == {"否": 4, "是": 2}


def test_bad_rows_are_counted_with_their_reasons(tmp_path: Path) -> None:
    train = tmp_path / "train.json"
    train.write_text("\n".join([
        json.dumps({"sentence1": "a", "sentence2": "b", "label": "1"}, ensure_ascii=False),
        json.dumps({"sentence1": "a", "sentence2": "b", "label": "2"}),
        json.dumps({"sentence1": " ", "sentence2": "b", "label": "0"}),
        json.dumps({"sentence2": "b", "label": "0"}),
        '{"sentence1": "a", "sentence2": "b", "label": "0"',
        json.dumps({"sentence1": "c", "sentence2": "d", "label": 0}),
        json.dumps({"sentence1": "e", "sentence2": "", "label": "1"}),
    ]) + "\n", encoding="utf-8")
    result = afqmc.main(["--input", str(train), "--data-dir", str(tmp_path / "data")])
    assert dict(result.log.counts) == {"label not in 0-1": 1, "empty sentence": 2, "missing value": 1,
                                       "not valid JSON (Expecting ',' delimiter)": 1}
    assert result.log.examples["empty sentence"] == [f"{train}:3 (field sentence1 = ' ')",
                                                     f"{train}:7 (field sentence2 = '')"]
    assert result.log.examples["missing value"] == [f"{train}:4 (field sentence1)"]
    assert result.counts == {"afqmc": 2}


def test_unlabeled_rows_without_an_id_are_counted(tmp_path: Path) -> None:
    test = write_jsonl(tmp_path / "test.json", [{"sentence1": "a", "sentence2": "b"},
                                                {"id": 5, "sentence1": "c", "sentence2": "d"}])
    result = afqmc.main(["--input", str(test), "--data-dir", str(tmp_path / "data")])
    assert dict(result.log.counts) == {"missing id on an unlabeled row": 1}
    assert result.log.examples["missing id on an unlabeled row"] == [f"{test}:1 (field id)"]
    assert result.counts == {"afqmc_test": 1}


def test_every_unlabeled_split_goes_to_the_test_set_and_val_size_samples_dev(tmp_path: Path) -> None:
    folder = clue_folder(tmp_path)
    write_jsonl(folder / "dev.json", [{"id": 7, "sentence1": "甲", "sentence2": "乙", "label": "-1"}])
    result = afqmc.main(["--input", str(folder), "--data-dir", str(tmp_path / "a")])
    assert sorted(r["id"] for r in rows_of(tmp_path / "a" / "afqmc_test.jsonl")) == [0, 1, 7]
    assert result.counts == {"afqmc": 12, "afqmc_test": 3}  # no labeled dev split: no validation set
    write_jsonl(folder / "dev.json", [{"sentence1": f"甲{i}", "sentence2": "乙", "label": str(i % 2)}
                                      for i in range(6)])
    result = afqmc.main(["--input", str(folder), "--data-dir", str(tmp_path / "b"), "--val-size", "2"])
    assert result.counts == {"afqmc": 12, "afqmc_val": 2, "afqmc_test": 2}  # 2 of dev's 6, train keeps its 12


def test_answers_must_be_two_names(tmp_path: Path) -> None:
    result = run_cli("convert", "afqmc", "--input", clue_folder(tmp_path), "--answers", "same")
    assert (result.returncode, result.stderr.strip()) == (
        2, "error: --answers needs 2 distinct comma-separated names, got 'same'")


def test_repeat_same_weights_the_same_meaning_class_in_training_only(tmp_path: Path) -> None:
    plain = afqmc.main(["--input", str(clue_folder(tmp_path)), "--data-dir", str(tmp_path / "plain")])
    weighted = afqmc.main(["--input", str(clue_folder(tmp_path)), "--data-dir", str(tmp_path / "weighted"),
                           "--repeat-same", "3"])
    assert plain.balance["afqmc"] == Counter({"否": 8, "是": 4})
    assert weighted.balance["afqmc"] == Counter({"否": 8, "是": 12})
    assert weighted.counts == {"afqmc": 20, "afqmc_val": 2, "afqmc_test": 2}
    train = rows_of(tmp_path / "weighted" / "afqmc.jsonl")
    same = Counter(row["input"] for row in train if row["output"] == "是")
    assert set(same.values()) == {3} and len(same) == 4
    assert rows_of(tmp_path / "weighted" / "afqmc_val.jsonl") == rows_of(tmp_path / "plain" / "afqmc_val.jsonl")
