"""The capability radar read back from the drawn figure: each stage's filled polygon, the radial range, the title's
offset and where the legend is anchored, all against values worked out by hand."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import pytest
from drawn_figures import keep_figures

from recipekit.report import benchmarks


def report(*stages: tuple[str, list[float]]) -> dict[str, Any]:
    names = ["knowledge", "reasoning", "coding"]
    return {"stages": [{"name": name, "dimensions": {n: {"score": s, "stderr": None, "shots": 0, "tasks": []}
                                                     for n, s in zip(names, scores, strict=True)}}
                       for name, scores in stages], "reported": None}


def drawn(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, data: dict[str, Any]) -> Any:
    saved = keep_figures(monkeypatch, benchmarks)
    benchmarks.plot_radar(data, tmp_path / "radar.png")
    ((figure, _),) = saved
    (ax,) = figure.axes
    return figure, ax


def test_each_stage_is_filled_over_its_closed_polygon_of_angle_and_score(tmp_path: Path,
                                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    _, ax = drawn(tmp_path, monkeypatch, report(("base", [0.5, 0.25, 0.75]), ("sft", [0.6, 0.4, 0.2])))
    angles = [0.0, 2 * math.pi / 3, 4 * math.pi / 3, 0.0]  # three dimensions: a third of a turn apart
    fills = [patch.get_xy().tolist() for patch in ax.patches]
    assert fills == [[list(point) for point in zip(angles, [0.5, 0.25, 0.75, 0.5], strict=True)],
                     [list(point) for point in zip(angles, [0.6, 0.4, 0.2, 0.6], strict=True)]]


def test_the_radial_range_is_zero_to_one_even_when_every_score_is_zero(tmp_path: Path,
                                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    _, ax = drawn(tmp_path, monkeypatch, report(("base", [0.0, 0.0, 0.0])))
    assert ax.get_ylim() == (0, 1)


def test_the_title_sits_twenty_points_up_and_the_legend_is_anchored_outside_the_top_right(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    figure, ax = drawn(tmp_path, monkeypatch, report(("base", [0.5, 0.25, 0.75])))
    assert ax.get_title() == "Capabilities"
    # the title's offset: 20 points, in pixels at the figure's dpi (a point is 1/72 inch)
    offset = ax.titleOffsetTrans.get_matrix()
    assert offset[0, 2] == 0 and offset[1, 2] == pytest.approx(20 / 72 * figure.dpi)
    anchor = ax.transAxes.inverted().transform(ax.get_legend().get_bbox_to_anchor().get_points())
    assert anchor.tolist() == [pytest.approx([1.3, 1.1]), pytest.approx([1.3, 1.1])]
