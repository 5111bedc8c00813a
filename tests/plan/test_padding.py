"""The tokens padded batches run against the tokens the rows hold, and LLaMA-Factory's packing, counted by hand."""

from __future__ import annotations

import pytest

from recipekit.plan.padding import padding


def test_one_row_per_batch_pays_nothing_and_one_batch_pays_its_longest_row_for_all() -> None:
    lengths = [5, 9, 2, 7, 3]
    single = padding(lengths, batch=1, cutoff=100)
    assert (single.used, single.paid, single.padded_share) == (26, 26, 0.0)
    whole = padding(lengths, batch=5, cutoff=100)
    assert (whole.used, whole.paid) == (26, 5 * 9)
    assert whole.typical_row == 9.0 and whole.padded_share == pytest.approx(1 - 26 / 45)


def test_the_long_row_pays_for_its_batch_mate_whatever_the_order() -> None:
    # [1, 1, 1, 8] in batches of 2: the batch holding the 8 runs 2 x 8, the other 2 x 1, in any shuffle
    for seed in range(5):
        assert padding([1, 1, 1, 8], batch=2, cutoff=100, seed=seed).paid == 18


def test_rows_are_cut_at_cutoff_len_and_a_last_short_batch_pays_only_its_rows() -> None:
    found = padding([10, 3], batch=2, cutoff=5)
    assert (found.used, found.paid) == (8, 10)
    assert padding([4, 4, 4], batch=2, cutoff=10).paid == 12  # 2 x 4, then 1 x 4


def test_packing_fills_blocks_of_cutoff_len_as_llamafactory_does() -> None:
    # capacity 7: [3, 3] then [3, 3] (a third 3 never fits beside two); each block runs cutoff + 1 tokens
    found = padding([3, 3, 3, 3], batch=4, cutoff=7)
    assert (found.packed_blocks, found.packed_paid) == (2, 16)
    assert found.packing_saves == pytest.approx(1 - 16 / 12)  # the batch ran 12 tokens: packing runs more here
    # the largest that fits first: [5, 2] and [4, 3]
    assert padding([2, 5, 4, 3], batch=1, cutoff=7).packed_blocks == 2
    # short rows under a long cutoff: each 500-token row takes one 10-token row beside it and the other thirty
    # fill one more block, where batches of 8 pay up to 500 for each of their rows
    long_cutoff = padding([10] * 35 + [500] * 5, batch=8, cutoff=512, seed=0)
    assert long_cutoff.used == 35 * 10 + 5 * 500
    assert long_cutoff.paid <= 5 * 8 * 500 and long_cutoff.packed_blocks == 6


def test_no_rows_pay_nothing() -> None:
    empty = padding([], batch=4, cutoff=512)
    assert (empty.used, empty.paid, empty.packed_blocks, empty.padded_share, empty.typical_row) == (0, 0, 0, 0.0, 0.0)


def test_the_same_rows_plan_the_same_tokens_every_time_and_the_record_keeps_its_settings() -> None:
    lengths = [3 * i % 97 + 1 for i in range(60)]  # 60 different-enough lengths: the order changes what batches pay
    first, again = padding(lengths, batch=4, cutoff=64), padding(lengths, batch=4, cutoff=64)
    assert first == again and (first.rows, first.batch, first.cutoff) == (60, 4, 64)
    assert {padding(lengths, batch=4, cutoff=64, seed=seed).paid for seed in range(6)} != {first.paid}


def test_the_json_record_rounds_the_shares_it_derives() -> None:
    # 11 tokens held, 2 x 1 + 2 x 8 = 18 run; packed as [8] and [1, 1, 1]: 2 blocks of 9, no saving
    found = padding([1, 1, 1, 8], batch=2, cutoff=8)
    assert found.as_dict() == {"rows": 4, "batch": 2, "cutoff": 8, "used": 11, "paid": 18, "packed_blocks": 2,
                               "packed_paid": 18, "padded_share": round(1 - 11 / 18, 4), "typical_row": 4.5,
                               "packing_saves": 0.0}
    # one row a batch: the mean row is 4 / 3 tokens; a cutoff of 9 packs [8, 1] and [1, 1]: 2 x 10 = 20 for 18
    assert padding([1, 1, 2], batch=1, cutoff=9).as_dict()["typical_row"] == 1.3
    assert padding([1, 1, 1, 8], batch=2, cutoff=9).as_dict()["packing_saves"] == -0.1111
