"""The padding plan at its edges: the sampler's order for one batch a step, as the Trainer's own
``LengthGroupedSampler`` gives it, and a classifier recipe (whose parser has no ``disable_shuffling``) padded in the
order of its ``train_sampling_strategy``."""

from __future__ import annotations

from conftest import ROOT

from recipekit.plan.padding import add_padding, batch_order

LENGTHS = [3, 9, 1, 7, 2, 8, 5]  # fewer than 4 batches of 2: the sampler's mega-batch is its batch


def test_group_by_length_order_defaults_to_one_batch_a_step() -> None:
    """Without ``accumulation`` the mega-batches are one batch of rows: the order the Trainer's
    ``LengthGroupedSampler`` (built as the Trainer builds it, train batch x accumulation rows) takes for 1 step of 2
    rows; for 2 accumulated steps it is the sampler of 4 rows, another order on these rows."""
    import torch
    from transformers.trainer_pt_utils import LengthGroupedSampler

    def sampler(rows: int, seed: int) -> list[int]:
        return list(LengthGroupedSampler(rows, lengths=LENGTHS, generator=torch.Generator().manual_seed(seed)))

    for seed in (0, 42):
        one_step = batch_order(LENGTHS, 2, "group_by_length", seed)
        assert one_step == sampler(2, seed)
        assert batch_order(LENGTHS, 2, "group_by_length", seed, 2) == sampler(4, seed) != one_step


def padded_classifier(values: dict) -> dict:
    from recipekit.recipes.reading import load_recipe

    recipe = load_recipe(ROOT / "recipes/classifier/yelp5_bert_lora.yaml").with_values(values)
    assert recipe.is_classifier
    result = {"shape": {"batch": 2, "seq": 8}, "time": {"hours": 1.0}}
    add_padding(result, [1, 8, 1, 8, 1, 8, 1, 8], recipe)
    return result["padding"]


def test_a_classifier_recipe_is_padded_in_its_samplers_order() -> None:
    """The classifier's parser has no ``disable_shuffling``: its rows are never taken as ``sequential`` for it. Grouped
    by length, 2 rows a batch and 4 accumulated, the 8 rows are one mega-batch sorted longest first: [8, 8] [8, 8]
    [1, 1] [1, 1], 36 tokens for the 36 the rows hold (the data's own order would pay 4 x [1, 8] = 64)."""
    grouped = padded_classifier({"train_sampling_strategy": "group_by_length", "gradient_accumulation_steps": 4})
    assert (grouped["sampling"], grouped["used"], grouped["paid"], grouped["typical_hours"]) == (
        "group_by_length", 36, 36, 36 / 8 / 8)
    assert padded_classifier({})["sampling"] == "random"  # transformers' default train_sampling_strategy
