"""The figures a report module saves, kept for their contents (axes, labels, plotted data), and the PNGs read back
by matplotlib and PIL."""

from __future__ import annotations

import math
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest


def keep_figures(monkeypatch: pytest.MonkeyPatch, *modules: ModuleType) -> list[tuple[Any, Path]]:
    """Every (figure, path) the modules' ``save_figure`` is given from now on; the real writer still writes them."""
    from recipekit.report import writer

    real, saved = writer.save_figure, []

    def keep(figure: Any, path: Path) -> Path:
        saved.append((figure, path))
        return real(figure, path)

    for module in modules:
        monkeypatch.setattr(module, "save_figure", keep)
    return saved


def png_size(path: Path) -> tuple[int, int]:
    """The PNG's (width, height), after checking that PIL and matplotlib both read it."""
    import matplotlib.image
    from PIL import Image

    with Image.open(path) as image:
        assert image.format == "PNG"
        size = image.size
    pixels = matplotlib.image.imread(path)
    assert pixels.shape[:2] == (size[1], size[0])
    return size


def same(values: Any, expected: list[float]) -> bool:
    """Plotted values equal to the expected ones, NaN where NaN is expected."""
    got = [float(v) for v in values]
    return len(got) == len(expected) and all(
        (math.isnan(a) and math.isnan(b)) or a == b for a, b in zip(got, expected, strict=True))


def points(size: str) -> float:
    """A named font size ("small", "medium") in points, as matplotlib resolves it."""
    from matplotlib.font_manager import FontProperties

    return FontProperties(size=size).get_size_in_points()


def ticks(axis: Any) -> list[str]:
    return [label.get_text() for label in axis.get_xticklabels()]


def legend_texts(axis: Any) -> list[str]:
    legend = axis.get_legend()
    return [] if legend is None else [text.get_text() for text in legend.get_texts()]
