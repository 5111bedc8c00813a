"""The bootstrap's per-draw statistics against scikit-learn's own metrics on the rows each draw picks."""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import numpy as np
import pytest
from sklearn.metrics import accuracy_score, log_loss, precision_recall_fscore_support

from recipekit.errors import InputError
from recipekit.eval.classification import (
    bootstrap_ci,
    classification_metrics,
    compare_with_baseline,
    deltas,
    draw_statistics,
    row_verdicts,
    score_file,
)
from recipekit.eval.labels import INVALID
from recipekit.report.classification import repeats_text

LABELS = ["A", "B", "C", "D"]


def sklearn_statistics(y_true: np.ndarray, y_pred: np.ndarray, probs: np.ndarray) -> dict[str, float]:
    k = list(range(len(LABELS)))
    precision, recall, f1, _ = precision_recall_fscore_support(y_true, y_pred, labels=k, average=None,
                                                               zero_division=0)
    return {"accuracy": float(np.mean(y_true == y_pred)), "macro_precision": float(np.mean(precision)),
            "macro_recall": float(np.mean(recall)), "macro_f1": float(np.mean(f1)),
            **{f"f1[{label}]": float(f1[i]) for i, label in enumerate(LABELS)},
            "log_loss": float(log_loss(y_true, probs, labels=k))}


def test_every_draw_equals_scikit_learn_on_the_rows_it_picks() -> None:
    """Invalid answers (-1), a class never predicted (D) and one rarely gold, probabilities with a 0 in them:
    60 draws, each compared with scikit-learn's metrics on the drawn rows."""
    rng = np.random.default_rng(7)
    y_true = rng.choice(4, size=40, p=[0.4, 0.3, 0.25, 0.05])
    y_pred = np.where(rng.random(40) < 0.6, y_true, rng.integers(-1, 3, size=40))
    probs = rng.dirichlet(np.ones(4), size=40)
    probs[0] = [1.0, 0.0, 0.0, 0.0]
    statistics = draw_statistics(y_true, y_pred, LABELS, probs)
    for _ in range(60):
        pick = rng.integers(0, 40, size=40)
        with np.errstate(all="raise"):  # 0/0 for a class never predicted is handled, not left to numpy's warning
            got = statistics(pick)
        want = sklearn_statistics(y_true[pick], y_pred[pick], probs[pick])
        assert got.keys() == want.keys()
        for key in want:
            assert got[key] == pytest.approx(want[key], abs=1e-12), key


def test_intervals_hold_the_whole_sample_value_and_shrink_with_more_rows() -> None:
    """Accuracy 0.75 on n rows: the 95% interval is about 2 x 1.96 x sqrt(0.75 x 0.25 / n) wide."""
    for n in (100, 1600):
        gold = ["A"] * n
        predicted = ["A" if i % 4 else "B" for i in range(n)]
        ci = bootstrap_ci(gold, predicted, LABELS, 1000, 0)
        width = 2 * 1.96 * (0.75 * 0.25 / n) ** 0.5
        assert ci["accuracy"][0] < 0.75 < ci["accuracy"][1]
        assert ci["accuracy"][1] - ci["accuracy"][0] == pytest.approx(width, rel=0.15), n
        assert ci["f1[C]"] == [0.0, 0.0] and ci["resamples"] == 1000


def predictions(path: Path, pairs: list[tuple[str, str]]) -> Path:
    """A predictions file of (predict, label) rows, as LLaMA-Factory writes it."""
    path.write_text("".join(json.dumps({"prompt": f"p{i}", "predict": p, "label": g}) + "\n"
                            for i, (p, g) in enumerate(pairs)), encoding="utf-8")
    return path


# gold A A A B B C; predicted A, B, junk, B, A, "  C \n" (whitespace folds away), junk again
ROWS = [("A", "A"), ("B", "A"), ("no idea", "A"), ("B", "B"), ("A", "B"), ("  C \n", "C"), ("No   idea", "C")]


