"""Probabilistic metrics in classify_report and eval/calibrate.py, on constructed score files."""

from __future__ import annotations

import itertools
import json
from pathlib import Path

import numpy as np
import pytest
from conftest import run_cli, run_script, write_jsonl
from scipy.special import softmax
from sklearn.metrics import f1_score, log_loss

from recipekit.eval.calibration import fit_temperature, flip_permutation, search_threshold, swap_average
from recipekit.eval.probabilities import expected_calibration_error

LABELS = ["A", "B", "tie"]


def score_rows(scores: np.ndarray, gold: list[int] | None, labels: list[str], **extra: list[object]) -> list[dict]:
    """score_labels-shaped rows from log-scores: probs = softmax, predict = argmax."""
    probs = softmax(scores, axis=1)
    rows = []
    for i, (s, p) in enumerate(zip(scores, probs, strict=True)):
        rows.append({"prompt": f"row {i}", "predict": labels[int(p.argmax())],
                     "label": labels[gold[i]] if gold is not None else "",
                     "probs": dict(zip(labels, map(float, p), strict=True)),
                     "logprobs": dict(zip(labels, map(float, s), strict=True)),
                     **{key: values[i] for key, values in extra.items()}})
    return rows


def calibrated_sample(n: int, seed: int, sharpness: float) -> tuple[np.ndarray, list[int]]:
    """Gold labels drawn from softmax(true scores); returned scores are the true ones times ``sharpness``."""
    rng = np.random.default_rng(seed)
    true = rng.normal(0, 1.5, size=(n, 3))
    gold = [int(rng.choice(3, p=p)) for p in softmax(true, axis=1)]
    return true * sharpness, gold


def report_of(tmp_path: Path, rows: list[dict], *args: str) -> dict:
    path = write_jsonl(tmp_path / "scores.jsonl", rows)
    done = run_cli("report", "classify", path, "--bootstrap", "0", *args)
    assert done.returncode == 0, done.stderr
    return json.loads((tmp_path / "classify_report.json").read_text(encoding="utf-8"))


def test_classify_report_log_loss_brier_and_ece_match_their_definitions(tmp_path: Path) -> None:
    scores, gold = calibrated_sample(200, 0, 2.0)
    rows = score_rows(scores, gold, LABELS)
    got = report_of(tmp_path, rows)["probabilistic"]
    probs = softmax(scores, axis=1)
    y = np.array(gold)
    assert got["log_loss"] == pytest.approx(-np.log(probs[np.arange(200), y]).mean(), abs=1e-9)
    assert got["log_loss"] == pytest.approx(log_loss(y, probs, labels=[0, 1, 2]), abs=1e-12)
    onehot = np.eye(3)[y]
    assert got["brier"] == pytest.approx(((probs - onehot) ** 2).sum(axis=1).mean(), abs=1e-9)
    confidence, correct = probs.max(axis=1), probs.argmax(axis=1) == y
    edges = np.linspace(0, 1, 16)
    ece = sum(abs(correct[m].mean() - confidence[m].mean()) * m.sum()
              for lo, hi in itertools.pairwise(edges)
              if (m := (confidence > lo) & (confidence <= hi)).any()) / 200
    assert got["ece"] == pytest.approx(ece, abs=1e-12) and got["ece"] > 0.05  # sharpened twice: over-confident
    assert sum(b["count"] for b in got["reliability"]) == 200
    assert (tmp_path / "reliability.png").stat().st_size > 10_000
    markdown = (tmp_path / "classify_report.md").read_text(encoding="utf-8")
    assert f"| log loss | {got['log_loss']:.4f} |" in markdown and "## Probabilities" in markdown


def test_baseline_probabilities_get_their_own_metrics_and_deltas(tmp_path: Path) -> None:
    scores, gold = calibrated_sample(120, 1, 1.0)
    write_jsonl(tmp_path / "base" / "scores.jsonl", score_rows(scores * 4, gold, LABELS))
    got = report_of(tmp_path, score_rows(scores, gold, LABELS),
                    "--baseline", str(tmp_path / "base" / "scores.jsonl"))
    assert got["baseline"]["probabilistic"]["log_loss"] > got["probabilistic"]["log_loss"]
    assert got["delta"]["log_loss"] == pytest.approx(got["probabilistic"]["log_loss"]
                                                     - got["baseline"]["probabilistic"]["log_loss"])
    assert {"brier", "ece"} <= set(got["delta"])


