"""recipekit/reproduce/card.py: the card's verdicts, and each published number beside the value and interval its
report wrote, in the report's unit."""

from __future__ import annotations

import json
from pathlib import Path

from recipekit.reproduce.card import report_values, score_numbers, verdict
from recipekit.reproduce.chain import Number


def test_verdicts_on_known_numbers() -> None:
    assert verdict(0.5, 0.52, (0.49, 0.55), tiny=False) == "reproduced"
    assert verdict(0.49, 0.52, (0.49, 0.55), tiny=False) == "reproduced"  # the interval's ends count
    assert verdict(0.55, 0.52, (0.49, 0.55), tiny=False) == "reproduced"
    assert verdict(0.60, 0.52, (0.49, 0.55), tiny=False) == \
        "not reproduced: run -0.08 (the report's number is above the interval)"
    assert verdict(0.40, 0.52, (0.49, 0.55), tiny=False) == \
        "not reproduced: run +0.12 (the report's number is below the interval)"
    assert verdict(0.5, 0.52, (0.49, 0.55), tiny=True) == "no verdict (tiny run)"
    assert verdict(0.5, None, None, tiny=False) == "not measured"
    assert verdict(0.5, 0.52, None, tiny=False) == "not measured"


def classification_report(folder: Path) -> Path:
    """A classify_report.json as the report writer lays it out (numbers made up, ids of its fields real)."""
    folder.mkdir(parents=True, exist_ok=True)
    report = {"n": 200, "accuracy": 0.9543, "macro": {"precision": 0.95, "recall": 0.94, "f1": 0.945},
              "per_class": {"World": {"f1": 0.96}, "Sports": {"f1": 0.99}},
              "probabilistic": {"log_loss": 0.21},
              "ci": {"accuracy": [0.93, 0.97], "macro_f1": [0.92, 0.96], "f1[Sports]": [0.98, 1.0]}}
    (folder / "classify_report.json").write_text(json.dumps(report), encoding="utf-8")
    return folder


def test_report_values_reads_every_number_a_card_can_cite(tmp_path: Path) -> None:
    n, values, intervals = report_values(classification_report(tmp_path / "cls"))
    assert n == 200
    assert values == {"accuracy": 0.9543, "macro_precision": 0.95, "macro_recall": 0.94, "macro_f1": 0.945,
                      "f1[World]": 0.96, "f1[Sports]": 0.99, "log_loss": 0.21}
    assert intervals["accuracy"] == [0.93, 0.97]
    generation = tmp_path / "gen"
    generation.mkdir()
    (generation / "gen_report.json").write_text(json.dumps({"n": 30, "llamafactory": {"bleu-4": 12.5},
                                                            "ci": {"bleu-4": [10.0, 15.0]}}), encoding="utf-8")
    assert report_values(generation) == (30, {"bleu-4": 12.5}, {"bleu-4": [10.0, 15.0]})
    assert report_values(tmp_path / "nothing") is None


def test_published_numbers_are_scored_in_the_reports_unit(tmp_path: Path) -> None:
    folder = classification_report(tmp_path / "cls")
    numbers = [Number("accuracy", 95.43, "accuracy", "{out}/cls", unit="%"),
               Number("F1 Sports", 0.90, "f1[Sports]", "{out}/cls"),
               Number("log loss", 0.2, "log_loss", "{out}/cls"),
               Number("BLEU", 20.0, "bleu-4", "{out}/missing")]
    scored = score_numbers(numbers, lambda report: Path(report.format(out=tmp_path)), tiny=False)
    accuracy, sports, log_loss, missing = scored
    assert accuracy["run"] == 95.43 and accuracy["ci95"] == [93.0, 97.0] and accuracy["n"] == 200
    assert accuracy["verdict"] == "reproduced" and accuracy["report_folder"] == str(folder)
    assert sports["run"] == 0.99 and sports["ci95"] == [0.98, 1.0]
    assert sports["verdict"] == "not reproduced: run +0.09 (the report's number is below the interval)"
    assert log_loss["run"] == 0.21 and log_loss["ci95"] is None and log_loss["verdict"] == "not measured"
    assert missing["run"] is None and missing["n"] is None and missing["verdict"] == "not measured"
