"""converters/tulu.py (ShareGPT SFT) and converters/ultrafeedback.py (ShareGPT preferences) on fixtures."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from conftest import msg, rows_of, run_script, tulu_row, uf_row, write_jsonl

from recipekit.converters import tulu, ultrafeedback

OPENAI_TAGS = {"role_tag": "role", "content_tag": "content", "user_tag": "user", "assistant_tag": "assistant",
               "system_tag": "system"}


def test_tulu_rows_become_sharegpt_with_tags_and_system_kept(tmp_path: Path) -> None:
    system = [msg("system", "You are terse."), msg("user", "Hi"), msg("assistant", "Hello"), msg("user", "Bye"),
              msg("assistant", "Bye.")]
    raw = write_jsonl(tmp_path / "train.jsonl", [tulu_row(0), tulu_row(1, system)])
    tulu.main(["--input", str(raw), "--data-dir", str(tmp_path / "data")])
    rows = sorted(rows_of(tmp_path / "data" / "tulu3_personas_if.jsonl"), key=lambda r: r["id"])
    assert rows == [
        {"id": "personas_IF_0", "messages": [msg("user", "Write a haiku about topic 0. Use no commas."),
                                             msg("assistant", "haiku 0")], "constraints": ["Use no commas."]},
        {"id": "personas_IF_1", "messages": system, "constraints": ["Use no commas."]},
    ]
    info = json.loads((tmp_path / "data" / "dataset_info.json").read_text(encoding="utf-8"))
    assert info == {"tulu3_personas_if": {"file_name": "tulu3_personas_if.jsonl", "formatting": "sharegpt",
                                          "columns": {"messages": "messages"}, "tags": OPENAI_TAGS,
                                          "converter": "tulu"}}


@pytest.mark.parametrize(("messages", "reason", "where_field"), [
    ([msg("assistant", "x"), msg("user", "y")], "roles do not alternate user/assistant (message 1 is assistant)",
     "messages"),
    ([msg("user", "a"), msg("user", "b"), msg("assistant", "c")],
     "roles do not alternate user/assistant (message 2 is user)", "messages"),
    ([msg("user", "a"), msg("system", "late"), msg("assistant", "c")], "system message not at the start (message 2)",
     "messages"),
    ([msg("user", "a"), msg("assistant", "b"), msg("user", "c")], "conversation ends with a user turn (expected "
     "assistant)", "messages"),
    ([msg("user", "a"), msg("assistant", "  ")], "empty or missing content (message 2)", "messages"),
    ([msg("user", "a"), msg("bot", "b")], "unknown role 'bot' (message 2)", "messages"),
    ([msg("system", "only")], "no user/assistant turns", "messages"),
    ("[{\"role\": \"user\"", "invalid JSON in messages (Expecting ',' delimiter)", "messages"),
    ({"role": "user"}, "messages is not a list of role/content messages", "messages"),
    ([msg("user", "a"), "a bare string"], "messages is not a list of role/content messages", "messages"),
    ([msg("system", "s"), msg("user", "a"), msg("user", "b"), msg("assistant", "c")],
     "roles do not alternate user/assistant (message 3 is user)", "messages"),  # counted from the system message
])
def test_tulu_broken_conversations_are_counted(tmp_path: Path, messages: object, reason: str,
                                               where_field: str) -> None:
    raw = write_jsonl(tmp_path / "train.jsonl", [tulu_row(0), tulu_row(1, messages)])  # type: ignore[arg-type]
    result = tulu.main(["--input", str(raw), "--data-dir", str(tmp_path / "data")])
    assert dict(result.log.counts) == {reason: 1}
    [example] = result.log.examples[reason]
    assert example.startswith(f"{raw}:2 (field {where_field} = ")  # the offending value follows
    assert example.removeprefix(f"{raw}:2 (field {where_field} = ").startswith(repr(messages)[:20])
    assert result.counts == {"tulu3_personas_if": 1}


def test_tulu_split_is_seeded_and_byte_identical(tmp_path: Path) -> None:
    raw = write_jsonl(tmp_path / "train.jsonl", [tulu_row(i) for i in range(20)])
    outs = []
    for run, seed in (("a", "5"), ("b", "5"), ("c", "6")):
        tulu.main(["--input", str(raw), "--data-dir", str(tmp_path / run), "--val-size", "4", "--seed", seed])
        outs.append((tmp_path / run / "tulu3_personas_if_val.jsonl").read_bytes())
    assert outs[0] == outs[1] != outs[2]
    train = rows_of(tmp_path / "a" / "tulu3_personas_if.jsonl")
    val = rows_of(tmp_path / "a" / "tulu3_personas_if_val.jsonl")
    assert (len(train), len(val)) == (16, 4) and not {r["id"] for r in train} & {r["id"] for r in val}


def test_ultrafeedback_rows_become_sharegpt_preferences(tmp_path: Path) -> None:
    raw = write_jsonl(tmp_path / "train_prefs.jsonl", [uf_row(0)])
    ultrafeedback.main(["--input", str(raw), "--data-dir", str(tmp_path / "data")])
    assert rows_of(tmp_path / "data" / "ultrafeedback_dpo.jsonl") == [
        {"id": "p0", "conversations": [msg("user", "Explain idea 0.")], "chosen": msg("assistant", "good answer 0"),
         "rejected": msg("assistant", "weak answer 0")}]
    info = json.loads((tmp_path / "data" / "dataset_info.json").read_text(encoding="utf-8"))
    assert info["ultrafeedback_dpo"] == {
        "file_name": "ultrafeedback_dpo.jsonl", "formatting": "sharegpt", "ranking": True,
        "columns": {"messages": "conversations", "chosen": "chosen", "rejected": "rejected"}, "tags": OPENAI_TAGS,
        "converter": "ultrafeedback"}


def test_ultrafeedback_bad_pairs_are_counted(tmp_path: Path) -> None:
    rows = [uf_row(0), uf_row(1, 5.0, 5.0), uf_row(2, 3.0, 6.0), uf_row(3, rejected=[msg("user", "other"),
            msg("assistant", "x")]), uf_row(4, score_chosen=None), uf_row(5, score_rejected="n/a"),
            uf_row(6, chosen=[msg("user", "Explain idea 6.")])]
    raw = write_jsonl(tmp_path / "train_prefs.jsonl", rows)
    result = ultrafeedback.main(["--input", str(raw), "--data-dir", str(tmp_path / "data")])
    assert dict(result.log.counts) == {
        "equal scores (no preference)": 1, "score_chosen below score_rejected": 1,
        "chosen and rejected conversations differ before the answer": 1, "missing value": 1,
        "score_rejected is not a number": 1, "conversation ends with a user turn (expected assistant)": 1}
    assert result.log.examples["equal scores (no preference)"] == [f"{raw}:2 (field score_chosen/score_rejected)"]
    assert result.counts == {"ultrafeedback_dpo": 1}


def test_ultrafeedback_names_the_field_each_bad_pair_failed_on(tmp_path: Path) -> None:
    """Each skip points at its line and the field to look at; a NaN score is not a number either."""
    ends_with_user = [msg("user", "Explain idea 9."), msg("assistant", "x"), msg("user", "and?")]
    rows = [uf_row(0), uf_row(1, chosen="not messages"), uf_row(2, rejected=7), uf_row(3, chosen=ends_with_user),
            uf_row(4, rejected=ends_with_user), uf_row(5, rejected=[msg("user", "other"), msg("assistant", "x")]),
            uf_row(6, 3.0, 6.0), uf_row(7, score_chosen="n/a"), uf_row(8, float("nan"), 2.0),
            uf_row(9, 1.0, float("nan"))]
    raw = write_jsonl(tmp_path / "train_prefs.jsonl", rows)
    result = ultrafeedback.main(["--input", str(raw), "--data-dir", str(tmp_path / "data")])
    fields = {reason: [re.search(r":(\d+) \(field ([\w/]+)", place).groups() for place in places]
              for reason, places in result.log.examples.items()}
    assert fields == {"invalid JSON in chosen (Expecting value)": [("2", "chosen")],
                      "rejected is not a list of role/content messages": [("3", "rejected")],
                      "conversation ends with a user turn (expected assistant)": [("4", "chosen"), ("5", "rejected")],
                      "chosen and rejected conversations differ before the answer": [("6", "chosen/rejected")],
                      "score_chosen below score_rejected": [("7", "score_chosen/score_rejected")],
                      "score_chosen is not a number": [("8", "score_chosen"), ("9", "score_chosen")],
                      "score_rejected is not a number": [("10", "score_rejected")]}


def test_ultrafeedback_keeps_every_turn_before_the_two_answers(tmp_path: Path) -> None:
    turns = [msg("system", "Be brief."), msg("user", "Explain idea 0."), msg("assistant", "Idea 0 is..."),
             msg("user", "Shorter?")]
    raw = write_jsonl(tmp_path / "train_prefs.jsonl", [uf_row(0, chosen=[*turns, msg("assistant", "good")],
                                                              rejected=[*turns, msg("assistant", "weak")])])
    ultrafeedback.main(["--input", str(raw), "--data-dir", str(tmp_path / "data")])
    assert rows_of(tmp_path / "data" / "ultrafeedback_dpo.jsonl") == [
        {"id": "p0", "conversations": turns, "chosen": msg("assistant", "good"), "rejected": msg("assistant", "weak")}]


def test_ultrafeedback_samples_20000_by_default_seeded(tmp_path: Path) -> None:
    assert ultrafeedback.build_parser().parse_args(["--input", "x"]).max_samples == 20000
    folder = tmp_path / "uf"
    write_jsonl(folder / "train_prefs.jsonl", [uf_row(i) for i in range(30)])
    write_jsonl(folder / "test_prefs.jsonl", [uf_row(100 + i) for i in range(10)])
    outs = []
    for run, seed in (("a", "1"), ("b", "1"), ("c", "2")):
        result = ultrafeedback.main(["--input", str(folder), "--data-dir", str(tmp_path / run), "--max-samples", "12",
                                     "--val-size", "3", "--seed", seed])
        outs.append((tmp_path / run / "ultrafeedback_dpo.jsonl").read_bytes())
    assert outs[0] == outs[1] != outs[2]
    assert result.counts == {"ultrafeedback_dpo": 12, "ultrafeedback_dpo_val": 3}
    val_ids = {r["id"] for r in rows_of(tmp_path / "a" / "ultrafeedback_dpo_val.jsonl")}
    assert val_ids <= {f"p{100 + i}" for i in range(10)}


def test_ultrafeedback_hub_layout_reads_only_the_preference_splits(tmp_path: Path) -> None:
    """A local copy of the hub repo (its README names the splits) read through datasets.load_dataset."""
    import pandas as pd

    repo = tmp_path / "ultrafeedback_binarized"
    (repo / "data").mkdir(parents=True)
    splits = {"train_prefs": 8, "test_prefs": 2, "train_sft": 5}
    for split, count in splits.items():
        rows = [uf_row(i + 100 * (split == "test_prefs")) for i in range(count)]  # test rows differ from train rows
        pd.DataFrame(rows).to_parquet(repo / "data" / f"{split}-00000-of-00001.parquet")
    files = "\n".join(f"  - split: {s}\n    path: data/{s}-*" for s in splits)
    (repo / "README.md").write_text(f"---\nconfigs:\n- config_name: default\n  data_files:\n{files}\n---\n")
    result = ultrafeedback.main(["--hf", str(repo), "--data-dir", str(tmp_path / "data")])
    assert result.read == 10
    assert result.counts == {"ultrafeedback_dpo": 8, "ultrafeedback_dpo_val": 2}


@pytest.mark.integration
def test_help_shows_examples() -> None:
    for script in ("converters/tulu.py", "converters/ultrafeedback.py"):
        result = run_script(script, "--help")
        assert result.returncode == 0 and f"llm-recipes convert {Path(script).stem} --" in result.stdout


@pytest.mark.parametrize(("module", "hub_id", "files"), [
    (tulu, "allenai/tulu-3-sft-personas-instruction-following", "parquet/JSONL/CSV files"),
    (ultrafeedback, "HuggingFaceH4/ultrafeedback_binarized", "parquet/JSONL files named train_prefs/test_prefs")])
def test_help_names_the_hub_id_and_the_files_input_takes(module: Any, hub_id: str, files: str) -> None:
    text = " ".join(module.build_parser().format_help().split())
    assert f"--hf HUB_ID hub id read with datasets.load_dataset (e.g. {hub_id})" in text
    assert f"--input INPUT {files}: a folder of split files" in text