def test_ece_is_zero_when_confidence_equals_accuracy() -> None:
    probs = np.array([[0.75, 0.25]] * 4)
    assert expected_calibration_error(probs, np.array([0, 0, 0, 1])) == pytest.approx(0.0)
    assert expected_calibration_error(probs, np.array([1, 1, 1, 1])) == pytest.approx(0.75)


@pytest.mark.parametrize(("probs", "message"), [
    ({"A": 0.5, "B": 0.5}, "scores.jsonl:2: field 'probs' has no valid probability for label 'tie' (got None)"),
    ({"A": 0.5, "B": 0.4, "tie": 0.2}, "scores.jsonl:2: field 'probs' sums to 1.100000 over the labels"),
    ({"A": 0.5, "B": -0.1, "tie": 0.6}, "scores.jsonl:2: field 'probs' has no valid probability for label 'B'"),
])
def test_bad_probabilities_name_file_line_and_field(tmp_path: Path, probs: dict, message: str) -> None:
    rows = score_rows(np.zeros((2, 3)), [0, 1], LABELS)
    rows[1]["probs"] = probs
    path = write_jsonl(tmp_path / "scores.jsonl", rows)
    done = run_cli("report", "classify", path, "--bootstrap", "0")
    assert done.returncode == 2 and message in done.stderr


def test_temperature_fit_lowers_log_loss_of_an_over_confident_model(tmp_path: Path) -> None:
    val_scores, val_gold = calibrated_sample(600, 2, 3.0)   # 3x sharper than the truth: over-confident
    test_scores, test_gold = calibrated_sample(600, 3, 3.0)
    val = write_jsonl(tmp_path / "val.jsonl", score_rows(val_scores, val_gold, LABELS, id=list(range(600))))
    test = write_jsonl(tmp_path / "test.jsonl", score_rows(test_scores, test_gold, LABELS, id=list(range(600))))
    done = run_cli("calibrate", "temperature", "--val", val, "--test", test, "--out", tmp_path / "t")
    assert done.returncode == 0, done.stderr
    report = json.loads((tmp_path / "t" / "calibrate_temperature_test.json").read_text(encoding="utf-8"))
    fitted = json.loads((tmp_path / "t" / "temperature.json").read_text(encoding="utf-8"))
    assert fitted["temperature"] == report["temperature"] and 2.4 < fitted["temperature"] < 3.6
    low, high = report["temperature_ci95"]
    assert low < fitted["temperature"] < high and low > 2.0 and high < 4.5 and "warning" not in done.stderr
    s = report["summaries"]
    assert s["val_after"]["log_loss"] < s["val_before"]["log_loss"] - 0.1
    assert s["test_after"]["log_loss"] < s["test_before"]["log_loss"]
    assert s["test_after"]["ece"] < s["test_before"]["ece"]
    assert s["test_after"]["accuracy"] == s["test_before"]["accuracy"]  # one temperature keeps every argmax
    rows = [json.loads(line) for line in (tmp_path / "t" / "test.temperature.jsonl").read_text("utf-8").splitlines()]
    expected = softmax(test_scores / fitted["temperature"], axis=1)
    assert np.allclose([[r["probs"][k] for k in LABELS] for r in rows], expected, atol=1e-12)
    assert [r["id"] for r in rows] == list(range(600))
    again = run_cli("report", "classify", tmp_path / "t" / "test.temperature.jsonl", "--bootstrap", "0")
    assert again.returncode == 0, again.stderr


