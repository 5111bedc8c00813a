"""Comparing runs at the edges: which report a folder gives, the headline numbers of each kind of report, the
run names, and what makes runs not comparable. Expected values are written by hand."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from recipekit.errors import InputError
from recipekit.report.compare import find_report, headline, load_runs, mismatches


def put(path: Path, report: dict[str, Any]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(report), encoding="utf-8")
    return path


def test_a_folder_gives_its_own_report_first_then_by_kind_then_by_name(tmp_path: Path) -> None:
    run = tmp_path / "run"
    calibrated = [put(run / "report" / f"calibrate_temperature_{s}.json", {}) for s in ("val", "test")]
    assert find_report(run) == calibrated[1]  # only report/ has one: the first by name (test < val)
    gen = put(run / "report" / "gen_report.json", {})
    assert find_report(run) == gen  # a generation report before a calibration
    classify = put(run / "report" / "classify_report.json", {})
    assert find_report(run) == classify
    own = put(run / "gen_report.json", {})
    assert find_report(run) == own  # the folder itself before its report/
    assert find_report(calibrated[0]) == calibrated[0]  # a file is taken as given
    with pytest.raises(InputError, match=r"empty: no report found \(looked for classify_report.json, "
                                         r"gen_report.json, calibrate_temperature_\*.json here and in report/\)"):
        find_report(tmp_path / "empty")


def test_the_headline_of_each_kind_of_report() -> None:
    classify = {"accuracy": 0.75, "macro": {"f1": 0.5, "precision": 0.4}, "n": 8,
                "probabilistic": {"log_loss": 0.9, "brier": 0.3, "auc": 0.8, "ece": 0.05}}
    assert headline(classify) == {"accuracy": 0.75, "macro_f1": 0.5, "log_loss": 0.9, "brier": 0.3, "ece": 0.05}
    assert headline({"accuracy": 1.0, "macro": 0.5, "probabilistic": [1]}) == {"accuracy": 1.0}
    assert headline({"accuracy": 0.0, "macro": {"precision": 1.0}}) == {"accuracy": 0.0}  # no f1: none
    gen = {"llamafactory": {"bleu-4": 12.5, "rouge-l": 30, "note": "x"},
           "corpus": {"bleu": {"score": 11.0, "signature": "s"}, "chrf": {"score": 40.5},
                      "ter": {"score": 1.0}, "rows_jieba": 4, "rouge": {"rouge1": 0.4, "kind": "f"}}}
    assert headline(gen) == {"llamafactory_bleu-4": 12.5, "llamafactory_rouge-l": 30, "corpus_bleu": 11.0,
                             "corpus_chrf": 40.5, "corpus_rouge1": 0.4}
    both = {"summaries": {"val_after": {"n": 10, "ece": 0.2}, "test_after": {"n": 5, "ece": 0.1, "split": "t"}}}
    assert headline(both) == {"ece": 0.1}  # the test set's, n left out
    unlabeled = {"summaries": {"val_after": {"n": 10, "log_loss": 0.7}, "test_after": None}}
    assert headline(unlabeled) == {"log_loss": 0.7}
    for empty in ({}, {"macro": {}, "summaries": {"test_after": {"n": 3}}}, {"corpus": {"rouge": None}}):
        with pytest.raises(InputError, match=r"^the report holds none of accuracy, macro F1, log loss or BLEU/ROUGE$"):
            headline(empty)


def test_runs_are_named_by_names_by_their_folder_or_by_their_files_folder(tmp_path: Path) -> None:
    first = put(tmp_path / "v1" / "classify_report.json", {"accuracy": 0.5, "n": 4, "labels": ["a", "b"]})
    put(tmp_path / "v2" / "report" / "classify_report.json",
        {"accuracy": 0.25, "per_class": {"x": {}, "y": {}}, "meta": {"predictions": {"sha256": "ab"}}})
    rows = load_runs([first, tmp_path / "v2"], None)
    assert [(r["run"], r["n"], r["labels"], r["predictions"], r["accuracy"]) for r in rows] == [
        ("v1", 4, ["a", "b"], None, 0.5), ("v2", None, ["x", "y"], {"sha256": "ab"}, 0.25)]
    assert [r["run"] for r in load_runs([first, tmp_path / "v2"], ["one", "two"])] == ["one", "two"]
    with pytest.raises(InputError, match=r"^--names gives 1 names for 2 runs$"):
        load_runs([first, tmp_path / "v2"], ["one"])
    with pytest.raises(InputError, match=r"^--names gives 0 names for 2 runs$"):
        load_runs([first, tmp_path / "v2"], [])
    assert [r["run"] for r in load_runs([first, first], ["a", "b"])] == ["a", "b"]  # one report, two names: allowed
    put(tmp_path / "x" / "v1" / "gen_report.json", {"accuracy": 0.5})
    with pytest.raises(InputError, match=r"^two runs share a name: give --names$"):
        load_runs([first, tmp_path / "x" / "v1"], None)  # two reports in folders of one name
    with pytest.raises(InputError, match=r"^two runs share a name: give --names$"):
        load_runs([first, tmp_path / "v1"], None)
    put(tmp_path / "odd" / "classify_report.json", {"accuracy": 1.0, "meta": {"predictions": "p.jsonl"}})
    assert load_runs([tmp_path / "odd"], None)[0]["predictions"] is None


def test_an_unreadable_report_is_named_with_its_line(tmp_path: Path) -> None:
    bad = tmp_path / "a" / "gen_report.json"
    bad.parent.mkdir()
    bad.write_text('{\n  "accuracy": 1,\n  oops\n}', encoding="utf-8")
    with pytest.raises(InputError) as caught:
        load_runs([tmp_path / "a"], None)
    assert (caught.value.path, caught.value.line) == (str(bad), 3)
    empty = put(tmp_path / "b" / "gen_report.json", {"n": 3})
    with pytest.raises(InputError, match=f"^{empty}: the report holds none"):
        load_runs([tmp_path / "b"], None)


def row(run: str, labels: list[str] | None = None, n: int | None = None, sha: str | None = None) -> dict[str, Any]:
    return {"run": run, "labels": labels, "n": n, "predictions": {"sha256": sha} if sha is not None else None}


def test_what_makes_runs_not_comparable_and_in_which_order() -> None:
    assert mismatches([row("a", ["x", "y"], 4, "1" * 64)]) == []  # one run alone
    assert mismatches([row("a", ["x", "y"], 4, "1" * 64), row("b", ["x", "y"], 4, "2" * 64), row("c")]) == []
    assert mismatches([row("a", ["x", "y"]), row("b", ["y", "x"])]) == [
        "the runs were scored on different label sets: a: x, y; b: y, x"]  # the order counts
    assert mismatches([row("a", n=4), row("b", n=5), row("c")]) == [
        "the runs were scored on different numbers of rows: a 4, b 5"]
    assert mismatches([row("a", n=0), row("b", n=5)]) == ["the runs were scored on different numbers of rows: a 0, b 5"]
    sha = "0123456789abcdef" * 4
    notes = mismatches([row("a", ["x"], 3, sha), row("b", ["z"], 4, "f" * 64), row("c", ["x"], 4, sha),
                        row("d", sha=""), row("e", sha="")])  # no sha256: nothing to match
    assert notes == ["the runs were scored on different label sets: a: x; b: z; c: x",
                     "the runs were scored on different numbers of rows: a 3, b 4, c 4",
                     "a, c scored the same predictions (sha256 0123456789ab): not different runs"]
