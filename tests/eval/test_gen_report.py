"""eval/gen_report.py: LLaMA-Factory parity, corpus metrics, files, baseline, wandb, errors."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from conftest import run_cli, run_script, write_jsonl

ROWS = [
    ("The cat sat on the mat.", "A cat was sitting on the mat."),
    ("今天天气很好，我们去公园散步。", "今天的天气非常好，我们一起去公园。"),
    ("LoRA 微调让 Qwen3 模型更快收敛.", "使用 LoRA 微调, Qwen3 模型收敛更快."),
    ("", "An answer the model did not give."),
    ("Great job 🎉 keep going 🚀", "Great work 🎉 keep it up 🚀"),
    ("Exactly the same answer.", "Exactly the same answer."),
]


def rows_file(path: Path, pairs: list[tuple[str, str]]) -> Path:
    return write_jsonl(path, [{"prompt": f"q{i}", "predict": p, "label": lab} for i, (p, lab) in enumerate(pairs)])


def gen_report(tmp_path: Path, *args: str | Path) -> dict:
    result = run_cli("report", "gen", *args, "--workers", "1")
    assert result.returncode == 0, result.stderr
    return json.loads((tmp_path / "gen_report.json").read_text(encoding="utf-8"))


def test_llamafactory_block_equals_llamafactorys_own_metric(tmp_path: Path) -> None:
    """LLaMA-Factory's ComputeSimilarity, fed token ids that decode to the same texts, gives the same means."""
    from llamafactory.extras.constants import IGNORE_INDEX
    from llamafactory.train.sft.metric import ComputeSimilarity
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import EvalPrediction, PreTrainedTokenizerFast

    texts = [text for pair in ROWS for text in pair]
    core = Tokenizer(models.BPE())
    core.pre_tokenizer, core.decoder = pre_tokenizers.ByteLevel(add_prefix_space=False), decoders.ByteLevel()
    core.train_from_iterator(texts, trainers.BpeTrainer(vocab_size=300, special_tokens=["<pad>"], show_progress=False,
                                                        initial_alphabet=pre_tokenizers.ByteLevel.alphabet()))
    tokenizer = PreTrainedTokenizerFast(tokenizer_object=core, pad_token="<pad>")

    def ids(strings: list[str]) -> np.ndarray:
        encoded = [tokenizer(s, add_special_tokens=False)["input_ids"] for s in strings]
        width = max(len(e) for e in encoded)
        return np.array([e + [IGNORE_INDEX] * (width - len(e)) for e in encoded])

    predicts, labels = [p for p, _ in ROWS], [lab for _, lab in ROWS]
    padded = np.where(ids(labels) != IGNORE_INDEX, ids(labels), tokenizer.pad_token_id)
    assert tokenizer.batch_decode(padded, skip_special_tokens=True) == labels  # the ids carry exactly our texts
    expected = ComputeSimilarity(tokenizer)(EvalPrediction(predictions=ids(predicts), label_ids=ids(labels)))
    got = gen_report(tmp_path, rows_file(tmp_path / "generated_predictions.jsonl", ROWS))["llamafactory"]
    for metric, value in expected.items():
        assert got[metric] == pytest.approx(value, abs=1e-4), metric


def test_corpus_metrics_equal_sacrebleu_and_rouge_score(tmp_path: Path) -> None:
    from rouge_score import rouge_scorer
    from sacrebleu.metrics import BLEU, CHRF

    english = [("the quick brown fox jumps", "the quick brown fox jumped over"), ("hello there world", "hello world"),
               ("a b c d e", "a b c d e")]
    got = gen_report(tmp_path, rows_file(tmp_path / "generated_predictions.jsonl", english))["corpus"]
    predicts, labels = [p for p, _ in english], [lab for _, lab in english]
    bleu = BLEU(tokenize="13a")
    assert got["bleu"]["score"] == pytest.approx(bleu.corpus_score(predicts, [labels]).score)
    assert got["bleu"]["signature"] == str(bleu.get_signature()) and "tok:13a" in got["bleu"]["signature"]
    assert got["chrf"]["score"] == pytest.approx(CHRF().corpus_score(predicts, [labels]).score)
    scorer = rouge_scorer.RougeScorer(["rouge1", "rouge2", "rougeL", "rougeLsum"])
    for name in ("rouge1", "rouge2", "rougeL", "rougeLsum"):
        direct = np.mean([scorer.score(lab, p)[name].fmeasure for p, lab in english]) * 100
        assert got["rouge"][name] == pytest.approx(direct)