def test_a_temperature_fitted_on_a_few_rows_is_flagged_with_its_wide_interval(tmp_path: Path) -> None:
    scores, gold = calibrated_sample(6, 2, 3.0)
    val = write_jsonl(tmp_path / "val.jsonl", score_rows(scores, gold, LABELS))
    done = run_cli("calibrate", "temperature", "--val", val, "--test", val, "--out", tmp_path / "t", "--bootstrap",
                   "50")
    report = json.loads((tmp_path / "t" / "calibrate_temperature_val.json").read_text(encoding="utf-8"))
    low, high = report["temperature_ci95"]
    assert done.returncode == 0 and low <= report["temperature"] <= high
    assert (f"warning: T = {report['temperature']:.3g} fitted on 6 validation rows (fewer than 100); its 95% "
            f"interval over 50 bootstrap refits is [{low:.3g}, {high:.3g}]: too few rows to trust it") in done.stderr
    # the interval is refits on draws of the rows: the same draws by hand give the same ends
    refits = []
    rng = np.random.default_rng(0)
    for _ in range(50):
        pick = rng.integers(0, 6, size=6)
        refits.append(fit_temperature(scores[pick], np.array(gold)[pick]))
    assert [low, high] == pytest.approx(list(np.percentile(refits, [2.5, 97.5])))


def test_threshold_search_finds_the_known_optimum() -> None:
    delta = np.array([-2.0, -0.5, 0.2, 0.8, 1.0, 1.2, 1.4, 2.5])
    positive = np.array([0, 0, 0, 0, 1, 1, 1, 1])
    threshold, best = search_threshold(delta, positive, -3, 3, 0.01)
    assert threshold == pytest.approx(0.8) and best == 1.0  # any t in [0.8, 1.0) separates; nearest 0 is 0.8
    assert f1_score(positive, (delta > 0).astype(int), average="macro") < 1.0  # the argmax (t = 0) does not
    # a perfectly separating threshold outside the range cannot be chosen: the best inside is returned
    assert search_threshold(delta + 10, positive, -3, 3, 0.5)[1] < 1.0


@pytest.mark.integration  # a search over thousands of thresholds
def test_threshold_ties_go_to_the_value_nearest_zero() -> None:
    """A plateau of equal macro-F1 on the negative side: the threshold nearest 0 wins, not the lowest."""
    delta = np.array([-2.0, -1.0, 0.0, 1.0])  # any threshold in [-2.0, -1.01] separates them
    positive = np.array([0, 1, 1, 1])
    threshold, best = search_threshold(delta, positive, -3, 3, 0.01)
    assert best == 1.0 and threshold == pytest.approx(-1.01)  # the plateau's end nearest 0, not its lowest (-2.0)
    threshold, _ = search_threshold(-delta, 1 - positive, -3, 3, 0.01)
    assert threshold == pytest.approx(1.0)  # the mirrored plateau [1.0, 1.99]: nearest 0 is its low end
    plateau_with_zero = np.array([-1.0, -0.5, 0.5, 1.0])
    threshold, _ = search_threshold(plateau_with_zero, np.array([0, 0, 1, 1]), -3, 3, 0.01)
    assert threshold == pytest.approx(0.0)


def test_threshold_command_applies_the_validation_threshold_to_test(tmp_path: Path) -> None:
    rng = np.random.default_rng(4)

    def rows(n: int) -> list[dict]:
        gold = rng.integers(0, 2, size=n)  # 0 = 是 (positive), 1 = 否
        delta = np.where(gold == 0, rng.normal(1.5, 0.6, n), rng.normal(0.3, 0.6, n))  # biased towards 是
        return score_rows(np.stack([delta, np.zeros(n)], axis=1), list(gold), ["是", "否"])

    val, test = write_jsonl(tmp_path / "val.jsonl", rows(400)), write_jsonl(tmp_path / "test.jsonl", rows(400))
    done = run_cli("calibrate", "threshold", "--val", val, "--test", test, "--positive", "是")
    assert done.returncode == 0, done.stderr
    report = json.loads((tmp_path / "calibrate_threshold_test.json").read_text(encoding="utf-8"))
    assert 0.6 < report["threshold"] < 1.2  # the classes' midpoint is 0.9
    s = report["summaries"]
    assert s["test_after"]["macro_f1"] > s["test_before"]["macro_f1"] + 0.1
    wrong = run_cli("calibrate", "threshold", "--val", val, "--test", test, "--positive", "yes")
    assert wrong.returncode == 2 and "--positive 'yes' is not one of the labels ['是', '否']" in wrong.stderr
    three = write_jsonl(tmp_path / "three.jsonl", score_rows(np.zeros((2, 3)), [0, 1], LABELS))
    assert "threshold search needs two labels" in run_cli("calibrate", "threshold", "--val", three,
                                                           "--test", three).stderr
    out = [json.loads(line) for line in (tmp_path / "test.threshold.jsonl").read_text("utf-8").splitlines()]
    source = [json.loads(line) for line in test.read_text("utf-8").splitlines()]
    for before, after in zip(source, out, strict=True):
        delta = before["logprobs"]["是"] - before["logprobs"]["否"]
        assert after["predict"] == ("是" if delta > report["threshold"] else "否")
        assert after["predict"] == max(after["probs"], key=after["probs"].get)
        assert after["logprobs"] == before["logprobs"]  # still the model's log-probabilities
        shifted = after["threshold_scores"]
        assert shifted["是"] - shifted["否"] == pytest.approx(delta - report["threshold"])


