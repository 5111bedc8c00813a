"""Benchmark: gen_report's LLaMA-Factory scores against the straightforward per-row loop, in one run.

Builds mixed English/Chinese rows with long answers (seeded), times the per-row loop over nltk
sentence_bleu + jieba + rouge-chinese (as LLaMA-Factory's eval_bleu_rouge.py does) and the fast scorer
(rapidfuzz LCS, set n-grams, process pool), prints both times, the ratio and whether every number agrees.

Example:
    python scripts/bench_gen_report.py --rows 2000 --workers 2
"""

from __future__ import annotations

import random
import sys
import time
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from recipekit.cli import at_least, script_parser
from recipekit.errors import exit_on_input_error
from recipekit.eval.generation import mean_scores, quiet_jieba, reference_row_scores, score_rows

ENGLISH_TEXT = ("the model learns to answer questions about training data with clear and helpful steps "
                "first we load the dataset then we fine tune with lora and evaluate on held out prompts")
ENGLISH = ENGLISH_TEXT.split()
CHINESE = list("我们首先加载数据集然后使用低秩适配进行微调最后在验证集上评估模型的生成质量并比较不同方法的效果")
PUNCT = [".", ",", "。", "，", "？", "!"]


def make_rows(count: int, words: int, seed: int) -> list[tuple[str, str]]:
    """Seeded (predict, label) pairs: half English, half Chinese, labels of ~words tokens, noisy predictions."""
    rng = random.Random(seed)
    rows = []
    for i in range(count):
        vocab, joiner = (ENGLISH, " ") if i % 2 == 0 else (CHINESE, "")
        label_tokens = [rng.choice(vocab) if rng.random() > 0.08 else rng.choice(PUNCT)
                        for _ in range(rng.randint(words // 2, words))]
        predict_tokens = [t if rng.random() > 0.3 else rng.choice(vocab) for t in label_tokens]
        predict_tokens = predict_tokens[: int(len(predict_tokens) * rng.uniform(0.6, 1.3))]
        rows.append((joiner.join(predict_tokens), joiner.join(label_tokens)))
    return rows


@exit_on_input_error
def main(argv: list[str] | None = None) -> dict[str, float]:
    parser = script_parser(__doc__)
    parser.add_argument("--rows", type=at_least(1), default=2000)
    parser.add_argument("--words", type=at_least(1), default=300, help="maximum tokens (words or characters) per label")
    parser.add_argument("--workers", type=at_least(1), default=2)
    parser.add_argument("--seed", type=at_least(0), default=0)
    args = parser.parse_args(argv)

    rows = make_rows(args.rows, args.words, args.seed)
    quiet_jieba()
    start = time.perf_counter()
    baseline = [reference_row_scores(predict, label) for predict, label in rows]
    baseline_s = time.perf_counter() - start
    start = time.perf_counter()
    fast = score_rows(rows, workers=args.workers)
    fast_s = time.perf_counter() - start

    agree = fast == baseline
    result = {"rows": len(rows), "baseline_s": baseline_s, "fast_s": fast_s, "ratio": baseline_s / fast_s}
    print(f"rows: {len(rows)} (mixed English/Chinese, labels up to {args.words} tokens)")
    print(f"per-row loop (nltk + jieba + rouge-chinese): {baseline_s:.2f} s ({len(rows) / baseline_s:.1f} rows/s)")
    print(f"gen_report scorer ({args.workers} workers):      {fast_s:.2f} s ({len(rows) / fast_s:.1f} rows/s)")
    print(f"ratio: {result['ratio']:.1f}x faster; numbers agree on every row: {agree}")
    print(f"means: {mean_scores(fast)}")
    if not agree:
        raise SystemExit("the fast scorer disagrees with the per-row loop")
    return result


if __name__ == "__main__":
    main()
