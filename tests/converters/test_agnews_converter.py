"""converters/agnews.py on fixtures in the original CSV and hub layouts."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest
from conftest import agnews_rows, hub_records, rows_of, run_cli, run_script, write_jsonl, write_original_csv

from recipekit.converters import agnews
from recipekit.data import Conversion


def convert(*args: str | Path) -> Conversion:
    return agnews.main([str(a) for a in args])


def test_original_csv_quirks_become_clean_text(tmp_path: Path) -> None:
    raw = tmp_path / "quirks.csv"
    raw.write_text(
        '"3","Fears for T N ""pension"" talks","Unions say they #39;re  #39;disappointed #39; by  #36;10 cuts."\n'
        '"4","Space race","A second\\team of rocketeers\\\\announced a date  quot;soon quot;."\n'
        '"1","Multi\nline title","Peace talks resume &lt;b&gt;today&lt;/b&gt;"\n'
        '"2","Cup final","Score was 3\\n2 after extra time."\n',
        encoding="utf-8",
    )
    convert("--input", raw, "--data-dir", tmp_path / "data", "--seed", "1")
    rows = rows_of(tmp_path / "data" / "agnews.jsonl")
    by_output = {row["output"]: row["input"] for row in rows}
    assert by_output == {
        "3: Business": "Fears for T N \"pension\" talks Unions say they're 'disappointed' by $10 cuts.",
        "4: Sci/Tech": "Space race A second\nteam of rocketeers\nannounced a date \"soon\".",
        "1: World": "Multi\nline title Peace talks resume <b>today</b>",
        "2: Sports": "Cup final Score was 3\n2 after extra time.",
    }
    assert all(row["instruction"] == agnews.PROMPT for row in rows)
    assert agnews.PROMPT.startswith("Give you a news headline and corresponding summary description.")
    assert agnews.PROMPT.endswith("\n1: World\n2: Sports\n3: Business\n4: Sci/Tech\n")


@pytest.mark.parametrize(("style", "expected"), [("numbered", "3: Business"), ("name", "Business")])
def test_label_styles(tmp_path: Path, style: str, expected: str) -> None:
    raw = write_original_csv(tmp_path / "one.csv", [("3", "Markets rally", "Stocks rose.")])
    convert("--input", raw, "--data-dir", tmp_path, "--label-style", style)
    assert rows_of(tmp_path / "agnews.jsonl") == [
        {"instruction": agnews.PROMPT, "input": "Markets rally Stocks rose.", "output": expected}]


def test_every_class_index_maps_to_its_name(tmp_path: Path) -> None:
    raw = write_original_csv(tmp_path / "all.csv", [(str(i), f"t{i}", f"d{i}") for i in range(1, 5)])
    convert("--input", raw, "--data-dir", tmp_path, "--label-style", "name")
    assert {r["input"]: r["output"] for r in rows_of(tmp_path / "agnews.jsonl")} == {
        "t1 d1": "World", "t2 d2": "Sports", "t3 d3": "Business", "t4 d4": "Sci/Tech"}


def test_split_is_stratified_disjoint_and_byte_identical(agnews_folder: Path, tmp_path: Path) -> None:
    test_only = agnews_folder / "train.csv"
    outputs = []
    for run in ("a", "b"):
        convert("--input", test_only, "--data-dir", tmp_path / run, "--max-samples", "20", "--val-size", "8")
        outputs.append(tuple((tmp_path / run / f).read_bytes() for f in ("agnews.jsonl", "agnews_val.jsonl")))
    assert outputs[0] == outputs[1]
    train, val = rows_of(tmp_path / "a" / "agnews.jsonl"), rows_of(tmp_path / "a" / "agnews_val.jsonl")
    assert len(train) == 20 and len(val) == 8
    assert Counter(r["output"] for r in train) == {"1: World": 5, "2: Sports": 5, "3: Business": 5, "4: Sci/Tech": 5}
    assert Counter(r["output"] for r in val) == {"1: World": 2, "2: Sports": 2, "3: Business": 2, "4: Sci/Tech": 2}
    assert not {r["input"] for r in train} & {r["input"] for r in val}

    convert("--input", test_only, "--data-dir", tmp_path / "c", "--max-samples", "20", "--val-size", "8",
            "--seed", "7")
    assert (tmp_path / "c" / "agnews.jsonl").read_bytes() != outputs[0][0]


def test_folder_with_train_and_test_draws_val_from_test(agnews_folder: Path, tmp_path: Path) -> None:
    result = convert("--input", agnews_folder, "--data-dir", tmp_path, "--max-samples", "40", "--val-size", "12")
    assert result.read == 140
    train, val = rows_of(tmp_path / "agnews.jsonl"), rows_of(tmp_path / "agnews_val.jsonl")
    assert (len(train), len(val)) == (40, 12)
    test_texts = {f"{t} {d}" for _, t, d in agnews_rows(10, prefix="Test story")}
    assert {r["input"] for r in val} <= test_texts
    assert not {r["input"] for r in train} & test_texts
    assert Counter(r["output"] for r in val) == {"1: World": 3, "2: Sports": 3, "3: Business": 3, "4: Sci/Tech": 3}


@pytest.mark.parametrize("suffix", ["parquet", "jsonl", "csv"])
def test_hub_layout_gives_the_same_bytes_as_the_original_csv(tmp_path: Path, suffix: str) -> None:
    rows = agnews_rows(6)
    write_original_csv(tmp_path / "orig" / "test.csv", rows)
    hub = tmp_path / "hub"
    hub.mkdir()
    records = hub_records(rows)
    if suffix == "jsonl":
        write_jsonl(hub / "test.jsonl", records)
    else:
        import pandas as pd

        frame = pd.DataFrame(records)
        frame.to_parquet(hub / "test.parquet") if suffix == "parquet" else frame.to_csv(hub / "test.csv", index=False)
    for name, folder in (("orig", tmp_path / "orig"), ("hub", hub)):
        convert("--input", folder, "--data-dir", tmp_path / f"out_{name}", "--max-samples", "16", "--val-size", "8")
    for file in ("agnews.jsonl", "agnews_val.jsonl"):
        assert (tmp_path / "out_orig" / file).read_bytes() == (tmp_path / "out_hub" / file).read_bytes()


def test_hf_option_reads_through_datasets_load_dataset(tmp_path: Path) -> None:
    """--hf takes a hub id; a local folder in the hub's parquet layout exercises the same call."""
    import pandas as pd

    hub = tmp_path / "ag_news_hub"
    hub.mkdir()
    pd.DataFrame(hub_records(agnews_rows(10))).to_parquet(hub / "train.parquet")
    pd.DataFrame(hub_records(agnews_rows(3, prefix="Test story"))).to_parquet(hub / "test.parquet")
    result = convert("--hf", hub, "--data-dir", tmp_path / "data", "--max-samples", "8")
    assert result.read == 52
    assert result.counts == {"agnews": 8, "agnews_val": 12}
    assert len(rows_of(tmp_path / "data" / "agnews_val.jsonl")) == 12