def test_swap_average_flips_a_and_b_and_keeps_tie() -> None:
    perm = flip_permutation(LABELS, [("A", "B")])
    assert perm == [1, 0, 2]
    original = np.array([[0.7, 0.2, 0.1]])
    swapped = np.array([[0.1, 0.6, 0.3]])  # the swapped copy says "B": the original's A
    flipped, averaged = swap_average(original, swapped, perm)
    assert flipped.tolist() == [[0.6, 0.1, 0.3]]
    assert averaged == pytest.approx(np.array([[0.65, 0.15, 0.2]]))


def test_swap_command_pairs_by_id_and_checks_the_flipped_labels(tmp_path: Path) -> None:
    rng = np.random.default_rng(5)
    truth = rng.normal(0, 1.5, size=(300, 3))
    gold = [int(rng.choice(3, p=p)) for p in softmax(truth, axis=1)]
    bias = np.array([0.8, -0.8, 0])  # position bias: the model likes whatever is shown first
    original = truth + bias + rng.normal(0, 0.7, size=truth.shape)
    swapped = truth[:, [1, 0, 2]] + bias + rng.normal(0, 0.7, size=truth.shape)
    flip = [1, 0, 2]
    write_jsonl(tmp_path / "orig.jsonl", score_rows(original, gold, LABELS, id=[f"id{i}" for i in range(300)]))
    order = rng.permutation(300)  # the swapped file in another order: rows pair by id
    swapped_rows = score_rows(swapped, [flip[g] for g in gold], LABELS, id=[f"id{i}" for i in range(300)])
    write_jsonl(tmp_path / "swap.jsonl", [swapped_rows[i] for i in order])
    done = run_cli("calibrate", "swap", "--original", tmp_path / "orig.jsonl",
                    "--swapped", tmp_path / "swap.jsonl")
    assert done.returncode == 0, done.stderr
    report = json.loads((tmp_path / "calibrate_swap_orig.json").read_text(encoding="utf-8"))
    s = report["summaries"]
    assert report["paired_by"] == "id"
    assert s["averaged"]["log_loss"] < min(s["original"]["log_loss"], s["swapped_flipped_back"]["log_loss"])
    out = [json.loads(line) for line in (tmp_path / "orig.swap_averaged.jsonl").read_text("utf-8").splitlines()]
    p_o, p_s = softmax(original, axis=1), softmax(swapped, axis=1)
    assert out[7]["probs"]["A"] == pytest.approx((p_o[7, 0] + p_s[7, 1]) / 2)
    assert out[7]["probs"]["tie"] == pytest.approx((p_o[7, 2] + p_s[7, 2]) / 2)
    # a copy whose labels were not flipped is not the swapped copy
    write_jsonl(tmp_path / "bad.jsonl", score_rows(swapped, gold, LABELS, id=[f"id{i}" for i in range(300)]))
    bad = run_cli("calibrate", "swap", "--original", tmp_path / "orig.jsonl",
                   "--swapped", tmp_path / "bad.jsonl")
    first = next(i for i, g in enumerate(gold) if g != 2)
    assert bad.returncode == 2
    assert f"bad.jsonl:{first + 1}: label '{LABELS[gold[first]]}' is not the flip of" in bad.stderr


