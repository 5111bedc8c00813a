"""Line plots of training runs and sweeps, as PNGs."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from recipekit.recipes.sweep import HEADLINE
from recipekit.report.training import series
from recipekit.report.writer import save_figure
from recipekit.text import clip


def plot_series(runs: dict[str, list[dict[str, Any]]], name: str, keys: tuple[str, ...], out: Path) -> Path | None:
    """One PNG with every run's series for ``keys``; None when no run logged any of them."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axis = plt.subplots(figsize=(7, 4))
    drawn = False
    for label, history in runs.items():
        for key in keys:
            steps, values = series(history, key)
            if values:
                marker = "o" if len(values) < 30 else None
                axis.plot(steps, values, marker=marker, label=f"{label}: {key}" if len(runs) > 1 else key)
                drawn = True
    if not drawn:
        plt.close(figure)
        return None
    axis.set_xlabel("step")
    axis.set_title(name.replace("_", " "))
    axis.legend()
    return save_figure(figure, out / f"{name}.png")


def plot_axis(rows: list[dict[str, Any]], axis: str, values: list[str], metric: str, path: Path) -> Path:
    """The metric against one axis's values, one line per combination of the other axes."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    others = [k for k in rows[0] if k not in {"point", axis, *HEADLINE, "steps"} and not k.startswith("lf_")]
    figure, ax = plt.subplots(figsize=(6, 4))
    groups: dict[tuple[str, ...], list[dict[str, Any]]] = {}
    for row in rows:
        groups.setdefault(tuple(str(row.get(k)) for k in others), []).append(row)
    for group, members in groups.items():
        ys = [next((r.get(metric) for r in members if r.get(axis) == v), None) for v in values]
        label = ", ".join(f"{k}={v}" for k, v in zip(others, group, strict=True)) or axis
        ax.plot(range(len(values)), [float("nan") if y is None else y for y in ys], marker="o", label=label)
    ax.set_xticks(range(len(values)), [clip(v, 16, flatten=False) for v in values])
    ax.set_xlabel(axis)
    ax.set_ylabel(metric)
    ax.set_title(f"{metric} by {axis}")
    if len(groups) > 1:
        ax.legend(fontsize="small")
    return save_figure(figure, path)
