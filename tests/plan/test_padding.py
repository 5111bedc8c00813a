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
                               "packing_saves": 0.0, "sampling": "random"}
    # one row a batch: the mean row is 4 / 3 tokens; a cutoff of 9 packs [8, 1] and [1, 1]: 2 x 10 = 20 for 18
    assert padding([1, 1, 2], batch=1, cutoff=9).as_dict()["typical_row"] == 1.3
    assert padding([1, 1, 1, 8], batch=2, cutoff=9).as_dict()["packing_saves"] == -0.1111


def test_length_grouped_batches_sort_each_optimizer_steps_rows() -> None:
    # 8 rows, 2 per batch, 4 accumulated: the sampler's mega-batch is min(8 // (8 x 4), 50) -> 1 step of 8 rows,
    # all of them, sorted longest first: [8, 8] [8, 8] [1, 1] [1, 1] pays only what the rows hold, in any shuffle
    lengths = [1, 8] * 4
    for seed in range(5):
        found = padding(lengths, batch=2, cutoff=100, seed=seed, sampling="group_by_length", accumulation=4)
        assert (found.used, found.paid, found.sampling) == (36, 36, "group_by_length")
    # one batch a step: mega-batches of one batch, sorted inside it only. torch.randperm(8) under seed 42 is
    # [6, 3, 0, 7, 2, 1, 4, 5]: lengths 1, 8 | 1, 8 | 1, 8 | 1, 8, every batch paying 2 x 8
    assert padding(lengths, batch=2, cutoff=100, seed=42, sampling="group_by_length").paid == 64


def test_the_mega_batches_and_the_longest_first_swap_by_hand() -> None:
    import torch

    lengths = list(range(1, 17))  # row i holds i + 1 tokens
    # 16 rows in batches of 2: mega-batches of min(16 // 8, 50) = 2 batches (4 rows) from torch.randperm(16)
    assert torch.randperm(16, generator=torch.Generator().manual_seed(0)).tolist() == [
        12, 10, 9, 6, 11, 8, 13, 5, 2, 14, 15, 0, 4, 3, 7, 1]
    # mega-batches' lengths [13, 11, 10, 7] [12, 9, 14, 6] [3, 15, 16, 1] [5, 4, 8, 2], each sorted longest first:
    # [13, 11, 10, 7] [14, 12, 9, 6] [16, 15, 3, 1] [8, 5, 4, 2]; the longest row (16) then swaps places with the
    # first mega-batch's first (13): batches [16, 11] [10, 7] [14, 12] [9, 6] [13, 15] [3, 1] [8, 5] [4, 2]
    found = padding(lengths, batch=2, cutoff=100, seed=0, sampling="group_by_length")
    assert (found.used, found.paid) == (136, 2 * (16 + 10 + 14 + 9 + 15 + 3 + 8 + 4))
    assert found.paid == 158


def test_sequential_batches_keep_the_datas_order() -> None:
    found = padding([8, 1, 1, 8, 2, 2], batch=2, cutoff=100, sampling="sequential")
    assert (found.paid, found.sampling) == (2 * 8 + 2 * 8 + 2 * 2, "sequential")


def test_the_plan_pads_in_the_order_of_the_recipes_sampler() -> None:
    """The demo recipe groups by length (``train_sampling_strategy: group_by_length``); here 2 rows a batch and 4
    accumulated, so its 8 rows are one mega-batch, sorted: [8, 8] [8, 8] [1, 1] [1, 1]."""
    from conftest import ROOT

    from recipekit.plan.padding import add_padding
    from recipekit.recipes.reading import load_recipe
    from recipekit.report.plan import padding_line

    demo = load_recipe(ROOT / "recipes/demo/agnews_tiny_sft.yaml").with_values(
        {"per_device_train_batch_size": 2, "gradient_accumulation_steps": 4})
    lengths = [1, 1, 8, 8, 1, 1, 8, 8]

    def padded(recipe: object) -> dict:
        result = {"shape": {"batch": 2, "seq": 8}, "time": {"hours": 1.0}}
        add_padding(result, lengths, recipe)
        return result["padding"]

    grouped = padded(demo)
    assert (grouped["sampling"], grouped["used"], grouped["paid"], grouped["typical_hours"]) == (
        "group_by_length", 36, 36, 36 / 8 / 8)
    assert padding_line(grouped, 8).startswith("**Padding** (--data, 8 rows in length-grouped batches of 2): the "
                                               "batches run 36 tokens for the 36 the rows hold (0% padding;")
    # a shuffle from the recipe's seed 42 (numpy's permutation [3, 4, 2, 7, 6, 1, 5, 0]): [8, 1] [8, 8] [8, 1] [1, 1]
    shuffled = padded(demo.with_values({"train_sampling_strategy": "random"}))
    assert (shuffled["sampling"], shuffled["paid"]) == ("random", 16 + 16 + 16 + 2)
    assert "8 rows in shuffled batches of 2" in padding_line(shuffled, 8)
    # LLaMA-Factory's disable_shuffling: the data's order, [1, 1] [8, 8] [1, 1] [8, 8]
    in_order = padded(demo.with_values({"disable_shuffling": True}))
    assert (in_order["sampling"], in_order["paid"]) == ("sequential", 36)


def test_the_default_shuffle_is_the_trainers_default_seed() -> None:
    """A recipe that sets no seed is shuffled by the Trainer's default one (transformers' TrainingArguments), and the
    plan without a seed pads exactly as that seed does (another seed pays another count on these rows)."""
    from dataclasses import fields

    from transformers import TrainingArguments

    trainer_seed = next(f.default for f in fields(TrainingArguments) if f.name == "seed")
    lengths = [1, 9, 2, 8, 3, 7, 4, 6, 5, 5, 1, 9]
    counts = {seed: padding(lengths, 2, 16, seed=seed).paid for seed in range(trainer_seed - 1, trainer_seed + 2)}
    assert padding(lengths, 2, 16).paid == counts[trainer_seed]
    assert len(set(counts.values())) == 3  # the seed matters on these rows: a seed one off fails the pin
