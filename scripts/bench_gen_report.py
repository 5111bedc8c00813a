"""Benchmark the whole `gen_report` command against the straightforward per-row loop, in one run.

Writes seeded mixed English/Chinese rows with long answers as a predictions file, then times two whole
commands from process start to files written: LLaMA-Factory's per-row definition (nltk sentence_bleu +
jieba + rouge-chinese, one row after another, one process) and `eval/gen_report.py` on the same file
(its LLaMA-Factory block over --workers processes, plus the corpus block, lengths, Markdown and PNGs).
Prints both times, the ratio, the processes each side used, and whether the LLaMA-Factory numbers agree.

Example:
    python scripts/bench_gen_report.py --rows 2000 --workers 2
"""

from __future__ import annotations

import json
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from recipekit.cli import at_least, script_parser
from recipekit.errors import exit_on_input_error
from recipekit.steps import module_command

ENGLISH_TEXT = ("the model learns to answer questions about training data with clear and helpful steps "
                "first we load the dataset then we fine tune with lora and evaluate on held out prompts")
ENGLISH = ENGLISH_TEXT.split()
CHINESE = list("我们首先加载数据集然后使用低秩适配进行微调最后在验证集上评估模型的生成质量并比较不同方法的效果")
PUNCT = [".", ",", "。", "，", "？", "!"]
# the per-row loop as a user would write it: LLaMA-Factory's eval_bleu_rouge definition, row after row
PER_ROW_LOOP = """
import json, sys
from recipekit.eval.generation import mean_scores, quiet_jieba, reference_row_scores
quiet_jieba()
rows = [json.loads(line) for line in open(sys.argv[1], encoding="utf-8")]
scores = [reference_row_scores(row["predict"], row["label"]) for row in rows]
open(sys.argv[2], "w", encoding="utf-8").write(json.dumps(mean_scores(scores)))
"""


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


def timed(command: list[str]) -> float:
    """Wall seconds of one whole command, process start to exit; a failure is an error with its output."""
    start = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True, check=False, env={"PATH": "/usr/bin:/bin"})
    seconds = time.perf_counter() - start
    if done.returncode != 0:
        raise SystemExit(f"error: {' '.join(command[:3])} failed: {done.stderr.strip()[-400:]}")
    return seconds


@exit_on_input_error
def main(argv: list[str] | None = None) -> dict[str, float]:
    parser = script_parser(__doc__)
    parser.add_argument("--rows", type=at_least(1), default=2000)
    parser.add_argument("--words", type=at_least(1), default=300, help="maximum tokens (words or characters) per label")
    parser.add_argument("--workers", type=at_least(1), default=2, help="gen_report's processes for the per-row scores")
    parser.add_argument("--seed", type=at_least(0), default=0)
    args = parser.parse_args(argv)

    with tempfile.TemporaryDirectory() as scratch:
        folder = Path(scratch)
        path = folder / "generated_predictions.jsonl"
        path.write_text("".join(json.dumps({"prompt": f"q{i}", "predict": p, "label": lab}, ensure_ascii=False) + "\n"
                                for i, (p, lab) in enumerate(make_rows(args.rows, args.words, args.seed))),
                        encoding="utf-8")
        loop_s = timed([sys.executable, "-c", PER_ROW_LOOP, str(path), str(folder / "loop.json")])
        report_s = timed([*module_command("gen_report"), str(path), "--workers", str(args.workers),
                          "--out", str(folder / "report")])
        loop = json.loads((folder / "loop.json").read_text(encoding="utf-8"))
        report = json.loads((folder / "report" / "gen_report.json").read_text(encoding="utf-8"))
    agree = report["llamafactory"] == loop
    result = {"rows": args.rows, "per_row_loop_s": loop_s, "gen_report_s": report_s, "ratio": loop_s / report_s,
              "agree": agree}
    print(f"rows: {args.rows} (mixed English/Chinese, labels up to {args.words} tokens)")
    print(f"per-row loop, whole command (nltk + jieba + rouge-chinese, 1 process): {loop_s:.2f} s")
    print(f"eval/gen_report.py, whole command ({args.workers} worker processes + the main one, "
          f"LLaMA-Factory block + corpus block + files): {report_s:.2f} s")
    print(f"ratio: {result['ratio']:.2f}x; LLaMA-Factory numbers agree with the loop: {agree}")
    if not agree:
        raise SystemExit("error: gen_report's LLaMA-Factory block disagrees with the per-row loop")
    return result


if __name__ == "__main__":
    main()
