"""A report's files land together: a failure while drawing leaves none of them."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import run_cli, write_jsonl

from recipekit.errors import InputError
from recipekit.files import held_bytes, write_json, writes_held


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