def test_merge_oof_concatenates_folds_and_rejects_overlap(tmp_path: Path) -> None:
    files = []
    for fold in range(3):
        scores, gold = calibrated_sample(50, 10 + fold, 1.0)
        ids = [f"{fold}-{i}" for i in range(50)]
        files.append(write_jsonl(tmp_path / f"fold{fold}.jsonl", score_rows(scores, gold, LABELS, id=ids,
                                                                            fold=[fold] * 50)))
    done = run_cli("calibrate", "merge-oof", *files, "--out", tmp_path / "oof")
    assert done.returncode == 0, done.stderr
    merged = [json.loads(line) for line in (tmp_path / "oof" / "oof_scores.jsonl").read_text("utf-8").splitlines()]
    assert [r["id"] for r in merged] == [f"{f}-{i}" for f in range(3) for i in range(50)]
    report = json.loads((tmp_path / "oof" / "calibrate_oof.json").read_text(encoding="utf-8"))
    assert report["summaries"]["oof"]["n"] == 150 and [f["folds"] for f in report["files"]] == [["0"], ["1"], ["2"]]
    per_file = [report["summaries"][f"file_{i}"]["log_loss"] for i in range(3)]
    assert report["summaries"]["oof"]["log_loss"] == pytest.approx(np.mean(per_file))  # equal-sized folds
    overlap = run_cli("calibrate", "merge-oof", files[0], files[1], files[0], "--out", tmp_path / "x")
    assert overlap.returncode == 2 and "fold0.jsonl:1: id 0-0 is also in" in overlap.stderr


@pytest.mark.integration
def test_calibrate_logs_before_and_after_to_an_offline_wandb_run(tmp_path: Path) -> None:
    scores, gold = calibrated_sample(100, 6, 3.0)
    val = write_jsonl(tmp_path / "val.jsonl", score_rows(scores, gold, LABELS))
    done = run_script("eval/calibrate.py", "temperature", "--val", val, "--test", val, "--wandb",
                      env={"WANDB_MODE": "offline", "WANDB_SILENT": "true", "WANDB_PROJECT": "test"})
    assert done.returncode == 0, done.stderr
    (run,) = (tmp_path / "wandb").glob("offline-run-*")
    assert len(list(run.glob("run-*.wandb"))) == 1
    assert len(list((run / "files" / "media" / "images").glob("reliability_*.png"))) == 1
    log = next(run.glob("run-*.wandb")).read_bytes()  # offline: the history lives in the run's protobuf log
    assert all(f"{name}_log_loss".encode() in log for name in ("val_before", "val_after", "test_before", "test_after"))


def test_unlabeled_test_rows_are_calibrated_without_metrics_and_pair_by_position(tmp_path: Path) -> None:
    val_scores, val_gold = calibrated_sample(300, 7, 3.0)
    test_scores, _ = calibrated_sample(40, 8, 3.0)
    val = write_jsonl(tmp_path / "val.jsonl", score_rows(val_scores, val_gold, LABELS))
    test = write_jsonl(tmp_path / "test.jsonl", score_rows(test_scores, None, LABELS))  # Kaggle test: no labels
    swapped = write_jsonl(tmp_path / "test_swapped.jsonl", score_rows(test_scores[:, [1, 0, 2]], None, LABELS))
    done = run_cli("calibrate", "swap", "--original", test, "--swapped", swapped)
    assert done.returncode == 0, done.stderr
    report = json.loads((tmp_path / "calibrate_swap_test.json").read_text(encoding="utf-8"))
    assert report["paired_by"] == "position" and report["summaries"]["averaged"] is None
    assert report["order_consistency"] == 1.0  # the swapped copy agrees exactly once flipped back
    averaged = [json.loads(line) for line in (tmp_path / "test.swap_averaged.jsonl").read_text("utf-8").splitlines()]
    assert np.allclose([[r["probs"][k] for k in LABELS] for r in averaged], softmax(test_scores, axis=1))
    done = run_cli("calibrate", "temperature", "--val", val, "--test", tmp_path / "test.swap_averaged.jsonl")
    assert done.returncode == 0, done.stderr
    report = json.loads((tmp_path / "calibrate_temperature_test.swap_averaged.json").read_text(encoding="utf-8"))
    assert report["summaries"]["test_after"] is None and report["summaries"]["val_after"]["n"] == 300
    markdown = (tmp_path / "calibrate_temperature_test.swap_averaged.md").read_text(encoding="utf-8")
    assert "40 rows, unlabeled" in markdown and "| log_loss |" in markdown
    assert "| n | 300 | 300 | 40 (unlabeled) | 40 (unlabeled) |" in markdown  # the unlabeled rows are counted
    assert "validation rows it was fitted on: the test rows carry no labels" in markdown


