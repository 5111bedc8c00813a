"""scripts/check_data.py: every converter's output loaded through LLaMA-Factory's own data pipeline."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest import ROOT, agnews_rows, run_cli, run_script, tulu_row, uf_row, write_jsonl, write_original_csv
from raw_formats import clue_folder, competition, reviews, write_yelp_csv

from recipekit.converters import afqmc, agnews, arena, generic, tulu, ultrafeedback, yelp

pytestmark = pytest.mark.integration  # trains tiny models or starts processes


@pytest.fixture(scope="module")
def all_datasets(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One data folder holding the output of every converter, made from fixtures in each raw format."""
    root = tmp_path_factory.mktemp("check_data")
    data = str(root / "data")
    agnews.main(["--input", str(write_original_csv(root / "ag" / "train.csv", agnews_rows(5))), "--data-dir", data,
                 "--val-size", "4"])
    yelp.main(["--input", str(write_yelp_csv(root / "yelp" / "train.csv", reviews(3))), "--data-dir", data])
    afqmc.main(["--input", str(clue_folder(root)), "--data-dir", data])
    arena.main(["--input", str(competition(root / "kaggle", battles=12)), "--data-dir", data, "--val-size", "3"])
    tulu.main(["--input", str(write_jsonl(root / "tulu.jsonl", [tulu_row(i) for i in range(6)])), "--data-dir", data])
    ultrafeedback.main(["--input", str(write_jsonl(root / "uf" / "train_prefs.jsonl", [uf_row(i) for i in range(5)])),
                        "--data-dir", data])
    csv = root / "g.csv"
    csv.write_text("text,label\n" + "".join(f"row {i},{i % 2}\n" for i in range(6)), encoding="utf-8")
    generic.main(["--input", str(csv), "--name", "generic_sg", "--format", "sharegpt", "--instruction", "Odd?",
                  "--input-column", "text", "--output-column", "label", "--label-map", "0=no,1=yes",
                  "--data-dir", data])
    return root / "data"


NAMES = ["agnews", "agnews_val", "yelp5", "afqmc", "afqmc_val", "afqmc_test", "arena", "arena_val", "arena_pref",
         "arena_test", "tulu3_personas_if", "ultrafeedback_dpo", "generic_sg"]


def test_every_converter_output_loads_through_llamafactory(all_datasets: Path, tmp_path: Path) -> None:
    out = tmp_path / "report.json"
    result = run_cli("check", "data", *NAMES, "--data-dir", all_datasets, "--cutoff-len", "64",
                      "--json", out)
    assert result.returncode == 0, result.stdout + result.stderr[-3000:]
    reports = json.loads(out.read_text(encoding="utf-8"))
    expected_rows = {"agnews": 16, "agnews_val": 4, "yelp5": 15, "afqmc": 12, "afqmc_val": 2, "afqmc_test": 2,
                     "arena": 18, "arena_val": 3, "arena_pref": 6, "arena_test": 2, "tulu3_personas_if": 6,
                     "ultrafeedback_dpo": 5, "generic_sg": 6}
    for name, rows in expected_rows.items():
        report = reports[name]
        assert (report["rows_in_file"], report["rows_kept"], report["dropped_by_llamafactory"]) == (rows, rows, 0)
        lines = (all_datasets / f"{name}.jsonl").read_text(encoding="utf-8").splitlines()
        assert len(lines) == rows
        tokens = report["tokens"]
        assert 0 < tokens["p50"] <= tokens["p95"] <= tokens["max"] and tokens["mean"] <= tokens["max"]
    assert reports["arena_pref"]["ranking"] and reports["ultrafeedback_dpo"]["ranking"]
    assert reports["agnews"]["labels"] == {"1: World": 4, "2: Sports": 4, "3: Business": 4, "4: Sci/Tech": 4}
    assert reports["afqmc"]["labels"] == {"否": 8, "是": 4}
    assert reports["afqmc_test"]["labels"] == {"": 2}
    assert reports["generic_sg"]["labels"] == {"no": 3, "yes": 3}
    assert "labels" not in reports["tulu3_personas_if"]
    assert "agnews: 16 rows kept of 16 (alpaca)" in result.stdout
    assert "  tokens per row (a tiny BPE trained on these rows, not the model's: give --model for the model's " \
           "counts): mean" in result.stdout  # which tokenizer counted them
    assert "  answers: 1: World 4 (25.0%), 2: Sports 4 (25.0%), 3: Business 4 (25.0%), 4: Sci/Tech 4 (25.0%)" in \
        result.stdout


def test_rows_over_cutoff_len_are_counted(all_datasets: Path, tmp_path: Path) -> None:
    """None at the longest row's length, that row alone one token below (the tiny BPE depends on the names)."""
    out = tmp_path / "report.json"
    assert run_cli("check", "data", "arena_test", "--data-dir", all_datasets, "--json", out).returncode == 0
    tokens = json.loads(out.read_text(encoding="utf-8"))["arena_test"]["tokens"]
    longest, shortest = tokens["max"], 2 * tokens["mean"] - tokens["max"]
    assert shortest < longest
    for cutoff, over in ((longest, 0), (longest - 1, 1), (int(shortest) - 1, 2)):
        again = run_cli("check", "data", "arena_test", "--data-dir", all_datasets, "--cutoff-len", cutoff,
                         "--json", out)
        assert again.returncode == 0
        assert json.loads(out.read_text(encoding="utf-8"))["arena_test"]["tokens"]["over_cutoff"] == over


