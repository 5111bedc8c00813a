"""The generation report's Markdown, every line written out by hand from the report's numbers."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from drawn_figures import keep_figures, legend_texts, png_size, points, same, ticks

from recipekit.report import generation
from recipekit.report.generation import render_markdown


def report(n: int = 40, **extra: Any) -> dict[str, Any]:
    return {"n": n, "n_empty_predict": 2,
            "meta": {"predictions": {"path": "p.jsonl", "sha256": "0123456789abcdef"},
                     "llamafactory_definition": "LLaMA-Factory's own",
                     "versions": {"sacrebleu": "2.5", "jieba": "0.42"}},
            "llamafactory": {"bleu-4": 10.0, "rouge-1": 40.0, "rouge-2": 20.0, "rouge-l": 30.0},
            "corpus": {"bleu": {"score": 8.0, "signature": "nrefs:1"}, "chrf": {"score": 35.0, "signature": "chrF2"},
                       "rouge": {"rouge1": 41.0}, "rouge_tokenizer": "words"},
            "length": {"unit": "words", "predict": {"mean": 10.25, "p50": 10.0, "p95": 20.0},
                       "label": {"mean": 12.0, "p50": 11.0, "p95": 25.5}, "ratio": 0.8541, "empty_predict_share": 0.05},
            **extra}


LENGTHS = """## Lengths (words)

|  | mean | p50 | p95 |
|---|---|---|---|
| predict | 10.2 | 10.0 | 20.0 |
| label | 12.0 | 11.0 | 25.5 |

Length ratio (predict/label means): 0.854; empty predictions: 5.0%
"""
DEFINITIONS = """## Definitions

- `lf_*`: LLaMA-Factory's own
- corpus BLEU: `nrefs:1`; chrF: `chrF2`
- corpus ROUGE: rouge-score F1 averaged over rows, tokenizer: words
- input sha256 0123456789ab; sacrebleu 2.5, jieba 0.42
"""


def test_a_report_alone_its_metrics_lengths_and_definitions() -> None:
    assert render_markdown(report()) == f"""# Generation report: `p.jsonl`

40 rows, 2 empty predictions.

| metric (x100) | value |
|---|---|
| lf_bleu-4 | 10.0000 |
| lf_rouge-1 | 40.0000 |
| lf_rouge-2 | 20.0000 |
| lf_rouge-l | 30.0000 |
| corpus_bleu | 8.0000 |
| corpus_chrf | 35.0000 |
| corpus_rouge1 | 41.0000 |

{LENGTHS}
{DEFINITIONS}"""


def test_a_baseline_its_deltas_relative_changes_and_examples_with_its_answers() -> None:
    base = report(n=40, paired="by id")
    base["llamafactory"] = {"bleu-4": 0.0, "rouge-1": 50.0, "rouge-2": 20.0, "rouge-l": 24.0}
    base["meta"]["predictions"]["path"] = "base.jsonl"
    examples = [{"which": "best", "line": 3, "rouge-l": 99.123, "label": "a  b", "predict": "a b", "baseline": "c"},
                {"which": "worst", "line": 7, "rouge-l": 0.0, "label": "x" * 130, "predict": "it's"}]
    text = render_markdown(report(n=12, baseline=base, examples=examples))
    note = ("only 12 row(s) (under 30): the 95% intervals, resampled from so few rows, mean little; score more rows "
            "before trusting a difference")
    assert text == f"""# Generation report: `p.jsonl`

12 rows, 2 empty predictions.

**Note:** {note}.

Baseline: `base.jsonl`, 40 rows (this file: 12), paired by id.

| metric (x100) | baseline | this | delta | relative |
|---|---|---|---|---|
| lf_bleu-4 | 0.0000 | 10.0000 | +10.0000 | - |
| lf_rouge-1 | 50.0000 | 40.0000 | -10.0000 | -20.0% |
| lf_rouge-2 | 20.0000 | 20.0000 | +0.0000 | +0.0% |
| lf_rouge-l | 24.0000 | 30.0000 | +6.0000 | +25.0% |
| corpus_bleu | 8.0000 | 8.0000 | +0.0000 | +0.0% |
| corpus_chrf | 35.0000 | 35.0000 | +0.0000 | +0.0% |
| corpus_rouge1 | 41.0000 | 41.0000 | +0.0000 | +0.0% |

{LENGTHS}
## Examples (best, median and worst rows by LLaMA-Factory's ROUGE-L)

| which | line | rouge-l | label | prediction | baseline's answer |
|---|---|---|---|---|---|
| best | 3 | 99.12 | 'a b' | 'a b' | 'c' |
| worst | 7 | 0.00 | '{"x" * 119}…' | "it's" | '' |

