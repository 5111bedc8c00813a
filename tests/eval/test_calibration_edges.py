"""Calibration maths at its edges: which log-scores a file gives, the summary's macro-F1 over the whole label set,
the temperature's optimum and bounds, the threshold grid's ends and ties, swapped copies paired and checked, folds
merged. Expected values are worked out by hand or by scikit-learn."""

from __future__ import annotations

import json
import math
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from sklearn.metrics import log_loss

from recipekit.errors import InputError
from recipekit.eval.calibration import (
    ScoreFile,
    check_swapped_labels,
    fit_temperature,
    flip_permutation,
    load_scores,
    merge_folds,
    nll,
    order_consistency,
    out_path,
    pair_rows,
    rewritten_rows,
    search_threshold,
    summary,
    swap_average,
    temperature_interval,
    threshold_predictions,
    threshold_shift,
    two_class,
)
from recipekit.eval.predictions import Prediction

LABELS = ["A", "B"]


def write_rows(path: Path, rows: list[dict[str, Any]]) -> str:
    path.write_text("".join(json.dumps({"prompt": "p", "predict": "", **row}) + "\n" for row in rows),
                    encoding="utf-8")
    return str(path)


def score_file(scores: list[list[float]], y: list[int] | None, extras: list[dict[str, Any]] | None = None,
               labels: list[str] = LABELS, path: str = "f.jsonl") -> ScoreFile:
    extras = extras or [{} for _ in scores]
    rows = [Prediction(i + 1, "", labels[y[i]] if y else "", f"q{i}", extra) for i, extra in enumerate(extras)]
    return ScoreFile(path, rows, labels, np.array(scores, dtype=float), None if y is None else np.array(y))


def test_log_scores_are_the_logprobs_only_when_every_row_has_them_all_finite(tmp_path: Path) -> None:
    probs = [{"A": 0.75, "B": 0.25}, {"A": 0.0, "B": 1.0}]
    labeled = [{"label": gold, "probs": p} for gold, p in zip(LABELS, probs, strict=True)]
    plain = load_scores(write_rows(tmp_path / "p.jsonl", labeled))
    assert plain.scores.tolist() == [[math.log(0.75), math.log(0.25)], [math.log(1e-12), 0.0]]  # 0 -> the floor
    assert plain.y.tolist() == [0, 1] and plain.labels == LABELS
    logprobs = [{"A": -0.1, "B": -3.0}, {"A": -5.0, "B": -0.01}]
    both = [{"label": "B", "probs": p, "logprobs": lp} for p, lp in zip(probs, logprobs, strict=True)]
    assert load_scores(write_rows(tmp_path / "l.jsonl", both)).scores.tolist() == [[-0.1, -3.0], [-5.0, -0.01]]
    for broken in ({**logprobs[1], "B": float("-inf")}, {"A": -5.0}, "none"):
        rows = [both[0], {**both[1], "logprobs": broken}]
        assert load_scores(write_rows(tmp_path / "b.jsonl", rows)).scores.tolist() == plain.scores.tolist()
    one_short = [both[0], {"label": "B", "probs": probs[1]}]
    assert load_scores(write_rows(tmp_path / "s.jsonl", one_short)).scores.tolist() == plain.scores.tolist()
    unlabeled = load_scores(write_rows(tmp_path / "u.jsonl", [{"label": "", "probs": p} for p in probs]), ["B", "A"])
    assert unlabeled.y is None and unlabeled.scores[0].tolist() == [math.log(0.25), math.log(0.75)]
    half = [{"label": "A", "probs": probs[0]}, {"label": " ", "probs": probs[1]}]  # one gold label left empty
    with pytest.raises(InputError, match=r"h.jsonl:2: label '' is not in the label set \['A', 'B'\]$"):
        load_scores(write_rows(tmp_path / "h.jsonl", half))


