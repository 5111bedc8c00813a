"""Corpus-level generation metrics (sacrebleu BLEU/chrF, rouge-score ROUGE) and length statistics."""

from __future__ import annotations

import re
from typing import Any

import numpy as np

_CJK = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]")
CHINESE_SHARE = 0.1
ROUGE_TYPES = ("rouge1", "rouge2", "rougeL", "rougeLsum")
ROUGE_RULE = ("per row: jieba words when CJK characters are at least 10% of the row's label, else rouge-score's "
              "default tokenizer")


def is_chinese(texts: list[str]) -> bool:
    """True when CJK characters make up at least 10% of the non-space characters."""
    chars = sum(len("".join(text.split())) for text in texts)
    cjk = sum(len(_CJK.findall(text)) for text in texts)
    return chars > 0 and cjk / chars >= CHINESE_SHARE


class JiebaTokenizer:
    """A rouge-score tokenizer that segments with jieba (rouge-score's default drops non-ASCII text); the
    words are ``jieba.cut``'s, with each block's segmentation cached (``generation.jieba_words``)."""

    def tokenize(self, text: str) -> list[str]:
        from recipekit.eval.generation import jieba_words

        return [token for token in jieba_words(text.lower()) if token.strip()]


class CachedTokenizer:
    """A rouge-score tokenizer that remembers the last texts it split (ROUGE-N and ROUGE-L share them)."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.cache: dict[str, list[str]] = {}

    def tokenize(self, text: str) -> list[str]:
        if text not in self.cache:
            if len(self.cache) > 4:
                self.cache.clear()
            self.cache[text] = self.inner.tokenize(text)
        return self.cache[text]


def rouge_l(target_tokens: list[str], prediction_tokens: list[str]) -> float:
    """rouge-score's ROUGE-L F-measure (same formula and float operations) with the LCS length from rapidfuzz."""
    from rapidfuzz.distance import LCSseq
    from rouge_score import scoring

    if not target_tokens or not prediction_tokens:
        return 0.0
    lcs = LCSseq.similarity(target_tokens, prediction_tokens)
    return scoring.fmeasure(lcs / len(prediction_tokens), lcs / len(target_tokens))


def rouge_rows(predicts: list[str], labels: list[str]) -> tuple[dict[str, list[float]], int]:
    """rouge-score's ROUGE-1/2/L/Lsum F-measures of every row (tokenizer chosen per row by script) and the
    number of rows read by jieba. ROUGE-L's LCS length comes from rapidfuzz (the same number, in C); a row
    without line breaks is one sentence, where ROUGE-Lsum equals ROUGE-L, and the others go to rouge-score."""
    from rouge_score import rouge_scorer
    from rouge_score.tokenizers import DefaultTokenizer

    tokenizers = {False: CachedTokenizer(DefaultTokenizer()), True: CachedTokenizer(JiebaTokenizer())}
    ngrams = {key: rouge_scorer.RougeScorer(["rouge1", "rouge2"], tokenizer=tok) for key, tok in tokenizers.items()}
    summaries = {key: rouge_scorer.RougeScorer(["rougeLsum"], tokenizer=tok) for key, tok in tokenizers.items()}
    f1: dict[str, list[float]] = {name: [] for name in ROUGE_TYPES}
    chinese_rows = 0
    for predict, label in zip(predicts, labels, strict=True):
        row_chinese = is_chinese([label])  # per row: one Chinese answer in an English file is still read by jieba
        chinese_rows += row_chinese
        scores = ngrams[row_chinese].score(label, predict)  # rouge-score takes (target, prediction)
        tokenize = tokenizers[row_chinese].tokenize
        longest = rouge_l(tokenize(label), tokenize(predict))
        summary = (summaries[row_chinese].score(label, predict)["rougeLsum"].fmeasure
                   if "\n" in label or "\n" in predict else longest)
        for name, value in (("rouge1", scores["rouge1"].fmeasure), ("rouge2", scores["rouge2"].fmeasure),
                            ("rougeL", longest), ("rougeLsum", summary)):
            f1[name].append(value)
    return f1, chinese_rows


def corpus_metrics(predicts: list[str], labels: list[str], tokenize: str = "auto") -> dict[str, Any]:
    """sacrebleu corpus BLEU and chrF with their signatures; rouge-score ROUGE-1/2/L/Lsum mean F1 (x100).

    ``tokenize`` is sacrebleu's tokenizer name, or ``auto``: ``zh`` when the labels are Chinese, else ``13a``.
    ROUGE picks its tokenizer per row by the row's script (jieba for a Chinese label, rouge-score's own
    otherwise), so a Chinese row in a mostly English file is not scored 0.
    """
    from sacrebleu.metrics import BLEU, CHRF

    chinese = is_chinese(labels)
    bleu_tokenize = ("zh" if chinese else "13a") if tokenize == "auto" else tokenize
    bleu, chrf = BLEU(tokenize=bleu_tokenize), CHRF()
    bleu_score = bleu.corpus_score(predicts, [labels])
    chrf_score = chrf.corpus_score(predicts, [labels])

    f1, chinese_rows = rouge_rows(predicts, labels)
    return {
        "bleu": {"score": float(bleu_score.score), "signature": str(bleu.get_signature())},
        "chrf": {"score": float(chrf_score.score), "signature": str(chrf.get_signature())},
        "rouge": {name: float(np.mean(values) * 100) for name, values in f1.items()},
        "rouge_tokenizer": ROUGE_RULE if chinese_rows else "rouge-score default (no Chinese row)",
        "rouge_jieba_rows": chinese_rows,
    }


def text_length(text: str) -> int:
    """Length in characters, whitespace excluded (comparable across English and Chinese)."""
    return len("".join(text.split()))


def _stats(values: list[int]) -> dict[str, float]:
    array = np.asarray(values, dtype=float)
    return {"mean": float(array.mean()), "p50": float(np.percentile(array, 50)), "p95": float(np.percentile(array, 95))}


def length_metrics(predicts: list[str], labels: list[str]) -> dict[str, Any]:
    """Prediction and label lengths (mean, p50, p95), the ratio of means, and the share of empty predictions."""
    predict_lengths = [text_length(text) for text in predicts]
    label_lengths = [text_length(text) for text in labels]
    label_mean = float(np.mean(label_lengths))
    return {
        "unit": "non-space characters",
        "predict": _stats(predict_lengths),
        "label": _stats(label_lengths),
        "ratio": float(np.mean(predict_lengths)) / label_mean if label_mean else None,
        "empty_predict_share": sum(length == 0 for length in predict_lengths) / len(predict_lengths),
    }
