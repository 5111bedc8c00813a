"""The generation report's Markdown, every line written out by hand from the report's numbers."""

from __future__ import annotations

from typing import Any

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
    assert "| which | line | rouge-l | label | prediction |\n" in text and "**Note:**" not in text
