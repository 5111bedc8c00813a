"""The reliability diagram, from five rows whose bins, accuracies and ECE are worked out by hand."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from drawn_figures import keep_figures, legend_texts, png_size, points

from recipekit.report import reliability

# top-label confidence 0.95 (right), 0.85 (wrong), 0.75 (right), 0.65 (wrong), 0.62 (right); 2 bins of 0.5 (not
# scikit-learn's 5, not the ECE's default 10): all in (0.5, 1.0], mean confidence 3.82 / 5 = 0.764, accuracy 3/5;
# ECE = |0.6 - 0.764| = 0.164
PROBS = np.array([[0.95, 0.05], [0.15, 0.85], [0.25, 0.75], [0.65, 0.35], [0.38, 0.62]])
Y = np.array([0, 0, 1, 1, 1])


def test_each_curve_its_bins_its_ece_and_the_confidence_histogram(tmp_path: Path,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    saved = keep_figures(monkeypatch, reliability)
    other = np.array([[0.9, 0.1]] * 5)  # every row 0.9 sure of label 0: 2 of 5 right, ECE 0.5
    path = reliability.plot_reliability({"val": (PROBS, Y), "test": (other, Y)}, 2, tmp_path / "r.png")
    assert path == tmp_path / "r.png" and png_size(path)[0] > 0
    figure, _ = saved[0]
    top, bottom = figure.axes
    assert tuple(figure.get_size_inches()) == (5.5, 7.0)
    assert top.get_position().height == pytest.approx(3 * bottom.get_position().height)
    assert top.get_position().y0 > bottom.get_position().y1 and top.get_shared_x_axes().joined(top, bottom)
    curves = {line.get_label(): line for line in top.get_lines()}
    assert set(curves) == {"Perfectly calibrated", "val (ECE 0.164)", "test (ECE 0.500)"}
    assert list(curves["val (ECE 0.164)"].get_xdata()) == pytest.approx([0.764])
    assert list(curves["val (ECE 0.164)"].get_ydata()) == pytest.approx([0.6])
    assert list(curves["test (ECE 0.500)"].get_xdata()) == pytest.approx([0.9])
    assert list(curves["test (ECE 0.500)"].get_ydata()) == pytest.approx([0.4])
    assert (top.get_xlabel(), top.get_ylabel(), top.get_title()) == ("", "accuracy of the top label",
                                                                    "Reliability diagram")
    counts = [p.get_height() for p in bottom.patches]
    assert counts == [0, 5, 0, 5]  # val's two bins over [0, 1], then test's
    assert [p.get_x() for p in bottom.patches[:2]] == [0, 0.5]
    assert {p.get_alpha() for p in bottom.patches} == {0.5}
    assert (bottom.get_xlabel(), bottom.get_ylabel()) == ("confidence (probability of the top label)", "rows")
    assert legend_texts(bottom) == ["val", "test"]
    assert {t.get_fontsize() for t in bottom.get_legend().get_texts()} == {points("small")}
