"""A report's files land together: a failure while drawing leaves none of them."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest import ascii_locale, run_cli, write_jsonl

from recipekit.errors import InputError
from recipekit.files import held_bytes, write_json, writes_held
from recipekit.report.writer import ReportFolder, recorded_input


def test_a_report_that_fails_half_way_writes_none_of_its_files(tmp_path: Path) -> None:
    preds = write_jsonl(tmp_path / "p.jsonl", [{"predict": "a", "label": "a" if i % 2 else "b"} for i in range(6)])
    out = tmp_path / "out"
    (out / "confusion_matrix.png").mkdir(parents=True)  # the last file can't be written
    done = run_cli("report", "classify", preds, "--out", out, "--bootstrap", "0")
    assert done.returncode == 2 and done.stderr.strip().endswith("confusion_matrix.png: is a folder, not a file")
    assert sorted(p.name for p in out.iterdir()) == ["confusion_matrix.png"]  # no JSON, no Markdown


def test_writes_held_until_the_block_ends(tmp_path: Path) -> None:
    with writes_held():
        write_json(tmp_path / "a" / "x.json", {"n": 1})
        assert not (tmp_path / "a").exists() and held_bytes(tmp_path / "a" / "x.json") == b'{\n  "n": 1\n}\n'
    assert (tmp_path / "a" / "x.json").read_text(encoding="utf-8") == '{\n  "n": 1\n}\n'
    assert held_bytes(tmp_path / "a" / "x.json") is None
    with pytest.raises(InputError, match="is a file, not a folder"), writes_held():
        write_json(tmp_path / "a" / "x.json" / "y.json", {})
    with pytest.raises(RuntimeError), writes_held():
        write_json(tmp_path / "b.json", {})
        raise RuntimeError("stopped")
    assert not (tmp_path / "b.json").exists()


def test_the_report_left_in_place_is_named_with_what_it_was_made_from() -> None:
    path = Path("out/classify_report.json")
    assert ReportFolder(path, None, "ab" * 32).left_unchanged() == ""  # no report there
    assert ReportFolder(path, {}, "ab" * 32).left_unchanged() == \
        "; out/classify_report.json (a report of an input it does not record) is left unchanged"
    same = {"path": "p.jsonl", "sha256": "ab" * 32}
    assert ReportFolder(path, same, "ab" * 32).left_unchanged() == \
        "; out/classify_report.json (a report of p.jsonl: these same predictions) is left unchanged"
    assert ReportFolder(path, same, "cd" * 32).left_unchanged() == \
        "; out/classify_report.json (a report of p.jsonl with sha256 abababababab: not this input) is left unchanged"


def test_the_input_a_report_records_is_read_as_utf8_in_an_ascii_locale(tmp_path: Path) -> None:
    signature = {"path": "data/\u9884\u6d4b.jsonl", "size": 3, "sha256": "ab" * 32}
    path = tmp_path / "classify_report.json"
    path.write_text(json.dumps({"meta": {"predictions": signature}}, ensure_ascii=False), encoding="utf-8")
    with ascii_locale():
        assert recorded_input(path) == signature
    assert recorded_input(tmp_path / "none.json") is None
