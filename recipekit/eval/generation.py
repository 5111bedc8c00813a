"""Per-row BLEU-4 and ROUGE-1/2/L exactly as LLaMA-Factory defines them, computed fast.

LLaMA-Factory (`scripts/eval_bleu_rouge.py`, `ComputeSimilarity`) scores a row with
- BLEU-4: nltk ``sentence_bleu([list(label)], list(predict), SmoothingFunction().method3)``, on characters;
- ROUGE-1/2/L: rouge-chinese ``Rouge().get_scores`` F-scores on jieba-segmented text joined by spaces, 0 when
  either side has no token after segmentation;
each ``round(x * 100, 4)``, then averaged over rows.

rouge-chinese's ROUGE-1/2 compare n-gram *sets* and its ROUGE-L is the longest common subsequence of the
two flattened word lists. Here the words come from rouge-chinese's own sentence cutting and splitting, the
sets from Python and the LCS from rapidfuzz (C++) instead of a pure-Python table; BLEU follows nltk's
``sentence_bleu`` step for step with faster n-gram counting. ``reference_row_scores`` is the straightforward
per-row loop over jieba + rouge-chinese + nltk, kept for tests and benchmarks.
"""

from __future__ import annotations

import itertools
import math
import multiprocessing
import os
from collections import Counter
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from functools import cache, lru_cache
from typing import Any

METRICS = ("bleu-4", "rouge-1", "rouge-2", "rouge-l")
_CHUNK = 64


@cache
def jieba_module() -> Any:
    """jieba, imported without the ``pkg_resources is deprecated`` warning its own import of setuptools gives
    (nothing a report's reader can act on)."""
    import warnings

    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="pkg_resources is deprecated", category=UserWarning)
        import jieba
    return jieba


def jieba_words(text: str) -> list[str]:
    """``list(jieba.cut(text))``, with each word-character block's segmentation cached.

    jieba splits text into blocks of word characters and segments each block on its own (HMM on, the
    default), so caching the per-block result changes nothing but the time: English words and repeated
    phrases are segmented once per process. Equality with ``jieba.cut`` is tested.
    """
    jieba = jieba_module()

    words: list[str] = []
    for block in jieba.re_han_default.split(text):
        if not block:
            continue
        if jieba.re_han_default.match(block):
            words.extend(_segment_block(block))
        else:
            for piece in jieba.re_skip_default.split(block):
                words.extend([piece] if jieba.re_skip_default.match(piece) else piece)
    return words


@lru_cache(maxsize=200_000)
def _segment_block(block: str) -> tuple[str, ...]:
    jieba = jieba_module()

    return tuple(jieba.dt._Tokenizer__cut_DAG(block))


def _plainjieba_words(text: str) -> list[str]:
    jieba = jieba_module()

    return list(jieba.cut(text))


@cache
def _rouge() -> Any:
    from rouge_chinese import Rouge

    return Rouge()


def _rouge_words(tokens: list[str]) -> list[str]:
    """rouge-chinese's word list for ``" ".join(tokens)``: its sentence cut, per-sentence normalising and split."""
    sentences = [" ".join(part.split()) for part in _rouge().cut_sent(" ".join(tokens)) if len(part) > 0]
    return list(itertools.chain(*[sentence.split(" ") for sentence in sentences]))


def _f_score(overlap: int, hyp_count: int, ref_count: int) -> float:
    """rouge-chinese's F of ROUGE-N (``f_r_p_rouge_n``), with the same float operations."""
    precision = 0.0 if hyp_count == 0 else overlap / hyp_count
    recall = 0.0 if ref_count == 0 else overlap / ref_count
    return 2.0 * ((precision * recall) / (precision + recall + 1e-8))


def _ngram_set(words: list[str], n: int) -> set[tuple[str, ...]]:
    return {tuple(words[i:i + n]) for i in range(len(words) - n + 1)}


def _rouge_l(hyp: list[str], ref: list[str]) -> float:
    """rouge-chinese's ``rouge_l_summary_level`` F: LCS of the whole word lists, same float operations."""
    from rapidfuzz.distance import LCSseq

    lcs = LCSseq.similarity(ref, hyp)
    r_lcs, p_lcs = lcs / len(ref), lcs / len(hyp)
    return 2.0 * ((p_lcs * r_lcs) / (p_lcs + r_lcs + 1e-8))


def _nltk_bleu4(predict: str, label: str) -> float:
    from nltk.translate.bleu_score import SmoothingFunction, sentence_bleu

    return sentence_bleu([list(label)], list(predict), smoothing_function=SmoothingFunction().method3)


def _char_ngrams(text: str, n: int) -> Counter[tuple[str, ...]]:
    return Counter(zip(*(text[i:] for i in range(n)), strict=False))