def test_registry_upsert_keeps_every_other_entry(tmp_path: Path) -> None:
    info = tmp_path / "dataset_info.json"
    others = {"identity": {"file_name": "identity.json"},
              "agnews": {"file_name": "stale.json"},
              "dpo_demo": {"file_name": "dpo.json", "ranking": True, "formatting": "sharegpt"}}
    info.write_text(json.dumps(others, indent=2), encoding="utf-8")
    raw = write_original_csv(tmp_path / "raw.csv", agnews_rows(4))
    convert("--input", raw, "--data-dir", tmp_path, "--val-size", "4")
    registry = json.loads(info.read_text(encoding="utf-8"))
    assert list(registry) == ["identity", "agnews", "dpo_demo", "agnews_val"]
    assert registry["identity"] == others["identity"] and registry["dpo_demo"] == others["dpo_demo"]
    assert registry["agnews"] == {"file_name": "agnews.jsonl", "formatting": "alpaca",
                                  "columns": {"prompt": "instruction", "query": "input", "response": "output"},
                                  "converter": "agnews"}  # an entry no converter recorded is replaced silently
    assert not [p.name for p in tmp_path.iterdir() if p.name.endswith(".tmp")]


def test_bad_rows_are_counted_with_file_line_and_reason(tmp_path: Path) -> None:
    raw = tmp_path / "bad.csv"
    raw.write_text(
        '"1","Good","row one"\n'
        '"7","Bad class","index out of range"\n'
        '"2","Too","many","fields"\n'
        '"x","Not a number","class"\n'
        '"3","",""\n'
        '"4","Quoted\nnewline","spans two lines"\n'
        '"9","After","the multi-line row"\n',
        encoding="utf-8",
    )
    result = run_cli("convert", "agnews", "--input", raw, "--data-dir", tmp_path / "data")
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "read 7 rows, skipped 5" in out
    # the last bad row follows a quoted newline and is still named by its own line, 8
    assert (f"skipped 3 row(s): class index not in 1-4; e.g. {raw}:2 (field class_index = '7'); "
            f"{raw}:4 (field class_index = 'x'); {raw}:8 (field class_index = '9')") in out
    assert ("skipped 1 row(s): wrong number of fields (4, expected 3: class_index, title, description); "
            f"e.g. {raw}:3") in out
    assert f"skipped 1 row(s): empty text; e.g. {raw}:5 (field title/description)" in out
    assert "wrote 2 rows" in out


