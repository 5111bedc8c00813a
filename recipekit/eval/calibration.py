"""Post-hoc calibration of label scores: temperature scaling, two-class thresholds, A/B swap averaging, OOF merging.

Works on score files (eval/score_labels.py rows: ``probs`` and ``logprobs`` per label). The label
log-scores are ``logprobs`` when every row has them, else the log of ``probs``; softmax of the
log-scores gives the probabilities.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from scipy.optimize import minimize_scalar
from scipy.special import log_softmax, softmax
from sklearn.metrics import accuracy_score, f1_score

from recipekit.errors import InputError
from recipekit.eval.bootstrap import percentile_bootstrap
from recipekit.eval.labels import label_codes, normalize_text
from recipekit.eval.predictions import Prediction, load_predictions
from recipekit.eval.probabilities import labels_from_probs, probabilistic_metrics, probability_matrix

TEMPERATURE_BOUNDS = (1e-2, 1e2)
PROB_FLOOR = 1e-12
MIN_FIT_ROWS = 100  # below this many validation rows a fitted temperature is flagged


@dataclass
class ScoreFile:
    """One score file: rows, label set, log-scores ``[rows, labels]`` and gold indices (None if unlabeled)."""

    path: str
    rows: list[Prediction]
    labels: list[str]
    scores: np.ndarray
    y: np.ndarray | None

    @property
    def probs(self) -> np.ndarray:
        return softmax(self.scores, axis=1)


def load_scores(path: str, labels: list[str] | None = None) -> ScoreFile:
    """Read a score file; rows need ``probs`` for every label; gold labels must be in the set (or all empty)."""
    labels = labels or labels_from_probs(path)
    if not labels:
        raise InputError("rows carry no 'probs' (label -> probability); score them with eval/score_labels.py", path)
    rows = load_predictions(path)
    probs = probability_matrix(rows, labels, path)
    if probs is None:
        raise InputError("rows carry no 'probs' (label -> probability); score them with eval/score_labels.py", path)
    scores = np.log(np.clip(probs, PROB_FLOOR, None))
    if all(isinstance(row.extra.get("logprobs"), dict) for row in rows):
        with contextlib.suppress(KeyError, TypeError, ValueError):  # else keep log(probs)
            logprobs = np.array([[float(row.extra["logprobs"][label]) for label in labels] for row in rows])
            if np.isfinite(logprobs).all():
                scores = logprobs
    gold = [normalize_text(row.label) for row in rows]
    if not any(gold):
        return ScoreFile(path, rows, labels, scores, None)
    codes = label_codes(gold, labels, path, [row.line for row in rows])
    return ScoreFile(path, rows, labels, scores, np.array(codes))


def summary(probs: np.ndarray, y: np.ndarray | None, labels: list[str], n_bins: int) -> dict[str, Any] | None:
    """n, accuracy and macro-F1 of the argmax, log loss, Brier score and ECE; None for unlabeled rows."""
    if y is None:
        return None
    predicted = probs.argmax(axis=1)
    full = probabilistic_metrics(probs, y, labels, n_bins)
    return {"n": len(y), "accuracy": float(accuracy_score(y, predicted)),
            "macro_f1": float(f1_score(y, predicted, labels=list(range(len(labels))), average="macro",
                                       zero_division=0)),
            **{key: full[key] for key in ("log_loss", "brier", "ece")}}


def nll(scores: np.ndarray, y: np.ndarray, temperature: float) -> float:
    """Mean negative log-likelihood of the gold labels under softmax(scores / temperature)."""
    return float(-log_softmax(scores / temperature, axis=1)[np.arange(len(y)), y].mean())


def fit_temperature(scores: np.ndarray, y: np.ndarray) -> float:
    """The temperature in [0.01, 100] that minimises the log loss (bounded search over its logarithm)."""
    low, high = np.log(TEMPERATURE_BOUNDS)
    found = minimize_scalar(lambda log_t: nll(scores, y, float(np.exp(log_t))), bounds=(low, high),
                            method="bounded", options={"xatol": 1e-6})
    return float(np.exp(found.x))


def temperature_interval(scores: np.ndarray, y: np.ndarray, resamples: int, seed: int) -> list[float]:
    """The 95% percentile-bootstrap interval of the fitted temperature: refitted on ``resamples`` draws of the
    validation rows."""
    found = percentile_bootstrap(len(y), lambda pick: {"t": fit_temperature(scores[pick], y[pick])}, resamples, seed)
    return found["t"]


def two_class(file: ScoreFile, positive: str | None) -> tuple[int, int]:
    """The indices of the positive label (``positive``, else the first) and the negative one of a two-label file."""
    if len(file.labels) != 2:
        raise InputError(f"threshold search needs two labels, the file has {file.labels}", file.path)
    if positive and positive not in file.labels:
        raise InputError(f"--positive {positive!r} is not one of the labels {file.labels}", file.path)
    pos = file.labels.index(positive) if positive else 0
    return pos, 1 - pos


def threshold_shift(file: ScoreFile, pos: int, neg: int, threshold: float) -> tuple[np.ndarray, np.ndarray,
                                                                                       np.ndarray]:
    """The file's scores with the positive label's lowered by ``threshold`` (so that their argmax is the rule
    ``delta > threshold``), their softmax, and the label index chosen for each row."""
    scores = file.scores.copy()
    scores[:, pos] -= threshold
    chosen = np.where(threshold_predictions(file.scores[:, pos] - file.scores[:, neg], threshold) == 1, pos, neg)
    return scores, softmax(scores, axis=1), chosen


def threshold_predictions(delta: np.ndarray, threshold: float) -> np.ndarray:
    """1 (positive) where the logit delta is above the threshold, else 0."""
    return (delta > threshold).astype(int)


def search_threshold(delta: np.ndarray, positive: np.ndarray, low: float, high: float,
                     step: float) -> tuple[float, float]:
    """The threshold on a grid over [low, high] with the best macro-F1 (ties: the one nearest 0, then the lower).

    ``delta`` is log p(positive) - log p(negative); ``positive`` is 1 for positive gold rows.
    """
    if high < low or step <= 0:
        raise InputError(f"threshold range [{low}, {high}] with step {step} is empty")
    grid = np.round(np.arange(round((high - low) / step) + 1) * step + low, 10) + 0.0  # + 0.0: no -0.0 point
    best: tuple[float, float, float] | None = None
    for threshold in grid:
        score = f1_score(positive, threshold_predictions(delta, threshold), labels=[0, 1], average="macro",
                         zero_division=0)
        key = (-score, abs(threshold), threshold)
        if best is None or key < best:
            best = key
    assert best is not None
    return float(best[2]), float(-best[0])


def flip_permutation(labels: list[str], pairs: list[tuple[str, str]]) -> list[int]:
    """Index of each label's counterpart after the swap (``A<->B``); labels in no pair map to themselves."""
    where = {label: k for k, label in enumerate(labels)}
    perm = list(range(len(labels)))
    for a, b in pairs:
        for name in (a, b):
            if name not in where:
                raise InputError(f"--flip names {name!r}, which is not in the label set {labels}")
        perm[where[a]], perm[where[b]] = where[b], where[a]
    return perm