def test_chinese_labels_use_the_chinese_tokenizers(tmp_path: Path) -> None:
    import jieba
    from rouge_score import rouge_scorer
    from sacrebleu.metrics import BLEU

    chinese = [ROWS[1], ("我喜欢机器学习。", "我非常喜欢机器学习。")]
    got = gen_report(tmp_path, rows_file(tmp_path / "generated_predictions.jsonl", chinese))["corpus"]
    assert "tok:zh" in got["bleu"]["signature"] and got["rouge_tokenizer"].startswith("per row: jieba")
    bleu = BLEU(tokenize="zh").corpus_score([p for p, _ in chinese], [[lab for _, lab in chinese]]).score
    assert got["bleu"]["score"] == pytest.approx(bleu)

    class Jieba:
        def tokenize(self, text: str) -> list[str]:
            return [t for t in jieba.cut(text.lower()) if t.strip()]

    scorer = rouge_scorer.RougeScorer(["rouge1"], tokenizer=Jieba())
    direct = np.mean([scorer.score(lab, p)["rouge1"].fmeasure for p, lab in chinese]) * 100
    assert got["rouge"]["rouge1"] == pytest.approx(direct) and direct > 0


@pytest.mark.integration
def test_files_rows_and_lengths(tmp_path: Path) -> None:
    out = tmp_path / "report"
    result = run_script("eval/gen_report.py", rows_file(tmp_path / "p.jsonl", ROWS), "--out", out, "--workers", "2")
    assert result.returncode == 0, result.stderr
    assert sorted(p.name for p in out.iterdir()) == ["gen_lengths.png", "gen_metrics.png", "gen_report.json",
                                                     "gen_report.md", "gen_scores.jsonl"]
    report = json.loads((out / "gen_report.json").read_text(encoding="utf-8"))
    scores = [json.loads(line) for line in (out / "gen_scores.jsonl").read_text(encoding="utf-8").splitlines()]
    assert [s["line"] for s in scores] == [1, 2, 3, 4, 5, 6]
    assert scores[3]["rouge-1"] == 0.0 and scores[3]["predict_len"] == 0  # the empty prediction, scored and counted
    assert scores[5]["rouge-l"] == pytest.approx(100.0, abs=1e-4)
    assert report["n"] == 6 and report["n_empty_predict"] == 1
    assert report["length"]["empty_predict_share"] == pytest.approx(1 / 6)
    assert report["length"]["label"]["mean"] == pytest.approx(np.mean([len("".join(lab.split())) for _, lab in ROWS]))
    assert report["llamafactory"]["bleu-4"] == pytest.approx(np.mean([s["bleu-4"] for s in scores]))
    assert (out / "gen_report.md").read_text(encoding="utf-8") in result.stdout


def test_baseline_side_by_side_with_deltas(tmp_path: Path) -> None:
    base = rows_file(tmp_path / "base.jsonl", [("completely different words", lab) for _, lab in ROWS])
    report = gen_report(tmp_path, rows_file(tmp_path / "generated_predictions.jsonl", ROWS), "--baseline", base)
    delta = report["delta"]["lf_rouge-l"]
    base_rouge_l = report["baseline"]["llamafactory"]["rouge-l"]
    assert delta["abs"] == pytest.approx(report["llamafactory"]["rouge-l"] - base_rouge_l)
    assert delta["abs"] > 0
    md = (tmp_path / "gen_report.md").read_text(encoding="utf-8")
    assert "| metric (x100) | baseline | this | delta | relative |" in md


@pytest.mark.integration
def test_wandb_offline(tmp_path: Path) -> None:
    result = run_script("eval/gen_report.py", rows_file(tmp_path / "p.jsonl", ROWS[:2]), "--wandb", "--workers", "1",
                        env={"WANDB_MODE": "offline", "WANDB_SILENT": "true"})
    assert result.returncode == 0, result.stderr
    (run,) = (tmp_path / "wandb").glob("offline-run-*")
    media = run / "files" / "media"
    assert len(list((media / "images").glob("*.png"))) == 2
    (table,) = (media / "table").glob("samples_*.table.json")
    assert json.loads(table.read_text(encoding="utf-8"))["data"][0][:3] == ["q0", ROWS[0][0], ROWS[0][1]]


