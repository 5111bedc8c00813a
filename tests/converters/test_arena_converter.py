"""converters/arena.py on fixtures in the Kaggle competition's CSV layout."""

from __future__ import annotations

import csv
import hashlib
import json
from collections import Counter
from pathlib import Path

import pytest
from conftest import rows_of, run_cli, run_script, write_jsonl
from raw_formats import battle, competition, write_csv

from recipekit.converters import arena


def test_one_battle_becomes_exact_rows_with_its_swap_and_preference(tmp_path: Path) -> None:
    raw = write_csv(tmp_path / "train.csv", [battle(7, ["Hi?", "And 2+2?"], ["Hello", "4"], ["Hey", None], "A")])
    result = arena.main(["--input", str(raw), "--data-dir", str(tmp_path / "data")])
    fold = id_fold("7", 5)
    original = ("### Prompt\n[Turn 1] Hi?\n\n[Turn 2] And 2+2?\n\n### Response A\n[Turn 1] Hello\n\n[Turn 2] 4\n\n"
                "### Response B\n[Turn 1] Hey\n\n[Turn 2]")
    swapped = ("### Prompt\n[Turn 1] Hi?\n\n[Turn 2] And 2+2?\n\n### Response A\n[Turn 1] Hey\n\n[Turn 2]\n\n"
               "### Response B\n[Turn 1] Hello\n\n[Turn 2] 4")
    assert rows_of(tmp_path / "data" / "arena.jsonl") == [
        {"id": "7", "fold": fold, "swapped": False, "instruction": arena.INSTRUCTION, "input": original, "output": "A"},
        {"id": "7", "fold": fold, "swapped": True, "instruction": arena.INSTRUCTION, "input": swapped, "output": "B"},
    ]
    assert rows_of(tmp_path / "data" / "arena_pref.jsonl") == [
        {"id": "7", "instruction": "[Turn 1] Hi?\n\n[Turn 2] And 2+2?", "input": "",
         "chosen": "[Turn 1] Hello\n\n[Turn 2] 4", "rejected": "[Turn 1] Hey\n\n[Turn 2]"}]
    assert dict(result.log.fixes) == {arena.NULL_TURN: 1}
    info = json.loads((tmp_path / "data" / "dataset_info.json").read_text(encoding="utf-8"))
    assert info["arena_pref"] == {"file_name": "arena_pref.jsonl", "formatting": "alpaca", "ranking": True,
                                  "columns": {"prompt": "instruction", "query": "input", "chosen": "chosen",
                                              "rejected": "rejected"}, "converter": "arena"}
    assert info["arena"]["columns"] == {"prompt": "instruction", "query": "input", "response": "output"}


def id_fold(row_id: str, folds: int) -> int:
    """The documented fold: the first 64 bits of the id text's sha256, modulo the fold count."""
    return int.from_bytes(hashlib.sha256(row_id.encode()).digest()[:8], "big") % folds


def assert_swapped_copy(folder: Path, name: str) -> None:
    """NAME_swapped holds NAME's rows in the same order with the responses exchanged and A/B flipped."""
    plain, swapped = rows_of(folder / f"{name}.jsonl"), rows_of(folder / f"{name}_swapped.jsonl")
    assert [r["id"] for r in swapped] == [r["id"] for r in plain] and all(r["swapped"] for r in swapped)
    assert [r["output"] for r in swapped] == [{"A": "B", "B": "A"}.get(r["output"], r["output"]) for r in plain]
    for before, after in zip(plain, swapped, strict=True):
        head, rest = before["input"].split("\n\n### Response A\n")
        response_a, response_b = rest.split("\n\n### Response B\n")
        assert after["input"] == f"{head}\n\n### Response A\n{response_b}\n\n### Response B\n{response_a}"


