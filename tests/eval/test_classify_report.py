"""eval/classify_report.py: numbers against scikit-learn, normalisation, baseline, files, wandb, errors."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from conftest import AGNEWS_LABELS, run_cli, run_script, write_jsonl
from sklearn.metrics import accuracy_score, confusion_matrix, f1_score, precision_recall_fscore_support

from recipekit.eval.labels import LabelMatcher, normalize_text

LABELS = AGNEWS_LABELS.split(",")


def predictions(pairs: list[tuple[str, str]]) -> list[dict[str, str]]:
    """LLaMA-Factory-shaped rows: the label carries a trailing newline, as LLaMA-Factory writes it."""
    return [{"prompt": f"Human: story {i}\nAssistant: </s>", "predict": p, "label": f"{g}\n"}
            for i, (p, g) in enumerate(pairs)]


def report(tmp_path: Path, rows: list[dict[str, object]], *args: str) -> dict:
    path = write_jsonl(tmp_path / "generated_predictions.jsonl", rows)
    result = run_cli("report", "classify", path, *args)
    assert result.returncode == 0, result.stderr
    return json.loads((tmp_path / "classify_report.json").read_text(encoding="utf-8"))


@pytest.mark.parametrize(("raw", "expected"), [
    ("3: Business", "3: Business"),
    ("3: Business\n", "3: Business"),
    ("  3:   Business </s>", "3: Business"),
    ("3: Business<|eot_id|>", "3: Business"),
    ("<|im_end|>3: Business<|im_end|>\n", "3: Business"),
    ("3", "3: Business"),
    ("Business", "3: Business"),
    ("3:Business", "3: Business"),
    ("4: Sci/Tech<|endoftext|>", "4: Sci/Tech"),
    ("Sci/Tech", "4: Sci/Tech"),
    ("3: Sports", None),
    ("Tech", None),
    ("/Tech", None),
    ("business", None),
    ("", None),
    ("5", None),
])
def test_label_matching_cases(raw: str, expected: str | None) -> None:
    assert LabelMatcher(LABELS).match(raw) == expected


def test_lenient_matching_finds_a_numbered_label_with_other_spacing_behind_an_answer_prefix() -> None:
    matcher = LabelMatcher(["1: World", "2: Sports"], lenient=True)
    assert matcher.match("Answer: 1:World.") == "1: World"
    assert matcher.match("The answer is 2 :Sports!") == "2: Sports"
    assert matcher.match("answer: 1:Sports") is None  # a number and a name that disagree
    assert LabelMatcher(["1: World", "2: Sports"]).match("Answer: 1:World.") is None  # exact: no prefix dropped


def test_a_numbered_answer_counts_only_for_a_numbered_label_set() -> None:
    assert LabelMatcher(["1", "2"]).match("1: 1") is None  # "N: name" read as number and name only for "N: name" labels
    assert LabelMatcher(["1", "2"]).match("1") == "1"


def test_plain_label_sets_match_exactly_after_normalisation() -> None:
    matcher = LabelMatcher(["A", "B", "tie"])
    assert matcher.match(" tie\n</s>") == "tie"
    assert matcher.match("1") is None
    assert normalize_text("a\n\n b\t<s>c") == "a b c"


def test_numbers_equal_scikit_learn(tmp_path: Path) -> None:
    rng = np.random.default_rng(3)
    gold = rng.choice(LABELS, size=200).tolist()
    pred = [g if rng.random() < 0.7 else str(rng.choice(LABELS)) for g in gold]
    got = report(tmp_path, predictions(list(zip(pred, gold, strict=True))), "--labels", AGNEWS_LABELS)
    assert got["n"] == 200 and got["n_invalid"] == 0
    assert got["accuracy"] == pytest.approx(accuracy_score(gold, pred))
    for average in ("macro", "micro", "weighted"):
        p, r, f, _ = precision_recall_fscore_support(gold, pred, labels=LABELS, average=average, zero_division=0)
        assert got[average] == pytest.approx({"precision": p, "recall": r, "f1": f})
    p, r, f, s = precision_recall_fscore_support(gold, pred, labels=LABELS, zero_division=0)
    for i, label in enumerate(LABELS):
        assert got["per_class"][label] == pytest.approx(
            {"precision": p[i], "recall": r[i], "f1": f[i], "support": int(s[i])})
    assert got["confusion_matrix"] == {"labels": LABELS, "predicted": LABELS,
                                       "matrix": confusion_matrix(gold, pred, labels=LABELS).tolist()}
    ci = got["ci"]
    assert ci["resamples"] == 1000 and ci["level"] == 0.95
    assert ci["accuracy"][0] < got["accuracy"] < ci["accuracy"][1]
    assert ci["macro_f1"][0] < f1_score(gold, pred, labels=LABELS, average="macro") < ci["macro_f1"][1]
    assert 0.05 < ci["accuracy"][1] - ci["accuracy"][0] < 0.2


def test_known_small_case_by_hand(tmp_path: Path) -> None:
    rows = predictions([("1: World", "1: World"), ("2", "2: Sports"), ("Business", "2: Sports"),
                        ("???", "3: Business")])
    got = report(tmp_path, rows, "--labels", AGNEWS_LABELS, "--bootstrap", "0")
    assert got["accuracy"] == 0.5
    assert got["n_invalid"] == 1
    assert got["per_class"]["2: Sports"] == {"precision": 1.0, "recall": 0.5, "f1": pytest.approx(2 / 3), "support": 2}
    assert got["per_class"]["3: Business"] == {"precision": 0.0, "recall": 0.0, "f1": 0.0, "support": 1}
    assert got["confusion_matrix"]["labels"] == LABELS  # rows: gold labels, never "(invalid)"
    assert got["confusion_matrix"]["predicted"] == [*LABELS, "(invalid)"]
    assert got["confusion_matrix"]["matrix"] == [[1, 0, 0, 0, 0], [0, 1, 1, 0, 0], [0, 0, 0, 0, 1], [0, 0, 0, 0, 0]]
    assert got["invalid_examples"] == [{"line": 4, "predict": "???", "label": "3: Business\n"}]
    assert got["ci"] is None


def test_invalid_predictions_are_counted_shown_and_scored_wrong(tmp_path: Path) -> None:
    rows = predictions([("Tech", "4: Sci/Tech"), ("/Tech", "4: Sci/Tech"), ("4", "4: Sci/Tech"),
                        ("1: World", "1: World")])
    path = write_jsonl(tmp_path / "generated_predictions.jsonl", rows)
    result = run_cli("report", "classify", path, "--labels", AGNEWS_LABELS)
    assert result.returncode == 0, result.stderr
    got = json.loads((tmp_path / "classify_report.json").read_text(encoding="utf-8"))
    assert (got["n"], got["n_invalid"], got["accuracy"]) == (4, 2, 0.5)
    assert [e["predict"] for e in got["invalid_examples"]] == ["Tech", "/Tech"]
    assert "## Invalid predictions (2 of 4, 50.0%), grouped by text" in result.stdout
    assert "| '/Tech' | 1 | 2 |" in result.stdout and "| 'Tech' | 1 | 1 |" in result.stdout
    assert "warning: 50.0% of the predictions match no label" in result.stderr


def test_labels_default_to_those_seen_in_the_file(tmp_path: Path) -> None:
    got = report(tmp_path, predictions([("B", "B"), ("A", "B"), ("C", "A")]), "--bootstrap", "0")
    assert list(got["per_class"]) == ["A", "B"]
    assert got["n_invalid"] == 1
    assert got["meta"]["labels_from"].startswith("the gold labels in the file")


def test_baseline_deltas_and_label_shift(tmp_path: Path) -> None:
    gold = ["1: World", "2: Sports", "3: Business", "4: Sci/Tech", "3: Business", "1: World"]
    base = ["1: World", "1: World", "3", "2: Sports", "Tech", "1: World"]
    new = ["1: World", "2: Sports", "3: Business", "4: Sci/Tech", "1: World", "1: World"]
    base_path = write_jsonl(tmp_path / "base" / "generated_predictions.jsonl",
                            predictions(list(zip(base, gold, strict=True))))
    got = report(tmp_path, predictions(list(zip(new, gold, strict=True))), "--baseline", str(base_path),
                 "--labels", AGNEWS_LABELS, "--bootstrap", "0")
    assert got["baseline"]["accuracy"] == pytest.approx(3 / 6)
    assert got["accuracy"] == pytest.approx(5 / 6)
    assert got["delta"]["accuracy"] == pytest.approx(2 / 6)
    assert got["delta"]["n_invalid"] == -1
    assert got["delta"]["macro_f1"] == pytest.approx(got["macro"]["f1"] - got["baseline"]["macro"]["f1"])
    assert got["label_shift"] == {"(invalid)->1: World": 1, "1: World->2: Sports": 1, "2: Sports->4: Sci/Tech": 1}
    md = (tmp_path / "classify_report.md").read_text(encoding="utf-8")
    assert "### Label shift (baseline -> this), 3 rows changed" in md
    assert "| accuracy | 0.5000 | 0.8333 | +0.3333 |" in md


@pytest.mark.parametrize(("base_rows", "message"), [
    ([("1: World", "1: World")], "has 1 rows but"),
    ([("1: World", "1: World"), ("2: Sports", "3: Business")], "label '3: Business' differs from '2: Sports'"),
])
def test_baseline_that_does_not_pair_is_an_error(tmp_path: Path, base_rows: list, message: str) -> None:
    path = write_jsonl(tmp_path / "new.jsonl", predictions([("1: World", "1: World"), ("2", "2: Sports")]))
    base = write_jsonl(tmp_path / "base.jsonl", predictions(base_rows))
    result = run_cli("report", "classify", path, "--baseline", base)
    assert result.returncode == 2
    assert message in result.stderr and str(base) in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_writes_three_files_and_prints_markdown(tmp_path: Path) -> None:
    path = write_jsonl(tmp_path / "preds" / "generated_predictions.jsonl",
                       predictions([("1: World", "1: World"), ("2", "2: Sports"), ("4", "3: Business")]))
    out = tmp_path / "report"
    result = run_cli("report", "classify", path, "--out", out, "--labels", AGNEWS_LABELS)
    assert result.returncode == 0, result.stderr
    assert sorted(p.name for p in out.iterdir()) == ["classify_report.json", "classify_report.md",
                                                     "classify_rows.jsonl", "confusion_matrix.png"]
    md = (out / "classify_report.md").read_text(encoding="utf-8")
    assert md in result.stdout
    assert "| accuracy (95% CI) | 0.6667 [" in md
    assert "| 3: Business | 0.0000 | 0.0000 | 0.0000 | 1 |" in md
    assert (out / "confusion_matrix.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    got = json.loads((out / "classify_report.json").read_text(encoding="utf-8"))
    assert set(got) >= {"n", "n_invalid", "accuracy", "macro", "micro", "weighted", "per_class",
                        "confusion_matrix", "ci", "meta"}
    assert got["meta"]["predictions"]["sha256"] and got["meta"]["versions"]["scikit-learn"]
    # same input, same bytes
    first = (out / "classify_report.json").read_bytes()
    run_cli("report", "classify", path, "--out", out, "--labels", AGNEWS_LABELS)
    assert (out / "classify_report.json").read_bytes() == first


@pytest.mark.integration
def test_wandb_offline_run_files(tmp_path: Path) -> None:
    path = write_jsonl(tmp_path / "generated_predictions.jsonl",
                       predictions([("1: World", "1: World"), ("3", "2: Sports")]))
    result = run_script("eval/classify_report.py", path, "--wandb", "--bootstrap", "0",
                        env={"WANDB_MODE": "offline", "WANDB_SILENT": "true", "WANDB_PROJECT": "test"})
    assert result.returncode == 0, result.stderr
    runs = list((tmp_path / "wandb").glob("offline-run-*"))
    assert len(runs) == 1
    assert len(list(runs[0].glob("run-*.wandb"))) == 1
    media = runs[0] / "files" / "media"
    assert len(list((media / "images").glob("confusion_matrix_png_*.png"))) == 1
    (per_class,) = (media / "table").glob("per_class_*.table.json")
    table = json.loads(per_class.read_text(encoding="utf-8"))
    assert table["columns"] == ["label", "precision", "recall", "f1", "support"]
    assert table["data"][0] == ["1: World", 1.0, 1.0, 1.0, 1]
    assert table["data"][1] == ["2: Sports", 0.0, 0.0, 0.0, 1]
    (matrix,) = (media / "table").glob("confusion_matrix_*.table.json")
    logged = json.loads(matrix.read_text(encoding="utf-8"))
    assert logged["columns"] == ["label", "1: World", "2: Sports", "(invalid)"]
    assert logged["data"] == [["1: World", 1, 0, 0], ["2: Sports", 0, 0, 1]]  # no row of zeros for "(invalid)"


@pytest.mark.parametrize(("content", "message"), [
    (None, "no such file"),
    ("", "empty file: no prediction rows"),
    ('{"predict": "a", "label": "a"}\nnot json\n', ":2: not valid JSON"),
    ('{"predict": "a", "label": "a"}\n{"predict": "b"}\n', ":2: missing field 'label'"),
    ('{"label": "a"}\n', ":1: missing field 'predict'"),
    ('{"predict": null, "label": "a"}\n', ":1: field 'predict' must be a string, got NoneType"),
    ('["predict", "label"]\n', ":1: expected a JSON object"),
    ('{"predict": "a", "label": "zzz"}\n', ":1: label 'zzz' is not in the label set ['a', 'b']"),
])
def test_bad_input_is_a_one_line_error(tmp_path: Path, content: str | None, message: str) -> None:
    path = tmp_path / "generated_predictions.jsonl"
    if content is not None:
        path.write_text(content, encoding="utf-8")
    result = run_cli("report", "classify", path, "--labels", "a,b")
    assert result.returncode == 2
    assert result.stderr.startswith(f"error: {path}")
    assert message in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "classify_report.json").exists()


def test_an_empty_label_set_is_an_error_naming_the_flag(tmp_path: Path) -> None:
    path = write_jsonl(tmp_path / "generated_predictions.jsonl", [{"predict": "a", "label": "a"}])
    result = run_cli("report", "classify", path, "--labels", "")
    assert (result.returncode, result.stderr) == (2, "error: --labels names no label\n")
    assert not (tmp_path / "classify_report.json").exists()


@pytest.mark.parametrize(("n", "said"), [(1, True), (29, True), (30, False)])
def test_under_thirty_rows_the_report_says_its_interval_means_little(tmp_path: Path, n: int, said: bool) -> None:
    path = write_jsonl(tmp_path / "generated_predictions.jsonl", [{"predict": "a", "label": "a"}] * n)
    result = run_cli("report", "classify", path, "--labels", "a,b", "--bootstrap", "20")
    assert result.returncode == 0, result.stderr
    line = (f"only {n} row(s) (under 30): the 95% intervals, resampled from so few rows, mean little; score more rows "
            "before trusting a difference")
    assert (f"\nnote: {line}\n" in result.stdout) is said
    assert (f"**Note:** {line}." in (tmp_path / "classify_report.md").read_text(encoding="utf-8")) is said


@pytest.mark.integration
def test_help_shows_an_example() -> None:
    result = run_script("eval/classify_report.py", "--help")
    assert result.returncode == 0 and "llm-recipes report classify outputs/" in result.stdout


def test_invalid_answers_are_grouped_and_every_row_gets_a_verdict(tmp_path: Path) -> None:
    rows = predictions([("The answer is: Sports.", "2: Sports"), ("the answer is sports", "2: Sports"),
                        ("I think World", "1: World"), ("1: World", "1: World"), ("3", "4: Sci/Tech")])
    path = write_jsonl(tmp_path / "generated_predictions.jsonl", rows)
    exact = run_cli("report", "classify", path, "--labels", AGNEWS_LABELS, "--bootstrap", "0")
    got = json.loads((tmp_path / "classify_report.json").read_text(encoding="utf-8"))
    assert got["n_invalid"] == 3 and got["invalid_groups"][0]["text"] == "I think World"
    assert [g["count"] for g in got["invalid_groups"]] == [1, 1, 1]
    verdicts = [json.loads(line) for line in (tmp_path / "classify_rows.jsonl").read_text("utf-8").splitlines()]
    assert [v["status"] for v in verdicts] == ["invalid", "invalid", "invalid", "correct", "wrong"]
    assert verdicts[4] == {"line": 5, "gold": "4: Sci/Tech", "predict": "3", "matched": "3: Business",
                           "status": "wrong", "why": "matched '3: Business'"}
    assert exact.returncode == 0 and "warning: 60.0% of the predictions match no label" in exact.stderr
    strict = run_cli("report", "classify", path, "--labels", AGNEWS_LABELS, "--bootstrap", "0", "--strict")
    assert strict.returncode == 1
    lenient = run_cli("report", "classify", path, "--labels", AGNEWS_LABELS, "--bootstrap", "0", "--match", "lenient",
                      "--out", tmp_path / "lenient")
    got = json.loads((tmp_path / "lenient" / "classify_report.json").read_text(encoding="utf-8"))
    assert lenient.returncode == 0 and got["n_invalid"] == 1 and got["accuracy"] == 0.6
    assert "case ignored, surrounding punctuation" in got["meta"]["matching"]


def test_a_runaway_answer_is_shown_cut_to_a_readable_length(tmp_path: Path) -> None:
    runaway = "Sports " * 200_000  # 1.4 MB, as a model that never stops writes it
    path = write_jsonl(tmp_path / "generated_predictions.jsonl",
                       predictions([(runaway, "2: Sports"), ("1: World", "1: World")]))
    done = run_cli("report", "classify", path, "--labels", AGNEWS_LABELS, "--bootstrap", "0")
    assert done.returncode == 0
    markdown = (tmp_path / "classify_report.md").read_text(encoding="utf-8")
    shown = "'" + "Sports " * 17 + "…'"  # 119 characters and the ellipsis, quoted
    assert shown in markdown and shown in done.stdout
    assert len(done.stdout) < 5_000 and len(markdown) < 5_000 and len(done.stderr) < 1_000
    assert "most often '" + "Sports " * 8 + "Spo…' x1" in done.stderr  # the warning's 60-character start


def test_a_file_of_doubled_rows_counts_each_id_once_and_says_so(tmp_path: Path) -> None:
    rows = [{"prompt": f"p{i}", "predict": "1: World" if i % 2 else "2: Sports", "label": "1: World", "id": i}
            for i in range(10)]
    path = write_jsonl(tmp_path / "generated_predictions.jsonl", rows + rows)  # every row twice
    done = run_cli("report", "classify", path, "--labels", AGNEWS_LABELS, "--bootstrap", "0")
    report = json.loads((tmp_path / "classify_report.json").read_text(encoding="utf-8"))
    assert done.returncode == 0 and report["n"] == 10 and report["accuracy"] == 0.5
    assert f"note: 10 row(s) of {path} repeat an earlier row (same id): each id counted once" in done.stdout
    assert "| repeated rows | 10 (same id: each id counted once) |" in done.stdout


def test_labels_come_from_the_registered_dataset_when_known(tmp_path: Path) -> None:
    data = tmp_path / "data"
    write_jsonl(data / "topics_val.jsonl", [{"instruction": "Topic?", "input": f"t{i}", "output": label}
                                            for i, label in enumerate(["World", "Sports", "Business"] * 2)])
    (data / "dataset_info.json").write_text(json.dumps({"topics_val": {"file_name": "topics_val.jsonl"}}))
    path = write_jsonl(tmp_path / "p.jsonl", predictions([("Business", "World"), ("World", "World")]))
    done = run_cli("report", "classify", path, "--dataset", "topics_val", "--data-dir", data, "--bootstrap", "0")
    got = json.loads((tmp_path / "classify_report.json").read_text(encoding="utf-8"))
    assert done.returncode == 0 and got["n_invalid"] == 0  # Business never appears as gold, yet it is a real class
    assert list(got["per_class"]) == ["Business", "Sports", "World"]
    assert got["meta"]["labels_from"].startswith(f"the answers of {data / 'dataset_info.json'}:topics_val")


@pytest.mark.integration  # hundreds of bootstrap runs
def test_the_bootstrap_interval_is_a_95_percent_one(tmp_path: Path) -> None:
    """400 rows at accuracy 0.75: a 95% interval is about 2 x 1.96 x sqrt(.75 x .25 / 400) = 0.085 wide; a 90%
    one would be about 0.071."""
    rows = predictions([("1: World", "1: World") if i % 4 else ("2: Sports", "1: World") for i in range(400)])
    got = report(tmp_path, rows, "--labels", AGNEWS_LABELS, "--bootstrap", "2000", "--seed", "3")
    low, high = got["ci"]["accuracy"]
    assert got["accuracy"] == 0.75 and 0.079 < high - low < 0.091, (low, high)


def test_a_report_of_one_class_prints_no_library_warning(tmp_path: Path) -> None:
    """One row, one class: scikit-learn's 'A single label was found' warning is not the user's business (the
    matrix is shaped by the label set given to it), the under-30 note is."""
    import warnings

    path = write_jsonl(tmp_path / "generated_predictions.jsonl", [{"predict": "a", "label": "a"}])
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = run_cli("report", "classify", path, "--bootstrap", "0")
    assert result.returncode == 0, result.stderr
    assert [str(w.message) for w in caught if "single label" in str(w.message)] == []
    assert json.loads((tmp_path / "classify_report.json").read_text(encoding="utf-8"))["confusion_matrix"][
        "matrix"] == [[1]]


def test_the_recipes_labels_come_from_data_dir_unless_the_recipe_names_its_own(tmp_path: Path) -> None:
    """A predict recipe without dataset_dir: its eval set's answers are read from --data-dir (the data folder the
    user named), as LLaMA-Factory reads the recipe's own dataset_dir when it has one."""
    import argparse

    from recipekit.commands.classify_report import known_labels

    data = tmp_path / "mine"
    data.mkdir()
    (data / "dataset_info.json").write_text('{"news_val": {"file_name": "news_val.jsonl"}}', encoding="utf-8")
    (data / "news_val.jsonl").write_text("".join(f'{{"instruction": "q", "input": "", "output": "{label}"}}\n'
                                                 for label in ("World", "Sports", "World")), encoding="utf-8")
    recipe = tmp_path / "predict.yaml"
    recipe.write_text("model_name_or_path: m\nstage: sft\ndo_predict: true\neval_dataset: news_val\n"
                      f"output_dir: {tmp_path / 'out'}\n", encoding="utf-8")
    predictions = tmp_path / "out" / "generated_predictions.jsonl"
    predictions.parent.mkdir()
    predictions.write_text('{"prompt": "q", "predict": "World", "label": "World"}\n', encoding="utf-8")
    args = argparse.Namespace(labels=None, predictions=str(predictions),
                              data_dir=str(data), dataset=None, recipe=str(recipe))
    labels, source = known_labels(args)
    assert labels == ["Sports", "World"] and source.startswith(f"the answers of {data / 'dataset_info.json'}")
