"""wandb, offline only: when `--wandb` is refused, the run files read back (written here by the log format's rules,
LevelDB-style 32 KiB blocks, and by wandb itself), the training run a report attaches to, and what a report logs:
its summary, config, tables and images, read back from the files wandb wrote."""

from __future__ import annotations

import argparse
import json
import os
import struct
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from conftest import finished_run_file, run_cli, write_jsonl
from PIL import Image
from wandb.proto import wandb_internal_pb2 as pb

from recipekit.errors import InputError
from recipekit.files import atomic_write_bytes, writes_held
from recipekit.report.wandb import (
    add_wandb_flags,
    image,
    item_key,
    log_report,
    offline_records,
    require_wandb,
    run_facts,
    training_run,
    wandb_checked,
)

BLOCK = 32768
HEADER = b":W&B\xe1\xbe\x00"  # magic, key, version: the first 7 bytes of every run file wandb writes
REFUSED = ("--wandb: wandb is not configured: set WANDB_MODE=offline (the run stays on disk) or run `wandb login`")


@pytest.fixture
def unconfigured(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """No wandb mode, no API key, no base URL, and a home folder with no .netrc."""
    for name in ("WANDB_MODE", "WANDB_API_KEY", "WANDB_BASE_URL", "NETRC"):
        monkeypatch.delenv(name, raising=False)
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    return home


def netrc_for(home: Path, host: str) -> None:
    path = home / ".netrc"
    path.write_text(f"machine {host}\n  login user\n  password secret\n", encoding="utf-8")
    path.chmod(0o600)


@pytest.mark.parametrize("mode", ["offline", "OFFLINE", "disabled", "dryrun"])
def test_an_offline_or_disabled_mode_is_enough(unconfigured: Path, monkeypatch: pytest.MonkeyPatch, mode: str) -> None:
    monkeypatch.setenv("WANDB_MODE", mode)
    require_wandb()


def test_an_online_mode_without_an_account_is_refused_naming_the_flag(unconfigured: Path,
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WANDB_MODE", "online")
    with pytest.raises(InputError) as caught:
        require_wandb()
    assert str(caught.value) == REFUSED and caught.value.path is None
    with pytest.raises(InputError, match=r"^--log-to-wandb: wandb is not configured"):
        require_wandb("--log-to-wandb")


def test_an_api_key_or_a_netrc_login_for_the_host_is_enough(unconfigured: Path,
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WANDB_API_KEY", "k")
    require_wandb()
    monkeypatch.delenv("WANDB_API_KEY")
    netrc_for(unconfigured, "api.wandb.ai")
    require_wandb()  # the default host
    monkeypatch.setenv("WANDB_BASE_URL", "https://wandb.example.com:8443/")
    with pytest.raises(InputError, match="wandb is not configured"):
        require_wandb()  # a login for another host
    netrc_for(unconfigured, "wandb.example.com")
    require_wandb()
    monkeypatch.setenv("WANDB_BASE_URL", "not a url")  # no host in it: the default host
    netrc_for(unconfigured, "api.wandb.ai")
    require_wandb()


def test_an_unreadable_netrc_is_no_login(unconfigured: Path) -> None:
    (unconfigured / ".netrc").write_text("machine\n", encoding="utf-8")  # a parse error
    with pytest.raises(InputError, match="wandb is not configured"):
        require_wandb()
    (unconfigured / ".netrc").unlink()
    (unconfigured / ".netrc").mkdir()  # an OSError
    with pytest.raises(InputError, match="wandb is not configured"):
        require_wandb()


def test_the_wandb_flags_with_and_without_the_training_run(unconfigured: Path) -> None:
    parser = argparse.ArgumentParser()
    add_wandb_flags(parser, "the scores")
    assert vars(parser.parse_args([])) == {"wandb": False, "wandb_run": None}
    assert vars(parser.parse_args(["--wandb", "--wandb-run", "saves/x"])) == {"wandb": True, "wandb_run": "saves/x"}
    helps = {action.dest: (action.help, action.metavar) for action in parser._actions}
    assert helps["wandb"] == ("log the scores to wandb", None)
    assert helps["wandb_run"][1] == "TRAIN_DIR" and helps["wandb_run"][0].startswith(
        "with --wandb: log into the wandb run of the training whose output_dir is TRAIN_DIR")
    bare = argparse.ArgumentParser()
    add_wandb_flags(bare, "x", into_training=False)
    assert vars(bare.parse_args([])) == {"wandb": False}
    args = parser.parse_args([])
    assert wandb_checked(args) is args  # no --wandb: nothing checked
    assert wandb_checked(argparse.Namespace()) is not None
    with pytest.raises(InputError, match="wandb is not configured"):
        wandb_checked(parser.parse_args(["--wandb"]))


def png(path: Path, width: int, height: int) -> bytes:
    from io import BytesIO

    buffer = BytesIO()
    Image.fromarray(np.full((height, width, 3), 200, dtype=np.uint8)).save(buffer, format="PNG")
    if path is not None:
        path.write_bytes(buffer.getvalue())
    return buffer.getvalue()


def test_an_image_on_disk_or_still_held_back(tmp_path: Path) -> None:
    on_disk = tmp_path / "a.png"
    png(on_disk, 5, 3)
    shown = image(on_disk)
    assert (shown._path, shown._width, shown._height) == (str(on_disk), 5, 3)
    held = tmp_path / "held.png"
    with writes_held():
        atomic_write_bytes(held, png(None, 4, 7))
        shown = image(held)
        assert not held.exists()
    assert (shown._width, shown._height) == (4, 7) and shown._path != str(held)


def chunks(records: list[bytes], tail: bytes = b"") -> bytes:
    """A run file as the log format lays it out: the header, then each record in chunks that never cross a 32 KiB
    block (FULL 1, FIRST 2, MIDDLE 3, LAST 4), a block's last bytes zeroed when fewer than a chunk header."""
    out = bytearray(HEADER)
    for record in records:
        left_over, first = record, True
        while True:
            room = BLOCK - len(out) % BLOCK
            if room < 7:
                out += b"\0" * room
                continue
            piece, left_over = left_over[:room - 7], left_over[room - 7:]
            kind = (1 if not left_over else 2) if first else (4 if not left_over else 3)
            out += struct.pack("<IHB", zlib.crc32(piece), len(piece), kind) + piece
            first = False
            if not left_over:
                break
    return bytes(out + tail)


def run_record(run_id: str, group: str = "", job: str = "", **config: Any) -> pb.Record:
    record = pb.Record()
    record.run.run_id, record.run.run_group, record.run.job_type = run_id, group, job
    for key, value in config.items():
        item = record.run.config.update.add()
        item.key, item.value_json = key, json.dumps({"desc": None, "value": value})
    return record


def config_record(**values: str) -> pb.Record:
    record = pb.Record()
    for key, value_json in values.items():
        item = record.config.update.add()
        item.key, item.value_json = key, value_json
    return record


def history_record(*keys: str | list[str]) -> pb.Record:
    record = pb.Record()
    for key in keys:
        item = record.history.item.add()
        if isinstance(key, list):
            item.nested_key.extend(key)
        else:
            item.key = key
        item.value_json = "1"
    return record


def summary_record(**values: str) -> pb.Record:
    record = pb.Record()
    for key, value_json in values.items():
        item = record.summary.update.add()
        item.key, item.value_json = key, value_json
    return record


def write_run(path: Path, records: list[pb.Record], tail: bytes = b"") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(chunks([r.SerializeToString() for r in records], tail))
    return path


def test_records_come_back_whole_across_blocks_and_block_padding(tmp_path: Path) -> None:
    big = run_record("r1", note="x" * 70000)  # a record over three blocks: FIRST, MIDDLE, LAST
    big.num = 1  # outside the record's oneof: a record parsed with the one before it would carry it
    # then a record that leaves 3 bytes in its block, so the next starts after the zeroed padding
    room = BLOCK - len(chunks([big.SerializeToString()])) % BLOCK - 7 - 3  # the record's size that leaves 3
    near = room - len(config_record(pad='""').SerializeToString())
    sized = next(record for n in range(near - 8, near + 8) if len(chunks([big.SerializeToString(), (
        record := config_record(pad='"' + "p" * n + '"')).SerializeToString()])) % BLOCK == BLOCK - 3)
    after = summary_record(acc="0.5")
    path = write_run(tmp_path / "run-r1.wandb", [big, sized, after, pb.Record()])  # an empty record last
    assert list(offline_records(path)) == [big, sized, after, pb.Record()]


def test_an_empty_record_where_a_block_has_exactly_a_chunk_header_left(tmp_path: Path) -> None:
    near = BLOCK - 7 - 7 - 7 - len(config_record(pad='""').SerializeToString())
    sized = next(record for n in range(near - 8, near + 8) if len(chunks([(
        record := config_record(pad='"' + "p" * n + '"')).SerializeToString()])) == BLOCK - 7)
    after = summary_record(acc="0.5")
    path = write_run(tmp_path / "run.wandb", [sized, pb.Record(), after])  # the empty record fills the block
    assert path.stat().st_size == BLOCK + 7 + len(after.SerializeToString())
    assert list(offline_records(path)) == [sized, pb.Record(), after]


def test_a_zeroed_tail_ends_the_records(tmp_path: Path) -> None:
    first, never = summary_record(a="1"), summary_record(b="2")
    path = write_run(tmp_path / "run.wandb", [first], tail=b"\0" * 7 + chunks([never.SerializeToString()])[7:])
    assert list(offline_records(path)) == [first]


@pytest.mark.parametrize("across_blocks", [False, True])
@pytest.mark.parametrize("kept", [7, 7 + 10, -1])
def test_a_record_cut_off_ends_the_records(tmp_path: Path, kept: int, across_blocks: bool) -> None:
    # a run still writing its file, or killed while writing, leaves its last record short: the ones before count.
    # Kept: the FULL or LAST chunk's header, ten bytes more, or all of it but its last byte
    first = summary_record(a="1")
    cut = run_record("r2", note="x" * 40000) if across_blocks else summary_record(b="2" * 40)
    whole = chunks([first.SerializeToString(), cut.SerializeToString()])
    end = len(whole) - 1 if kept < 0 else (BLOCK if across_blocks else len(chunks([first.SerializeToString()]))) + kept
    path = write_run(tmp_path / "run.wandb", [], tail=whole[len(HEADER):end])
    assert list(offline_records(path)) == [first]


def test_a_file_that_is_not_a_run_file_is_named(tmp_path: Path) -> None:
    path = tmp_path / "run-x.wandb"
    path.write_bytes(b":W&X" + chunks([])[4:])
    with pytest.raises(InputError) as caught:
        list(offline_records(path))
    assert str(caught.value) == f"{path}: not a wandb run file"


def test_an_item_is_named_by_its_key_or_its_nested_key() -> None:
    keyed, nested = history_record("acc", ["img", "width"]).history.item
    assert (item_key(keyed), item_key(nested)) == ("acc", "img/width")


def test_the_facts_of_a_run_file(tmp_path: Path) -> None:
    records = [run_record("abc", "grp", "train", output_dir="saves/x", lr=0.001),
               config_record(epochs='{"value": 3}', plain='"text"', listed="[1, 2]", broken="{oops",
                             bare='{"a": 1}'),
               history_record("loss", ["img", "width"]), history_record("loss", "eval_loss"),
               summary_record(loss="2.0", acc="0.5"), summary_record(loss="1.5"), pb.Record()]
    facts = run_facts(write_run(tmp_path / "run-abc.wandb", records))
    assert facts == {"id": "abc", "group": "grp", "job_type": "train",
                     "config": {"output_dir": "saves/x", "lr": 0.001, "epochs": 3, "plain": "text", "listed": [1, 2],
                                "bare": {"a": 1}},
                     "history": {"loss", "img/width", "eval_loss"}, "summary": {"loss": "1.5", "acc": "0.5"}}
    assert run_facts(write_run(tmp_path / "run-b.wandb", [run_record("b")]))["group"] is None
    assert run_facts(write_run(tmp_path / "run-c.wandb", [])) == {
        "id": None, "group": None, "job_type": None, "config": {}, "history": set(), "summary": {}}


def training_file(folder: Path, run_id: str, output_dir: Path | str, mtime: int) -> Path:
    path = write_run(folder / "wandb" / f"offline-run-2026_{run_id}" / f"run-{run_id}.wandb",
                     [run_record(run_id, output_dir=str(output_dir))])
    os.utime(path, (mtime, mtime))
    return path


def test_the_training_run_is_the_newest_whose_output_dir_is_the_folder(tmp_path: Path,
                                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    train, elsewhere = tmp_path / "saves" / "sft", tmp_path / "wandb_root"
    train.mkdir(parents=True)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("WANDB_DIR", str(elsewhere))
    training_file(elsewhere, "old", train, 1000)
    training_file(elsewhere, "new", "saves/sft", 3000)  # relative to the working folder: the same folder
    training_file(elsewhere, "other", tmp_path / "saves" / "dpo", 4000)
    training_file(train, "inside", train, 2000)  # the training folder's own wandb/
    assert training_run(train) == ("new", elsewhere)
    assert training_run("saves/sft") == ("new", elsewhere)
    monkeypatch.delenv("WANDB_DIR")  # the working folder instead (tmp_path holds no wandb/)
    assert training_run(train) == ("inside", train)
    assert training_run(tmp_path / "saves" / "dpo") is None
    training_file(tmp_path, "here", train, 5000)  # the working folder's own wandb/, newest
    assert training_run(train) == ("here", Path("."))


def test_a_run_without_an_output_dir_is_no_training_run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WANDB_DIR", str(tmp_path))
    monkeypatch.chdir(tmp_path)  # an empty output_dir would be the working folder
    write_run(tmp_path / "wandb" / "run-1" / "run-1.wandb", [run_record("1", lr=0.1)])
    write_run(tmp_path / "wandb" / "run-2" / "run-2.wandb", [run_record("2", output_dir="")])
    assert training_run(tmp_path) is None


@pytest.fixture
def offline(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """wandb offline in ``tmp_path``; its process-wide setup (which keeps the environment it first read, a run id
    included) is torn down before and after, so no test sees another's."""
    import wandb

    for name in ("WANDB_RUN_ID", "WANDB_DIR", "WANDB_PROJECT", "WANDB_RUN_GROUP"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("WANDB_MODE", "offline")
    monkeypatch.setenv("WANDB_SILENT", "true")
    monkeypatch.chdir(tmp_path)
    # wandb's service writes its debug logs under the cache and home folders: both under tmp_path
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "home" / ".cache"))
    wandb.teardown()
    yield tmp_path
    wandb.teardown()


def test_a_report_without_a_training_run_is_a_new_run_with_its_numbers_table_image_and_config(
        offline: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("WANDB_RUN_GROUP", "reproduce-agnews")
    monkeypatch.setenv("WANDB_DIR", str(offline / "elsewhere"))  # a new run goes into the report's folder all the same
    png(offline / "confusion.png", 6, 2)
    folder = log_report("classify_report", offline / "report", {"accuracy": 0.75, "macro_f1": 0.5},
                        {"per_class": (["label", "f1"], [["a", 0.25], ["b", 0.75]])},
                        {"confusion": offline / "confusion.png"}, {"labels": ["a", "b"], "output_dir": "saves/x"})
    assert Path(folder).parent == offline / "report" / "wandb" and Path(folder).name.startswith("offline-run-")
    facts = run_facts(finished_run_file(folder))
    assert (facts["job_type"], facts["group"]) == ("classify_report", "reproduce-agnews")
    (run,) = [r.run for r in offline_records(finished_run_file(folder)) if r.WhichOneof("record_type") == "run"]
    assert run.project == "llm-recipes"
    config = {k: v for k, v in facts["config"].items() if k != "_wandb"}
    assert config == {"labels": ["a", "b"], "output_dir": "saves/x"}
    assert (json.loads(facts["summary"]["accuracy"]), json.loads(facts["summary"]["macro_f1"])) == (0.75, 0.5)
    assert {"accuracy", "macro_f1", "per_class/_type", "confusion/_type"} <= facts["history"]
    (table,) = (Path(folder) / "files" / "media" / "table").glob("per_class_*.table.json")
    assert json.loads(table.read_text(encoding="utf-8")) == {"columns": ["label", "f1"],
                                                             "data": [["a", 0.25], ["b", 0.75]]}
    (logged,) = (Path(folder) / "files" / "media" / "images").glob("confusion_*.png")
    with Image.open(logged) as shown:
        assert shown.size == (6, 2)
    assert capsys.readouterr().out == ""  # no note: nothing to attach to


def test_a_report_into_the_training_run_named_by_its_id_prefixes_its_keys(
        offline: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("WANDB_RUN_ID", "trainrun1")
    monkeypatch.setenv("WANDB_PROJECT", "mine")
    monkeypatch.setenv("WANDB_DIR", str(offline / "chain"))
    png(offline / "lengths.png", 2, 2)
    folder = log_report("gen_report", offline / "report", {"bleu": 12.5}, {"rows": (["a"], [["x"]])},
                        {"lengths": offline / "lengths.png"}, {"ignored": True}, attach="saves/not-searched")
    assert Path(folder).parent == offline / "chain" / "wandb" and "-trainrun1" in Path(folder).name
    facts = run_facts(finished_run_file(folder))
    assert facts["id"] == "trainrun1"
    assert json.loads(facts["summary"]["gen_report/bleu"]) == 12.5 and "bleu" not in facts["summary"]
    assert {"gen_report/rows/_type", "gen_report/lengths/_type"} <= facts["history"]
    assert not {"rows/_type", "lengths/_type"} & facts["history"]
    assert "ignored" not in facts["config"] and facts["job_type"] == ""
    (run,) = [r.run for r in offline_records(finished_run_file(folder)) if r.WhichOneof("record_type") == "run"]
    assert run.project == "mine"
    assert capsys.readouterr().out == ""  # the id names the run: no training folder is looked for


def test_a_report_into_a_named_run_without_wandb_dir_goes_to_its_folder_and_never_into_an_active_run(
        offline: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import wandb

    active = wandb.init(project="mine", dir=str(offline), job_type="user")  # a run the caller left open
    monkeypatch.setenv("WANDB_RUN_ID", "trainrun2")
    folder = log_report("gen_report", offline / "report", {"bleu": 1.0}, {}, {}, {})
    assert Path(folder).parent == offline / "report" / "wandb" and "-trainrun2" in Path(folder).name
    assert run_facts(finished_run_file(folder))["id"] == "trainrun2" != active.id


def test_a_report_attaches_to_the_run_of_its_training_folder_or_says_there_is_none(
        offline: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    train = offline / "saves" / "sft"
    first = log_report("train", train, {"loss": 1.0}, {}, {}, {"output_dir": str(train)})
    train_id = run_facts(finished_run_file(first))["id"]  # written out before the report looks for it
    folder = log_report("classify_report", offline / "report", {"accuracy": 0.5}, {}, {}, {}, attach=str(train))
    assert Path(folder).parent == train / "wandb" and f"-{train_id}" in Path(folder).name
    assert json.loads(run_facts(finished_run_file(folder))["summary"]["classify_report/accuracy"]) == 0.5
    assert capsys.readouterr().out == ""
    monkeypatch.setenv("WANDB_RUN_GROUP", "g1")
    alone = log_report("classify_report", offline / "other", {"accuracy": 0.25}, {}, {}, {"k": 1},
                       attach=str(offline / "saves" / "dpo"))
    assert capsys.readouterr().out == (f"note: no wandb run of {offline / 'saves' / 'dpo'} found: logging to a new "
                                       "run in group g1\n")
    facts = run_facts(finished_run_file(alone))
    assert Path(alone).parent == offline / "other" / "wandb" and facts["id"] != train_id
    assert (facts["job_type"], facts["config"]["k"], json.loads(facts["summary"]["accuracy"])) == (
        "classify_report", 1, 0.25)
    monkeypatch.delenv("WANDB_RUN_GROUP")
    log_report("x", offline / "third", {}, {}, {}, {}, attach=str(offline / "nowhere"))
    assert "logging to a new run in group (none)\n" in capsys.readouterr().out


def test_plot_logs_each_runs_float_numbers_and_its_plots(offline: Path) -> None:
    run = offline / "sft"
    write_jsonl(run / "trainer_log.jsonl", [{"current_steps": 1, "loss": 2.0, "lr": 1e-3},
                                            {"current_steps": 2, "loss": 1.5, "lr": 5e-4}])
    done = run_cli("plot", run, "--wandb", cwd=offline)
    assert done.returncode == 0, done.stderr
    (line,) = [line for line in done.stdout.splitlines() if line.startswith("wandb run: ")]
    folder = line.removeprefix("wandb run: ")
    assert Path(folder).parent == run / "wandb"
    facts = run_facts(finished_run_file(folder))
    assert facts["job_type"] == "plot_training" and facts["config"]["runs"] == [str(run)]
    assert {k: json.loads(v) for k, v in facts["summary"].items() if k.startswith("0/")} == {
        "0/initial_loss": 2.0, "0/final_loss": 1.5, "0/min_loss": 1.5}  # steps (an int) and None are left out
    images = sorted(p.name.split("_")[0] for p in (Path(folder) / "files" / "media" / "images").glob("*.png"))
    assert images == ["learning", "loss"]


def logged(folder: Path) -> tuple[dict[str, Any], dict[str, Any]]:
    """The summary numbers and the tables (by key) of the one offline run under ``folder``."""
    (run,) = (folder / "wandb").glob("offline-run-*")
    facts = run_facts(finished_run_file(run))
    tables = {path.name.rsplit("_", 2)[0]: json.loads(path.read_text(encoding="utf-8"))
              for path in (run / "files" / "media" / "table").glob("*.table.json")}
    numbers = {k: json.loads(v) for k, v in facts["summary"].items() if not k.startswith("_") and "/" not in k}
    return numbers, {**tables, **{
        "job_type": facts["job_type"], "config": {k: v for k, v in facts["config"].items() if k != "_wandb"},
        "images": sorted(p.name.rsplit("_", 2)[0] for p in (run / "files" / "media" / "images").glob("*.png"))}}


def reported(folder: Path, kind: str, rows: list[dict], base: list[dict], *flags: str) -> tuple:
    """``report KIND`` on ``rows`` against the baseline ``base`` with --wandb, pointed at a training folder that has
    no run: the command's outcome, its JSON report, and the run's numbers and tables (its job type checked)."""
    path = write_jsonl(folder / "run" / "generated_predictions.jsonl", rows)
    baseline = write_jsonl(folder / "base" / "generated_predictions.jsonl", base)
    done = run_cli("report", kind, path, "--baseline", baseline, *flags, "--wandb", "--wandb-run",
                   folder / "saves" / "sft", cwd=folder)
    assert done.returncode == 0, done.stderr
    assert f"note: no wandb run of {folder / 'saves' / 'sft'} found: logging to a new run" in done.stdout
    assert f"wandb run: {next((folder / 'run' / 'wandb').glob('offline-run-*'))}" in done.stdout
    report = json.loads((folder / "run" / f"{kind}_report.json").read_text(encoding="utf-8"))
    summary, tables = logged(folder / "run")
    assert tables["job_type"] == f"{kind}_report"
    return report, summary, tables


def test_classify_report_logs_every_number_of_its_report_its_tables_and_plots(offline: Path) -> None:
    gold = ["a", "a", "b", "b", "b"]
    p_a = [0.9, 0.4, 0.2, 0.3, 0.6]
    rows = [{"prompt": f"p{i}", "predict": "a" if p > 0.5 else "b", "label": g, "probs": {"a": p, "b": 1 - p}}
            for i, (g, p) in enumerate(zip(gold, p_a, strict=True))]
    base = [{"prompt": f"p{i}", "predict": p, "label": g} for i, (g, p) in enumerate(zip(gold, "aaabb", strict=True))]
    report, summary, tables = reported(offline, "classify", rows, base, "--bootstrap", "0")
    assert summary["accuracy"] == 0.6 and summary["n_invalid"] == 0  # rows 0, 2, 3 right
    assert summary["delta_accuracy"] == pytest.approx(0.6 - 0.8)  # the baseline has rows 0, 1, 3, 4 right
    averaged = {f"{avg}_{m}": report[avg][m] for avg in ("macro", "micro", "weighted")
                for m in ("precision", "recall", "f1")}
    assert summary == {"accuracy": 0.6, "n_invalid": 0, **averaged,
                       **{k: report["probabilistic"][k] for k in ("log_loss", "brier", "ece")},
                       **{f"delta_{k}": v for k, v in report["delta"].items()}}
    assert tables["per_class"]["columns"] == ["label", "precision", "recall", "f1", "support"]
    assert tables["per_class"]["data"] == [["a", 0.5, 0.5, 0.5, 2],  # rows 0 and 4 said a, row 0 is
                                           ["b", pytest.approx(2 / 3), pytest.approx(2 / 3), pytest.approx(2 / 3), 3]]
    assert tables["confusion_matrix"] == {"columns": ["label", "a", "b"], "data": [["a", 1, 1], ["b", 1, 2]]}
    assert tables["config"] == {"predictions": report["meta"]["predictions"]}
    assert tables["images"] == ["confusion_matrix_png", "reliability_png"]


def test_gen_report_logs_its_headline_numbers_deltas_and_sample_rows(offline: Path) -> None:
    rows = [{"prompt": "q1", "predict": "the cat sat", "label": "the cat sat"},
            {"prompt": "q2", "predict": "a dog", "label": "the dog ran"}]
    base = [{"prompt": "q1", "predict": "no", "label": "the cat sat"},
            {"prompt": "q2", "predict": "the dog ran", "label": "the dog ran"}]
    report, summary, tables = reported(offline, "gen", rows, base, "--workers", "1")
    corpus = report["corpus"]
    expected = {**{f"lf_{m}": report["llamafactory"][m] for m in ("bleu-4", "rouge-1", "rouge-2", "rouge-l")},
                "corpus_bleu": corpus["bleu"]["score"], "corpus_chrf": corpus["chrf"]["score"],
                **{f"corpus_{k}": v for k, v in corpus["rouge"].items()},
                **{f"delta_{k}": v["abs"] for k, v in report["delta"].items()}}
    assert summary == pytest.approx(expected)
    assert summary["lf_bleu-4"] - summary["delta_lf_bleu-4"] == pytest.approx(
        report["baseline"]["llamafactory"]["bleu-4"])  # delta = this - baseline
    assert tables["samples"]["columns"] == ["prompt", "predict", "label", "bleu-4", "rouge-l"]
    assert [row[:3] for row in tables["samples"]["data"]] == [["q1", "the cat sat", "the cat sat"],
                                                              ["q2", "a dog", "the dog ran"]]
    assert tables["samples"]["data"][0][3:] == [100.0, 100.0]
    assert tables["config"] == {"predictions": report["meta"]["predictions"]}
