"""converters/yelp.py on fixtures in the original CSV and hub layouts."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest
from conftest import rows_of, run_cli, run_script, write_jsonl
from raw_formats import reviews, write_yelp_csv

from recipekit.converters import yelp

NAMES = list(yelp.LABEL_NAMES)


def test_original_rows_become_exact_alpaca_rows(tmp_path: Path) -> None:
    raw = write_yelp_csv(tmp_path / "test.csv", [
        ("1", 'Awful.\\nThe \\"chef\\" shouted.'), ("3", "ok  i guess"), ("5", "Best tacos!\\n\\n\\n\\nGo now."),
    ])
    result = yelp.main(["--input", str(raw), "--data-dir", str(tmp_path / "data")])
    prompt = yelp.instruction(NAMES)
    assert sorted(rows_of(tmp_path / "data" / "yelp5.jsonl"), key=lambda r: r["output"]) == [
        {"instruction": prompt, "input": "ok i guess", "output": "neutral"},
        {"instruction": prompt, "input": 'Awful.\nThe "chef" shouted.', "output": "strong_negative"},
        {"instruction": prompt, "input": "Best tacos!\n\nGo now.", "output": "strong_positive"},
    ]
    assert prompt == ("Read the following Yelp review and classify the reviewer's sentiment into exactly one of these "
                      "five levels, from most negative to most positive: strong_negative, negative, neutral, positive, "
                      "strong_positive.\nAnswer with the level only.")
    assert result.counts == {"yelp5": 3}
    info = json.loads((tmp_path / "data" / "dataset_info.json").read_text(encoding="utf-8"))
    assert info == {"yelp5": {"file_name": "yelp5.jsonl", "formatting": "alpaca",
                              "columns": {"prompt": "instruction", "query": "input", "response": "output"},
                              "converter": "yelp"}}


@pytest.mark.parametrize("suffix", ["parquet", "jsonl", "csv"])
def test_hub_layout_gives_the_same_bytes(tmp_path: Path, suffix: str) -> None:
    rows = reviews(4)
    write_yelp_csv(tmp_path / "orig" / "train.csv", rows)
    records = [{"label": int(stars) - 1, "text": text} for stars, text in rows]
    hub = tmp_path / "hub"
    hub.mkdir()
    if suffix == "jsonl":
        write_jsonl(hub / "train.jsonl", records)
    else:
        import pandas as pd

        frame = pd.DataFrame(records)
        frame.to_parquet(hub / "train.parquet") if suffix == "parquet" else frame.to_csv(hub / "train.csv", index=False)
    for name in ("orig", "hub"):
        yelp.main(["--input", str(tmp_path / name), "--data-dir", str(tmp_path / f"out_{name}"), "--val-size", "5"])
    for file in ("yelp5.jsonl", "yelp5_val.jsonl", "dataset_info.json"):
        assert (tmp_path / "out_orig" / file).read_bytes() == (tmp_path / "out_hub" / file).read_bytes()


def test_split_is_stratified_seeded_and_labels_configurable(tmp_path: Path) -> None:
    raw = write_yelp_csv(tmp_path / "train.csv", reviews(6))
    stars = "1 star,2 stars,3 stars,4 stars,5 stars"
    outs = []
    for run, seed in (("a", "1"), ("b", "1"), ("c", "2")):
        yelp.main(["--input", str(raw), "--data-dir", str(tmp_path / run), "--val-size", "10", "--max-samples", "15",
                   "--seed", seed, "--label-names", stars])
        outs.append((tmp_path / run / "yelp5.jsonl").read_bytes())
    assert outs[0] == outs[1] != outs[2]
    train, val = rows_of(tmp_path / "a" / "yelp5.jsonl"), rows_of(tmp_path / "a" / "yelp5_val.jsonl")
    assert Counter(r["output"] for r in train) == {f"{n} star{'s' * (n > 1)}": 3 for n in range(1, 6)}
    assert Counter(r["output"] for r in val) == {f"{n} star{'s' * (n > 1)}": 2 for n in range(1, 6)}
    assert not {r["input"] for r in train} & {r["input"] for r in val}


def test_bad_rows_are_counted_with_their_reasons(tmp_path: Path) -> None:
    raw = tmp_path / "train.csv"
    raw.write_bytes(b'"5","fine"\n"6","too many stars"\n"x","not a number"\n"2"\n"4","   "\n"1","ok",""\n'
                    b'"3","bad byte \xff here"\n"0","no stars"\n')
    result = run_cli("convert", "yelp", "--input", raw, "--data-dir", tmp_path / "data")
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "read 8 rows, skipped 6" in out
    assert f"skipped 3 row(s): stars not in 1-5; e.g. {raw}:2 (field stars = '6'); {raw}:3 (field stars = 'x'); " \
           f"{raw}:8 (field stars = '0')" in out
    assert f"skipped 1 row(s): wrong number of fields (1, expected 2: stars, text); e.g. {raw}:4" in out
    assert f"skipped 1 row(s): wrong number of fields (3, expected 2: stars, text); e.g. {raw}:6" in out
    assert f"skipped 1 row(s): empty text; e.g. {raw}:5 (field text = '   ')" in out
    assert f"repaired 1 time(s), row kept: broken UTF-8 or lone surrogate replaced with U+FFFD; e.g. {raw}:7 " \
           "(field text)" in out
    texts = sorted(r["input"] for r in rows_of(tmp_path / "data" / "yelp5.jsonl"))
    assert texts == ["bad byte \ufffd here", "fine"]


def test_hub_rows_with_bad_values_are_counted(tmp_path: Path) -> None:
    path = write_jsonl(tmp_path / "train.jsonl", [
        {"label": 0, "text": "a"}, {"label": 5, "text": "b"}, {"label": 2}, {"label": 1, "text": 7},
        {"label": True, "text": "bool"}])
    result = yelp.main(["--input", str(path), "--data-dir", str(tmp_path / "data")])
    assert dict(result.log.counts) == {"label not in 0-4": 2, "missing value": 1, "text is not a string": 1}
    assert result.log.examples["missing value"] == [f"{path}:3 (field text)"]


def test_label_names_must_be_five(tmp_path: Path) -> None:
    raw = write_yelp_csv(tmp_path / "train.csv", reviews(1))
    result = run_cli("convert", "yelp", "--input", raw, "--label-names", "bad,good")
    assert result.returncode == 2
    assert result.stderr.strip() == "error: --label-names needs 5 distinct comma-separated names, got 'bad,good'"


@pytest.mark.integration
def test_help_shows_an_example() -> None:
    result = run_script("converters/yelp.py", "--help")
    assert result.returncode == 0 and "llm-recipes convert yelp --input" in result.stdout
