"""One conversion = one transaction: stale sets removed, overlap refused, encodings read, permissions kept."""

from __future__ import annotations

import json
import os
import stat
import threading
import time
from pathlib import Path

import pytest
from conftest import ROOT, agnews_rows, run_cli, write_jsonl, write_original_csv

from recipekit.data.dataset_info import default_data_dir
from recipekit.data.transaction import (
    Plan,
    StagedSet,
    check_makers,
    check_sets,
    commit,
    content_key,
    kind,
    lock_path,
    registry_lock,
    removal_lines,
)
from recipekit.errors import InputError
from recipekit.files import atomic_write_bytes, remove_file, writes_held


def registry_of(data: Path) -> dict:
    return json.loads((data / "dataset_info.json").read_text(encoding="utf-8"))


def lines_of(path: Path) -> list[str]:
    return path.read_text(encoding="utf-8").splitlines()


def test_a_rerun_without_val_removes_the_stale_split_it_would_contaminate(tmp_path: Path) -> None:
    raw = write_original_csv(tmp_path / "test.csv", agnews_rows(20))
    data = tmp_path / "data"
    first = run_cli("convert", "agnews", "--input", raw, "--data-dir", data, "--max-samples", "60", "--val-size", "20")
    assert first.returncode == 0 and set(registry_of(data)) == {"agnews", "agnews_val"}
    second = run_cli("convert", "agnews", "--input", raw, "--data-dir", data)
    assert second.returncode == 0, second.stderr
    assert set(registry_of(data)) == {"agnews"} and not (data / "agnews_val.jsonl").exists()
    assert f"removed stale dataset 'agnews_val' from {data / 'dataset_info.json'}" in second.stdout
    assert len(lines_of(data / "agnews.jsonl")) == 80


def test_a_held_out_row_that_is_also_a_training_row_is_refused_or_dropped(tmp_path: Path) -> None:
    rows = [{"text": f"same story {i % 10}", "label": i % 2} for i in range(40)]  # every text four times
    raw = write_jsonl(tmp_path / "dups.jsonl", rows)
    data = tmp_path / "data"
    args = ["convert", "generic", "--input", raw, "--name", "d", "--instruction", "Label it.", "--input-column",
            "text", "--output-column", "label", "--val-size", "10", "--data-dir", data]
    refused = run_cli(*args)
    assert refused.returncode == 2 and not data.exists()
    assert "row(s) of d are also in d_val (same prompt and answer)" in refused.stderr
    assert "--drop-overlap" in refused.stderr
    dropped = run_cli(*args, "--drop-overlap")
    assert dropped.returncode == 0, dropped.stderr
    train = {line for line in lines_of(data / "d.jsonl")}
    val = set(lines_of(data / "d_val.jsonl"))
    assert not train & val and len(lines_of(data / "d_val.jsonl")) == 10
    assert "left out" in dropped.stdout and "training row(s) of d (also in d_val)" in dropped.stdout
    assert "note: d_val: " in dropped.stdout  # duplicates inside a split are reported


def test_files_keep_the_usual_permissions(tmp_path: Path) -> None:
    raw = write_original_csv(tmp_path / "test.csv", agnews_rows(10))
    data = tmp_path / "data"
    data.mkdir()
    (data / "dataset_info.json").write_text("{}\n", encoding="utf-8")
    os.chmod(data / "dataset_info.json", 0o640)
    old = os.umask(0o022)
    try:
        assert run_cli("convert", "agnews", "--input", raw, "--data-dir", data, "--val-size", "8").returncode == 0
        report = run_cli("report", "classify", write_jsonl(tmp_path / "p.jsonl", [{"predict": "a", "label": "a"}]),
                         "--bootstrap", "0")
    finally:
        os.umask(old)
    assert report.returncode == 0
    assert stat.S_IMODE((data / "agnews.jsonl").stat().st_mode) == 0o644
    assert stat.S_IMODE((data / "dataset_info.json").stat().st_mode) == 0o640  # an existing file keeps its mode
    assert stat.S_IMODE((tmp_path / "classify_report.json").stat().st_mode) == 0o644


