"""The bootstrap's per-draw statistics against scikit-learn's own metrics on the rows each draw picks."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import log_loss, precision_recall_fscore_support

from recipekit.eval.classification import bootstrap_ci, draw_statistics

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
        got, want = statistics(pick), sklearn_statistics(y_true[pick], y_pred[pick], probs[pick])
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