def swap_average(original: np.ndarray, swapped: np.ndarray, perm: list[int]) -> tuple[np.ndarray, np.ndarray]:
    """The swapped copy's probabilities in the original order of labels, and the mean of both."""
    flipped = swapped[:, perm]
    return flipped, (original + flipped) / 2


def check_swapped_labels(original: ScoreFile, swapped: ScoreFile, order: np.ndarray, perm: list[int]) -> None:
    """Each labeled swapped row's gold label is the flip of its original's (else the files are not a swapped pair)."""
    if original.y is None or swapped.y is None:
        return
    wrong = np.nonzero(swapped.y[order] != np.array(perm)[original.y])[0]
    if len(wrong):
        row = swapped.rows[order[wrong[0]]]
        raise InputError(f"label {row.label!r} is not the flip of {original.labels[original.y[wrong[0]]]!r} "
                         f"({original.path}:{original.rows[wrong[0]].line}); is this the swapped copy?",
                         swapped.path, row.line)


def order_consistency(original: np.ndarray, flipped: np.ndarray) -> float:
    """The share of rows whose top label is the same in both orders."""
    return float((original.argmax(axis=1) == flipped.argmax(axis=1)).mean())


def ids_everywhere(*files: ScoreFile) -> bool:
    """True when every row of every file carries an ``id``."""
    return all("id" in row.extra for file in files for row in file.rows)