{DEFINITIONS}"""
    del base["paired"]  # a baseline paired by position says so; examples without a baseline have no such column
    text = render_markdown(report(n=40, baseline=base, examples=[examples[1]]))
    assert "Baseline: `base.jsonl`, 40 rows (this file: 40), paired by position.\n" in text
    assert "| which | line | rouge-l | label | prediction |\n|---|---|---|---|---|\n| worst | 7 | 0.00 |" in text
    assert "| \"it's\" |\n\n## Definitions" in text and "**Note:**" not in text


def test_the_metrics_chart_has_a_bar_per_headline_number_and_the_baselines_beside(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    saved = keep_figures(monkeypatch, generation)
    names = ["lf_bleu-4", "lf_rouge-1", "lf_rouge-2", "lf_rouge-l", "corpus_bleu", "corpus_chrf", "corpus_rouge1"]
    path = generation.plot_metrics(report(), tmp_path / "m.png")
    assert path == tmp_path / "m.png" and png_size(path)[0] > 0
    figure, _ = saved[0]
    (ax,) = figure.axes
    assert tuple(figure.get_size_inches()) == pytest.approx((6.3, 4.0))  # 0.9 inch a bar, 6 at least
    (bars,) = ax.containers
    assert [b.get_height() for b in bars] == [10.0, 40.0, 20.0, 30.0, 8.0, 35.0, 41.0]
    assert [b.get_x() + b.get_width() / 2 for b in bars] == pytest.approx(range(7))
    assert {round(b.get_width(), 6) for b in bars} == {0.6} and ax.get_legend() is None
    assert ticks(ax) == names and {t.get_rotation() for t in ax.get_xticklabels()} == {45.0}
    assert {t.get_horizontalalignment() for t in ax.get_xticklabels()} == {"right"}
    assert (ax.get_ylabel(), ax.get_title()) == ("score (x100)", "generation metrics (n=40)")

    base = report(n=40)
    base["llamafactory"]["bleu-4"] = 5.0
    generation.plot_metrics(report(n=12, baseline=base), tmp_path / "b.png")
    ax = saved[1][0].axes[0]
    before, after = ax.containers
    assert [b.get_height() for b in before] == [5.0, 40.0, 20.0, 30.0, 8.0, 35.0, 41.0]
    assert [b.get_x() + b.get_width() / 2 for b in before] == pytest.approx([i - 0.2 for i in range(7)])
    assert [b.get_x() + b.get_width() / 2 for b in after] == pytest.approx([i + 0.2 for i in range(7)])
    assert {round(b.get_width(), 6) for b in [*before, *after]} == {0.4}
    assert legend_texts(ax) == ["baseline", "this"] and ax.get_title() == "generation metrics (n=12)"


def test_the_lengths_figure_scatters_each_row_and_histograms_its_ratio(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    saved = keep_figures(monkeypatch, generation)
    rows = [{"label_len": 10, "predict_len": 5}, {"label_len": 4, "predict_len": 12},
            {"label_len": 0, "predict_len": 3}]
    generation.plot_lengths(rows, tmp_path / "l.png")
    figure, _ = saved[0]
    left, right = figure.axes
    assert tuple(figure.get_size_inches()) == (10.0, 4.0)
    (dots,) = left.collections
    assert dots.get_offsets().tolist() == [[10, 5], [4, 12], [0, 3]]
    (diagonal,) = left.get_lines()  # to the longest length either side
    assert same(diagonal.get_xdata(), [0, 12]) and same(diagonal.get_ydata(), [0, 12])
    assert (diagonal.get_linestyle(), diagonal.get_linewidth(), diagonal.get_color()) == ("--", 1, "grey")
    assert left.get_position().x1 <= right.get_position().x0  # side by side
    assert dots.get_sizes().tolist() == [8] and dots.get_alpha() == 0.5
    assert {p.get_alpha() for p in right.patches} == {0.6}
    counts = [p.get_height() for p in right.patches]
    assert len(counts) == 30 and sum(counts) == 2  # the row with an empty label has no ratio
    last = right.patches[-1]
    assert right.patches[0].get_x() == 0.5 and last.get_x() + last.get_width() == pytest.approx(3)
    assert (left.get_xlabel(), left.get_ylabel(), right.get_xlabel(), right.get_ylabel()) == (
        "label length (chars)", "prediction length (chars)", "prediction / label length", "rows")
    assert left.get_legend() is None and right.get_legend() is None

    generation.plot_lengths([{"label_len": 0, "predict_len": 0}], tmp_path / "z.png",
                            baseline=[{"label_len": 2, "predict_len": 1}])
    left, right = saved[1][0].axes
    assert [c.get_offsets().tolist() for c in left.collections] == [[[0, 0]], [[2, 1]]]
    assert same(left.get_lines()[0].get_xdata(), [0, 2])
    assert legend_texts(left) == legend_texts(right) == ["this", "baseline"]
    small = points("small")
    assert {t.get_fontsize() for t in [*left.get_legend().get_texts(), *right.get_legend().get_texts()]} == {small}
    assert sum(p.get_height() for p in right.patches) == 2  # this file's one 0.0 (no ratio) and the baseline's 0.5


@pytest.mark.parametrize(("row", "diagonal_end", "hist_from"), [
    ({"label_len": 0, "predict_len": 0}, 1, -0.5),  # nothing long: a unit diagonal; no ratio: one 0.0 drawn
    ({"label_len": 1, "predict_len": 2}, 2, 1.5)])  # a one-character label has a ratio (2.0: bins 1.5 to 2.5)
def test_a_single_short_row_draws_its_diagonal_and_ratio(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                          row: dict[str, int], diagonal_end: int,
                                                          hist_from: float) -> None:
    saved = keep_figures(monkeypatch, generation)
    generation.plot_lengths([row], tmp_path / "l.png")
    left, right = saved[0][0].axes
    assert same(left.get_lines()[0].get_xdata(), [0, diagonal_end])
    assert right.patches[0].get_x() == hist_from and sum(p.get_height() for p in right.patches) == 1