def test_the_summary_averages_f1_over_every_label_of_the_set() -> None:
    probs = np.array([[0.8, 0.1, 0.1], [0.3, 0.6, 0.1], [0.2, 0.7, 0.1]])
    y = np.array([0, 0, 1])
    found = summary(probs, y, ["a", "b", "c"], 10)
    # predicted 0, 1, 1: F1 of a = 2/3, of b = 2/3, of c (never gold nor predicted) = 0
    assert found["n"] == 3 and found["accuracy"] == pytest.approx(2 / 3)
    assert found["macro_f1"] == pytest.approx(4 / 9)
    assert found["log_loss"] == pytest.approx(log_loss(y, probs, labels=[0, 1, 2]))
    brier = np.mean(np.sum((probs - np.eye(3)[y]) ** 2, axis=1))
    assert found["brier"] == pytest.approx(brier)
    # ECE over 10 bins of the top probability: 0.8 (right) in bin (0.7, 0.8]; 0.6 (wrong) and 0.7 (right) in
    # (0.5, 0.6] and (0.6, 0.7]: |0.8-1| + |0.6-0| + |0.7-1| over 3 rows
    assert found["ece"] == pytest.approx((0.2 + 0.6 + 0.3) / 3)
    assert summary(probs, None, ["a", "b", "c"], 10) is None


def test_the_log_loss_at_a_temperature_and_the_fitted_temperature() -> None:
    scores = np.array([[0.0, math.log(3.0)]])  # probabilities 1/4, 3/4
    assert nll(scores, np.array([1]), 1.0) == pytest.approx(-math.log(0.75))
    assert nll(scores, np.array([0]), 2.0) == pytest.approx(-math.log(1 / (1 + math.sqrt(3))))
    assert nll(np.tile(scores, (2, 1)), np.array([1, 0]), 1.0) == pytest.approx(-(math.log(0.75) + math.log(0.25)) / 2)
    # every row 0.9/0.1 (logit gap 2 ln 3), right 3 times in 4: the best probability is 0.75, a gap of ln 3: T = 2
    rows = np.tile([[0.0, 2 * math.log(3.0)]], (4, 1))
    assert fit_temperature(rows, np.array([1, 1, 1, 0])) == pytest.approx(2.0, rel=1e-4)
    # always right: the sharper the better, down to the bound 0.01; always wrong: up to 100
    assert fit_temperature(np.tile([[0.0, 0.01]], (4, 1)), np.array([1, 1, 1, 1])) == pytest.approx(0.01, rel=1e-3)
    assert fit_temperature(rows, np.array([0, 0, 0, 0])) == pytest.approx(100.0, rel=1e-3)


def test_the_positive_label_of_a_two_label_file() -> None:
    file = score_file([[0.0, 0.0]], [0])
    assert two_class(file, None) == (0, 1) and two_class(file, "B") == (1, 0) and two_class(file, "") == (0, 1)
    with pytest.raises(InputError, match=r"^f.jsonl: --positive 'C' is not one of the labels \['A', 'B'\]$"):
        two_class(file, "C")
    with pytest.raises(InputError, match=r"threshold search needs two labels, the file has \['A', 'B', 'C'\]"):
        two_class(score_file([[0.0, 0.0, 0.0]], [0], labels=["A", "B", "C"]), None)


def test_a_row_exactly_at_the_threshold_is_negative() -> None:
    assert threshold_predictions(np.array([0.49, 0.5, 0.51]), 0.5).tolist() == [0, 0, 1]
    file = score_file([[1.0, 0.5], [1.0, 0.4], [0.0, 1.0]], [0, 0, 1])
    scores, probs, chosen = threshold_shift(file, 0, 1, 0.5)  # deltas 0.5, 0.6, -1.0
    assert scores.tolist() == [[0.5, 0.5], [0.5, 0.4], [-0.5, 1.0]] and file.scores[0, 0] == 1.0  # a copy
    assert chosen.tolist() == [1, 0, 1]
    assert probs[0].tolist() == [0.5, 0.5]
    assert probs[2, 1] == pytest.approx(1 / (1 + math.exp(-1.5)))
    scores, _, chosen = threshold_shift(file, 1, 0, -0.5)  # positive B: deltas -0.5, -0.6, 1.0
    assert scores[:, 1].tolist() == [1.0, 0.9, 1.5] and chosen.tolist() == [0, 0, 1]


