"""Metrics of label probabilities: log loss and Brier score (scikit-learn) and expected calibration error,
shared by classify_report and calibrate (the diagram is drawn by ``recipekit.report.reliability``)."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from sklearn.metrics import brier_score_loss, log_loss

from recipekit.errors import InputError
from recipekit.eval.predictions import Prediction, load_predictions

SUM_TOLERANCE = 1e-3
DEFAULT_BINS = 15


def probability_matrix(rows: list[Prediction], labels: list[str], path: str) -> np.ndarray | None:
    """Rows' ``probs`` as a ``[rows, labels]`` matrix, renormalised; None when no row carries ``probs``.

    Every row must then carry a probability for every label: finite, >= 0, summing to 1 within 1e-3.
    """
    with_probs = [row for row in rows if "probs" in row.extra]
    if not with_probs:
        return None
    matrix = np.zeros((len(rows), len(labels)))
    for i, row in enumerate(rows):
        probs = row.extra.get("probs")
        if not isinstance(probs, dict):
            raise InputError("field 'probs' must be an object label -> probability "
                             f"({len(with_probs)} of {len(rows)} rows have one)", path, row.line)
        for k, label in enumerate(labels):
            value = probs.get(label)
            if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value) or value < 0:
                raise InputError(f"field 'probs' has no valid probability for label {label!r} (got {value!r})",
                                 path, row.line)
            matrix[i, k] = value
        total = matrix[i].sum()
        if abs(total - 1.0) > SUM_TOLERANCE:
            raise InputError(f"field 'probs' sums to {total:.6f} over the labels {labels}, not 1", path, row.line)
        matrix[i] /= total
    return matrix


def labels_from_probs(path: str) -> list[str] | None:
    """The label set named by the first row's ``probs`` (in its order), or None when it has none."""
    probs = load_predictions(path)[0].extra.get("probs")
    return list(probs) if isinstance(probs, dict) and len(probs) >= 2 else None


def calibration_bins(probs: np.ndarray, y: np.ndarray, n_bins: int = DEFAULT_BINS) -> list[dict[str, Any]]:
    """Top-label reliability bins of equal width on [0, 1]: count, mean confidence, accuracy (empty bins left out)."""
    confidence = probs.max(axis=1)
    correct = probs.argmax(axis=1) == y
    index = np.ceil(confidence * n_bins).astype(int) - 1  # bins (lo, hi]: a top label's confidence is in (0, 1]
    bins = []
    for b in range(n_bins):
        members = index == b
        if members.any():
            bins.append({"low": b / n_bins, "high": (b + 1) / n_bins, "count": int(members.sum()),
                         "confidence": float(confidence[members].mean()),
                         "accuracy": float(correct[members].mean())})
    return bins


def expected_calibration_error(probs: np.ndarray, y: np.ndarray, n_bins: int = DEFAULT_BINS) -> float:
    """ECE: the count-weighted mean |accuracy - confidence| over the top-label bins."""
    bins = calibration_bins(probs, y, n_bins)
    return float(sum(b["count"] * abs(b["accuracy"] - b["confidence"]) for b in bins) / len(y))


def probabilistic_metrics(probs: np.ndarray, y: np.ndarray, labels: list[str],
                          n_bins: int = DEFAULT_BINS) -> dict[str, Any]:
    """Log loss, Brier score (scikit-learn; binary: positive-class form, else the multi-class sum), ECE, bins."""
    codes = list(range(len(labels)))
    return {"log_loss": float(log_loss(y, probs, labels=codes)),
            "brier": float(brier_score_loss(y, probs, labels=codes)),
            "ece": expected_calibration_error(probs, y, n_bins), "ece_bins": n_bins,
            "mean_confidence": float(probs.max(axis=1).mean()),
            "argmax_accuracy": float((probs.argmax(axis=1) == y).mean()),
            "reliability": calibration_bins(probs, y, n_bins)}


def selection_metrics(probs: np.ndarray, y: np.ndarray) -> dict[str, float]:
    """What a checkpoint is selected by: accuracy, macro-F1 over every label, log loss (scikit-learn)."""
    from sklearn.metrics import accuracy_score, f1_score

    codes = np.arange(probs.shape[1])
    predicted = probs.argmax(axis=1)
    return {"accuracy": float(accuracy_score(y, predicted)),
            "f1": float(f1_score(y, predicted, labels=codes, average="macro", zero_division=0)),
            "log_loss": float(log_loss(y, probs, labels=codes))}
