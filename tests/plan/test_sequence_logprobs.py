"""The summed token log-probabilities DPO compares, by hand: a model whose logits for the next token depend only on
the current one (a table), so each row's sum is the log-softmax of each token's table row at the token after it."""

from __future__ import annotations

import math
from itertools import pairwise
from types import SimpleNamespace

import pytest
import torch

from recipekit.plan.simulate import sequence_logprobs

# next-token logits after each of 5 tokens (rows), in halves so that bf16 holds them exactly
TABLE = [[0.0, 1.0, 2.0, -1.0, 0.5],
         [1.5, 0.0, -0.5, 2.0, 1.0],
         [-2.0, 0.5, 0.0, 1.0, 3.0],
         [0.5, 0.5, 1.0, 0.0, -1.0],
         [2.5, -1.5, 0.0, 0.5, 1.0]]


class TableModel(torch.nn.Module):
    """A causal LM in miniature: its output's ``logits`` (bf16, as a half-precision model gives them) are the
    table's row of each input token."""

    def __init__(self) -> None:
        super().__init__()
        self.table = torch.nn.Embedding(5, 5, _weight=torch.tensor(TABLE, dtype=torch.bfloat16))

    def forward(self, input_ids: torch.Tensor) -> SimpleNamespace:
        return SimpleNamespace(logits=self.table(input_ids))


def by_hand(row: list[int]) -> float:
    total = 0.0
    for current, following in pairwise(row):
        logits = TABLE[current]
        total += logits[following] - math.log(sum(math.exp(v) for v in logits))
    return total


def test_each_rows_summed_log_probabilities_and_the_float_logits() -> None:
    rows = [[0, 2, 4, 3], [3, 1, 1, 0]]
    summed, logits = sequence_logprobs(TableModel(), torch.tensor(rows))
    assert summed.shape == (2,) and summed.dtype == torch.float32
    assert summed.tolist() == pytest.approx([by_hand(rows[0]), by_hand(rows[1])], rel=1e-6)
    assert logits.dtype == torch.float32
    assert logits.tolist() == [[TABLE[token] for token in row] for row in rows]  # every position, the last too


def test_one_row_keeps_its_batch_dimension() -> None:
    summed, logits = sequence_logprobs(TableModel(), torch.tensor([[4, 0]]))
    assert summed.shape == (1,) and logits.shape == (1, 2, 5)
    assert summed.tolist() == pytest.approx([2.5 - math.log(sum(math.exp(v) for v in TABLE[4]))], rel=1e-6)