def test_the_threshold_grid_holds_both_ends_and_exact_decimals() -> None:
    positive = np.array([0, 1, 1])
    # only t = 1.0, the grid's last point, separates; t = 0.5 calls all three positive (macro-F1 0.4)
    assert search_threshold(np.array([0.9, 1.1, 2.0]), positive, -1, 1, 0.5) == (1.0, 1.0)
    assert search_threshold(np.array([-1.5, -0.9, 0.0]), positive, -1, 1, 0.5) == (-1.0, 1.0)  # its first point
    assert search_threshold(np.array([0.25, 0.35]), np.array([0, 1]), -0.3, 0.3, 0.1) == (0.3, 1.0)  # not 0.30000..4
    assert search_threshold(np.array([0.9, 1.1, 2.0]), positive, 0.5, 0.5, 1.0) == (0.5, 0.4)  # one point
    assert search_threshold(np.array([-1.0, 1.0]), np.array([0, 1]), -0.5, 0.5, 0.5)[0] == 0.0  # all tie: nearest 0
    # macro-F1 (0.8 + 2/3) / 2 at both -0.5 and 0.5, as near 0: the lower
    assert search_threshold(np.array([-0.75, 0.75, -0.25, 0.25]), np.array([0, 1, 1, 0]), -0.5, 0.5, 1.0)[0] == -0.5
    for low, high, step in ((1.0, 0.5, 0.1), (0.0, 1.0, 0.0), (0.0, 1.0, -0.1)):
        with pytest.raises(InputError, match=r"is empty$"):
            search_threshold(np.array([0.0]), np.array([0]), low, high, step)


def test_a_flip_maps_each_pair_and_leaves_the_rest() -> None:
    assert flip_permutation(["A", "B", "tie"], [("A", "B")]) == [1, 0, 2]
    assert flip_permutation(["a", "b", "c", "d"], [("a", "d"), ("b", "c")]) == [3, 2, 1, 0]
    assert flip_permutation(["a", "b"], []) == [0, 1]
    with pytest.raises(InputError, match=r"^--flip names 'C', which is not in the label set \['A', 'B'\]$"):
        flip_permutation(LABELS, [("A", "C")])
    same = np.array([[0.6, 0.4], [0.2, 0.8], [0.5, 0.5]])
    other = np.array([[0.7, 0.3], [0.9, 0.1], [0.5, 0.5]])
    assert order_consistency(same, other) == 2 / 3  # rows 1 and 3 agree on the top label (a tie: the first)
    flipped, averaged = swap_average(np.array([[0.7, 0.2, 0.1]]), np.array([[0.1, 0.6, 0.3]]), [1, 0, 2])
    assert flipped.tolist() == [[0.6, 0.1, 0.3]] and averaged == pytest.approx(np.array([[0.65, 0.15, 0.2]]))


def test_swapped_copies_pair_by_id_else_by_position_and_are_checked_row_by_row() -> None:
    original = score_file([[0.0, 0.0]] * 3, [0, 1, 0], [{"id": 1}, {"id": 2}, {"id": 3}])
    swapped = score_file([[0.0, 0.0]] * 3, [0, 0, 0], [{"id": 3}, {"id": 1}, {"id": 2}], path="s.jsonl")
    assert pair_rows(original, swapped).tolist() == [1, 2, 0]
    check_swapped_labels(original, score_file([[0.0, 0.0]] * 3, [1, 0, 1], path="s.jsonl"), np.arange(3), [1, 0])
    with pytest.raises(InputError) as caught:  # ids 1 and 3 not flipped: the first original row is named
        check_swapped_labels(original, swapped, pair_rows(original, swapped), [1, 0])
    assert str(caught.value) == ("s.jsonl:2: label 'A' is not the flip of 'A' (f.jsonl:1); is this the swapped "
                                 "copy?")
    check_swapped_labels(original, score_file([[0.0, 0.0]] * 3, None), np.arange(3), [1, 0])  # unlabeled: nothing
    twice = score_file([[0.0, 0.0]] * 3, None, [{"id": 1}, {"id": 2}, {"id": 1}], path="s.jsonl")
    with pytest.raises(InputError, match=r"^s.jsonl:3: id 1 appears twice \(lines 1 and 3\)$"):
        pair_rows(original, twice)
    short = score_file([[0.0, 0.0]] * 3, None, [{"id": 1}, {"id": 2}, {"id": 4}], path="s.jsonl")
    with pytest.raises(InputError, match=r"^f.jsonl:3: id 3 has no swapped copy in s.jsonl$"):
        pair_rows(original, short)
    some_ids = score_file([[0.0, 0.0]] * 3, None, [{"id": 3}, {}, {"id": 2}])
    assert pair_rows(original, some_ids).tolist() == [0, 1, 2]  # not every row has an id: by position
    with pytest.raises(InputError, match=r"^s.jsonl: has 2 rows but f.jsonl has 3; without ids rows pair by"):
        pair_rows(original, score_file([[0.0, 0.0]] * 2, None, path="s.jsonl"))