@pytest.mark.parametrize(("content", "message"), [
    (None, "no such file"),
    ("", "empty file: no prediction rows"),
    ('{"predict": "a", "label": "a"}\n{oops\n', ":2: not valid JSON"),
    ('{"prompt": "q", "predict": "a"}\n', ":1: missing field 'label'"),
])
def test_bad_input_is_a_one_line_error(tmp_path: Path, content: str | None, message: str) -> None:
    path = tmp_path / "generated_predictions.jsonl"
    if content is not None:
        path.write_text(content, encoding="utf-8")
    result = run_cli("report", "gen", path)
    assert result.returncode == 2
    assert result.stderr.startswith(f"error: {path}") and message in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_references_that_are_all_empty_are_refused(tmp_path: Path) -> None:
    path = rows_file(tmp_path / "generated_predictions.jsonl", [("an answer", ""), ("another", " \n")])
    result = run_cli("report", "gen", path, "--workers", "1")
    assert result.returncode == 2 and "wrote" not in result.stdout
    assert result.stderr.splitlines() == [
        f"error: {path}: every one of its 2 labels (the references) is empty: BLEU and ROUGE against nothing are 0 "
        "whatever was predicted; predict on a set whose rows have answers"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["generated_predictions.jsonl"]


def test_a_small_file_says_its_interval_means_little(tmp_path: Path) -> None:
    path = rows_file(tmp_path / "generated_predictions.jsonl", ROWS)
    result = run_cli("report", "gen", path, "--workers", "1")
    line = ("only 6 row(s) (under 30): the 95% intervals, resampled from so few rows, mean little; score more rows "
            "before trusting a difference")
    assert f"\nnote: {line}\n" in result.stdout
    assert (tmp_path / "gen_report.md").read_text(encoding="utf-8").startswith(
        f"# Generation report: `{path}`\n\n6 rows, 1 empty predictions.\n\n**Note:** {line}.\n\n| metric (x100) |")


@pytest.mark.integration  # a fresh interpreter: jieba's import warns only the first time
def test_jiebas_import_warning_is_not_printed(tmp_path: Path) -> None:
    path = rows_file(tmp_path / "generated_predictions.jsonl", ROWS[:2])
    result = run_script("-W", "default", "eval/gen_report.py", path, "--workers", "1")
    assert result.returncode == 0 and result.stderr == ""


def test_tokenizer_override_for_chinese(tmp_path: Path) -> None:
    from sacrebleu.metrics import BLEU

    chinese = [ROWS[1], ("我喜欢机器学习。", "我非常喜欢机器学习。")]
    got = gen_report(tmp_path, rows_file(tmp_path / "generated_predictions.jsonl", chinese), "--tokenize", "char")
    bleu = BLEU(tokenize="char")
    score = bleu.corpus_score([p for p, _ in chinese], [[lab for _, lab in chinese]]).score
    assert got["corpus"]["bleu"]["score"] == pytest.approx(score)
    assert got["corpus"]["bleu"]["signature"] == str(bleu.get_signature()) and "tok:char" in str(bleu.get_signature())


def test_a_baseline_of_other_rows_is_refused(tmp_path: Path) -> None:
    """A baseline must score the same rows: other lengths, other gold labels or other ids are errors."""
    this = rows_file(tmp_path / "this.jsonl", ROWS)
    short = rows_file(tmp_path / "short.jsonl", ROWS[:-2])
    done = run_cli("report", "gen", this, "--baseline", short, "--workers", "1")
    assert done.returncode == 2
    assert f"error: {short}: the baseline has {len(ROWS) - 2} rows and {this} has {len(ROWS)}" in done.stderr
    shuffled = rows_file(tmp_path / "shuffled.jsonl", [ROWS[1], ROWS[0], *ROWS[2:]])
    done = run_cli("report", "gen", this, "--baseline", shuffled, "--workers", "1")
    assert done.returncode == 2 and "have different gold labels" in done.stderr and "paired by position" in done.stderr
    ids = [{"id": i, "prompt": f"q{i}", "predict": p, "label": lab} for i, (p, lab) in enumerate(ROWS)]
    by_id = write_jsonl(tmp_path / "ids.jsonl", ids)
    base = write_jsonl(tmp_path / "base_ids.jsonl", list(reversed(ids)))
    done = run_cli("report", "gen", by_id, "--baseline", base, "--workers", "1", "--out", tmp_path / "r")
    assert done.returncode == 0, done.stderr
    report = json.loads((tmp_path / "r" / "gen_report.json").read_text(encoding="utf-8"))
    assert report["baseline"]["paired"] == "by id" and report["delta"]["lf_bleu-4"]["abs"] == pytest.approx(0)
    best, worst = report["examples"][0], report["examples"][-1]
    assert (best["which"], worst["which"]) == ("best", "worst") and best["rouge-l"] >= worst["rouge-l"]
    assert best["baseline"] == best["predict"]  # paired by id: the baseline's answer to the same row
    assert worst["predict"] == ""  # the empty answer scores lowest
    md = (tmp_path / "r" / "gen_report.md").read_text(encoding="utf-8")
    assert f"{len(ROWS)} rows (this file: {len(ROWS)}), paired by id" in md
    assert "## Examples (best, median and worst rows by LLaMA-Factory's ROUGE-L)" in md and "baseline's answer" in md


def test_a_chinese_row_in_an_english_file_is_tokenized_by_jieba(tmp_path: Path) -> None:
    from recipekit.eval.corpus import corpus_metrics

    english = [(f"the report number {i} is ready", f"the report number {i} is ready now") for i in range(9)]
    chinese = ("今天天气很好，我们去公园散步。", "今天天气很好，我们去公园散步。")
    got = corpus_metrics([p for p, _ in [*english, chinese]], [lab for _, lab in [*english, chinese]])
    alone = corpus_metrics([chinese[0]], [chinese[1]])
    assert alone["rouge"]["rouge1"] == pytest.approx(100.0)  # identical Chinese row: full marks, not 0
    english_only = corpus_metrics([p for p, _ in english], [lab for _, lab in english])
    assert got["rouge"]["rouge1"] == pytest.approx((english_only["rouge"]["rouge1"] * 9 + 100.0) / 10)
    assert got["rouge_jieba_rows"] == 1 and got["rouge_tokenizer"].startswith("per row")


def test_rouge_rows_equal_rouge_scores_own_numbers_on_thousands_of_cases() -> None:
    """ROUGE-1/2/L/Lsum per row equal rouge-score's RougeScorer (same tokenizer) to 1e-9, on random English,
    Chinese and multi-sentence rows, empty sides included."""
    import random

    from rouge_score import rouge_scorer

    from recipekit.eval.corpus import ROUGE_TYPES, CachedTokenizer, JiebaTokenizer, is_chinese, rouge_rows

    rng = random.Random(5)
    english = ["the", "a", "model", "data", "train", "test", "answer", "question", "cat", "mat", "on", "sat"]
    chinese = list("我们加载数据微调评估模型生成质量今天天气")
    predicts, labels = [], []
    for i in range(3000):
        vocab, joiner = (english, " ") if i % 3 else (chinese, "")

        def text(words: int, vocab: list[str] = vocab, joiner: str = joiner) -> str:
            sentences = [joiner.join(rng.choice(vocab) for _ in range(rng.randint(0, words)))
                         for _ in range(rng.choice((1, 1, 1, 2, 3)))]
            return "\n".join(sentences)

        labels.append(text(rng.randint(0, 30)))
        predicts.append(text(rng.randint(0, 30)))
    got, jieba_rows = rouge_rows(predicts, labels)
    reference = {flag: rouge_scorer.RougeScorer(list(ROUGE_TYPES), tokenizer=CachedTokenizer(JiebaTokenizer()))
                 if flag else rouge_scorer.RougeScorer(list(ROUGE_TYPES)) for flag in (False, True)}
    multi = 0
    for index, (predict, label) in enumerate(zip(predicts, labels, strict=True)):
        expected = reference[is_chinese([label])].score(label, predict)
        multi += "\n" in label or "\n" in predict
        for name in ROUGE_TYPES:
            assert abs(got[name][index] - expected[name].fmeasure) <= 1e-9, (name, predict, label)
    assert multi > 500 and jieba_rows > 500
