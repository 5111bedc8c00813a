"""LLaMA-Factory's BLEU-4/ROUGE definition: the fast scorer equals nltk + rouge-chinese called directly."""

from __future__ import annotations

import random

import jieba
import pytest
from nltk.translate.bleu_score import SmoothingFunction, sentence_bleu
from rouge_chinese import Rouge

from recipekit.eval.generation import mean_scores, reference_row_scores, row_scores, score_rows


def direct(predict: str, label: str) -> dict[str, float]:
    """The definition, written out here with the libraries themselves."""
    hypothesis, reference = list(jieba.cut(predict)), list(jieba.cut(label))
    if len(" ".join(hypothesis).split()) == 0 or len(" ".join(reference).split()) == 0:
        rouge = {"rouge-1": 0.0, "rouge-2": 0.0, "rouge-l": 0.0}
    else:
        scores = Rouge().get_scores(" ".join(hypothesis), " ".join(reference))[0]
        rouge = {key: value["f"] for key, value in scores.items()}
    bleu = sentence_bleu([list(label)], list(predict), smoothing_function=SmoothingFunction().method3)
    return {"bleu-4": round(bleu * 100, 4), **{key: round(value * 100, 4) for key, value in rouge.items()}}


def long_text(seed: int, words: int) -> str:
    rng = random.Random(seed)
    vocab = ["the", "model", "learns", "数据", "训练", "模型", "quickly", "。", "?", "results", "很好", "!", "and"]
    return " ".join(rng.choice(vocab) for _ in range(words))


CASES = {
    "english": ("The cat sat on the mat.", "A cat was sitting on the mat."),
    "chinese": ("今天天气很好，我们去公园散步。", "今天的天气非常好，我们一起去公园。"),
    "chinese sentences": ("我喜欢机器学习。你呢？我也喜欢！", "我非常喜欢机器学习。你喜欢吗？"),
    "mixed": ("LoRA 微调让 Qwen3 模型更快收敛.", "使用 LoRA 微调, Qwen3 模型收敛更快."),
    "empty prediction": ("", "A reference answer."),
    "empty label": ("A prediction.", ""),
    "whitespace only": ("   \n\t ", "Some reference."),
    "identical": ("Exactly the same answer, twice.", "Exactly the same answer, twice."),
    "emoji": ("Great job 🎉🎉 keep going 🚀", "Great work 🎉 keep it up 🚀"),
    "question marks inside tokens": ("what?no way?ok.", "what? no way? ok."),
    "newlines": ("line one\nline two\n\nline three", "line one\nline 2\nline three"),
    "leading newline": ("\n今天天气很好", "今天天气很好"),  # rouge-chinese cuts no empty sentence off the start
    "very long": (long_text(1, 500), long_text(2, 450)),
    # one or two words on a side: no bigram, or a single one, on that side (ROUGE-2's empty and one-bigram sets)
    "one-word prediction": ("Yes", "Yes it is"),
    "one-word label": ("Yes it is", "Yes"),
    "two-word prediction": ("the cat", "the cat sat on it"),
    "two-word label": ("the cat sat on it", "the cat"),  # rouge-chinese's LCS is quadratic in Python
}


@pytest.mark.parametrize("case", CASES)
def test_fast_scores_equal_the_definition(case: str) -> None:
    predict, label = CASES[case]
    expected = direct(predict, label)
    assert row_scores(predict, label) == expected
    assert reference_row_scores(predict, label) == expected


def test_empty_and_identical_rows_score_as_defined() -> None:
    assert row_scores("", "abc")["rouge-1"] == 0.0 and row_scores("", "abc")["bleu-4"] == 0.0
    same = row_scores("完全相同的句子。", "完全相同的句子。")
    assert same["rouge-1"] == same["rouge-2"] == same["rouge-l"] == pytest.approx(100.0, abs=1e-4)
    assert same["bleu-4"] == pytest.approx(100.0, abs=1e-4)


def test_pool_gives_the_same_rows_in_order() -> None:
    pairs = [(long_text(i, 30 + i), long_text(i + 100, 40)) for i in range(150)] + [("", "x")]
    serial = score_rows(pairs, workers=1)
    assert score_rows(pairs, workers=2) == serial
    assert serial == [direct(p, lab) for p, lab in pairs]
    assert mean_scores(serial)["bleu-4"] == pytest.approx(sum(r["bleu-4"] for r in serial) / len(serial))


def test_bleu_matches_nltk_on_random_strings() -> None:
    """Short, empty, repetitive and long strings: the faster BLEU equals nltk's sentence_bleu to the last bit."""
    from recipekit.eval.generation import _bleu4, _nltk_bleu4

    rng = random.Random(7)
    alphabet = "ab c数据。"
    for _ in range(400):
        predict = "".join(rng.choice(alphabet) for _ in range(rng.choice([0, 1, 2, 3, 4, 5, 8, 30, 200])))
        label = "".join(rng.choice(alphabet) for _ in range(rng.choice([0, 1, 3, 4, 6, 30, 150])))
        assert _bleu4(predict, label) == _nltk_bleu4(predict, label), (predict, label)


def test_cached_segmentation_equals_jieba_cut() -> None:
    from recipekit.eval.generation import jieba_words

    rng = random.Random(11)
    pieces = ["数据", "训练", "模型", "the", "model", "x-ray", "3.14", "C++", "#tag", " ", "\n", "\r\n", "。", "，",
              "?", "!", "🎉", "e-mail", "GPT4", "自然语言处理", "\t", "A&B", "50%"]
    texts = ["".join(rng.choice(pieces) for _ in range(rng.randint(0, 40))) for _ in range(300)]
    for text in [*texts, *texts[:50]]:  # the second pass hits the cache
        assert jieba_words(text) == list(jieba.cut(text)), text


def test_progress_is_a_bar_of_rows_only_when_asked(capsys: pytest.CaptureFixture[str]) -> None:
    pairs = [(long_text(i, 20), long_text(i + 50, 20)) for i in range(70)]  # two chunks of 64 and 6
    score_rows(pairs, workers=1)
    assert capsys.readouterr().err == ""  # silent by default
    for workers in (1, 2):
        score_rows(pairs, workers=workers, progress=True)
        shown = capsys.readouterr().err.replace("\r", "\n")
        assert "scoring rows: 100%" in shown and "70/70" in shown and "row/s" in shown, shown