def test_rewritten_rows_keep_their_fields_and_take_the_new_scores() -> None:
    source = score_file([[0.0, 0.0]] * 2, [0, 1], [{"id": 7, "probs": {}, "logprobs": {}, "raw": 1}, {"fold": 2}])
    probs = np.array([[0.25, 0.75], [0.5, 0.5]])
    rows = rewritten_rows(source, probs, np.log(probs), extra={"raw": np.array([[1.0, 2.0], [3.0, 4.0]])})
    assert rows[0] == {"prompt": "q0", "predict": "B", "label": "A", "probs": {"A": 0.25, "B": 0.75},
                       "logprobs": {"A": math.log(0.25), "B": math.log(0.75)}, "raw": {"A": 1.0, "B": 2.0}, "id": 7}
    assert rows[1]["predict"] == "A" and rows[1]["fold"] == 2  # a tie: the first label
    chosen = rewritten_rows(source, probs, np.log(probs), predicted=np.array([0, 1]))
    assert [row["predict"] for row in chosen] == ["A", "B"] and "raw" in chosen[0] and chosen[0]["raw"] == 1


def test_folds_merge_in_order_and_must_not_overlap() -> None:
    first = score_file([[0.0, 0.0]] * 2, [0, 1], [{"id": 1, "fold": 1}, {"id": 2, "fold": 0}], path="a.jsonl")
    second = score_file([[0.0, 0.0]], [1], [{"id": 3}], path="b.jsonl")
    rows, per_file = merge_folds([first, second])
    assert [row["id"] for row in rows] == [1, 2, 3]
    assert per_file == [{"path": "a.jsonl", "rows": 2, "folds": ["0", "1"]}, {"path": "b.jsonl", "rows": 1,
                                                                                "folds": []}]
    overlap = score_file([[0.0, 0.0]], [1], [{"id": 2}], path="c.jsonl")
    with pytest.raises(InputError, match=r"^c.jsonl:1: id 2 is also in a.jsonl:2; folds must not overlap$"):
        merge_folds([first, overlap])
    with pytest.raises(InputError, match=r"^c.jsonl: labels \['B', 'A'\] differ from \['A', 'B'\] of a.jsonl$"):
        merge_folds([first, score_file([[0.0, 0.0]], [1], labels=["B", "A"], path="c.jsonl")])
    with pytest.raises(InputError, match=r"^c.jsonl: rows carry no gold labels"):
        merge_folds([first, score_file([[0.0, 0.0]], None, path="c.jsonl")])
    assert out_path(None, "runs/v1/val.jsonl", "x.json") == Path("runs/v1/x.json")
    assert out_path("out", "runs/v1/val.jsonl", "x.json") == Path("out/x.json")


