"""converters/generic.py: any table to Alpaca or ShareGPT from flags."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest
from conftest import rows_of, run_cli, run_script, write_jsonl

from recipekit.converters import generic


def reviews_csv(path: Path, per_class: int = 5) -> Path:
    lines = ["text,label,title"] + [f'"review {i}, class {label}",{label},t{i}' for i in range(per_class)
                                    for label in (0, 1, 2)]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def test_label_map_gives_exact_alpaca_rows_and_stratified_split(tmp_path: Path) -> None:
    raw = reviews_csv(tmp_path / "reviews.csv")
    result = generic.main(["--input", str(raw), "--name", "reviews", "--data-dir", str(tmp_path / "data"),
                           "--instruction", "Rate the review.", "--input-column", "text", "--output-column", "label",
                           "--label-map", "0=bad,1=ok,2=good", "--val-size", "3"])
    train = rows_of(tmp_path / "data" / "reviews.jsonl")
    val = rows_of(tmp_path / "data" / "reviews_val.jsonl")
    assert {"instruction": "Rate the review.", "input": "review 0, class 2", "output": "good"} in train + val
    assert Counter(r["output"] for r in val) == {"bad": 1, "ok": 1, "good": 1}
    assert Counter(r["output"] for r in train) == {"bad": 4, "ok": 4, "good": 4}
    assert result.counts == {"reviews": 12, "reviews_val": 3}
    info = json.loads((tmp_path / "data" / "dataset_info.json").read_text(encoding="utf-8"))
    assert info["reviews"]["formatting"] == "alpaca" and info["reviews_val"]["file_name"] == "reviews_val.jsonl"


def test_preference_pairs_become_alpaca_ranking_rows_registered_as_ranking(tmp_path: Path) -> None:
    raw = write_jsonl(tmp_path / "prefs.jsonl", [{"q": f"Question {i}?", "good": f"Answer {i}.", "bad": "No."}
                                                 for i in range(3)])
    for given in ([], ["--format", "alpaca"]):
        data = tmp_path / f"data{len(given)}"
        generic.main(["--input", str(raw), "--name", "prefs", "--data-dir", str(data), "--instruction", "Answer.",
                      "--input-column", "q", "--chosen-column", "good", "--rejected-column", "bad", *given])
        assert rows_of(data / "prefs.jsonl") == [
            {"instruction": "Answer.", "input": f"Question {i}?", "chosen": f"Answer {i}.", "rejected": "No."}
            for i in range(3)]
        entry = json.loads((data / "dataset_info.json").read_text(encoding="utf-8"))["prefs"]
        assert entry["ranking"] is True and entry["formatting"] == "alpaca"
        assert entry["columns"] == {"prompt": "instruction", "query": "input", "chosen": "chosen",
                                    "rejected": "rejected"}


def test_template_and_sharegpt_with_system(tmp_path: Path) -> None:
    raw = write_jsonl(tmp_path / "pairs.jsonl", [{"title": "Cup final", "body": "3-2", "topic": "sport"},
                                                 {"title": "Rain", "body": "all day", "topic": "weather"}])
    generic.main(["--input", str(raw), "--name", "topics", "--data-dir", str(tmp_path / "data"), "--format",
                  "sharegpt", "--system", "Be brief.", "--instruction", "Name the topic.",
                  "--template", "Title: {title}\nBody: {body}", "--output-column", "topic", "--test-size", "1"])
    rows = rows_of(tmp_path / "data" / "topics.jsonl") + rows_of(tmp_path / "data" / "topics_test.jsonl")

    def chat(user: str, answer: str) -> dict:
        return {"messages": [{"role": "system", "content": "Be brief."}, {"role": "user", "content": user},
                             {"role": "assistant", "content": answer}]}

    assert sorted(rows, key=json.dumps) == sorted([chat("Name the topic.\n\nTitle: Cup final\nBody: 3-2", "sport"),
                                                   chat("Name the topic.\n\nTitle: Rain\nBody: all day", "weather")],
                                                  key=json.dumps)
    info = json.loads((tmp_path / "data" / "dataset_info.json").read_text(encoding="utf-8"))
    for name in ("topics", "topics_test"):  # the test rows are chat rows too
        assert info[name]["formatting"] == "sharegpt" and info[name]["columns"] == {"messages": "messages"}


def test_parquet_and_tsv_inputs_give_the_same_rows_as_csv(tmp_path: Path) -> None:
    import pandas as pd

    raw = reviews_csv(tmp_path / "reviews.csv")
    frame = pd.read_csv(raw)
    frame.to_parquet(tmp_path / "reviews.parquet")
    frame.to_csv(tmp_path / "reviews.tsv", sep="\t", index=False)
    outs = []
    for source in ("reviews.csv", "reviews.parquet", "reviews.tsv"):
        generic.main(["--input", str(tmp_path / source), "--name", "r", "--data-dir", str(tmp_path / source[8:]),
                      "--input-column", "text", "--output-column", "label", "--label-map", "0=a,1=b,2=c",
                      "--instruction", "Classify.", "--seed", "3", "--max-samples", "9"])
        outs.append((tmp_path / source[8:] / "r.jsonl").read_bytes())
    assert outs[0] == outs[1] == outs[2]


def test_bad_rows_are_counted(tmp_path: Path) -> None:
    raw = write_jsonl(tmp_path / "t.jsonl", [{"text": "a", "label": 0}, {"text": "b", "label": 7}, {"label": 1},
                                             {"text": "c"}, {"text": "d", "label": 1}])
    result = generic.main(["--input", str(raw), "--name", "t", "--data-dir", str(tmp_path / "data"),
                           "--input-column", "text", "--output-column", "label", "--label-map", "0=no,1=yes"])
    assert dict(result.log.counts) == {"label not in --label-map": 1, "missing value": 2}
    assert result.log.examples["missing value"] == [f"{raw}:3 (field text)", f"{raw}:4 (field label)"]
    assert result.counts == {"t": 2}


@pytest.mark.integration
@pytest.mark.parametrize(("args", "message"), [
    (["--output-column", "label"], "error: give --instruction, --input-column or --template (what the model reads)"),
    (["--output-column", "label", "--input-column", "text", "--template", "{text}"],
     "error: give --input-column or --template, not both"),
    (["--output-column", "label", "--input-column", "text", "--label-map", "0:no"],
     "error: --label-map expects RAW=NAME pairs separated by commas, got '0:no'"),
    (["--output-column", "label", "--input-column", "text", "--system", "s"],
     "error: --system needs --format sharegpt"),
    (["--output-column", "label", "--template", "{text"], "error: --template is not a valid format string"),
])
def test_bad_flags_are_one_line_errors(tmp_path: Path, args: list[str], message: str) -> None:
    raw = reviews_csv(tmp_path / "reviews.csv")
    result = run_script("converters/generic.py", "--input", raw, "--name", "x", "--data-dir", tmp_path, *args)
    assert result.returncode == 2
    assert result.stderr.startswith(message) and len(result.stderr.strip().splitlines()) == 1


@pytest.mark.integration
def test_help_shows_an_example() -> None:
    result = run_script("converters/generic.py", "--help")
    assert result.returncode == 0 and "llm-recipes convert generic --input reviews.csv" in result.stdout


def test_a_value_that_is_not_text_where_text_is_read_skips_the_row(tmp_path: Path) -> None:
    rows = [{"text": 12345, "label": "a"}, {"text": "kept", "label": "b"}, {"text": ["a", "list"], "label": "a"},
            {"text": "class id", "label": 7}, {"text": "float label", "label": 1.5}, {"text": "switch", "label": True}]
    raw = write_jsonl(tmp_path / "t.jsonl", rows)
    result = generic.main(["--input", str(raw), "--name", "t", "--data-dir", str(tmp_path / "data"),
                           "--instruction", "Go.", "--input-column", "text", "--output-column", "label"])
    assert dict(result.log.counts) == {"text is not a string": 2, "label is not a string": 2}
    assert result.log.examples["text is not a string"] == [f"{raw}:1 (field text = 12345)",
                                                           f"{raw}:3 (field text = ['a', 'list'])"]
    assert result.log.examples["label is not a string"] == [f"{raw}:5 (field label = 1.5)",
                                                            f"{raw}:6 (field label = True)"]
    assert rows_of(tmp_path / "data" / "t.jsonl") == [{"instruction": "Go.", "input": "kept", "output": "b"},
                                                      {"instruction": "Go.", "input": "class id", "output": "7"}]
    templated = generic.main(["--input", str(raw), "--name", "u", "--data-dir", str(tmp_path / "data"),
                              "--template", "Text: {text}", "--output-column", "label"])
    assert templated.log.counts["text is not a string"] == 2


def test_the_skipped_rows_of_a_wrong_type_are_printed_with_the_others(tmp_path: Path) -> None:
    raw = write_jsonl(tmp_path / "t.jsonl", [{"text": 3.5, "label": "a"}, {"text": "kept", "label": "b"}])
    result = run_cli("convert", "generic", "--input", raw, "--name", "t", "--data-dir", tmp_path / "data",
                     "--instruction", "Go.", "--input-column", "text", "--output-column", "label")
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[:2] == [
        "read 2 rows, skipped 1", f"  skipped 1 row(s): text is not a string; e.g. {raw}:1 (field text = 3.5)"]


def test_the_test_split_is_seeded(tmp_path: Path) -> None:
    raw = reviews_csv(tmp_path / "reviews.csv", per_class=8)
    split = {}
    for run, seed in (("a", "7"), ("b", "7"), ("c", "8")):
        generic.main(["--input", str(raw), "--name", "reviews", "--data-dir", str(tmp_path / run), "--instruction",
                      "Rate.", "--input-column", "text", "--output-column", "label", "--test-size", "6",
                      "--seed", seed])
        split[run] = (tmp_path / run / "reviews_test.jsonl").read_bytes()
    assert split["a"] == split["b"] != split["c"]
    assert len(rows_of(tmp_path / "a" / "reviews_test.jsonl")) == 6


def test_preference_pairs_test_rows_keep_the_chosen_answer_as_a_plain_alpaca_reference(tmp_path: Path) -> None:
    """NAME_test of pairs: the chosen answer as the output a generation is scored against (no ranking entry); no
    --instruction gives an empty one; --max-samples samples the training pairs left."""
    raw = write_jsonl(tmp_path / "prefs.jsonl", [{"q": f"Question {i}?", "good": f"Answer {i}.", "bad": "No."}
                                                 for i in range(10)])
    data = tmp_path / "data"
    result = generic.main(["--input", str(raw), "--name", "prefs", "--data-dir", str(data), "--input-column", "q",
                           "--chosen-column", "good", "--rejected-column", "bad", "--test-size", "3",
                           "--max-samples", "4"])
    assert result.counts == {"prefs": 4, "prefs_test": 3}
    test = rows_of(data / "prefs_test.jsonl")
    assert len(test) == 3 and all(row == {"instruction": "", "input": f"Question {row['input'][9:-1]}?",
                                          "output": f"Answer {row['input'][9:-1]}."} for row in test)
    train = rows_of(data / "prefs.jsonl")
    assert {row["input"] for row in train}.isdisjoint(row["input"] for row in test)
    assert all(set(row) == {"instruction", "input", "chosen", "rejected"} for row in train)
    info = json.loads((data / "dataset_info.json").read_text(encoding="utf-8"))
    assert info["prefs"]["ranking"] is True and "ranking" not in info["prefs_test"]
    assert info["prefs_test"]["columns"] == {"prompt": "instruction", "query": "input", "response": "output"}


def test_a_label_map_without_pairs_names_the_form_it_expects() -> None:
    from recipekit.errors import InputError

    with pytest.raises(InputError, match=r"^--label-map expects RAW=NAME pairs separated by commas, got '0bad'$"):
        generic.parse_label_map("0bad")


def test_hf_reads_the_hubs_layout_through_datasets(tmp_path: Path) -> None:
    """--hf goes through datasets.load_dataset: a local copy in the hub's data/ layout, which no file reader takes."""
    import pandas as pd

    (tmp_path / "hub" / "data").mkdir(parents=True)
    pd.DataFrame({"text": ["good film", "bad film"], "label": ["pos", "neg"]}).to_parquet(
        tmp_path / "hub" / "data" / "train-00000-of-00001.parquet")
    result = generic.main(["--hf", str(tmp_path / "hub"), "--name", "films", "--data-dir", str(tmp_path / "data"),
                           "--input-column", "text", "--output-column", "label"])
    assert result.read == 2
    assert rows_of(tmp_path / "data" / "films.jsonl") == [{"instruction": "", "input": "good film", "output": "pos"},
                                                          {"instruction": "", "input": "bad film", "output": "neg"}]
