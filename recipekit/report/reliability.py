"""The reliability diagram: top-label confidence against accuracy, with the confidence histogram below."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from recipekit.eval.probabilities import expected_calibration_error
from recipekit.report.writer import save_figure


def plot_reliability(curves: dict[str, tuple[np.ndarray, np.ndarray]], n_bins: int, path: Path) -> Path:
    """Reliability diagram (top label: confidence vs accuracy) of each named ``(probs, y)`` pair as PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from sklearn.calibration import CalibrationDisplay

    figure, (top, bottom) = plt.subplots(2, 1, figsize=(5.5, 7), gridspec_kw={"height_ratios": [3, 1]}, sharex=True)
    for name, (probs, y) in curves.items():
        confidence = probs.max(axis=1)
        correct = (probs.argmax(axis=1) == y).astype(int)
        ece = expected_calibration_error(probs, y, n_bins)
        CalibrationDisplay.from_predictions(correct, confidence, n_bins=n_bins, strategy="uniform", ax=top,
                                            name=f"{name} (ECE {ece:.3f})")
        bottom.hist(confidence, bins=n_bins, range=(0, 1), alpha=0.5, label=name)
    top.set_xlabel("")
    top.set_ylabel("accuracy of the top label")
    top.set_title("Reliability diagram")
    bottom.set_xlabel("confidence (probability of the top label)")
    bottom.set_ylabel("rows")
    bottom.legend(fontsize="small")
    return save_figure(figure, path)