@pytest.mark.parametrize("encoding", ["utf-8-sig", "utf-16", "utf-32"])
def test_byte_order_marks_are_read_and_cost_no_row(tmp_path: Path, encoding: str) -> None:
    plain = write_original_csv(tmp_path / "plain.csv", agnews_rows(5))
    marked = tmp_path / "marked.csv"
    marked.write_bytes(plain.read_text(encoding="utf-8").encode(encoding))
    for name, path in (("plain", plain), ("marked", marked)):
        done = run_cli("convert", "agnews", "--input", path, "--data-dir", tmp_path / name)
        assert done.returncode == 0 and "skipped 0" in done.stdout, done.stdout
    assert (tmp_path / "plain" / "agnews.jsonl").read_bytes() == (tmp_path / "marked" / "agnews.jsonl").read_bytes()


def test_generic_reads_a_bom_header(tmp_path: Path) -> None:
    raw = tmp_path / "bom.csv"
    raw.write_bytes("text,label\n".encode("utf-8-sig") + "".join(f"row {i},{i % 2}\n" for i in range(8)).encode())
    done = run_cli("convert", "generic", "--input", raw, "--name", "g", "--input-column", "text", "--output-column",
                   "label", "--label-map", "0=no,1=yes", "--data-dir", tmp_path / "data")
    assert done.returncode == 0 and "read 8 rows, skipped 0" in done.stdout, done.stderr


def test_skip_reasons_show_the_bad_value(tmp_path: Path) -> None:
    raw = tmp_path / "bom.csv"
    raw.write_bytes(b'"1","ok","fine"\n"5","Bad","class"\n"2","more","rows"\n')
    done = run_cli("convert", "agnews", "--input", raw, "--data-dir", tmp_path / "data")
    assert f"class index not in 1-4; e.g. {raw}:2 (field class_index = '5')" in done.stdout


def write_together(writes: dict[Path, bytes], deletes: list[Path] = ()) -> None:  # type: ignore[assignment]
    with writes_held():
        for path, data in writes.items():
            atomic_write_bytes(path, data)
        for path in deletes:
            remove_file(path)


def test_write_together_puts_every_old_file_back_when_one_step_fails(tmp_path: Path,
                                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    files = {tmp_path / name: f"old {name}\n".encode() for name in ("a.jsonl", "b.jsonl", "index.json")}
    for path, data in files.items():
        path.write_bytes(data)
    (tmp_path / "stale.jsonl").write_bytes(b"stale\n")
    real_replace, calls = os.replace, []

    def failing_replace(src: str, dst: str) -> None:
        calls.append(dst)
        if len(calls) == 3:  # the third rename (the index) fails after two files were replaced
            raise OSError(28, "No space left on device", str(dst))
        real_replace(src, dst)

    monkeypatch.setattr(os, "replace", failing_replace)
    with pytest.raises(OSError, match="No space left"):
        write_together({path: b"new\n" for path in files}, [tmp_path / "stale.jsonl"])
    monkeypatch.setattr(os, "replace", real_replace)
    assert {p: p.read_bytes() for p in files} == files and (tmp_path / "stale.jsonl").read_bytes() == b"stale\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.jsonl", "b.jsonl", "index.json", "stale.jsonl"]
    write_together({path: b"new\n" for path in files}, [tmp_path / "stale.jsonl"])
    assert all(p.read_bytes() == b"new\n" for p in files) and not (tmp_path / "stale.jsonl").exists()
    with pytest.raises(InputError, match="is a folder, not a file"):
        write_together({tmp_path: b"x"})


