"""Corpus-level generation metrics row by row: the script rule, the per-row tokenizer, multi-line ROUGE-Lsum and
length statistics, each against rouge-score / sacrebleu called directly or counted by hand."""

from __future__ import annotations

import numpy as np
import pytest

from recipekit.eval.corpus import (
    CachedTokenizer,
    corpus_metrics,
    is_chinese,
    length_metrics,
    rouge_l,
    rouge_rows,
    text_length,
)


def test_chinese_means_at_least_a_tenth_of_the_non_space_characters() -> None:
    assert is_chinese(["中" + "a" * 9])  # 1 of 10: exactly the share
    assert not is_chinese(["中" + "a" * 10])  # 1 of 11
    assert is_chinese(["中 " + "a " * 9])  # spaces do not count
    assert is_chinese(["aaaaa", "中aaaa"])  # 1 of 10 over both texts
    assert not is_chinese(["", "   "]) and not is_chinese([])
    assert is_chinese(["是"]) and not is_chinese(["a"])  # a one-character answer


def test_the_cache_keeps_at_most_five_texts_and_always_answers_the_inner_tokenizer() -> None:
    calls: list[str] = []

    class Inner:
        def tokenize(self, text: str) -> list[str]:
            calls.append(text)
            return text.split()

    cached = CachedTokenizer(Inner())
    for text in ["a b", "c", "a b", "d", "e", "f", "g"]:
        assert cached.tokenize(text) == text.split()
    assert calls == ["a b", "c", "d", "e", "f", "g"]  # the repeat came from the cache
    assert list(cached.cache) == ["g"]  # the sixth text found five and cleared them
    assert cached.tokenize("a b") == ["a", "b"] and calls[-1] == "a b"


def test_rouge_l_equals_rouge_scores_own() -> None:
    from rouge_score import rouge_scorer

    scorer = rouge_scorer.RougeScorer(["rougeL"])
    for target, prediction in [("a b c d", "a c d e f"), ("x y", "x y"), ("one two three", "four")]:
        want = scorer.score(target, prediction)["rougeL"].fmeasure
        assert rouge_l(target.split(), prediction.split()) == pytest.approx(want, abs=1e-15)
    assert rouge_l([], ["a"]) == 0.0 and rouge_l(["a"], []) == 0.0


def test_each_row_is_scored_with_its_own_scripts_tokenizer_and_multi_line_rows_by_rouge_lsum() -> None:
    import jieba
    from rouge_score import rouge_scorer

    class Jieba:
        def tokenize(self, text: str) -> list[str]:
            return [t for t in jieba.cut(text.lower()) if t.strip()]

    rows = [("c d\na b", "a b\nc d"), ("我喜欢机器学习。", "我非常喜欢机器学习。"),
            ("one line only", "one line only here")]
    f1, chinese = rouge_rows([p for p, _ in rows], [lab for _, lab in rows])
    assert chinese == 1
    english = rouge_scorer.RougeScorer(["rouge1", "rouge2", "rougeL", "rougeLsum"])
    zh = rouge_scorer.RougeScorer(["rouge1", "rouge2", "rougeL", "rougeLsum"], tokenizer=Jieba())
    for index, (predict, label) in enumerate(rows):
        want = (zh if index == 1 else english).score(label, predict)
        for name in ("rouge1", "rouge2", "rougeL", "rougeLsum"):
            assert f1[name][index] == pytest.approx(want[name].fmeasure, abs=1e-12), (index, name)
    assert (f1["rougeL"][0], f1["rougeLsum"][0]) == (0.5, 1.0)  # two lines swapped: each line is found whole


def test_corpus_metrics_name_the_tokenizers_they_used() -> None:
    from sacrebleu.metrics import BLEU

    english = corpus_metrics(["a cat sat"], ["the cat sat"])
    assert english["rouge_tokenizer"] == "rouge-score default (no Chinese row)" and english["rouge_jieba_rows"] == 0
    assert "tok:13a" in english["bleu"]["signature"]
    from sacrebleu.metrics import CHRF

    chrf = CHRF()
    assert english["chrf"]["score"] == pytest.approx(chrf.corpus_score(["a cat sat"], [["the cat sat"]]).score)
    assert english["chrf"]["signature"] == str(chrf.get_signature())
    forced = corpus_metrics(["a cat sat"], ["the cat sat"], tokenize="char")
    assert "tok:char" in forced["bleu"]["signature"]
    assert forced["bleu"]["score"] == pytest.approx(BLEU(tokenize="char").corpus_score(["a cat sat"],
                                                                                       [["the cat sat"]]).score)
    mixed = corpus_metrics(["a cat sat", "我喜欢"], ["the cat sat", "我非常喜欢"])
    assert mixed["rouge_jieba_rows"] == 1 and mixed["rouge_tokenizer"].startswith("per row: jieba")
    assert "tok:zh" in mixed["bleu"]["signature"]  # 5 CJK of 14 characters: the labels are Chinese
    assert mixed["rouge"]["rouge1"] == pytest.approx(np.mean([2 / 3, 2 * (2 / 2 * 2 / 3) / (1 + 2 / 3)]) * 100)


def test_lengths_in_non_space_characters_by_hand() -> None:
    assert text_length(" a b\nc\t") == 3 and text_length("我 们") == 2
    lengths = length_metrics(["ab", "", "abcdef", "abc"], ["abcd", "ab", "abc", "a"])
    assert lengths["unit"] == "non-space characters"
    assert lengths["predict"] == {"mean": 2.75, "p50": 2.5, "p95": pytest.approx(5.55)}  # 0 2 3 6: 3 + 0.85 x 3
    assert lengths["label"] == {"mean": 2.5, "p50": 2.5, "p95": pytest.approx(3.85)}  # 1 2 3 4: 3 + 0.85 x 1
    assert lengths["ratio"] == pytest.approx(2.75 / 2.5) and lengths["empty_predict_share"] == 0.25
    assert length_metrics(["x"], [""])["ratio"] is None


def test_the_corpus_tokenizer_is_jieba_on_lowercased_text() -> None:
    """jieba splits "t恤" (t / 恤) and "T恤" (one word) differently: the words are jieba's cut of the lowercased
    text, as LLaMA-Factory's ROUGE tokenizer folds case."""
    import jieba

    from recipekit.eval.corpus import JiebaTokenizer

    text = "这件T恤很好看, 那条T裤不好"
    assert JiebaTokenizer().tokenize(text) == [w for w in jieba.cut(text.lower()) if w.strip()]