def test_rows_llamafactory_drops_and_unloadable_sets_fail(all_datasets: Path, tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir()
    good = [{"messages": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "yo"}]}]
    broken = [{"messages": [{"role": "assistant", "content": "first"}, {"role": "user", "content": "then"}]}]
    write_jsonl(data / "chat.jsonl", good + broken)
    tags = {"role_tag": "role", "content_tag": "content", "user_tag": "user", "assistant_tag": "assistant"}
    (data / "dataset_info.json").write_text(json.dumps({
        "chat": {"file_name": "chat.jsonl", "formatting": "sharegpt", "columns": {"messages": "messages"},
                 "tags": tags},
        "gone": {"file_name": "missing.jsonl"},
    }), encoding="utf-8")
    result = run_cli("check", "data", "chat", "--data-dir", data)
    assert result.returncode == 1
    assert "chat: 1 rows kept of 2 (sharegpt)" in result.stdout
    assert "  ERROR: LLaMA-Factory dropped 1 row(s) as invalid" in result.stdout
    gone = run_cli("check", "data", "chat", "gone", "--data-dir", data)  # registered, its file never written
    assert gone.returncode == 2 and gone.stderr.strip() == (
        f"error: {data / 'dataset_info.json'}: dataset 'gone' is registered but {data / 'missing.jsonl'} is not "
        f"there: convert it first (llm-recipes convert generic --input FILE --name gone --data-dir {data} ...)")


def test_unregistered_names_are_a_one_line_error(tmp_path: Path) -> None:
    (tmp_path / "dataset_info.json").write_text("{}", encoding="utf-8")
    result = run_script("scripts/check_data.py", "nope", "--data-dir", tmp_path)
    assert result.returncode == 2
    expected = (f"error: {tmp_path}/dataset_info.json: dataset 'nope' is not registered: convert it first "
                f"(llm-recipes convert generic --input FILE --name nope --data-dir {tmp_path} ...)")
    assert result.stderr.strip() == expected
    known = run_script("scripts/check_data.py", "yelp5_val", "--data-dir", tmp_path)  # a dataset of a report
    assert known.stderr.strip() == (f"error: {tmp_path}/dataset_info.json: dataset 'yelp5_val' is not registered: "
                                    "make it with: python converters/yelp.py --hf Yelp/yelp_review_full --max-samples "
                                    f"8000 --val-size 500 --data-dir {tmp_path}")


def test_committed_registry_holds_each_converters_own_entries(all_datasets: Path) -> None:
    """data/dataset_info.json (what the recipes are checked against) matches what the converters write."""
    made = json.loads((all_datasets / "dataset_info.json").read_text(encoding="utf-8"))
    committed = json.loads((ROOT / "data" / "dataset_info.json").read_text("utf-8"))
    shared = set(made) & set(committed)
    assert len(shared) >= 12
    for name in shared:
        assert committed[name] == made[name], name
    for name in ("yelp5_val", "tulu3_personas_if_val", "ultrafeedback_dpo_val"):
        base = committed[name[:-4]]
        assert committed[name] == {**base, "file_name": f"{name}.jsonl"}


def test_repeats_inside_a_set_exact_and_near(tmp_path: Path) -> None:
    """A copy in capitals repeats exactly once normalised; three words swapped in a 40-word row leave 33 of 45
    bigrams shared (Jaccard 0.733 >= 0.7); the shared instruction is masked out, the other rows are unrelated."""
    import random

    rng = random.Random(3)
    words = [f"w{i}" for i in range(3000)]
    rows = [" ".join(rng.choice(words) for _ in range(40)) for _ in range(30)]
    near = rows[5].split()
    for position, word in zip((10, 20, 30), ("x1", "x2", "x3"), strict=True):
        near[position] = word
    instruction = "Answer the question below with one word only please and nothing more than that word at all"
    data = tmp_path / "data"
    write_jsonl(data / "s.jsonl", [{"instruction": instruction, "input": r, "output": "a"}
                                   for r in [*rows, rows[2].upper(), " ".join(near)]])
    (data / "dataset_info.json").write_text(json.dumps({"s": {"file_name": "s.jsonl"}}), encoding="utf-8")
    ran = run_cli("check", "data", "s", "--data-dir", data, "--json", tmp_path / "r.json")
    assert ran.returncode == 0, ran.stderr
    found = json.loads((tmp_path / "r.json").read_text(encoding="utf-8"))["s"]["duplicates"]
    assert (found["exact"], found["near"]) == (1, 1)
    assert found["examples"] == [{"row": "line 32", "like": "line 6", "jaccard": 0.733,
                                  "text": found["examples"][0]["text"]}]
    assert "repeats: 1 row(s) repeat an earlier row (normalised prompt), 1 nearly" in ran.stdout