def pair_rows(original: ScoreFile, swapped: ScoreFile) -> np.ndarray:
    """Row index in ``swapped`` of each original row: by ``id`` when every row has one, else by position."""
    if ids_everywhere(original, swapped):
        where: dict[str, int] = {}
        for k, row in enumerate(swapped.rows):
            key = str(row.extra["id"])
            if key in where:
                raise InputError(f"id {key} appears twice (lines {swapped.rows[where[key]].line} and {row.line})",
                                 swapped.path, row.line)
            where[key] = k
        order = []
        for row in original.rows:
            key = str(row.extra["id"])
            if key not in where:
                raise InputError(f"id {key} has no swapped copy in {swapped.path}", original.path, row.line)
            order.append(where[key])
        return np.array(order)
    if len(original.rows) != len(swapped.rows):
        raise InputError(f"has {len(swapped.rows)} rows but {original.path} has {len(original.rows)}; without ids "
                         "rows pair by position", swapped.path)
    return np.arange(len(original.rows))


def rewritten_rows(source: ScoreFile, probs: np.ndarray, logprobs: np.ndarray, predicted: np.ndarray | None = None,
                   extra: dict[str, np.ndarray] | None = None) -> list[dict[str, Any]]:
    """The source rows with new probs, log-probabilities and predict (the argmax unless ``predicted`` is given),
    plus ``extra`` per-label score fields."""
    chosen = probs.argmax(axis=1) if predicted is None else predicted
    extra = extra or {}
    out = []
    for index, (row, p, s, k) in enumerate(zip(source.rows, probs, logprobs, chosen, strict=True)):
        rest = {key: value for key, value in row.extra.items() if key not in ("probs", "logprobs", *extra)}
        out.append({"prompt": row.prompt, "predict": source.labels[int(k)], "label": row.label,
                    "probs": {label: float(v) for label, v in zip(source.labels, p, strict=True)},
                    "logprobs": {label: float(v) for label, v in zip(source.labels, s, strict=True)},
                    **{name: {label: float(v) for label, v in zip(source.labels, values[index], strict=True)}
                       for name, values in extra.items()}, **rest})
    return out


def merge_folds(files: list[ScoreFile]) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Concatenate K out-of-fold score files; returns the rows and, per file, its path, rows and folds seen.

    Files must share the label set; an id in two files (folds that overlap) is an error.
    """
    seen: dict[str, tuple[str, int]] = {}
    rows: list[dict[str, Any]] = []
    per_file = []
    for file in files:
        if file.labels != files[0].labels:
            raise InputError(f"labels {file.labels} differ from {files[0].labels} of {files[0].path}", file.path)
        if file.y is None:
            raise InputError("rows carry no gold labels; out-of-fold files are scored validation folds", file.path)
        for row in file.rows:
            if "id" in row.extra:
                key = str(row.extra["id"])
                if key in seen:
                    raise InputError(f"id {key} is also in {seen[key][0]}:{seen[key][1]}; folds must not overlap",
                                     file.path, row.line)
                seen[key] = (file.path, row.line)
        rows += rewritten_rows(file, file.probs, file.scores)
        folds = sorted({str(row.extra["fold"]) for row in file.rows if "fold" in row.extra})
        per_file.append({"path": file.path, "rows": len(file.rows), "folds": folds})
    return rows, per_file


def out_path(out: str | None, anchor: str, name: str) -> Path:
    """``name`` inside ``--out`` or the anchor file's folder."""
    return (Path(out) if out else Path(anchor).parent) / name