def test_the_fitted_temperature_is_exact_to_a_millionth_of_its_logarithm() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the search takes its tolerance without a complaint
        # every row gap 1, right 5 times in 6: the best probability is 5/6, a logit gap of ln 5: T = 1 / ln 5
        rows = np.tile([[0.0, 1.0]], (6, 1))
        assert fit_temperature(rows, np.array([1, 1, 1, 1, 1, 0])) == pytest.approx(1 / math.log(5), rel=2e-7)
        # the optimum beyond either bound: the search ends within 1e-6 of that bound (in the logarithm)
        right = fit_temperature(np.tile([[0.0, 0.01]], (4, 1)), np.array([1, 1, 1, 1]))
        wrong = fit_temperature(np.tile([[0.0, 2 * math.log(3.0)]], (4, 1)), np.array([0, 0, 0, 0]))
    assert 0.01 <= right == pytest.approx(0.01, rel=2e-6)
    assert 100.0 >= wrong == pytest.approx(100.0, rel=2e-6)


def test_the_temperature_interval_is_drawn_with_its_seed() -> None:
    # five rows of gap 0.2, four of them right: a draw with k right rows has its optimum at 0.2 / logit(k / 5),
    # at the bound 0.01 when all five are right and at the bound 100 when at most half are
    scores, y = np.tile([[0.0, 0.2]], (5, 1)), np.array([1, 1, 1, 1, 0])
    best = {5: 0.01, 4: 0.2 / math.log(4.0), 3: 0.2 / math.log(1.5)}
    for seed in (0, 1):
        rng = np.random.default_rng(seed)
        refits = [best.get(int(y[rng.integers(0, 5, size=5)].sum()), 100.0) for _ in range(20)]
        expected = np.percentile(refits, [2.5, 97.5])
        assert temperature_interval(scores, y, 20, seed) == pytest.approx(expected.tolist(), rel=1e-5)
    assert temperature_interval(scores, y, 20, 1)[1] == pytest.approx(52.734299, rel=1e-5)  # seed 0: 0.4933


def test_a_file_without_two_labels_is_named_in_the_refusal() -> None:
    with pytest.raises(InputError) as caught:
        two_class(score_file([[0.0, 0.0, 0.0]], [0], labels=["A", "B", "C"], path="three.jsonl"), "A")
    assert str(caught.value) == "three.jsonl: threshold search needs two labels, the file has ['A', 'B', 'C']"


def test_the_first_unflipped_row_is_the_one_named() -> None:
    original = score_file([[0.0, 0.0]] * 3, [0, 1, 1])
    one_wrong = score_file([[0.0, 0.0]] * 3, [1, 0, 1], path="s.jsonl")  # row 3: B stays B
    with pytest.raises(InputError) as caught:
        check_swapped_labels(original, one_wrong, np.arange(3), [1, 0])
    assert str(caught.value) == "s.jsonl:3: label 'B' is not the flip of 'B' (f.jsonl:3); is this the swapped copy?"
    two_wrong = score_file([[0.0, 0.0]] * 3, [0, 0, 1], path="s.jsonl")  # rows 1 (A) and 3 (B) not flipped
    with pytest.raises(InputError) as caught:
        check_swapped_labels(original, two_wrong, np.arange(3), [1, 0])
    assert str(caught.value) == "s.jsonl:1: label 'A' is not the flip of 'A' (f.jsonl:1); is this the swapped copy?"


def test_ids_on_one_side_only_pair_rows_by_position() -> None:
    bare = score_file([[0.0, 0.0]] * 3, [0, 1, 0])
    with_ids = score_file([[0.0, 0.0]] * 3, [1, 0, 1], [{"id": 3}, {"id": 1}, {"id": 2}], path="s.jsonl")
    assert pair_rows(bare, with_ids).tolist() == [0, 1, 2]
    assert pair_rows(with_ids, bare).tolist() == [0, 1, 2]


def test_a_file_without_probs_is_refused_with_its_path(tmp_path: Path) -> None:
    bare = write_rows(tmp_path / "bare.jsonl", [{"label": "A"}, {"label": "B"}])
    line = f"{bare}: rows carry no 'probs' (label -> probability); score them with eval/score_labels.py"
    for labels in (None, LABELS):  # the label set read from the first row, or given
        with pytest.raises(InputError) as caught:
            load_scores(bare, labels)
        assert str(caught.value) == line
    one_label = write_rows(tmp_path / "one.jsonl", [{"label": "A", "probs": {"A": 1.0}}])
    with pytest.raises(InputError) as caught:
        load_scores(one_label)
    assert str(caught.value) == line.replace("bare.jsonl", "one.jsonl")


