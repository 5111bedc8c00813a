"""Classification metrics over a predictions file, computed with scikit-learn."""

from __future__ import annotations

import warnings
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from sklearn.metrics import accuracy_score, confusion_matrix, precision_recall_fscore_support

from recipekit.errors import InputError
from recipekit.eval.bootstrap import percentile_bootstrap
from recipekit.eval.labels import INVALID, LabelMatcher, label_codes, normalize_text
from recipekit.eval.predictions import Prediction, load_predictions

INVALID_EXAMPLES = 5


@dataclass
class Scored:
    """Gold labels and mapped predictions of one file (``INVALID`` where nothing matched)."""

    path: str
    rows: list[Prediction]
    gold: list[str]
    predicted: list[str]
    labels: list[str]
    rule: str = ""  # how predictions were matched to labels
    repeats: dict[str, Any] = field(default_factory=dict)  # rows that repeat an earlier one (repeated_rows)


def repeated_rows(rows: list[Prediction]) -> tuple[list[Prediction], dict[str, Any]]:
    """The rows to score and what repeats: with an ``id`` on every row, each id once (its first row); without,
    every row, with the count of rows whose prompt and gold label repeat an earlier row's (they may be real
    duplicates of the test set, or copies)."""
    if rows and all("id" in row.extra for row in rows):
        first: dict[str, Prediction] = {}
        for row in rows:
            first.setdefault(str(row.extra["id"]), row)
        kept = list(first.values())
        return kept, {"by": "id", "repeated": len(rows) - len(kept), "counted_once": True}
    counts = Counter((row.prompt, row.label) for row in rows)
    return rows, {"by": "prompt and label", "repeated": sum(c - 1 for c in counts.values()), "counted_once": False}


def score_file(path: str | Path, labels: list[str] | None, lenient: bool = False) -> Scored:
    """Load a predictions file and map every prediction onto the label set.

    The label set is ``labels`` in its order, or the gold labels seen in the file, sorted.
    """
    rows, repeats = repeated_rows(load_predictions(path))
    gold = [normalize_text(row.label) for row in rows]
    if labels is None:
        labels = sorted(set(gold))
    else:
        label_codes(gold, labels, str(path), [row.line for row in rows])
    matcher = LabelMatcher(labels, lenient)
    predicted = [matcher.match(row.predict) or INVALID for row in rows]
    return Scored(str(path), rows, gold, predicted, list(labels), matcher.rule, repeats)


def draw_statistics(y_true: np.ndarray, y_pred: np.ndarray, labels: list[str],
                    probs: np.ndarray | None = None) -> Any:
    """The statistics of one bootstrap draw (the indices of the rows drawn), as scikit-learn defines them
    (``precision_recall_fscore_support`` with ``zero_division=0``, ``log_loss``) but from the draw's confusion
    counts: scikit-learn's input checks cost about 9 ms a call, 9 s for a thousand draws of ten rows.
    ``y_pred`` is -1 where a prediction matched no label (a miss for its gold class)."""
    k = len(labels)
    cells = y_true * (k + 1) + y_pred + 1  # column 0: no label
    row_loss = None
    if probs is not None:  # log_loss clips to the dtype's eps and averages each row's -log p(gold)
        eps = np.finfo(probs.dtype).eps
        row_loss = -np.log(np.clip(probs[np.arange(len(y_true)), y_true], eps, 1 - eps))

    def statistics(pick: np.ndarray) -> dict[str, float]:
        counts = np.bincount(cells[pick], minlength=k * (k + 1)).reshape(k, k + 1)
        tp = np.diag(counts[:, 1:]).astype(float)
        predicted, true = counts[:, 1:].sum(axis=0), counts.sum(axis=1)
        with np.errstate(divide="ignore", invalid="ignore"):
            precision = np.where(predicted > 0, tp / predicted, 0.0)
            recall = np.where(true > 0, tp / true, 0.0)
            f1 = np.where(predicted + true > 0, 2 * tp / (true + predicted), 0.0)
        found = {"accuracy": float(tp.sum() / len(pick)), "macro_precision": float(np.mean(precision)),
                 "macro_recall": float(np.mean(recall)), "macro_f1": float(np.mean(f1)),
                 **{f"f1[{label}]": float(f1[i]) for i, label in enumerate(labels)}}
        if row_loss is not None:
            found["log_loss"] = float(np.mean(row_loss[pick]))
        return found

    return statistics


def bootstrap_ci(gold: list[str], predicted: list[str], labels: list[str], resamples: int, seed: int,
                 probs: np.ndarray | None = None) -> dict[str, Any]:
    """Seeded percentile bootstrap 95% intervals for accuracy, macro precision/recall/F1, each class's F1
    (``f1[LABEL]``) and, with the rows' label probabilities, log loss."""
    codes = {label: i for i, label in enumerate(labels)}
    y_true = np.array([codes[g] for g in gold])
    y_pred = np.array([codes.get(p, -1) for p in predicted])
    return percentile_bootstrap(len(y_true), draw_statistics(y_true, y_pred, labels, probs), resamples, seed)


