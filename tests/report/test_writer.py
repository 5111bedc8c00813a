"""A report's files land together: a failure while drawing leaves none of them."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest import ascii_locale, run_cli, write_jsonl

from recipekit.errors import InputError
from recipekit.files import held_bytes, write_json, writes_held
from recipekit.report.writer import ReportFolder, recorded_input, save_figure, versions


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


@pytest.mark.parametrize("recorded", [{"size": 3}, ["path"], "data/p.jsonl", None])
def test_an_input_recorded_without_a_path_is_an_unrecorded_one(tmp_path: Path, recorded: object) -> None:
    """An older report's ``meta.predictions`` that is no signature (no path, a list or string naming one) counts
    as a report of an input it does not record, never as a signature."""
    path = tmp_path / "classify_report.json"
    path.write_text(json.dumps({"meta": {"predictions": recorded}}), encoding="utf-8")
    assert recorded_input(path) == {}


def test_a_package_not_installed_is_named_so_beside_pythons_version() -> None:
    import platform
    from importlib import metadata

    assert versions("scikit-learn", "no-such-package-here") == {
        "python": platform.python_version(), "scikit-learn": metadata.version("scikit-learn"),
        "no-such-package-here": "not installed"}


def test_a_figure_is_a_png_at_120_dpi_cropped_to_its_drawing_whatever_matplotlibs_settings(tmp_path: Path) -> None:
    import matplotlib
    from PIL import Image

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    with matplotlib.rc_context({"savefig.format": "svg", "savefig.dpi": 50, "savefig.bbox": "standard"}):
        figure, axes = plt.subplots(figsize=(4, 3))
        axes.set_axis_off()
        axes.plot([0, 1], [0, 1])
        save_figure(figure, tmp_path / "f.png")
    data = (tmp_path / "f.png").read_bytes()
    assert data.startswith(b"\x89PNG\r\n\x1a\n") and b"Software" not in data  # no matplotlib version stamped
    with Image.open(tmp_path / "f.png") as image:
        assert image.info["dpi"] == pytest.approx((120, 120), abs=0.05)  # pixels per metre, rounded
        width, height = image.size
    assert width < 4 * 120 * 0.9 and height < 3 * 120 * 0.9  # the empty margins cropped ("tight")
    assert not plt.get_fignums()  # closed