def test_a_loaded_file_keeps_its_path_rows_and_labels_and_skips_unreadable_logprobs(tmp_path: Path) -> None:
    probs = [{"A": 0.75, "B": 0.25}, {"A": 0.5, "B": 0.5}]
    plain = [[math.log(0.75), math.log(0.25)], [math.log(0.5), math.log(0.5)]]
    for gold, y in ((["A", "B"], [0, 1]), (["", ""], None)):
        path = write_rows(tmp_path / "k.jsonl", [{"label": g, "probs": p} for g, p in zip(gold, probs, strict=True)])
        loaded = load_scores(path)
        assert loaded.path == path and loaded.labels == LABELS and loaded.scores.tolist() == plain
        assert [(row.line, row.label) for row in loaded.rows] == [(1, gold[0]), (2, gold[1])]
        assert (loaded.y if y is None else loaded.y.tolist()) == y
        assert loaded.probs == pytest.approx(np.array([[0.75, 0.25], [0.5, 0.5]]))
    for unreadable in (None, "x", [1]):  # float() of these: TypeError, ValueError, TypeError
        rows = [{"label": "A", "probs": probs[0], "logprobs": {"A": -0.1, "B": -3.0}},
                {"label": "B", "probs": probs[1], "logprobs": {"A": unreadable, "B": -1.0}}]
        assert load_scores(write_rows(tmp_path / "u.jsonl", rows)).scores.tolist() == plain
    halved = [{"label": "A", "probs": probs[0]}, {"label": "B", "probs": {"A": 0.5, "B": 0.0}}]
    bad = write_rows(tmp_path / "bad.jsonl", halved)
    with pytest.raises(InputError) as caught:
        load_scores(bad)
    assert str(caught.value) == f"{bad}:2: field 'probs' sums to 0.500000 over the labels ['A', 'B'], not 1"


def test_the_summary_bins_the_confidence_as_asked() -> None:
    probs = np.array([[0.8, 0.1, 0.1], [0.3, 0.6, 0.1], [0.2, 0.7, 0.1]])
    # two bins: all three top probabilities (0.8, 0.6, 0.7) in (0.5, 1]: mean 0.7 against accuracy 2/3
    assert summary(probs, np.array([0, 0, 1]), ["a", "b", "c"], 2)["ece"] == pytest.approx(0.7 - 2 / 3)


def test_f1_counts_an_absent_class_as_zero_without_warnings() -> None:
    predictions = threshold_predictions(np.array([-1.0, 0.5, 2.0]), 0.5)
    assert predictions.tolist() == [0, 0, 1] and predictions.dtype.kind == "i"  # integer class codes
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no undefined-metric warning for a class never gold nor predicted
        # no positive gold row: at 0.5 no row is called positive: F1 1 for the negatives and 0 for the positives
        assert search_threshold(np.array([-1.0, 0.5]), np.array([0, 0]), -0.5, 0.5, 0.5) == (0.5, 0.5)
        found = summary(np.array([[0.9, 0.1, 0.0], [0.2, 0.8, 0.0]]), np.array([0, 1]), ["a", "b", "c"], 10)
    assert found["macro_f1"] == pytest.approx(2 / 3)  # (1 + 1 + 0) / 3


def test_grid_thresholds_are_rounded_to_ten_decimals() -> None:
    found = search_threshold(np.array([0.0, 1.0]), np.array([0, 1]), 0.12345678901, 0.12345678901, 1.0)
    assert found == (0.123456789, 1.0)