def test_hub_rows_with_bad_labels_are_counted(tmp_path: Path) -> None:
    path = write_jsonl(tmp_path / "test.jsonl", [
        {"text": "fine", "label": 0}, {"text": "bad", "label": 4}, {"text": "", "label": 1},
        {"text": "no label"}, {"text": None, "label": 2}, {"text": "last", "label": 3},
    ])
    result = convert("--input", path, "--data-dir", tmp_path / "data")
    skips = result.log
    assert dict(skips.counts) == {"label not in 0-3": 1, "empty text": 1, "missing value": 2}
    assert skips.examples == {"label not in 0-3": [f"{path}:2 (field label = 4)"],
                              "empty text": [f"{path}:3 (field text = '')"],
                              "missing value": [f"{path}:4 (field label)", f"{path}:5 (field text = None)"]}
    assert result.counts["agnews"] == 2


def test_jsonl_lines_that_are_not_objects_are_counted_by_line(tmp_path: Path) -> None:
    path = tmp_path / "test.jsonl"
    path.write_text('{"text": "a", "label": 0}\n{"text": "b", "label": "two"}\n{"text": \n\n[1, 2]\n'
                    '{"text": "c", "label": "3"}\n', encoding="utf-8")
    result = convert("--input", path, "--data-dir", tmp_path / "data")
    assert dict(result.log.counts) == {"label not in 0-3": 1, "not valid JSON (Expecting value)": 1,
                                       "not a JSON object": 1}
    assert result.log.examples["not a JSON object"] == [f"{path}:5"]
    assert result.log.examples["not valid JSON (Expecting value)"] == [f"{path}:3"]
    assert sorted(r["output"] for r in rows_of(tmp_path / "data" / "agnews.jsonl")) == ["1: World", "4: Sci/Tech"]


@pytest.mark.integration
def test_a_file_datasets_cannot_parse_is_a_one_line_error(tmp_path: Path) -> None:
    path = tmp_path / "test.parquet"
    path.write_bytes(b"PAR1 this is not a parquet file")
    result = run_script("converters/agnews.py", "--input", path, "--data-dir", tmp_path / "data")
    assert result.returncode == 2
    assert result.stderr.startswith(f"error: {path}: datasets could not load it: ")
    assert "Parquet" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


@pytest.mark.integration
@pytest.mark.parametrize(("args", "message"), [
    (["--input", "no/such/folder"], "error: no/such/folder: no such file or folder"),
    (["--input", "{empty}"], "no split files found"),
    (["--input", "{txt}"], "unsupported file type '.txt'"),
])
def test_bad_input_is_a_one_line_error(tmp_path: Path, args: list[str], message: str) -> None:
    (tmp_path / "empty").mkdir()
    (tmp_path / "notes.txt").write_text("x", encoding="utf-8")
    args = [a.format(empty=tmp_path / "empty", txt=tmp_path / "notes.txt") for a in args]
    result = run_script("converters/agnews.py", *args, "--data-dir", tmp_path / "data")
    assert result.returncode == 2
    assert message in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


@pytest.mark.integration
def test_help_shows_an_example() -> None:
    result = run_script("converters/agnews.py", "--help")
    assert result.returncode == 0
    assert "llm-recipes convert agnews --input" in result.stdout