def test_arena_writes_each_swapped_copy_right_after_its_original(tmp_path: Path) -> None:
    from raw_formats import competition

    done = run_cli("convert", "arena", "--input", competition(tmp_path / "kaggle"), "--val-size", "6",
                   "--data-dir", tmp_path / "data")
    assert done.returncode == 0, done.stderr
    rows = [json.loads(line) for line in lines_of(tmp_path / "data" / "arena.jsonl")]
    assert [r["swapped"] for r in rows] == [False, True] * (len(rows) // 2)
    assert all(a["id"] == b["id"] for a, b in zip(rows[::2], rows[1::2], strict=True))


def test_converters_write_into_the_data_folder_of_the_working_directory_or_root(tmp_path: Path,
                                                                                 agnews_folder: Path) -> None:
    assert default_data_dir() == ROOT / "data"  # the tests run from the repository root
    here, there = tmp_path / "here", tmp_path / "there"
    here.mkdir(), there.mkdir()
    first = run_cli("convert", "agnews", "--input", agnews_folder, cwd=here)
    assert first.returncode == 0
    written = sorted(p.name for p in (here / "data").iterdir())
    assert written == ["agnews.jsonl", "agnews_val.jsonl", "dataset_info.json"]
    assert [line for line in first.stdout.splitlines() if line.startswith(("wrote", "started"))] == [
        f"wrote 100 rows to {here / 'data' / 'agnews.jsonl'} (dataset 'agnews')",
        f"wrote 40 rows to {here / 'data' / 'agnews_val.jsonl'} (dataset 'agnews_val')",
        f"started a new registry {here / 'data' / 'dataset_info.json'}: there was none (--data-dir defaults to "
        "data/ of the working directory or --root)"]
    again = run_cli("convert", "agnews", "--input", agnews_folder, cwd=here)
    assert again.returncode == 0 and "started a new registry" not in again.stdout
    assert run_cli("--root", there, "convert", "agnews", "--input", agnews_folder, cwd=here).returncode == 0
    assert (there / "data" / "agnews.jsonl").read_bytes() == (here / "data" / "agnews.jsonl").read_bytes()
    result = run_cli("convert", "agnews", "--help", cwd=Path("/"))
    assert "data/ of the working directory or --root" in " ".join(result.stdout.split())


def test_an_unreachable_hub_fails_fast_in_one_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The hub is a local port that refuses connections (bound, not listening), whatever network this machine has;
    datasets and huggingface_hub are left as they were, offline mode only for the load."""
    import socket

    import datasets
    import huggingface_hub.constants

    before = datasets.config.HF_HUB_OFFLINE, huggingface_hub.constants.HF_HUB_OFFLINE
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        monkeypatch.setenv("HF_ENDPOINT", f"http://127.0.0.1:{closed.getsockname()[1]}")
        for name in ("HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE"):
            monkeypatch.delenv(name, raising=False)
        start = time.perf_counter()
        done = run_cli("convert", "agnews", "--hf", "no-such-org/no-such-dataset", "--data-dir", tmp_path / "data")
    assert done.returncode == 2 and time.perf_counter() - start < 20
    assert "the hub is unreachable and this dataset is not in the local datasets cache" in done.stderr
    assert "--input" in done.stderr and not (tmp_path / "data").exists()
    assert before == (datasets.config.HF_HUB_OFFLINE, huggingface_hub.constants.HF_HUB_OFFLINE)
    assert "HF_HUB_OFFLINE" not in os.environ and "HF_DATASETS_OFFLINE" not in os.environ


def test_a_folder_edited_between_runs_is_read_again(tmp_path: Path) -> None:
    """datasets caches a local folder by its name: the converter reads it afresh every time."""
    import pandas as pd
    from conftest import hub_records

    hub = tmp_path / "ag_news_hub"
    hub.mkdir()
    for prefix in ("First", "Second"):
        pd.DataFrame(hub_records(agnews_rows(4, prefix=prefix))).to_parquet(hub / "train.parquet")
        assert run_cli("convert", "agnews", "--hf", hub, "--data-dir", tmp_path / prefix).returncode == 0
        assert all(prefix in line for line in lines_of(tmp_path / prefix / "agnews.jsonl"))


def test_check_data_overlap_compares_sets_across_formats(tmp_path: Path) -> None:
    data = tmp_path / "data"
    alpaca = [{"instruction": "Label it.", "input": f"text {i}", "output": "yes"} for i in range(6)]
    chat = [{"messages": [{"role": "user", "content": f"Label it.\ntext {i}"}, {"role": "assistant", "content": "yes"}]}
            for i in range(4, 9)]
    write_jsonl(data / "a.jsonl", alpaca)
    write_jsonl(data / "b.jsonl", chat)
    (data / "dataset_info.json").write_text(json.dumps({
        "a": {"file_name": "a.jsonl"},
        "b": {"file_name": "b.jsonl", "formatting": "sharegpt", "columns": {"messages": "messages"},
              "tags": {"role_tag": "role", "content_tag": "content", "user_tag": "user", "assistant_tag": "assistant"}},
    }), encoding="utf-8")
    found = run_cli("check", "data", "a", "b", "--overlap", "--data-dir", data)
    assert found.returncode == 1, found.stderr
    assert "a (6 rows) against b (5 rows): 2 row(s) of a are also in b (2 distinct)" in found.stdout
    clean = run_cli("check", "data", "a", "a", "--data-dir", data, "--overlap")
    assert clean.returncode == 1  # a set against itself overlaps completely
    assert run_cli("check", "data", "a", "--overlap", "--data-dir", data).returncode == 2


def test_converters_take_an_instruction_for_prompt_sweeps(tmp_path: Path) -> None:
    from raw_formats import clue_folder, competition, reviews, write_yelp_csv

    sources = {"agnews": write_original_csv(tmp_path / "ag.csv", agnews_rows(5)),
               "yelp": write_yelp_csv(tmp_path / "yelp.csv", reviews(4)),
               "afqmc": clue_folder(tmp_path / "afqmc"), "arena": competition(tmp_path / "arena")}
    for name, source in sources.items():
        data = tmp_path / f"data_{name}"
        done = run_cli("convert", name, "--input", source, "--data-dir", data, "--instruction", "Label it.\\nNow.")
        assert done.returncode == 0, (name, done.stderr)
        registry = registry_of(data)
        for dataset in registry:
            rows = [json.loads(line) for line in lines_of(data / registry[dataset]["file_name"])]
            if "instruction" in rows[0] and dataset != "arena_pref":
                assert {row["instruction"] for row in rows} == {"Label it.\nNow."}, (name, dataset)


def staged(*rows: dict) -> StagedSet:
    return StagedSet(list(rows), {"formatting": "alpaca"}, [None] * len(rows))


def arena_row(i: int, winner: str, **bookkeeping: object) -> dict:
    return {"instruction": "Which response is better?", "input": f"### Prompt\nq{i}\n### Response A\na{i}\n"
            f"### Response B\nb{i}", "output": winner, **bookkeeping}


@pytest.mark.parametrize("held_name, held_row", [
    ("arena_val", arena_row(1, "A", id=901)),  # the same row under another id
    ("arena_val", arena_row(1, "A", id=1, fold=3)),  # the same row in another fold
    ("arena_val_swapped", arena_row(1, "A", id=1, swapped=True)),  # a swapped copy equal to a training row
])
def test_overlap_ignores_ids_folds_and_swap_marks(tmp_path: Path, held_name: str, held_row: dict) -> None:
    """A held-out row that shows the model the same prompt and answer as a training row is the same row, whatever
    its id, fold or swap mark: refused, or dropped from the training side only."""
    training = [arena_row(0, "B", id=0, fold=0), arena_row(1, "A", id=1, fold=0), arena_row(2, "tie", id=2, fold=1)]
    plan = Plan(tmp_path, {"arena": staged(*training), held_name: staged(held_row, arena_row(7, "B", id=7))})
    with pytest.raises(InputError, match=f"1 row\\(s\\) of arena are also in {held_name}"):
        check_sets(plan, "arena", drop_overlap=False)
    lines = check_sets(plan, "arena", drop_overlap=True)
    assert [json.loads(line)["id"] for line in lines["arena"]] == [0, 2]  # row 1 left the training set
    assert len(lines[held_name]) == 2 and plan.dropped == {f"arena (also in {held_name})": 1}


def test_the_same_prompt_with_another_answer_is_not_an_overlap(tmp_path: Path) -> None:
    """Arena repeats prompts with other responses and winners; AFQMC pairs share sentences: only prompt and answer
    together make a copy."""
    plan = Plan(tmp_path, {"arena": staged(arena_row(1, "A", id=1), arena_row(2, "B", id=2)),
                           "arena_val": staged(arena_row(1, "B", id=3), arena_row(1, "tie", id=4))})
    lines = check_sets(plan, "arena", drop_overlap=False)
    assert len(lines["arena"]) == 2 and not plan.dropped


def test_each_name_of_a_conversion_is_training_held_out_or_another_conversions() -> None:
    assert [kind(name, "afqmc") for name in ("afqmc", "afqmc_pref", "afqmc_val", "afqmc_test", "afqmc_val_swapped",
                                             "afqmc_test_swapped", "afqmc_extra", "afqmc2", "yelp5_val")] == [
        "training", "training", "held-out", "held-out", "held-out", "held-out", "other", "other", "other"]


def test_a_rows_content_key_is_its_line_without_bookkeeping_so_text_and_numbers_stay_apart() -> None:
    row = {"instruction": "比较", "input": "句子", "id": 7, "fold": 2, "swapped": True, "output": "是", "score": 1.5}
    assert content_key(row) == '{"instruction": "比较", "input": "句子", "output": "是", "score": 1.5}\n'
    assert content_key({"input": "1"}) != content_key({"input": 1})
    assert content_key({"input": "1", "id": 3}) == '{"input": "1"}\n'


def test_a_training_row_without_an_id_is_found_in_a_held_out_set_whose_rows_have_ids(tmp_path: Path) -> None:
    rows = [{"input": "a", "output": "x"}, {"input": "b", "output": "y"}]
    plan = Plan(tmp_path, {"s": staged(*rows), "s_val": staged({**rows[1], "id": 9}, {"input": "b", "output": 1})})
    lines = check_sets(plan, "s", drop_overlap=True)
    assert lines["s"] == ['{"input": "a", "output": "x"}\n'] and plan.dropped == {"s (also in s_val)": 1}
    numbers = Plan(tmp_path, {"s": staged({"input": "b", "output": "1"}), "s_val": staged({"input": "b", "output": 1,
                                                                                          "id": 1})})
    assert len(check_sets(numbers, "s", drop_overlap=False)["s"]) == 1  # the text "1" is not the number 1


def test_repeats_inside_a_set_are_noted_and_an_empty_set_is_refused(tmp_path: Path) -> None:
    a, b = {"input": "a", "output": "x"}, {"input": "b", "output": "y"}
    plan = Plan(tmp_path, {"s": staged(a, b, a, a), "s_val": staged(b, {"input": "c", "output": "z", "id": 1},
                                                                     {"input": "c", "output": "z", "id": 2})})
    with pytest.raises(InputError) as caught:
        check_sets(plan, "s", drop_overlap=False)
    assert str(caught.value) == (f"{tmp_path}: 1 row(s) of s are also in s_val (same prompt and answer): a held-out "
                                 "set must not overlap its training set; nothing was written (--drop-overlap "
                                 "removes them from s)")
    assert plan.notes == ["s: 2 row(s) repeat another row of s (same prompt and answer)",
                          "s_val: 1 row(s) repeat another row of s_val (same prompt and answer)"]
    plan = Plan(tmp_path, {"s": staged(a), "s_val": staged()})
    with pytest.raises(InputError) as caught:
        check_sets(plan, "s", drop_overlap=False)
    assert str(caught.value) == (f"{tmp_path / 's_val.jsonl'}: dataset 's_val' would have 0 rows: nothing was "
                                 "written (check the skip reasons above, the input's columns and the flags)")


def test_dropping_the_overlap_keeps_labels_beside_their_rows_over_several_held_out_sets(tmp_path: Path) -> None:
    rows = [{"input": str(i), "output": "x"} for i in range(6)]
    train = StagedSet(rows, {"formatting": "alpaca"}, ["l0", "l1", "l2", "l3", "l4", "l5"])
    plan = Plan(tmp_path, {"s": train, "s_val_swapped": staged({"input": "new", "output": "x"}),  # shares nothing
                           "s_val": staged(rows[1], rows[4]), "s_test": staged(rows[4], rows[5]),
                           "other_val": staged(rows[0])})  # another conversion's set: not compared
    lines = check_sets(plan, "s", drop_overlap=True)
    assert [json.loads(line)["input"] for line in lines["s"]] == ["0", "2", "3"]
    assert plan.sets["s"].rows == [rows[0], rows[2], rows[3]] and plan.sets["s"].labels == ["l0", "l2", "l3"]
    assert plan.dropped == {"s (also in s_val)": 2, "s (also in s_test)": 1}
    assert removal_lines(plan, tmp_path / "dataset_info.json") == [
        "left out 2 training row(s) of s (also in s_val): same prompt and answer as a held-out row",
        "left out 1 training row(s) of s (also in s_test): same prompt and answer as a held-out row"]
    emptied = Plan(tmp_path, {"s": staged(rows[0]), "s_val": staged(rows[0])})
    with pytest.raises(InputError) as caught:
        check_sets(emptied, "s", drop_overlap=True)
    assert str(caught.value) == f"{tmp_path}: dataset 's' would have 0 rows once the rows also held out are removed"


def test_a_commit_writes_every_set_registers_it_and_removes_only_its_own_stale_sets(tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir()
    old = {"s_val": {"file_name": "s_val.jsonl"}, "s_test": {"file_name": "elsewhere.jsonl"},
           "s2": {"file_name": "s2.jsonl"}, "keep": {"file_name": "keep.jsonl", "formatting": "sharegpt"}}
    (data / "dataset_info.json").write_text(json.dumps(old), encoding="utf-8")
    for name in ("s_val.jsonl", "elsewhere.jsonl", "s2.jsonl"):
        (data / name).write_text('{"input": "old"}\n', encoding="utf-8")
    rows = [{"input": "a", "output": "是"}, {"input": "b", "output": "否"}]
    plan = Plan(data, {"s": StagedSet(rows, {"columns": {"query": "input"}}, ["是", "否"])})
    written = commit(plan, "s")
    assert written == {"s": (data / "s.jsonl", 2)}
    assert lines_of(data / "s.jsonl") == ['{"input": "a", "output": "是"}', '{"input": "b", "output": "否"}']
    assert registry_of(data) == {"s2": {"file_name": "s2.jsonl"},
                                 "keep": {"file_name": "keep.jsonl", "formatting": "sharegpt"},
                                 "s": {"file_name": "s.jsonl", "columns": {"query": "input"}}}
    assert plan.removed == ["s_val", "s_test"]
    # its own stale file is removed; a file the registry named differently is not this conversion's to delete
    assert not (data / "s_val.jsonl").exists() and (data / "elsewhere.jsonl").exists() and (data / "s2.jsonl").exists()
    assert removal_lines(plan, data / "dataset_info.json")[0] == (
        f"removed stale dataset 's_val' from {data / 'dataset_info.json'} (and {data / 's_val.jsonl'}): this run no "
        "longer writes it")


def test_a_commit_with_nothing_to_write_or_a_corrupt_registry_changes_nothing(tmp_path: Path) -> None:
    with pytest.raises(InputError) as caught:
        commit(Plan(tmp_path), "s")
    assert str(caught.value) == f"{tmp_path}: nothing to write: no rows were converted"
    a_file = tmp_path / "plain.txt"
    a_file.write_text("x", encoding="utf-8")
    with pytest.raises(InputError) as caught:
        commit(Plan(a_file, {"s": staged({"input": "a"})}), "s")
    assert str(caught.value) == f"{a_file}: given to --data-dir is a file, not a folder"
    assert not (tmp_path / "plain.txt.jsonl").exists() and a_file.read_text(encoding="utf-8") == "x"
    a_file.unlink()
    (tmp_path / "dataset_info.json").write_text("{not json", encoding="utf-8")
    with pytest.raises(InputError):
        commit(Plan(tmp_path, {"s": staged({"input": "a"})}), "s")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["dataset_info.json"]
    assert (tmp_path / "dataset_info.json").read_text(encoding="utf-8") == "{not json"


def test_a_conversion_waits_for_the_registry_another_holds_and_reads_what_it_wrote(tmp_path: Path) -> None:
    """Another conversion holds the data folder's registry and registers `other` before letting go: this one
    says who it waits for, then reads the registry afresh, so both sets stay registered."""
    raw = write_original_csv(tmp_path / "test.csv", agnews_rows(20))
    assert run_cli("convert", "agnews", "--input", raw, "--data-dir", tmp_path / "warm").returncode == 0  # imports
    data = tmp_path / "data"
    data.mkdir()
    (data / "dataset_info.json").write_text("{}", encoding="utf-8")
    held, wrote = threading.Event(), threading.Event()

    def other_conversion() -> None:
        with registry_lock(data):
            held.set()
            time.sleep(1.5)  # this one reads its input and converts meanwhile
            (data / "dataset_info.json").write_text(json.dumps({"other": {"file_name": "other.jsonl"},
                                                               "agnews": {"file_name": "agnews.jsonl"}}),
                                                    encoding="utf-8")
            (data / "agnews.jsonl").write_text('{"instruction": "theirs"}\n', encoding="utf-8")
            wrote.set()

    thread = threading.Thread(target=other_conversion)
    thread.start()
    held.wait(10)
    done = run_cli("convert", "agnews", "--input", raw, "--data-dir", data)
    thread.join()
    assert done.returncode == 0 and wrote.is_set()
    assert f"waiting for {data / 'dataset_info.json'}: pid {os.getpid()} (" in done.stderr
    assert set(registry_of(data)) == {"other", "agnews"} and len(lines_of(data / "agnews.jsonl")) == 80
    assert f"note: agnews was written by pid {os.getpid()} (" in done.stdout  # the other's agnews, replaced: said
    assert not lock_path(data).with_suffix(".who").exists()  # nothing left of the holder
    assert sorted(p.name for p in data.iterdir()) == ["agnews.jsonl", "dataset_info.json"]  # no lock in the data


def test_a_wait_for_a_holder_that_wrote_nothing_notes_nothing(tmp_path: Path) -> None:
    held, go = threading.Event(), threading.Event()

    def holder() -> None:
        with registry_lock(tmp_path):
            held.set()
            go.wait(10)

    thread = threading.Thread(target=holder)
    thread.start()
    held.wait(10)
    threading.Timer(1.0, go.set).start()  # past the half second after which the wait is said
    plan = Plan(tmp_path, {"news": StagedSet([{"instruction": "a", "output": "x"}], {}, [None])})
    commit(plan, "news")
    thread.join()
    assert plan.notes == [] and lines_of(tmp_path / "news.jsonl") == ['{"instruction": "a", "output": "x"}']


def test_each_data_folder_has_its_own_lock_outside_it(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    monkeypatch.chdir(tmp_path)
    assert lock_path(tmp_path / "a") != lock_path(tmp_path / "b")  # conversions elsewhere do not wait
    assert lock_path(Path("a")) == lock_path(tmp_path / "a") == lock_path(tmp_path / "b" / ".." / "a")
    assert tmp_path not in lock_path(tmp_path / "a").parents  # nothing is added to the user's folders


def test_a_commit_refuses_overlapping_sets_unless_told_to_drop(tmp_path: Path) -> None:
    row = {"input": "a", "output": "x"}
    with pytest.raises(InputError, match="1 row\\(s\\) of s are also in s_val"):
        commit(Plan(tmp_path, {"s": staged(row, {"input": "b", "output": "y"}), "s_val": staged(row)}), "s")
    assert list(tmp_path.iterdir()) == []


def test_a_set_another_converter_wrote_is_replaced_or_its_held_out_sets_removed_only_with_replace(
        tmp_path: Path, agnews_folder: Path) -> None:
    from llamafactory.data.parser import get_dataset_list

    data = tmp_path / "data"
    assert run_cli("convert", "agnews", "--input", agnews_folder, "--data-dir", data).returncode == 0
    assert {name: entry["converter"] for name, entry in registry_of(data).items()} == {"agnews": "agnews",
                                                                                       "agnews_val": "agnews"}
    attrs = get_dataset_list(["agnews", "agnews_val"], str(data))  # LLaMA-Factory reads the entries as before
    assert [(a.load_from, a.dataset_name, a.formatting, a.query) for a in attrs] == [
        ("file", "agnews.jsonl", "alpaca", "input"), ("file", "agnews_val.jsonl", "alpaca", "input")]
    before = {path.name: path.read_bytes() for path in data.iterdir()}
    rows = write_jsonl(tmp_path / "mine.jsonl", [{"text": f"row {i}", "label": "x"} for i in range(4)])
    generic = ["convert", "generic", "--input", rows, "--name", "agnews", "--data-dir", data, "--instruction", "Go.",
               "--input-column", "text", "--output-column", "label"]
    refused = run_cli(*generic)
    assert refused.returncode == 2
    assert refused.stderr == (f"error: {data / 'dataset_info.json'}: 'agnews', 'agnews_val' were written by convert "
                              f"agnews: convert generic would replace 'agnews', delete 'agnews_val' and "
                              f"{data / 'agnews_val.jsonl'}; nothing was written (--replace to do it, or choose "
                              "another --name)\n")
    assert {path.name: path.read_bytes() for path in data.iterdir()} == before
    replaced = run_cli(*generic, "--replace")
    assert replaced.returncode == 0, replaced.stderr
    assert registry_of(data) == {"agnews": {"file_name": "agnews.jsonl", "formatting": "alpaca", "columns": {
        "prompt": "instruction", "query": "input", "response": "output"}, "converter": "generic"}}
    assert sorted(path.name for path in data.iterdir()) == ["agnews.jsonl", "dataset_info.json"]
    assert "replaced dataset agnews (written by convert agnews) (--replace)" in replaced.stdout
    assert f"removed stale dataset 'agnews_val' from {data / 'dataset_info.json'}" in replaced.stdout
    again = run_cli(*generic)  # its own set now: a re-run needs no --replace
    assert again.returncode == 0, again.stderr


def test_a_commit_of_no_converter_checks_no_maker_and_records_none(tmp_path: Path) -> None:
    (tmp_path / "dataset_info.json").write_text(json.dumps({"s": {"file_name": "s.jsonl", "converter": "yelp"}}),
                                                encoding="utf-8")
    commit(Plan(tmp_path, {"s": StagedSet([{"input": "a"}], {"converter": "yelp"}, [None])}), "s")  # a copied entry
    assert registry_of(tmp_path) == {"s": {"file_name": "s.jsonl"}}
    commit(Plan(tmp_path, {"s": StagedSet([{"input": "b"}], {}, [None])}, maker="generic"), "s")
    assert registry_of(tmp_path) == {"s": {"file_name": "s.jsonl", "converter": "generic"}}  # an unrecorded maker


def test_a_set_another_converter_wrote_is_named_with_its_file_only_when_that_file_is_its_own(tmp_path: Path) -> None:
    staged = StagedSet([{"x": 1}], {}, [None])
    registry = {"mine": {"file_name": "mine.jsonl", "converter": "agnews"},
                "old": {"file_name": "old.jsonl", "converter": "agnews"},
                "gone": {"file_name": "gone.jsonl", "converter": "agnews"},
                "shared": {"file_name": "elsewhere.jsonl", "converter": "agnews"}}
    (tmp_path / "old.jsonl").write_text("{}\n", encoding="utf-8")
    (tmp_path / "elsewhere.jsonl").write_text("{}\n", encoding="utf-8")
    (tmp_path / "shared.jsonl").write_text("{}\n", encoding="utf-8")  # a file of its name that it does not own
    plan = Plan(tmp_path, {"mine": staged}, maker="generic")
    with pytest.raises(InputError) as refused:
        check_makers(plan, registry, ["old", "gone", "shared"], Path("data/dataset_info.json"))
    assert str(refused.value) == (
        f"data/dataset_info.json: 'mine', 'old', 'gone', 'shared' were written by convert agnews: convert generic "
        f"would replace 'mine', delete 'old' and {tmp_path / 'old'}.jsonl, delete 'gone', delete 'shared'; nothing "
        "was written (--replace to do it, or choose another --name)")
    with pytest.raises(InputError) as refused:
        check_makers(plan, registry, [], Path("data/dataset_info.json"))
    assert str(refused.value).startswith("data/dataset_info.json: 'mine' was written by convert agnews: ")
    registry["old"]["converter"] = "yelp"  # two other makers: both named, in order
    with pytest.raises(InputError) as refused:
        check_makers(plan, registry, ["old"], Path("data/dataset_info.json"))
    assert str(refused.value).startswith(
        "data/dataset_info.json: 'mine', 'old' were written by convert agnews and convert yelp: convert generic would ")


def test_a_file_removed_outside_a_held_unit_goes_at_once_a_missing_one_is_no_error_and_a_folder_is_refused(
        tmp_path: Path) -> None:
    path = tmp_path / "a.jsonl"
    path.write_text("{}\n", encoding="utf-8")
    remove_file(path)
    assert list(tmp_path.iterdir()) == []
    remove_file(path)
    (tmp_path / "d").mkdir()
    with pytest.raises(InputError) as raised:
        remove_file(tmp_path / "d")
    assert str(raised.value) == f"{tmp_path / 'd'}: is a folder, not a file"
    assert (tmp_path / "d").is_dir()