def test_swap_flips_a_and_b_and_keeps_tie(tmp_path: Path) -> None:
    result = arena.main(["--input", str(competition(tmp_path / "kaggle")), "--data-dir", str(tmp_path / "data")])
    rows = rows_of(tmp_path / "data" / "arena.jsonl")
    by_key = {(r["id"], r["swapped"]): r for r in rows}
    assert len(by_key) == 60 and result.counts["arena"] == 60
    assert result.read == 32  # 30 battles in train.csv, 2 in test.csv
    assert result.balance["arena"] == {"A": 20, "B": 20, "tie": 20}
    flip = {"A": "B", "B": "A", "tie": "tie"}
    for (row_id, swapped), row in by_key.items():
        if swapped:
            twin = by_key[(row_id, False)]
            assert row["output"] == flip[twin["output"]]
            i = int(row_id) - 1000
            expected = f"### Prompt\nquestion {i}\n\n### Response A\nanswer b{i}\n\n### Response B\nanswer a{i}"
            assert row["input"] == expected
    assert Counter(r["output"] for r in rows) == {"A": 20, "B": 20, "tie": 20}
    # ties never reach the preference set; they are counted as left out
    assert result.counts["arena_pref"] == 20
    for pref in rows_of(tmp_path / "data" / "arena_pref.jsonl"):
        i = int(pref["id"]) - 1000
        winner, loser = (f"answer a{i}", f"answer b{i}") if i % 3 == 0 else (f"answer b{i}", f"answer a{i}")
        assert (pref["instruction"], pref["chosen"], pref["rejected"]) == (f"question {i}", winner, loser)
    assert result.log.omitted == {"tie, no preference (from arena_pref only)": 10}
    test_rows = rows_of(tmp_path / "data" / "arena_test.jsonl")
    assert [(r["id"], r["output"]) for r in test_rows] == [("136060", ""), ("211333", "")]
    assert test_rows[1]["input"].endswith("### Response B\n[Turn 1] s1\n\n[Turn 2]")
    assert_swapped_copy(tmp_path / "data", "arena_test")


def test_folds_are_stable_by_id_and_hold_out_one_fold(tmp_path: Path) -> None:
    folder = competition(tmp_path / "kaggle", battles=60)
    arena.main(["--input", str(folder), "--data-dir", str(tmp_path / "a"), "--fold", "2", "--no-swap-augment"])
    train, val = rows_of(tmp_path / "a" / "arena.jsonl"), rows_of(tmp_path / "a" / "arena_val.jsonl")
    assert {r["fold"] for r in val} == {2} and 2 not in {r["fold"] for r in train}
    assert len(train) + len(val) == 60 and val
    assert all(r["fold"] == id_fold(r["id"], 5) for r in train + val)
    with (folder / "train.csv").open(encoding="utf-8", newline="") as handle:
        rows = list(csv.reader(handle))
    # the first and last fold can be held out; --max-samples and --seed pick among the other folds' rows
    picked = []
    for run, (fold, seed) in enumerate(((0, "1"), (4, "1"), (4, "2"), (4, "1"))):
        out = tmp_path / f"run{run}"
        arena.main(["--input", str(folder), "--data-dir", str(out), "--fold", str(fold), "--no-swap-augment",
                    "--max-samples", "9", "--seed", seed])
        held = [r["id"] for r in rows_of(out / "arena_val.jsonl")]
        assert held == [r[0] for r in rows[1:] if id_fold(r[0], 5) == fold]
        picked.append({r["id"] for r in rows_of(out / "arena.jsonl")})
        assert len(picked[-1]) == 9 and not picked[-1] & set(held)
    assert picked[1] != picked[2] and picked[1] == picked[3]
    # the fold of an id does not depend on which other rows are there or their order
    write_csv(tmp_path / "shuffled" / "train.csv", list(reversed(rows[1:]))[:25])
    arena.main(["--input", str(tmp_path / "shuffled"), "--data-dir", str(tmp_path / "b"), "--no-swap-augment"])
    folds = {r["id"]: r["fold"] for r in train + val}
    assert all(folds[r["id"]] == r["fold"] for r in rows_of(tmp_path / "b" / "arena.jsonl"))
    assert arena.fold_of("30192", 5) == arena.fold_of(30192, 5)  # CSV text ids and parquet int ids agree


def test_same_input_and_seed_give_the_same_bytes(tmp_path: Path) -> None:
    folder = competition(tmp_path / "kaggle")
    outs = []
    for run, seed in (("a", "3"), ("b", "3"), ("c", "4")):
        result = arena.main(["--input", str(folder), "--data-dir", str(tmp_path / run), "--val-size", "6",
                             "--seed", seed])
        outs.append(tuple((tmp_path / run / f"arena{s}.jsonl").read_bytes() for s in ("", "_val", "_pref", "_test")))
    assert outs[0] == outs[1] and outs[0][0] != outs[2][0]
    balance = {"A": 2, "B": 2, "tie": 2}  # counted from the rows written, swapped or not
    assert result.balance == {"arena": {"A": 16, "B": 16, "tie": 16}, "arena_val": balance,
                              "arena_val_swapped": balance}
    assert Counter(r["output"] for r in rows_of(tmp_path / "a" / "arena_val.jsonl")) == {"A": 2, "B": 2, "tie": 2}
    assert_swapped_copy(tmp_path / "a", "arena_val")