def classification_metrics(scored: Scored, resamples: int, seed: int,
                           probs: np.ndarray | None = None) -> dict[str, Any]:
    """n, n_invalid, accuracy, per-class and averaged P/R/F1, confusion matrix, bootstrap CI (of log loss too
    with the rows' label probabilities)."""
    gold, predicted, labels = scored.gold, scored.predicted, scored.labels
    n_invalid = sum(p == INVALID for p in predicted)
    result: dict[str, Any] = {
        "n": len(gold),
        "repeats": scored.repeats,
        "n_invalid": n_invalid,
        "accuracy": float(accuracy_score(gold, predicted)),
    }
    for average in ("macro", "micro", "weighted"):
        p, r, f, _ = precision_recall_fscore_support(gold, predicted, labels=labels, average=average,
                                                     zero_division=0)
        result[average] = {"precision": float(p), "recall": float(r), "f1": float(f)}
    p, r, f, s = precision_recall_fscore_support(gold, predicted, labels=labels, average=None, zero_division=0)
    result["per_class"] = {
        label: {"precision": float(p[i]), "recall": float(r[i]), "f1": float(f[i]), "support": int(s[i])}
        for i, label in enumerate(labels)
    }
    columns = labels + ([INVALID] if n_invalid else [])  # an invalid answer is a prediction, never a label
    with warnings.catch_warnings():  # one class in a few rows: labels= gives the shape the warning asks for
        warnings.filterwarnings("ignore", "A single label was found", UserWarning)
        matrix = confusion_matrix(gold, predicted, labels=columns)
    result["confusion_matrix"] = {"labels": labels, "predicted": columns, "matrix": matrix[: len(labels)].tolist()}
    result["ci"] = bootstrap_ci(gold, predicted, labels, resamples, seed, probs) if resamples > 0 else None
    result["invalid_examples"] = [
        {"line": row.line, "predict": row.predict, "label": row.label}
        for row, p in zip(scored.rows, predicted, strict=True) if p == INVALID
    ][:INVALID_EXAMPLES]
    result["invalid_groups"] = invalid_groups(scored)
    return result


INVALID_GROUPS = 20


def invalid_groups(scored: Scored) -> list[dict[str, Any]]:
    """The invalid answers grouped by their normalised text, most frequent first (at most 20 groups), with the
    first lines of each: what the model said instead of a label."""
    groups: dict[str, list[int]] = {}
    for row, predicted in zip(scored.rows, scored.predicted, strict=True):
        if predicted == INVALID:
            groups.setdefault(normalize_text(row.predict), []).append(row.line)
    ranked = sorted(groups.items(), key=lambda item: (-len(item[1]), item[0]))[:INVALID_GROUPS]
    return [{"text": text, "count": len(lines), "lines": lines[:3]} for text, lines in ranked]


def row_verdicts(scored: Scored) -> list[dict[str, Any]]:
    """One row per prediction: its line, gold label, raw prediction, the label it matched (or null) and why."""
    verdicts = []
    for row, gold, predicted in zip(scored.rows, scored.gold, scored.predicted, strict=True):
        if predicted == INVALID:
            status, why = "invalid", f"no label matches {normalize_text(row.predict)[:80]!r}"
        else:
            status = "correct" if predicted == gold else "wrong"
            why = f"matched {predicted!r}"
        verdicts.append({"line": row.line, "gold": gold, "predict": row.predict,
                         "matched": None if predicted == INVALID else predicted, "status": status, "why": why})
    return verdicts


def compare_with_baseline(new: Scored, base: Scored) -> dict[str, int]:
    """Label shift counts ``"from->to"`` (baseline prediction -> new prediction) where they differ.

    Rows pair by order; files of different lengths or with differing gold labels are an error.
    """
    if len(new.gold) != len(base.gold):
        raise InputError(f"has {len(base.gold)} rows but {new.path} has {len(new.gold)}; rows pair by order",
                         base.path)
    for new_row, base_row, new_gold, base_gold in zip(new.rows, base.rows, new.gold, base.gold, strict=True):
        if new_gold != base_gold:
            raise InputError(f"label {base_gold!r} differs from {new_gold!r} at {new.path}:{new_row.line}; "
                             "rows pair by order", base.path, base_row.line)
    shifts = Counter(f"{b}->{n}" for b, n in zip(base.predicted, new.predicted, strict=True) if b != n)
    return dict(sorted(shifts.items(), key=lambda item: (-item[1], item[0])))


DELTA_KEYS = ("accuracy", "n_invalid")
PROBABILISTIC_DELTA_KEYS = ("log_loss", "brier", "ece")


def deltas(new: dict[str, Any], base: dict[str, Any]) -> dict[str, float]:
    """new - baseline for accuracy, invalid count, the averaged P/R/F1 and, when both have them, log loss,
    Brier score and ECE."""
    out: dict[str, float] = {key: new[key] - base[key] for key in DELTA_KEYS}
    for average in ("macro", "micro", "weighted"):
        for metric in ("precision", "recall", "f1"):
            out[f"{average}_{metric}"] = new[average][metric] - base[average][metric]
    if "probabilistic" in new and "probabilistic" in base:
        for metric in PROBABILISTIC_DELTA_KEYS:
            out[metric] = new["probabilistic"][metric] - base["probabilistic"][metric]
    return out
