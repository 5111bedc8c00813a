"""converters/arena.py on fixtures in the Kaggle competition's CSV layout."""

from __future__ import annotations

import csv
import json
from collections import Counter
from pathlib import Path

import pytest
from conftest import rows_of, run_script
from raw_formats import battle, competition, write_csv

from recipekit.converters import arena


def test_one_battle_becomes_exact_rows_with_its_swap_and_preference(tmp_path: Path) -> None:
    raw = write_csv(tmp_path / "train.csv", [battle(7, ["Hi?", "And 2+2?"], ["Hello", "4"], ["Hey", None], "A")])
    result = arena.main(["--input", str(raw), "--data-dir", str(tmp_path / "data")])
    fold = arena.fold_of("7", 5)
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
    assert all(r["fold"] == arena.fold_of(r["id"], 5) for r in train + val)
    # the fold of an id does not depend on which other rows are there or their order
    rows = list(csv.reader((folder / "train.csv").open(encoding="utf-8")))
    write_csv(tmp_path / "shuffled" / "train.csv", list(reversed(rows[1:]))[:25])
    arena.main(["--input", str(tmp_path / "shuffled"), "--data-dir", str(tmp_path / "b"), "--no-swap-augment"])
    folds = {r["id"]: r["fold"] for r in train + val}
    assert all(folds[r["id"]] == r["fold"] for r in rows_of(tmp_path / "b" / "arena.jsonl"))
    assert arena.fold_of("30192", 5) == arena.fold_of(30192, 5)  # CSV text ids and parquet int ids agree


def test_same_input_and_seed_give_the_same_bytes(tmp_path: Path) -> None:
    folder = competition(tmp_path / "kaggle")
    outs = []
    for run, seed in (("a", "3"), ("b", "3"), ("c", "4")):
        arena.main(["--input", str(folder), "--data-dir", str(tmp_path / run), "--val-size", "6", "--seed", seed])
        outs.append(tuple((tmp_path / run / f"arena{s}.jsonl").read_bytes() for s in ("", "_val", "_pref", "_test")))
    assert outs[0] == outs[1] and outs[0][0] != outs[2][0]
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


@pytest.mark.integration
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
    ]
    write_csv(raw, rows)
    with raw.open("ab") as handle:
        handle.write(b'9,m,n,"[""caf\xe9 latin-1""]","[""a""]","[""b""]",0,0,1\n')
    result = run_script("converters/arena.py", "--input", raw, "--data-dir", tmp_path / "data")
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "read 9 rows, skipped 6" in out
    for line in (
        f"skipped 1 row(s): invalid JSON in prompt (Expecting value); e.g. {raw}:3 (field prompt = '[not json', "
        "at character 1)",
        f"skipped 1 row(s): prompt is not a JSON-encoded list; e.g. {raw}:4 (field prompt = '{{\"a\": 1}}')",
        f"skipped 1 row(s): winner columns do not hold exactly one 1; e.g. {raw}:5",
        f"skipped 1 row(s): winner_model_a is not 0 or 1; e.g. {raw}:6 (field winner_model_a = 'yes')",
        f"skipped 1 row(s): empty prompt; e.g. {raw}:8 (field prompt = '[null]')",
        f"skipped 1 row(s): response_a holds a non-string turn; e.g. {raw}:9 (field response_a = '[1]')",
        f"repaired 1 time(s), row kept: lone surrogate in JSON text replaced with U+FFFD; e.g. {raw}:7 (field prompt)",
        "repaired 1 time(s), row kept: broken UTF-8 or lone surrogate replaced with U+FFFD; "
        f"e.g. {raw}:10 (field prompt)",
    ):
        assert line in out
    prompts = sorted(json.loads(line)["input"].split("\n")[1] for line in
                     (tmp_path / "data" / "arena.jsonl").read_text(encoding="utf-8").splitlines())
    assert prompts == ["caf\ufffd latin-1", "caf\ufffd latin-1", "fine", "fine", "\ufffd lone", "\ufffd lone"]


@pytest.mark.integration
@pytest.mark.parametrize(("args", "message"), [
    (["--fold", "5"], "error: --fold must be in 0..4"),
    (["--budget-unit", "tokens"], "error: --budget-unit tokens needs --tokenizer PATH_OR_HUB_ID"),
])
def test_bad_flags_are_one_line_errors(tmp_path: Path, args: list[str], message: str) -> None:
    result = run_script("converters/arena.py", "--input", competition(tmp_path), *args)
    assert result.returncode == 2 and result.stderr.strip() == message