def test_a_grid_point_at_zero_is_a_positive_zero() -> None:
    # -0.9 + 3 * 0.3 is -1.1e-16 in floating point: the grid point is 0 and is written "0", never "-0"
    for low, high, step in ((-0.9, 0.9, 0.3), (-2.7, 0.3, 0.3), (-1e-11, 1e-11, 1e-11)):
        threshold, score = search_threshold(np.array([-0.1, 0.1]), np.array([0, 1]), low, high, step)
        assert (threshold, score) == (0.0, 1.0) and math.copysign(1.0, threshold) == 1.0
        assert json.dumps(threshold) == "0.0" and f"{threshold:g}" == "0"


def test_rewritten_rows_refuse_scores_of_another_shape() -> None:
    source = score_file([[0.0, 0.0]] * 2, [0, 1])
    probs = np.array([[0.25, 0.75], [0.5, 0.5]])
    three = np.array([[0.2, 0.3, 0.5], [0.2, 0.3, 0.5]])
    cases = ((probs[:1], probs, None, None), (three, probs, np.array([0, 1]), None), (probs, three, None, None),
             (probs, probs, None, {"raw": three}), (probs, probs, np.array([0]), None))
    for new_probs, logprobs, predicted, extra in cases:  # one row short, or a third label's column
        with pytest.raises(ValueError, match=r"^zip\(\) argument [24] is (shorter|longer) than argument(s 1-3| 1)$"):
            rewritten_rows(source, new_probs, logprobs, predicted, extra)


def test_probabilistic_metrics_by_hand_with_a_confidence_exactly_at_a_bins_edge() -> None:
    from sklearn.metrics import brier_score_loss

    from recipekit.eval.probabilities import probabilistic_metrics

    probs = np.array([[0.9, 0.05, 0.05], [0.4, 0.35, 0.25], [0.2, 0.7, 0.1], [0.3, 0.2, 0.5]])
    y = np.array([0, 1, 1, 2])  # the second row is wrong, the rest right
    got = probabilistic_metrics(probs, y, ["a", "b", "c"], n_bins=2)
    assert got["log_loss"] == pytest.approx(log_loss(y, probs, labels=[0, 1, 2]))
    assert got["brier"] == pytest.approx(brier_score_loss(y, probs, labels=[0, 1, 2]))
    assert got["mean_confidence"] == pytest.approx((0.9 + 0.4 + 0.7 + 0.5) / 4)
    assert got["argmax_accuracy"] == 0.75 and got["ece_bins"] == 2
    assert got["reliability"] == [  # 0.5 falls in the first bin, (0, 0.5]
        {"low": 0.0, "high": 0.5, "count": 2, "confidence": pytest.approx(0.45), "accuracy": 0.5},
        {"low": 0.5, "high": 1.0, "count": 2, "confidence": pytest.approx(0.8), "accuracy": 1.0}]
    assert got["ece"] == pytest.approx((2 * abs(0.5 - 0.45) + 2 * abs(1.0 - 0.8)) / 4)


def test_probabilities_are_renormalised_within_the_tolerance_and_a_row_without_them_is_named() -> None:
    from recipekit.eval.predictions import Prediction
    from recipekit.eval.probabilities import probability_matrix

    def row(line: int, probs: object) -> Prediction:
        return Prediction(line, "a", "a", "", {"probs": probs} if probs is not None else {})

    matrix = probability_matrix([row(1, {"a": 0.5, "b": 0.5005}), row(2, {"a": 0.25, "b": 0.75})], ["a", "b"],
                                "p.jsonl")  # 1.0005: within 1e-3 of 1, divided by its sum
    assert matrix.tolist() == [[0.5 / 1.0005, 0.5005 / 1.0005], [0.25, 0.75]]
    with pytest.raises(InputError) as caught:
        probability_matrix([row(1, {"a": 0.5, "b": 0.5}), row(2, None), row(3, [0.5, 0.5])], ["a", "b"], "p.jsonl")
    assert str(caught.value) == "p.jsonl:2: field 'probs' must be an object label -> probability (2 of 3 rows have one)"
    with pytest.raises(InputError) as caught:
        probability_matrix([row(4, {"a": 0.5, "b": 0.502})], ["a", "b"], "p.jsonl")
    assert str(caught.value) == "p.jsonl:4: field 'probs' sums to 1.002000 over the labels ['a', 'b'], not 1"