def test_kaggle_submission_has_one_probability_column_per_label(tmp_path: Path) -> None:
    scores, _ = calibrated_sample(5, 9, 1.0)
    rows = score_rows(scores, None, LABELS, id=[136060, 211333, 1233961, 9, 10])
    path = write_jsonl(tmp_path / "test.jsonl", rows)
    done = run_cli("submission", path, "--out", tmp_path / "submission.csv")
    assert done.returncode == 0, done.stderr
    lines = (tmp_path / "submission.csv").read_text(encoding="utf-8").splitlines()
    assert lines[0] == "id,winner_model_a,winner_model_b,winner_tie" and len(lines) == 6
    first = lines[1].split(",")
    assert first[0] == "136060" and np.allclose([float(v) for v in first[1:]], softmax(scores[0]))
    rows[3]["id"] = 136060
    write_jsonl(path, rows)
    duplicate = run_cli("submission", path, "--out", tmp_path / "x.csv")
    assert duplicate.returncode == 2 and "test.jsonl:4: id 136060 also on line 1" in duplicate.stderr
    del rows[2]["id"]
    write_jsonl(path, rows)
    missing = run_cli("submission", path, "--out", tmp_path / "x.csv")
    assert missing.returncode == 2 and "test.jsonl:3: missing field 'id'" in missing.stderr
    assert not (tmp_path / "x.csv").exists()


def test_binary_brier_is_the_positive_class_form(tmp_path: Path) -> None:
    """Two labels: Brier = mean (p(positive) - y)^2 (scikit-learn), half the multi-class sum over both labels."""
    probs = np.array([[0.9, 0.1], [0.3, 0.7], [0.6, 0.4], [0.2, 0.8]])
    gold = [0, 1, 1, 0]
    path = write_jsonl(tmp_path / "binary.jsonl", score_rows(np.log(probs), gold, ["是", "否"]))
    done = run_cli("report", "classify", path, "--bootstrap", "0")
    assert done.returncode == 0, done.stderr
    got = json.loads((tmp_path / "classify_report.json").read_text(encoding="utf-8"))["probabilistic"]
    positive = probs[:, 1]  # scikit-learn's positive class: the second label
    y = np.array(gold)
    assert got["brier"] == pytest.approx(((positive - y) ** 2).mean(), abs=1e-9)
    assert got["brier"] == pytest.approx(((probs - np.eye(2)[y]) ** 2).sum(axis=1).mean() / 2, abs=1e-9)


@pytest.mark.integration
def test_kaggle_submission_runs_as_a_real_process(tmp_path: Path) -> None:
    scores, _ = calibrated_sample(4, 11, 1.0)
    path = write_jsonl(tmp_path / "test.jsonl", score_rows(scores, None, LABELS, id=[f"{i}" for i in range(4)]))
    done = run_script("eval/kaggle_submission.py", path, "--out", tmp_path / "submission.csv")
    assert done.returncode == 0, done.stderr
    lines = (tmp_path / "submission.csv").read_text(encoding="utf-8").splitlines()
    assert lines[0] == "id,winner_model_a,winner_model_b,winner_tie" and len(lines) == 5