def test_long_fields_keep_head_and_tail_within_their_own_budget(tmp_path: Path) -> None:
    long_a = "HEAD" + "x" * 500 + "TAIL"
    raw = write_csv(tmp_path / "train.csv", [battle(1, ["short prompt"], [long_a], ["short b"], "B")])
    result = arena.main(["--input", str(raw), "--data-dir", str(tmp_path / "data"), "--response-budget", "40",
                         "--no-swap-augment"])
    text = rows_of(tmp_path / "data" / "arena.jsonl")[0]["input"]
    response_a = text.split("### Response A\n")[1].split("\n\n### Response B")[0]
    assert response_a == "HEAD" + "x" * 16 + "\n[... 468 chars cut ...]\n" + "x" * 16 + "TAIL"
    assert text.endswith("### Response B\nshort b") and "short prompt" in text
    assert dict(result.log.fixes) == {"response_a cut to its budget (head + tail kept)": 1}


def test_token_budget_uses_the_tokenizer(tmp_path: Path) -> None:
    from recipekit.recipes.tiny_model import train_tokenizer

    tokenizer = train_tokenizer([f"word{i} " * 3 for i in range(200)], 600, [])
    tokenizer.save_pretrained(tmp_path / "tok")
    long_b = " ".join(f"word{i}" for i in range(100))
    raw = write_csv(tmp_path / "train.csv", [battle(1, ["p"], ["a"], [long_b], "A")])
    arena.main(["--input", str(raw), "--data-dir", str(tmp_path / "data"), "--budget-unit", "tokens",
                "--tokenizer", str(tmp_path / "tok"), "--response-budget", "10", "--no-swap-augment"])
    response_b = rows_of(tmp_path / "data" / "arena.jsonl")[0]["input"].split("### Response B\n")[1]
    head, marker, tail = response_b.split("\n")
    kept = len(tokenizer.encode(head, add_special_tokens=False)) + len(tokenizer.encode(tail, add_special_tokens=False))
    total = len(tokenizer.encode(long_b, add_special_tokens=False))
    assert kept == 10 and marker == f"[... {total - 10} tokens cut ...]"
    assert head.startswith("word0") and tail.endswith("word99")


def test_bad_rows_are_cleaned_or_counted_with_reasons(tmp_path: Path) -> None:
    raw = tmp_path / "train.csv"
    rows = [
        battle(1, ["fine"], ["a"], ["b"], "A"),
        ["2", "m", "n", "[not json", '["a"]', '["b"]', "1", "0", "0"],
        ["3", "m", "n", '{"a": 1}', '["a"]', '["b"]', "1", "0", "0"],
        ["4", "m", "n", '["p"]', '["a"]', '["b"]', "1", "1", "0"],
        ["5", "m", "n", '["p"]', '["a"]', '["b"]', "yes", "0", "0"],
        ["6", "m", "n", '["\\ud83d lone"]', '["a"]', '["b"]', "0", "1", "0"],
        ["7", "m", "n", "[null]", '["a"]', '["b"]', "0", "1", "0"],
        ["8", "m", "n", '["p"]', '[1]', '["b"]', "0", "1", "0"],
        ["10", "m", "n", '["float flags"]', '["a"]', '["b"]', "0.0", "1.0", "0.0"],
        ["11", "m", "n", '["bool flags"]', '["a"]', '["b"]', "False", "False", "True"],
        ["12", "m", "n", '["p"]', '["a"]', '["b"]', "0", "0", "0"],
        ["13", "m", "n", '["p"]', '["a"]', '7', "0", "0", "1"],
    ]
    write_csv(raw, rows)
    with raw.open("ab") as handle:
        handle.write(b'9,m,n,"[""caf\xe9 latin-1""]","[""a""]","[""b""]",0,0,1\n')
    result = run_cli("convert", "arena", "--input", raw, "--data-dir", tmp_path / "data", "--no-swap-augment")
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "read 13 rows, skipped 8" in out
    for line in (
        f"skipped 1 row(s): invalid JSON in prompt (Expecting value); e.g. {raw}:3 (field prompt = '[not json', "
        "at character 1)",
        f"skipped 1 row(s): prompt is not a JSON-encoded list; e.g. {raw}:4 (field prompt = '{{\"a\": 1}}')",
        f"skipped 2 row(s): winner columns do not hold exactly one 1; e.g. {raw}:5 "
        "(field winner_model_a/winner_model_b/winner_tie",
        f"skipped 1 row(s): winner_model_a is not 0 or 1; e.g. {raw}:6 (field winner_model_a = 'yes')",
        f"skipped 1 row(s): empty prompt; e.g. {raw}:8 (field prompt = '[null]')",
        f"skipped 1 row(s): response_a holds a non-string turn; e.g. {raw}:9 (field response_a = '[1]')",
        f"skipped 1 row(s): response_b is not a JSON-encoded list; e.g. {raw}:13 (field response_b = '7')",
        f"repaired 1 time(s), row kept: lone surrogate in JSON text replaced with U+FFFD; e.g. {raw}:7 (field prompt)",
        "repaired 1 time(s), row kept: broken UTF-8 or lone surrogate replaced with U+FFFD; "
        f"e.g. {raw}:14 (field prompt)",
        "left out 2 row(s): tie, no preference (from arena_pref only); e.g. id 11 (field winner_tie); "
        "id 9 (field winner_tie)",
    ):
        assert line in out
    kept = {r["input"].split("\n")[1]: r["output"] for r in rows_of(tmp_path / "data" / "arena.jsonl")}
    assert kept == {"fine": "A", "\ufffd lone": "B", "float flags": "B", "bool flags": "tie",
                    "caf\ufffd latin-1": "tie"}


