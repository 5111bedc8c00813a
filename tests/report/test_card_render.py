"""The report card rendered from a card written by hand: its Markdown (numbers, intervals, rows scored, rows in
training, verdicts, differences, hardware, times) and its figure (this run's interval, the report's mark); and the
refusals of `llm-recipes report-card` before it builds a card."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import matplotlib.colors
import pytest
from conftest import run_cli
from drawn_figures import keep_figures, png_size, points, same

from recipekit.report import card as card_module
from recipekit.report.card import number_text, plot_card, render_markdown, report_time_lines

ACCURACY = {"name": "accuracy", "published": 94.5, "approx": False, "unit": "%", "run": 94.1234, "ci95": [93.5, 94.75],
            "n": 7600, "verdict": "reproduced", "contamination": {"set": "test", "found": 3, "rows": 7600}}
F1 = {"name": "macro F1", "published": 0.9, "approx": True, "unit": "", "run": None, "ci95": None, "n": 0,
      "verdict": "not run", "contamination": None}
ECE = {"name": "ece", "published": None, "approx": False, "unit": "", "run": 0.0512345, "ci95": [0.04, 0.06],
       "n": 100, "verdict": "no number in the report", "contamination": {"set": "val", "found": 0, "rows": 500}}
PLANNED = {"said": "section 4", "hours": 2}  # no step count: nothing to compare a step with
UNPLANNED = {"said": "table 3", "minutes": [20, 30]}


def a_card(**changes: Any) -> dict[str, Any]:
    card = {"first_line": "A reproduction of the AG News report.", "title": "AG News", "source": "papers/agnews.md",
            "wandb_group": "reproduce-agnews", "tiny": False, "numbers": [ACCURACY, F1, ECE],
            "interval": {"method": "percentile bootstrap", "resamples": 1000, "seed": 0},
            "contamination": {"file": "contamination.json"},
            "differences": {"recipes/a.yaml": {"lr": "the report's is lower", "epochs": "3, not 5"},
                            "chain": ["no warm-up step"], "recipes/b.yaml": {}},
            "hardware": {"report": ["8x V100", "2 days"], "run": "1x H100"},
            "time": {"total_seconds": 3599.6, "steps_seconds": {"train": 3000.4, "eval": 599.2},
                     "report": {"recipes/a.yaml": {"plan": PLANNED, "seq": 512, "report": PLANNED},
                                "recipes/b.yaml": {"plan": None, "seq": None, "report": UNPLANNED}}},
            "versions": {"python": "3.11", "torch": "2.5"}}
    return {**card, **changes}


def test_a_number_with_four_significant_digits_and_its_unit() -> None:
    assert number_text(None, "%") == "-"
    assert [number_text(v, "%") for v in (94.1234, 0.0512345, 12345.6, 0.0)] == ["94.12%", "0.05123%", "1.235e+04%",
                                                                                  "0%"]
    assert number_text(3.0, "") == "3"


def test_the_card_in_full() -> None:
    assert render_markdown(a_card()) == "\n".join([
        "**A reproduction of the AG News report.**", "",
        "# Report card: AG News", "",
        "Report: `papers/agnews.md`. wandb group: `reproduce-agnews`.", "",
        "| number | report | this run | 95% interval | rows scored | in training | verdict |",
        "|---|---|---|---|---|---|---|",
        "| accuracy | 94.5% | 94.12% | [93.5%, 94.75%] | 7600 | 3 of 7600 | reproduced; scored on test, 3 of whose "
        "rows are in the training data |",
        "| macro F1 | ≈ 0.9 | - | - | - | - | not run |",
        "| ece | - | 0.05123 | [0.04, 0.06] | 100 of 500 | 0 of 500 | no number in the report |", "",
        "Intervals: percentile bootstrap, 1000 resamples, seed 0.", "",
        "Rows scored: the scored set's rows this run scored (of all the set's rows, when it scored fewer, as a tiny "
        "run does). In training: the set's rows, of all of them, found in the run's training sets "
        "(contamination.json: exact, 13-gram or near-duplicate).", "",
        "## Differences from the report", "",
        "- no warm-up step",
        "- `recipes/a.yaml`: lr: the report's is lower",
        "- `recipes/a.yaml`: epochs: 3, not 5", "",
        "## Hardware, time, versions", "",
        "- the report's: 8x V100; 2 days",
        "- this run's: 1x H100",
        "- time: 3600 s in all; train 3000 s, eval 599 s",
        "- `recipes/a.yaml`: The report's own time (section 4): 2 h; it gives no step count to compare a step with.",
        "- `recipes/b.yaml`: the report's own time (table 3): 20-30 min; this chain does not plan it",
        "- versions: python 3.11, torch 2.5"]) + "\n"


def test_a_card_without_a_source_a_contamination_check_steps_or_report_times() -> None:
    bare = a_card(source=None, contamination=None, differences={}, hardware={"report": [], "run": "CPU only"},
                  time={"total_seconds": 0.4, "steps_seconds": {}})
    markdown = render_markdown(bare)
    assert "Report: none (your own dataset: no published numbers). wandb group: `reproduce-agnews`.\n" in markdown
    assert ("as a tiny run does). In training: no contamination check ran (-).\n\n## Differences from the report\n\n\n"
            "## Hardware, time, versions\n\n- the report's: -\n- this run's: CPU only\n- time: 0 s in all\n"
            "- versions: python 3.11, torch 2.5\n") in markdown


def test_rows_scored_says_of_how_many_only_when_the_run_scored_fewer() -> None:
    every = dict(ACCURACY, n=7600, contamination={"set": "test", "found": 0, "rows": 7600})
    none_scored = dict(ACCURACY, n=0, contamination={"set": "test", "found": 1, "rows": 7600})
    unchecked = dict(ACCURACY, n=50, contamination=None)
    lines = render_markdown(a_card(numbers=[every, none_scored, unchecked])).splitlines()
    assert lines[8] == "| accuracy | 94.5% | 94.12% | [93.5%, 94.75%] | 7600 | 0 of 7600 | reproduced |"
    assert lines[9] == ("| accuracy | 94.5% | 94.12% | [93.5%, 94.75%] | - | 1 of 7600 | reproduced; scored on test, "
                        "1 of whose rows are in the training data |")
    assert lines[10] == "| accuracy | 94.5% | 94.12% | [93.5%, 94.75%] | 50 | - | reproduced |"


def test_each_recipes_report_time_with_or_without_the_chains_plan() -> None:
    assert report_time_lines({}) == []
    assert report_time_lines({"r.yaml": {"plan": None, "seq": 512, "report": {"said": "s", "hours": [1, 2.5]}},
                              "p.yaml": {"plan": {"said": "t", "minutes": 45, "steps": 1200}, "seq": 64}}) == [
        "- `r.yaml`: the report's own time (s): 1-2.5 h; this chain does not plan it",
        "- `p.yaml`: The report's own time (t): 45 min for 1,200 steps; it gives no step count to compare a step with."]
    stepped = {"said": "t", "minutes": 45, "seconds_per_step": 2.0, "planned_seconds_per_step": 1.5, "card": "T4",
               "ratio": 0.75}
    (line,) = report_time_lines({"p.yaml": {"plan": stepped, "seq": 64}})
    assert line.endswith(". The plan's rows are all 64 tokens (cutoff_len, the report's longest row or --seq/--data); "
                         "rows shorter than that make the report's steps faster, and its time includes evaluation and "
                         "saving.")


def card_figure(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, card: dict[str, Any]) -> Any:
    saved = keep_figures(monkeypatch, card_module)
    path = plot_card(card, tmp_path / "card.png")
    assert path == tmp_path / "card.png" and png_size(path)[0] > 0
    ((figure, _),) = saved
    return figure


def test_the_card_figure_a_row_per_number(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    figure = card_figure(monkeypatch, tmp_path, a_card())
    assert figure.get_suptitle() == "Report card: AG News"
    assert list(figure.get_size_inches()) == pytest.approx([7, 0.8 * 3 + 1.2])
    accuracy, f1, ece = figure.axes
    assert [[t.get_text() for t in ax.get_yticklabels()] for ax in figure.axes] == [["accuracy (%)"], ["macro F1"],
                                                                                    ["ece"]]
    assert [list(ax.get_yticks()) for ax in figure.axes] == [[0], [0], [0]]
    assert [ax.get_title(loc="right") for ax in figure.axes] == ["reproduced", "not run", "no number in the report"]
    assert {(ax.get_title(), ax._right_title.get_fontsize()) for ax in figure.axes} == {("", points("small"))}
    (bars,) = accuracy.containers
    point, caps, (segments,) = bars.lines
    assert same(point.get_xdata(), [94.1234]) and same(point.get_ydata(), [0]) and point.get_marker() == "o"
    assert matplotlib.colors.same_color(point.get_color(), "tab:blue")
    assert [[list(p) for p in segment] for segment in segments.get_segments()] == [[[93.5, 0], [94.75, 0]]]
    assert len(caps) == 2 and caps[0].get_markersize() == 8  # capsize 4: caps 8 points across
    published = [line for line in accuracy.get_lines() if line is not point and line not in caps]
    assert len(published) == 1 and same(published[0].get_xdata(), [94.5])
    assert (published[0].get_markersize(), published[0].get_markeredgewidth()) == (18, 2)
    assert matplotlib.colors.same_color(published[0].get_color(), "tab:red")
    assert f1.containers == [] and [line.get_markersize() for line in f1.get_lines()] == [18]  # no run: the mark
    assert len(ece.containers) == 1 and [line.get_marker() for line in ece.get_lines()] == ["o", "|", "|"]  # no mark
    (legend,) = figure.legends
    assert [t.get_text() for t in legend.get_texts()] == ["report", "this run (95% interval)"]
    assert (legend._loc, legend._ncols) == (8, 2)  # lower center, two columns
    assert legend.legend_handles[0].get_marker() == "|"  # the axes' own artists, not ones matplotlib picks
    small, medium = points("small"), points("medium")
    assert {t.get_fontsize() for t in legend.get_texts()} == {small} and figure._suptitle.get_fontsize() == medium
    boxes = [ax.get_position() for ax in figure.axes]  # inside the figure, a strip kept below for the legend
    assert all(box.x0 >= 0 and box.x1 <= 1 and box.y1 <= 1 for box in boxes) and min(b.y0 for b in boxes) > 0.15


def test_a_tiny_card_says_so_in_its_title(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    zero = dict(ECE, published=0.0, run=0.0, ci95=[0.0, 0.25])  # zero is a number: drawn
    figure = card_figure(monkeypatch, tmp_path, a_card(tiny=True, numbers=[F1, zero]))
    assert figure.get_suptitle() == "TINY RUN - Report card: AG News"
    assert list(figure.get_size_inches()) == pytest.approx([7, 0.8 * 2 + 1.2])
    (bars,) = figure.axes[1].containers
    assert same(bars.lines[0].get_xdata(), [0.0])
    assert [line.get_markersize() for line in figure.axes[1].get_lines()][-1] == 18
    assert [t.get_text() for t in figure.legends[0].get_texts()] == ["report", "this run (95% interval)"]
    # each label with its own kind of mark, though the first row has no run to draw
    assert [type(h).__name__ for h in figure.legends[0].legend_handles] == ["Line2D", "LineCollection"]


def test_a_number_without_an_interval_is_a_point_and_the_report_a_red_tick(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    bare = dict(ACCURACY, ci95=None)  # a report written with --bootstrap 0
    figure = card_figure(monkeypatch, tmp_path, a_card(numbers=[bare]))
    (ax,) = figure.axes
    assert ax.containers == []
    point, published = ax.get_lines()
    assert same(point.get_xdata(), [94.1234]) and same(point.get_ydata(), [0]) and point.get_marker() == "o"
    assert matplotlib.colors.same_color(point.get_color(), "tab:blue")
    assert same(published.get_xdata(), [94.5]) and same(published.get_ydata(), [0]) and published.get_marker() == "|"
    assert [t.get_text() for t in figure.legends[0].get_texts()] == ["this run (no interval)", "report"]


def reproduction(tmp_path: Path, state: dict[str, Any] | None) -> Path:
    out = tmp_path / "out"
    out.mkdir(parents=True)
    if state is not None:
        (out / "reproduce.json").write_text(json.dumps(state), encoding="utf-8")
    return out


def test_report_card_without_a_reproduction_there_is_refused(tmp_path: Path) -> None:
    out = reproduction(tmp_path, None)
    done = run_cli("report-card", "yelp5", "--out", out)
    assert (done.returncode, done.stdout) == (2, "")
    assert done.stderr == f"error: {out}: no reproduce.json here: run `python scripts/reproduce.py yelp5` first\n"
    assert run_cli("report-card", "yelp5", "--out", reproduction(tmp_path / "b", {})).returncode == 2  # empty state


@pytest.mark.parametrize(("tiny", "flags"), [(True, []), (False, ["--tiny"])])
def test_report_card_refuses_a_tiny_flag_that_disagrees_with_the_reproduction(tmp_path: Path, tiny: bool,
                                                                              flags: list[str]) -> None:
    out = reproduction(tmp_path, {"tiny": tiny})
    done = run_cli("report-card", "yelp5", "--out", out, *flags)
    assert done.returncode == 2
    assert done.stderr == f"error: {out}: reproduce.json says tiny={tiny}: pass --tiny only for a tiny run\n"
    assert sorted(p.name for p in out.iterdir()) == ["reproduce.json"]


def test_report_card_with_wandb_unconfigured_is_refused_before_the_card(tmp_path: Path,
                                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    out = reproduction(tmp_path, {"steps": {}})  # no tiny key: a full run
    for name in ("WANDB_MODE", "WANDB_API_KEY", "NETRC"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))
    done = run_cli("report-card", "yelp5", "--out", out, "--wandb")
    assert done.returncode == 2 and done.stderr == (
        "error: --wandb: wandb is not configured: set WANDB_MODE=offline (the run stays on disk) or run "
        "`wandb login`\n")
    assert sorted(p.name for p in out.iterdir()) == ["reproduce.json"]