def test_a_file_is_scored_as_scikit_learn_scores_it_with_invalid_answers_wrong(tmp_path: Path) -> None:
    scored = score_file(predictions(tmp_path / "p.jsonl", ROWS), None)
    assert scored.labels == ["A", "B", "C"]  # the gold labels seen, sorted
    assert scored.rule == ("exact match after whitespace/special-token normalisation; 'N: Name' labels also match "
                           "'N' or 'Name'")
    assert scored.predicted == ["A", "B", INVALID, "B", "A", "C", INVALID]
    metrics = classification_metrics(scored, resamples=0, seed=0)
    gold = [g for _, g in ROWS]
    mapped = ["A", "B", "X", "B", "A", "C", "X"]  # an invalid answer is a label no row has
    assert (metrics["n"], metrics["n_invalid"]) == (7, 2)
    assert metrics["accuracy"] == pytest.approx(accuracy_score(gold, mapped)) == pytest.approx(3 / 7)
    for average in ("macro", "micro", "weighted"):
        p, r, f, _ = precision_recall_fscore_support(gold, mapped, labels=["A", "B", "C"], average=average,
                                                     zero_division=0)
        assert metrics[average] == pytest.approx({"precision": p, "recall": r, "f1": f}), average
    p, r, f, _ = precision_recall_fscore_support(gold, mapped, labels=["A", "B", "C"], zero_division=0)
    assert metrics["per_class"]["C"] == pytest.approx({"precision": p[2], "recall": r[2], "f1": f[2], "support": 2})
    assert metrics["per_class"]["A"]["support"] == 3 and metrics["per_class"]["B"]["precision"] == 0.5
    # a row per label, a column per prediction: an invalid answer is never a gold label, so no row of its own
    assert metrics["confusion_matrix"] == {"labels": ["A", "B", "C"], "predicted": ["A", "B", "C", INVALID],
                                           "matrix": [[1, 1, 0, 1], [1, 1, 0, 0], [0, 0, 1, 1]]}
    assert metrics["ci"] is None
    assert metrics["invalid_examples"] == [{"line": 3, "predict": "no idea", "label": "A"},
                                           {"line": 7, "predict": "No   idea", "label": "C"}]
    # normalised text groups: case is kept, whitespace folds
    assert metrics["invalid_groups"] == [{"text": "No idea", "count": 1, "lines": [7]},
                                         {"text": "no idea", "count": 1, "lines": [3]}]


def test_no_invalid_answer_no_invalid_column_and_an_interval_with_resamples(tmp_path: Path) -> None:
    scored = score_file(predictions(tmp_path / "p.jsonl", [("A", "A"), ("B", "B"), ("A", "B")]), ["B", "A"])
    metrics = classification_metrics(scored, resamples=50, seed=3)
    assert metrics["confusion_matrix"] == {"labels": ["B", "A"], "predicted": ["B", "A"], "matrix": [[1, 1], [0, 1]]}
    assert metrics["invalid_examples"] == [] and metrics["invalid_groups"] == []
    assert (metrics["ci"]["resamples"], metrics["ci"]["seed"]) == (50, 3)
    assert metrics["ci"] == bootstrap_ci(["A", "B", "B"], ["A", "B", "A"], ["B", "A"], 50, 3)
    low, high = metrics["ci"]["accuracy"]
    assert 0 <= low <= 2 / 3 <= high <= 1


def test_a_gold_label_outside_the_given_set_names_its_line(tmp_path: Path) -> None:
    path = predictions(tmp_path / "p.jsonl", [("A", "A"), ("B", "Z")])
    with pytest.raises(InputError) as caught:
        score_file(path, ["A", "B"])
    assert str(caught.value) == f"{path}:2: label 'Z' is not in the label set ['A', 'B']"


def test_at_most_five_invalid_examples_and_twenty_groups_most_frequent_first(tmp_path: Path) -> None:
    rows = [(f"junk {i:02d}", "A") for i in range(24)] + [("junk 23", "A"), ("junk 23", "A"), ("junk 05", "A"),
                                                          ("A", "A"), ("junk 23", "A")]
    scored = score_file(predictions(tmp_path / "p.jsonl", rows), ["A", "B"])
    metrics = classification_metrics(scored, resamples=0, seed=0)
    assert [e["line"] for e in metrics["invalid_examples"]] == [1, 2, 3, 4, 5]
    groups = metrics["invalid_groups"]
    assert len(groups) == 20
    assert groups[0] == {"text": "junk 23", "count": 4, "lines": [24, 25, 26]}  # its first three lines
    assert groups[1] == {"text": "junk 05", "count": 2, "lines": [6, 27]}
    assert [g["text"] for g in groups[2:5]] == ["junk 00", "junk 01", "junk 02"]  # ties: by text