def test_hub_rows_may_hold_turn_lists_instead_of_json_text(tmp_path: Path) -> None:
    """--hf reads through datasets.load_dataset; a parquet copy may hold the turns as lists and the flags as ints."""
    import pandas as pd

    hub = tmp_path / "arena_hub"
    (hub / "data").mkdir(parents=True)  # the hub's layout, which only datasets.load_dataset reads
    pd.DataFrame([{"id": 5, "model_a": "x", "model_b": "y", "prompt": ["Hi", "More"], "response_a": ["a1", "a2"],
                   "response_b": ["b1", "b2"], "winner_model_a": 0, "winner_model_b": 1, "winner_tie": 0}]
                 ).to_parquet(hub / "data" / "train-00000-of-00001.parquet")
    result = arena.main(["--hf", str(hub), "--data-dir", str(tmp_path / "data"), "--no-swap-augment"])
    assert result.read == 1
    [row] = rows_of(tmp_path / "data" / "arena.jsonl")
    assert (row["id"], row["fold"], row["output"]) == (5, id_fold("5", 5), "B")
    assert row["input"] == ("### Prompt\n[Turn 1] Hi\n\n[Turn 2] More\n\n### Response A\n[Turn 1] a1\n\n"
                            "[Turn 2] a2\n\n### Response B\n[Turn 1] b1\n\n[Turn 2] b2")


def test_a_turn_field_that_is_neither_text_nor_a_list_is_skipped(tmp_path: Path) -> None:
    raw = write_jsonl(tmp_path / "train.jsonl", [
        {"id": 1, "prompt": ["ok"], "response_a": ["a"], "response_b": ["b"], "winner_model_a": 1,
         "winner_model_b": 0, "winner_tie": 0},
        {"id": 2, "prompt": 17, "response_a": ["a"], "response_b": ["b"], "winner_model_a": 1,
         "winner_model_b": 0, "winner_tie": 0}])
    result = run_cli("convert", "arena", "--input", raw, "--data-dir", tmp_path / "data")
    assert result.returncode == 0, result.stderr
    assert f"skipped 1 row(s): prompt is not a JSON-encoded list; e.g. {raw}:2 (field prompt = 17)" in result.stdout


@pytest.mark.parametrize(("args", "message"), [
    (["--fold", "5"], "error: --fold must be in 0..4"),
    (["--budget-unit", "tokens"], "error: --budget-unit tokens needs --tokenizer PATH_OR_HUB_ID"),
])
def test_bad_flags_are_one_line_errors(tmp_path: Path, args: list[str], message: str) -> None:
    result = run_cli("convert", "arena", "--input", competition(tmp_path), *args)
    assert (result.returncode, result.stderr.strip()) == (2, message)


@pytest.mark.integration
def test_the_script_runs_on_its_own(tmp_path: Path) -> None:
    result = run_script("converters/arena.py", "--input", competition(tmp_path), "--fold", "5")
    assert result.returncode == 2 and result.stderr.strip() == "error: --fold must be in 0..4"


def test_max_samples_caps_the_training_battles_after_the_held_out_ones(tmp_path: Path) -> None:
    result = arena.main(["--input", str(competition(tmp_path / "kaggle")), "--data-dir", str(tmp_path / "data"),
                         "--val-size", "6", "--max-samples", "9"])
    assert (result.counts["arena"], result.counts["arena_val"]) == (18, 6)  # 9 battles and their swapped copies