def _bleu4(predict: str, label: str) -> float:
    """nltk's ``sentence_bleu([list(label)], list(predict), SmoothingFunction().method3)``, step for step.

    Same clipped n-gram counts (1-4), brevity penalty, method3 smoothing (1 / (2**k * denominator) for the
    k-th zero count) and ``exp(fsum(0.25 * log p_n))``; n-grams are counted with C-level ``zip`` instead of
    nltk's generator. Equality with nltk is tested on fixed and random cases.
    """
    precisions = []
    for n in range(1, 5):
        hyp, ref = _char_ngrams(predict, n), _char_ngrams(label, n)
        precisions.append((sum((hyp & ref).values()), max(1, sum(hyp.values()))))
    if precisions[0][0] == 0:
        return 0
    hyp_len, ref_len = len(predict), len(label)
    penalty = 1 if hyp_len > ref_len else math.exp(1 - ref_len / hyp_len)
    smoothed, k = [], 1
    for numerator, denominator in precisions:
        if numerator == 0:
            smoothed.append(1 / (2**k * denominator))
            k += 1
        else:
            smoothed.append(numerator / denominator)
    return penalty * math.exp(math.fsum(0.25 * math.log(p) for p in smoothed if p > 0))


def _no_tokens(tokens: list[str]) -> bool:
    return not " ".join(tokens).split()


def row_scores(predict: str, label: str) -> dict[str, float]:
    """The four LLaMA-Factory scores of one row, x100 and rounded to 4 places as LLaMA-Factory rounds them."""
    hypothesis, reference = jieba_words(predict), jieba_words(label)
    rouge = {"rouge-1": 0.0, "rouge-2": 0.0, "rouge-l": 0.0}
    if not (_no_tokens(hypothesis) or _no_tokens(reference)):
        hyp, ref = _rouge_words(hypothesis), _rouge_words(reference)
        for n in (1, 2):
            hyp_set, ref_set = _ngram_set(hyp, n), _ngram_set(ref, n)
            rouge[f"rouge-{n}"] = _f_score(len(hyp_set & ref_set), len(hyp_set), len(ref_set))
        rouge["rouge-l"] = _rouge_l(hyp, ref)
    scores = {key: round(value * 100, 4) for key, value in rouge.items()}
    scores["bleu-4"] = round(_bleu4(predict, label) * 100, 4)
    return {key: scores[key] for key in METRICS}


def reference_row_scores(predict: str, label: str) -> dict[str, float]:
    """The same scores by the straightforward route: jieba + rouge-chinese ``Rouge`` + nltk, row by row."""
    hypothesis, reference = _plainjieba_words(predict), _plainjieba_words(label)
    if _no_tokens(hypothesis) or _no_tokens(reference):
        result = {"rouge-1": {"f": 0.0}, "rouge-2": {"f": 0.0}, "rouge-l": {"f": 0.0}}
    else:
        result = _rouge().get_scores(" ".join(hypothesis), " ".join(reference))[0]
    scores = {key: round(value["f"] * 100, 4) for key, value in result.items()}
    scores["bleu-4"] = round(_nltk_bleu4(predict, label) * 100, 4)
    return {key: scores[key] for key in METRICS}


def quiet_jieba() -> None:
    """Load jieba's dictionary once, without its start-up chatter."""
    import logging

    jieba = jieba_module()
    jieba.setLogLevel(logging.WARNING)
    jieba.initialize()


def _score_chunk(pairs: Sequence[tuple[str, str]]) -> list[dict[str, float]]:
    quiet_jieba()
    return [row_scores(predict, label) for predict, label in pairs]


def score_rows(pairs: Sequence[tuple[str, str]], workers: int | None = None,
               progress: bool = False) -> list[dict[str, float]]:
    """Scores of every (predict, label) pair, in order; ``workers`` > 1 spreads chunks over processes."""
    from tqdm import tqdm

    workers = workers or os.cpu_count() or 1
    chunks = [pairs[i:i + _CHUNK] for i in range(0, len(pairs), _CHUNK)]
    out: list[dict[str, float]] = []
    with tqdm(total=len(pairs), desc="scoring rows", unit="row", disable=not progress) as bar:
        if workers <= 1 or len(chunks) <= 1:
            for chunk in chunks:
                out.extend(_score_chunk(chunk))
                bar.update(len(chunk))
        else:
            _score_chunk(chunks[0][:1])  # load jieba's dictionary once; forked workers inherit it
            with ProcessPoolExecutor(max_workers=workers, mp_context=multiprocessing.get_context("fork")) as pool:
                for chunk, scored in zip(chunks, pool.map(_score_chunk, chunks), strict=True):
                    out.extend(scored)
                    bar.update(len(chunk))
    return out


def mean_scores(rows: list[dict[str, float]]) -> dict[str, float]:
    """Mean of each metric over rows, as LLaMA-Factory averages them (``np.mean`` of the rounded values)."""
    import numpy as np

    return {key: float(np.mean([row[key] for row in rows])) for key in METRICS}