def test_each_row_gets_a_verdict_with_its_reason(tmp_path: Path) -> None:
    scored = score_file(predictions(tmp_path / "p.jsonl", [*ROWS[:3], ("x" * 200, "B")]), ["A", "B"])
    verdicts = row_verdicts(scored)
    assert verdicts[:3] == [
        {"line": 1, "gold": "A", "predict": "A", "matched": "A", "status": "correct", "why": "matched 'A'"},
        {"line": 2, "gold": "A", "predict": "B", "matched": "B", "status": "wrong", "why": "matched 'B'"},
        {"line": 3, "gold": "A", "predict": "no idea", "matched": None, "status": "invalid",
         "why": "no label matches 'no idea'"}]
    assert verdicts[3]["why"] == f"no label matches {'x' * 80!r}"


def test_label_shifts_against_a_baseline_and_files_that_do_not_pair(tmp_path: Path) -> None:
    new = score_file(predictions(tmp_path / "new.jsonl", [("A", "A"), ("A", "A"), ("B", "B"), ("A", "B")]), None)
    base = score_file(predictions(tmp_path / "base.jsonl", [("B", "A"), ("B", "A"), ("x", "B"), ("A", "B")]), None)
    assert compare_with_baseline(new, base) == {"B->A": 2, "(invalid)->B": 1}
    assert compare_with_baseline(new, new) == {}
    # most frequent first, ties by text: the order a reader scans
    after = score_file(predictions(tmp_path / "after.jsonl", [("A", "A"), ("B", "B"), ("A", "A"), ("C", "C")]), None)
    before = score_file(predictions(tmp_path / "before.jsonl", [("B", "A"), ("A", "B"), ("B", "A"), ("x", "C")]),
                        None)
    assert list(compare_with_baseline(after, before).items()) == [("B->A", 2), ("(invalid)->C", 1), ("A->B", 1)]
    short = score_file(predictions(tmp_path / "short.jsonl", [("A", "A")]), None)
    with pytest.raises(InputError) as caught:
        compare_with_baseline(new, short)
    assert str(caught.value) == f"{tmp_path / 'short.jsonl'}: has 1 rows but {tmp_path / 'new.jsonl'} has 4; " \
                                "rows pair by order"
    other = score_file(predictions(tmp_path / "other.jsonl", [("A", "A"), ("A", "A"), ("B", "A"), ("A", "B")]), None)
    with pytest.raises(InputError) as caught:
        compare_with_baseline(new, other)
    assert str(caught.value) == (f"{tmp_path / 'other.jsonl'}:3: label 'A' differs from 'B' at "
                                 f"{tmp_path / 'new.jsonl'}:3; rows pair by order")


def test_deltas_are_new_minus_baseline_probabilistic_only_when_both_have_them() -> None:
    def report(accuracy: float, invalid: int, base: float, probabilistic: dict | None = None) -> dict:
        found = {"accuracy": accuracy, "n_invalid": invalid,
                 **{avg: {"precision": base, "recall": base + 0.1, "f1": base + 0.2}
                    for avg in ("macro", "micro", "weighted")}}
        return {**found, "probabilistic": probabilistic} if probabilistic else found

    new = report(0.9, 1, 0.5, {"log_loss": 0.3, "brier": 0.1, "ece": 0.05})
    old = report(0.6, 4, 0.25, {"log_loss": 0.9, "brier": 0.4, "ece": 0.2})
    out = deltas(new, old)
    assert out == pytest.approx({"accuracy": 0.3, "n_invalid": -3, "log_loss": -0.6, "brier": -0.3, "ece": -0.15,
                                 **{f"{avg}_{m}": 0.25 for avg in ("macro", "micro", "weighted")
                                    for m in ("precision", "recall", "f1")}})
    assert "log_loss" not in deltas(new, report(0.6, 4, 0.25)) and "ece" not in deltas(report(0.6, 4, 0.25), old)


