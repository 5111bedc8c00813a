"""The fitting search against the planner: the cutoff from measured lengths, a model too big to train in full on
a card, and a smaller card's smaller per-device batch with the same global batch."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from recipekit.plan.fit import Candidate, Search, choose_cutoff, search
from recipekit.plan.gpus import resolve_gpu
from recipekit.plan.planner import plan, read_run
from recipekit.recipes.reading import load_recipe
from recipekit.reproduce.new_recipes import NewRun, recipe_text, train_args

MODEL = "Qwen/Qwen2.5-0.5B-Instruct"
SEQ = 128


def test_the_cutoff_is_the_longest_row_unless_it_lies_far_beyond_the_99th_percentile() -> None:
    assert choose_cutoff([10] * 99 + [12])[:2] == (12, 0)
    # 100 rows of 10 tokens and one of 100: numpy's 99th percentile of the 101 is 10, the longest is 10x that
    cutoff, cut, why = choose_cutoff([10] * 100 + [100])
    assert (cutoff, cut) == (10, 1) and why.endswith("1 row(s) longer are cut to it")


@pytest.fixture(scope="module")
def base(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Any, Any, Path]]:
    """The planner's base run of a LoRA recipe on Qwen2.5-0.5B, its config and a folder for recipes, with one plan
    cache (a fresh folder) shared by the module's tests: each simulated step is simulated once."""
    folder = tmp_path_factory.mktemp("fit")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("LLM_RECIPES_CACHE", str(folder / "cache"))
        run = NewRun("mine", "classify", MODEL, "qwen", SEQ, "bf16", Candidate("lora", 0, False, True, 1, 1))
        path = folder / "base.yaml"
        path.write_text(recipe_text([], train_args(run)), encoding="utf-8")
        planned_run, config = read_run(load_recipe(path), 1, {}, SEQ)
        yield planned_run, config, folder


@pytest.fixture(autouse=True)
def own_cache(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch, session_cache: Path) -> None:
    """The module's one plan cache for the tests that plan, the session's for the rest (never the user's)."""
    planned = "base" in request.fixturenames
    monkeypatch.setenv("LLM_RECIPES_CACHE", str(request.getfixturevalue("base")[2] / "cache" if planned
                                                else session_cache))


def base_search(base: tuple[Any, Any, Path], memory_gib: float, global_batch: int) -> Search:
    run, config, _ = base
    return Search(run, config, resolve_gpu("a10", memory_gib), 1, 1000, global_batch)


def recipe_for(folder: Path, candidate: Candidate, name: str) -> Path:
    run = NewRun("mine", "classify", MODEL, "qwen", SEQ, "bf16", candidate)
    path = folder / f"{name}.yaml"
    path.write_text(recipe_text([], train_args(run)), encoding="utf-8")
    return path


@pytest.mark.integration
def test_a_model_whose_full_states_exceed_the_card_gets_lora_or_zero3_offload(base: tuple[Any, Any, Path]) -> None:
    found = base_search(base, 6.0, 1)  # one row per step: one shape per method and checkpointing
    # full fine-tuning without DeepSpeed holds fp32 weights, gradients and Adam: 16 bytes per parameter; Qwen2.5-0.5B
    # has 494,032,768 parameters (its model card), 7.36 GiB before any activation, above a 6 GiB card
    assert 494_032_768 * 16 / 2**30 > 6.0
    planned = search(found, ("full", "lora"))
    chosen = planned[0].candidate
    assert chosen.method == "lora" or (chosen.zero == 3 and chosen.offload)
    for p in planned:
        if p.candidate.method == "full" and p.candidate.zero == 0:
            assert not p.fits and p.why.startswith("does not fit")
    # the planner agrees: the chosen recipe fits that card, the same recipe in full without DeepSpeed does not
    gpu = found.gpu
    folder = base[2]
    simulated = sorted((folder / "cache" / "plan").iterdir())
    assert plan(load_recipe(recipe_for(folder, chosen, "chosen")), gpu, 1, {})["fits"]
    full = replace(chosen, method="full", zero=0, offload=False)
    assert not plan(load_recipe(recipe_for(folder, full, "full")), gpu, 1, {})["fits"]
    assert sorted((folder / "cache" / "plan").iterdir()) == simulated  # the planner reused the search's steps
    assert found.simulations and len(found.simulations) < len(planned) * len(found.batches())


@pytest.mark.integration
def test_a_smaller_card_gets_a_smaller_per_device_batch_with_the_same_global_batch(
        base: tuple[Any, Any, Path]) -> None:
    # global batch 4: per-device 4, 2 or 1; LoRA on Qwen2.5-0.5B at 128 tokens peaks near 4.6 GiB at batch 4 and
    # 3.3 GiB at batch 2, so a 4 GiB card (3.8 GiB with the margin) takes batch 2 and a 24 GiB card batch 4
    large, small = base_search(base, 24.0, 4), base_search(base, 4.0, 4)
    big = large.largest_fitting("lora", 0, False, False).candidate
    little = small.largest_fitting("lora", 0, False, False).candidate
    assert len(large.simulations) == 1  # the largest batch fits the large card: the one step simulated
    assert little.batch < big.batch and little.accumulation > big.accumulation
    assert little.batch * little.accumulation == big.batch * big.accumulation == 4
    # against the planner: the small card's batch fits it and twice that batch does not
    gpu = small.gpu
    folder = base[2]
    assert plan(load_recipe(recipe_for(folder, little, "little")), gpu, 1, {})["fits"]
    double = replace(little, batch=little.batch * 2, accumulation=little.accumulation // 2)
    result = plan(load_recipe(recipe_for(folder, double, "double")), gpu, 1, {})
    assert result["memory"]["peak_gib"] > 0.95 * gpu.memory_gib


@pytest.mark.integration
def test_hours_and_budget_reject_the_plans_above_them(base: tuple[Any, Any, Path]) -> None:
    from recipekit.errors import InputError

    found = base_search(base, 24.0, 4)
    assert found.gpu.price_per_hour  # the card has a price: a budget applies
    free = search(found, ("lora",))
    fastest, slower = free[0], free[1]
    assert fastest.hours < slower.hours and fastest.cost < slower.cost
    # a limit between the two: the fastest is still chosen, the slower one is over the limit
    hours = search(found, ("lora",), hours=(fastest.hours + slower.hours) / 2)
    assert hours[0].candidate == fastest.candidate
    assert next(p for p in hours if p.candidate == slower.candidate).why.startswith("over --hours ")
    budget = search(found, ("lora",), budget=(fastest.cost + slower.cost) / 2)
    assert next(p for p in budget if p.candidate == slower.candidate).why.startswith("over --budget $")
    # below the fastest: one line naming the quickest plan that fits
    with pytest.raises(InputError, match=r"^no plan on 1 x .* meets the limit: the quickest that fits \(lora, "
                                         r".*\) takes .* h, \$.*; raise --hours/--budget or add GPUs$"):
        search(found, ("lora",), hours=fastest.hours / 2)
    with pytest.raises(InputError, match=r"meets the limit"):
        search(found, ("lora",), budget=fastest.cost / 2)