def test_one_bootstrap_draw_is_scikit_learn_on_the_rows_it_drew_an_invalid_answer_wrong() -> None:
    """With one resample the interval is that draw's value on both ends: the draw's rows (numpy's generator with
    the same seed) scored by scikit-learn, the invalid answer as a label no row has, log loss from the rows'
    probabilities."""
    gold = ["A", "B", "A", "B", "A", "B"]
    predicted = ["A", INVALID, "B", "B", "A", INVALID]
    probs = np.array([[0.9, 0.1], [0.4, 0.6], [0.3, 0.7], [0.2, 0.8], [0.6, 0.4], [0.5, 0.5]])
    seed = 0
    pick = np.random.default_rng(seed).integers(0, 6, size=6)
    assert {1, 5} & set(pick.tolist())  # an invalid row is drawn, so its scoring shows
    y_true = [gold[i] for i in pick]
    y_pred = [predicted[i].replace(INVALID, "X") for i in pick]
    _, _, f1, _ = precision_recall_fscore_support(y_true, y_pred, labels=["A", "B"], zero_division=0)
    want = {"accuracy": accuracy_score(y_true, y_pred), "macro_f1": float(np.mean(f1)),
            "log_loss": log_loss([0 if g == "A" else 1 for g in y_true], probs[pick], labels=[0, 1])}
    ci = bootstrap_ci(gold, predicted, ["A", "B"], resamples=1, seed=seed, probs=probs)
    for key, value in want.items():
        assert ci[key] == pytest.approx([value, value]), key


def test_rows_with_ids_count_each_id_once_and_rows_without_are_counted_as_repeats(tmp_path: Path) -> None:
    rows = [{"prompt": f"p{i % 3}", "predict": "A", "label": "A" if i % 3 else "B", "id": i % 3} for i in range(6)]
    path = tmp_path / "ids.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    scored = score_file(path, None)
    assert [row.line for row in scored.rows] == [1, 2, 3] and scored.gold == ["B", "A", "A"]
    assert scored.repeats == {"by": "id", "repeated": 3, "counted_once": True}
    metrics = classification_metrics(scored, resamples=0, seed=0)
    assert metrics["n"] == 3 and metrics["accuracy"] == pytest.approx(2 / 3) and metrics["repeats"]["repeated"] == 3
    plain = predictions(tmp_path / "plain.jsonl", [("A", "A"), ("A", "A"), ("B", "A"), ("B", "B")])
    scored = score_file(plain, None)  # p0..p3 prompts differ: no repeat
    assert scored.repeats == {"by": "prompt and label", "repeated": 0, "counted_once": False}
    copies = tmp_path / "copies.jsonl"
    copies.write_text("".join(json.dumps({"prompt": "same", "predict": p, "label": "A"}) + "\n" for p in "AAB"),
                      encoding="utf-8")
    scored = score_file(copies, None)
    assert len(scored.rows) == 3 and scored.repeats == {"by": "prompt and label", "repeated": 2,
                                                         "counted_once": False}
    assert repeats_text(scored.repeats) == "2 (same prompt and label: all counted in n)"
    assert repeats_text({"by": "id", "repeated": 3, "counted_once": True}) == "3 (same id: each id counted once)"


def test_a_label_never_predicted_scores_zero_without_a_warning_and_intervals_carry_log_loss(tmp_path: Path) -> None:
    scored = score_file(predictions(tmp_path / "p.jsonl", [("A", "A"), ("A", "B"), ("B", "B"), ("A", "C")]), None)
    probs = np.array([[0.7, 0.2, 0.1], [0.5, 0.3, 0.2], [0.2, 0.7, 0.1], [0.6, 0.1, 0.3]])
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # scikit-learn's UndefinedMetricWarning would reach the user's terminal
        metrics = classification_metrics(scored, resamples=1, seed=0, probs=probs)
    assert metrics["per_class"]["C"]["precision"] == 0.0  # C is never predicted: 0, as zero_division=0 says
    p, r, f, _ = precision_recall_fscore_support(["A", "B", "B", "C"], ["A", "A", "B", "A"], labels=["A", "B", "C"],
                                                 average="macro", zero_division=0)
    assert metrics["macro"] == pytest.approx({"precision": p, "recall": r, "f1": f})
    assert metrics["ci"] is not None and "log_loss" in metrics["ci"]  # one resample is an interval too


def test_a_certain_right_answer_costs_what_scikit_learn_charges_it() -> None:
    """p(gold) = 1 is clipped to 1 - eps as scikit-learn's log_loss clips it: -log(1 - 2.2e-16), about 2.2e-16 a
    row, not 0 (compared to the last digits: the usual 1e-12 tolerance would take 0 as well)."""
    y_true = np.array([0, 1, 2, 3])
    probs = np.eye(4)
    want = log_loss(y_true, probs, labels=list(range(4)))
    assert want > 0
    got = draw_statistics(y_true, y_true, LABELS, probs)(np.arange(4))["log_loss"]
    assert got == pytest.approx(want, rel=1e-9, abs=0)
