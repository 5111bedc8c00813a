"""The fitting search against the planner: the cutoff from measured lengths, a model too big to train in full on
a card, and a smaller card's smaller per-device batch with the same global batch."""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from conftest import ROOT

from recipekit.errors import InputError
from recipekit.plan.fit import ZERO2, ZERO3, ZERO3_OFFLOAD, Candidate, Planned, Search, choose_cutoff, search
from recipekit.plan.gpus import Gpu, resolve_gpu
from recipekit.plan.memory import GIB, Setup
from recipekit.plan.planner import TIGHT, Run, plan, read_run
from recipekit.plan.simulate import Shape
from recipekit.plan.step import Simulation
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


# --- the search on a tiny configuration: the planner's memory, time and step count (real) on simulated steps
# written here by hand, one per shape; every expected number below is worked out from the bytes per parameter
# (recipekit.plan.memory's docstring, DeepSpeed's estimators) and the card's peak, not read from the search.

def test_the_cutoff_at_its_edges() -> None:
    with pytest.raises(InputError, match=r"^no rows to measure$"):
        choose_cutoff([])
    # 101 rows: numpy's 99th percentile is the 100th smallest (10); the longest at exactly 1.5x is kept whole
    assert choose_cutoff([10] * 100 + [15]) == (15, 0, "the longest row: 15 tokens (101 rows measured)")
    assert choose_cutoff([10] * 100 + [16]) == (10, 1, "the 99th percentile of 101 rows: 10 tokens (the longest is "
                                                       "16); 1 row(s) longer are cut to it")
    # 100 rows: the percentile lies between the 99th and 100th smallest, 10 + 0.01 * 30 = 10.3, rounded up to 11
    assert choose_cutoff([10] * 99 + [40])[:2] == (11, 1)
    # a row exactly at the percentile is not cut, only the longer ones
    assert choose_cutoff([10] * 99 + [12, 100])[:2] == (12, 1)
    assert choose_cutoff([7]) == (7, 0, "the longest row: 7 tokens (1 rows measured)")


def test_a_candidate_names_its_deepspeed_config_and_recipe_values() -> None:
    full = Candidate("full", 0, False, True, 4, 2)
    assert full.deepspeed is None
    assert full.recipe_values() == {"finetuning_type": "full", "per_device_train_batch_size": 4,
                                    "gradient_accumulation_steps": 2}
    assert full.describe() == "full, no DeepSpeed, checkpointing, batch 4 x 2 accumulation"
    zero2 = Candidate("lora", 2, True, False, 1, 8)  # offload under ZeRO-2: the search never asks it, no file
    assert zero2.deepspeed == "recipes/deepspeed/ds_z2_config.json"
    assert zero2.describe() == "lora, ZeRO-2, no checkpointing, batch 1 x 8 accumulation"
    assert zero2.recipe_values() == {"finetuning_type": "lora", "per_device_train_batch_size": 1,
                                     "gradient_accumulation_steps": 8,
                                     "deepspeed": "recipes/deepspeed/ds_z2_config.json",
                                     "disable_gradient_checkpointing": True}
    assert Candidate("full", 3, False, True, 2, 2).deepspeed == "recipes/deepspeed/ds_z3_config.json"
    assert Candidate("full", 3, False, True, 2, 2).describe().startswith("full, ZeRO-3, checkpointing")
    offload = Candidate("lora", 3, True, True, 2, 2)
    assert offload.deepspeed == "recipes/deepspeed/ds_z3_offload_config.json"
    assert offload.describe() == "lora, ZeRO-3 + CPU offload, checkpointing, batch 2 x 2 accumulation"
    qlora = Candidate("qlora", 0, False, True, 2, 1)
    assert qlora.recipe_values() == {"finetuning_type": "lora", "per_device_train_batch_size": 2,
                                     "gradient_accumulation_steps": 1, "quantization_bit": 4}
    for path in (ZERO2, ZERO3, ZERO3_OFFLOAD):  # the configs it names ship with the repository
        assert (ROOT / path).is_file(), path


def test_a_plan_as_a_dict_carries_the_candidates_recipe_values() -> None:
    planned = Planned(Candidate("qlora", 2, False, False, 2, 4), 3.5, 0.0, 1.25, 40, 0.5, 1.5, True, "slower")
    assert planned.as_dict() == {
        "choice": "qlora, ZeRO-2, no checkpointing, batch 2 x 4 accumulation", "finetuning_type": "lora",
        "per_device_train_batch_size": 2, "gradient_accumulation_steps": 4, "quantization_bit": 4,
        "deepspeed": "recipes/deepspeed/ds_z2_config.json", "disable_gradient_checkpointing": True,
        "peak_gib": 3.5, "host_gib": 0.0, "step_seconds": 1.25, "steps": 40, "hours": 0.5, "cost": 1.5,
        "fits": True, "why": "slower"}


P, T, LARGEST, Q = 1_000_000, 10_000, 100_000, 600_000  # parameters, LoRA's trainable ones, largest layer, 4-bit
ROW_ACTIVATIONS = {False: 2_000_000, True: 500_000}  # bytes per row: without / with checkpointing
ROW_FLOPS = {("full", False): 3e12, ("full", True): 4e12, ("lora", False): 2e12, ("lora", True): 2.5e12}
PEAK = 100.0  # TFLOP/s; no bandwidth given, so every operation is on the compute roof: flops / (peak x 0.9)
NF4 = 0.5 + 1 / 64 + 4 / (64 * 256)  # bytes per 4-bit weight with double quantisation (bitsandbytes' layout)


def tiny_simulation(shape: Shape) -> Simulation:
    trainable = P if shape.method == "full" else T
    flops = int(shape.batch * ROW_FLOPS[(shape.method, shape.gradient_checkpointing)])
    return Simulation(params=P if shape.method == "full" else P + T, trainable=trainable, largest_layer=LARGEST,
                      quantizable=Q, peak={"ACT": shape.batch * ROW_ACTIVATIONS[shape.gradient_checkpointing]},
                      flops=flops, kernels=[[flops, 0, 1]])


class Asked(dict):
    """The simulations, each shape the search asks for recorded."""

    def __init__(self, shapes: list[Shape]) -> None:
        super().__init__({shape: tiny_simulation(shape) for shape in shapes})
        self.asked: list[Shape] = []

    def __getitem__(self, shape: Shape) -> Simulation:
        self.asked.append(shape)
        return super().__getitem__(shape)


def tiny_card(memory_gib: float, price: float | None = 2.0) -> Gpu:
    return Gpu("Tiny", memory_gib, PEAK, PEAK, link="nvlink", link_gb_s=100.0, price_per_hour=price)


def tiny_search(memory_gib: float = 80.0, global_batch: int = 4, gpus: int = 1, rows: int = 100,
                price: float | None = 2.0, full_reference: bool = False) -> Search:
    shape = Shape(batch=1, seq=8, method="lora", lora_dropout=0.05, gradient_checkpointing=True)
    run = Run("tiny", shape, Setup(), 1, 2.0, -1, ("mine",), "data", None, precision="bf16")
    found = Search(run, None, tiny_card(memory_gib, price), gpus, rows, global_batch, full_reference)
    found.simulations = Asked([replace(shape, batch=b, method=method, gradient_checkpointing=gc,
                                       lora_dropout=0.0 if method == "full" else 0.05)
                               for b in range(1, global_batch + 1) for method in ("full", "lora")
                               for gc in (False, True)])
    return found


def gib(total_bytes: float) -> float:
    return total_bytes / 2**30


def peak_bytes(states: float, batch: int, gc: bool) -> float:
    """A GPU's peak: the model states and activations, 10% on top of them for fragmentation, 1 GiB of context."""
    return 2**30 + 1.1 * (states + batch * ROW_ACTIVATIONS[gc])


def test_one_candidate_is_planned_as_the_planner_plans_it() -> None:
    found = tiny_search(global_batch=4)
    # full, no DeepSpeed: fp32 weights, gradients and two Adam moments, 16 bytes per parameter
    full = found.plan(Candidate("full", 0, False, False, 2, 2))
    assert found.simulations.asked == [Shape(batch=2, seq=8, method="full", lora_dropout=0.0,
                                             gradient_checkpointing=False)]
    assert full.peak_gib == pytest.approx(gib(peak_bytes(16 * P, 2, False)), rel=1e-12)
    assert full.host_gib == 0.0
    micro = 2 * 3e12 / (PEAK * 1e12 * 0.9)  # one micro-step's FLOPs on the roof
    assert full.step_seconds == pytest.approx(2 * micro, rel=1e-12)  # two micro-steps, Adam at no cost here
    # 100 rows in batches of 2: 50 micro-steps, 25 optimizer steps an epoch, two epochs
    assert full.steps == 50
    assert full.hours == pytest.approx(50 * 2 * micro / 3600, rel=1e-12)
    assert full.cost == pytest.approx(full.hours * 1 * 2.0, rel=1e-12)
    assert full.fits and full.why == ""
    # LoRA with checkpointing: the frozen base in 16 bits, 16 bytes per adapter parameter
    lora = found.plan(Candidate("lora", 0, False, True, 4, 1))
    assert found.simulations.asked[-1] == Shape(batch=4, seq=8, method="lora", lora_dropout=0.05,
                                                gradient_checkpointing=True)
    assert lora.peak_gib == pytest.approx(gib(peak_bytes(2 * P + 16 * T, 4, True)), rel=1e-12)
    assert lora.step_seconds == pytest.approx(4 * 2.5e12 / (PEAK * 1e12 * 0.9), rel=1e-12)
    assert lora.steps == 2 * 25
    # QLoRA: the quantisable weights in NF4, the rest of the frozen base in 16 bits; the same step as LoRA
    qlora = found.plan(Candidate("qlora", 0, False, True, 4, 1))
    assert found.simulations.asked[-1] == found.simulations.asked[-2]
    assert qlora.peak_gib == pytest.approx(gib(peak_bytes(Q * NF4 + (P - Q) * 2 + 16 * T, 4, True)), rel=1e-12)
    # ZeRO-3 with CPU offload on one GPU: only the largest layer gathered whole in 4 bytes per parameter stays on the
    # card; the host holds 18 bytes per trainable parameter and the frozen base, 1.5x; CPU Adam and the weights
    # brought over PCIe (three gathers with checkpointing) are added to the step
    offload = found.plan(Candidate("lora", 3, True, True, 1, 4))
    assert offload.peak_gib == pytest.approx(gib(peak_bytes(4 * LARGEST, 1, True)), rel=1e-12)
    assert offload.host_gib == pytest.approx(gib((18 * T + 2 * P) * 1.5), rel=1e-12)
    micro = 2.5e12 / (PEAK * 1e12 * 0.9)
    assert offload.step_seconds == pytest.approx(4 * micro + T * (2e-9 + 4 / 25e9) + 4 * 3 * (P + T) * 2 / 25e9,
                                                 rel=1e-12)
    assert offload.steps == 2 * 25  # 100 batches of 1, 4 to a step


def test_a_run_in_full_precision_is_timed_at_the_cards_fp32_peak() -> None:
    """The recipe's precision picks the card's peak: fp32 at a quarter of the half-precision one."""
    found = tiny_search()
    found.run = replace(found.run, precision="fp32")
    found.gpu = replace(found.gpu, fp32_tflops=PEAK / 4)
    full = found.plan(Candidate("full", 0, False, False, 2, 2))
    assert full.step_seconds == pytest.approx(2 * 2 * 3e12 / (PEAK / 4 * 1e12 * 0.9), rel=1e-12)


def test_full_preference_training_holds_a_frozen_reference_copy() -> None:
    plain, reference = tiny_search(), tiny_search(full_reference=True)
    full = Candidate("full", 0, False, False, 1, 4)
    assert plain.plan(full).peak_gib == pytest.approx(gib(peak_bytes(16 * P, 1, False)), rel=1e-12)
    assert reference.plan(full).peak_gib == pytest.approx(gib(peak_bytes(16 * P + 2 * P, 1, False)), rel=1e-12)
    lora = Candidate("lora", 0, False, False, 1, 4)  # LoRA's reference is its base with the adapter off
    assert reference.plan(lora).peak_gib == plain.plan(lora).peak_gib


def test_several_gpus_partition_the_rows_and_price_each_card() -> None:
    found = tiny_search(global_batch=4, gpus=2)
    planned = found.plan(Candidate("full", 2, False, False, 2, 1))
    # ZeRO-2 over 2 GPUs: 16-bit weights whole (2 bytes), 16-bit + fp32 gradients and fp32 weights and Adam
    # partitioned (6 + 12 bytes over 2)
    assert planned.peak_gib == pytest.approx(gib(peak_bytes(2 * P + 18 * P / 2, 2, False)), rel=1e-12)
    # 50 rows per GPU, batches of 2: 25 steps an epoch, 2 epochs; each card priced
    assert planned.steps == 50 and planned.cost == pytest.approx(planned.hours * 2 * 2.0, rel=1e-12)
    assert tiny_search(price=None).plan(Candidate("full", 0, False, False, 4, 1)).cost is None


@pytest.mark.parametrize(("global_batch", "gpus", "expected"), [
    (16, 1, [16, 8, 4, 2, 1]), (12, 1, [12, 4, 2, 1]), (12, 2, [6, 2, 1]), (16, 4, [4, 2, 1]), (1, 1, [1]),
    (7, 1, [7, 1]),
])
def test_the_per_device_batches_keep_the_global_batch(global_batch: int, gpus: int, expected: list[int]) -> None:
    """Powers of two that divide the per-GPU share, and the share itself, largest first."""
    assert tiny_search(global_batch=global_batch, gpus=gpus).batches() == expected


def test_the_combinations_tried_on_one_gpu_and_on_several() -> None:
    one = tiny_search().combinations(("full", "lora", "qlora"))
    assert one == [("full", 0, False, False), ("full", 0, False, True), ("full", 3, True, False),
                   ("full", 3, True, True), ("lora", 0, False, False), ("lora", 0, False, True),
                   ("lora", 3, True, False), ("lora", 3, True, True), ("qlora", 0, False, False),
                   ("qlora", 0, False, True)]
    two = tiny_search(gpus=2).combinations(("full", "qlora"))
    assert two == [("full", 0, False, False), ("full", 0, False, True), ("full", 2, False, False),
                   ("full", 2, False, True), ("full", 3, False, False), ("full", 3, False, True),
                   ("full", 3, True, False), ("full", 3, True, True), ("qlora", 0, False, False),
                   ("qlora", 0, False, True), ("qlora", 2, False, False), ("qlora", 2, False, True)]


def card_for(total: float) -> float:
    """The card size in GiB whose usable share (95%) is exactly ``total`` bytes."""
    memory = total / (TIGHT * GIB)
    for _ in range(100):
        usable = TIGHT * memory * GIB
        if usable == total:
            return memory
        memory = math.nextafter(memory, math.inf if usable < total else -math.inf)
    raise AssertionError(f"no card of exactly {total} usable bytes")


def one_byte_short(total: float) -> float:
    """A card size whose usable share is one byte below ``total``."""
    memory = (total - 1) / (TIGHT * GIB)
    assert TIGHT * memory * GIB < total
    return memory


def full_peak(batch: int) -> float:
    return peak_bytes(16 * P, batch, False)


def test_a_plan_exactly_at_the_cards_margin_fits_and_one_byte_over_does_not() -> None:
    exact = tiny_search(card_for(full_peak(2)))
    assert exact.plan(Candidate("full", 0, False, False, 2, 2)).fits
    over = tiny_search(one_byte_short(full_peak(2)))
    assert not over.plan(Candidate("full", 0, False, False, 2, 2)).fits


@pytest.mark.parametrize("fitting", [16, 8, 4, 2, 1])
def test_the_largest_batch_that_fits_is_found_by_bisection(fitting: int) -> None:
    """Per-device batches 16, 8, 4, 2, 1 (global 16): a card that holds batch ``fitting`` exactly gets it, with
    the accumulation that keeps 16 rows a step; a card one byte smaller gets the next batch down."""
    found = tiny_search(card_for(full_peak(fitting)), global_batch=16)
    best = found.largest_fitting("full", 0, False, False)
    assert (best.candidate, best.fits) == (Candidate("full", 0, False, False, fitting, 16 // fitting), True)
    asked = [shape.batch for shape in found.simulations.asked]
    assert asked[0] == 16 and len(asked) <= 4  # the largest first, then at most a bisection of four
    if fitting == 16:
        assert asked == [16]  # the largest fits: nothing else is planned
    if fitting > 1:
        smaller = tiny_search(one_byte_short(full_peak(fitting)), global_batch=16)
        best = smaller.largest_fitting("full", 0, False, False)
        assert (best.candidate.batch, best.candidate.accumulation, best.fits) == (fitting // 2, 32 // fitting, True)


def test_when_no_batch_fits_the_smallest_batchs_plan_is_given() -> None:
    found = tiny_search(one_byte_short(full_peak(1)), global_batch=16)
    best = found.largest_fitting("full", 0, False, False)
    assert (best.candidate.batch, best.candidate.accumulation, best.fits) == (1, 16, False)
    assert [shape.batch for shape in found.simulations.asked] == [16, 1]


def hours_of(found: Search, method: str, zero: int, offload: bool, gc: bool, batch: int) -> float:
    """Hours by hand: 2 epochs of ceil(rows / global batch) steps of global-batch rows on the compute roof, plus
    the per-step offload costs of ZeRO-3 + CPU offload (one GPU)."""
    steps = 2 * math.ceil(found.rows / found.global_batch)
    kind = "full" if method == "full" else "lora"
    seconds = found.global_batch * ROW_FLOPS[(kind, gc)] / (PEAK * 1e12 * 0.9)
    if offload:
        trainable, params = (P, P) if kind == "full" else (T, P + T)
        accumulation = found.global_batch // batch
        seconds += trainable * (2e-9 + 4 / 25e9) + accumulation * (3 if gc else 2) * params * 2 / 25e9
    return steps * seconds / 3600


def test_the_fastest_plan_that_fits_is_chosen_and_each_other_says_why() -> None:
    """On a card that holds LoRA at batch 4 but full fine-tuning only under ZeRO-3 offload: no checkpointing (the
    fewest FLOPs) wins; QLoRA and LoRA take the same time on this card (no bandwidth term, so no dequantisation
    cost) and the smaller peak, QLoRA's, breaks the tie."""
    card = card_for(peak_bytes(2 * P + 16 * T, 4, False))  # LoRA, no checkpointing, batch 4 exactly
    found = tiny_search(card, global_batch=4)
    planned = search(found, ("full", "lora", "qlora"))
    assert len(planned) == 10
    chosen = planned[0]
    assert chosen.candidate == Candidate("qlora", 0, False, False, 4, 1) and chosen.why == ""
    assert chosen.hours == pytest.approx(hours_of(found, "lora", 0, False, False, 4), rel=1e-12)
    second = planned[1]
    assert second.candidate == Candidate("lora", 0, False, False, 4, 1) and second.fits
    assert second.hours == chosen.hours and second.peak_gib > chosen.peak_gib
    assert second.why == "slower: 1.00x the chosen plan's time"
    by_describe = {p.candidate.describe(): p for p in planned}
    gc = by_describe["lora, no DeepSpeed, checkpointing, batch 4 x 1 accumulation"]
    assert gc.why == "slower: 1.25x the chosen plan's time"  # the recomputation's FLOPs: 2.5e12 / 2e12 a row
    # full fine-tuning without DeepSpeed needs 16 bytes per parameter: above the card even at batch 1
    for gc_on in (False, True):
        no_ds = by_describe[f"full, no DeepSpeed, {'' if gc_on else 'no '}checkpointing, batch 1 x 4 accumulation"]
        assert not no_ds.fits
        assert no_ds.why == (f"does not fit: {gib(peak_bytes(16 * P, 1, gc_on)):.1f} GiB at per-device batch 1 is "
                             f"above 95% of the {card:g} GiB of 1 x Tiny")
    offload = by_describe["full, ZeRO-3 + CPU offload, no checkpointing, batch 4 x 1 accumulation"]
    assert offload.fits and offload.hours == pytest.approx(hours_of(found, "full", 3, True, False, 4), rel=1e-12)
    # the runners-up by hours, the plans that do not fit last
    assert [p.fits for p in planned] == [True] * 8 + [False] * 2
    rest = [p.hours for p in planned[1:8]]
    assert rest == sorted(rest)


def test_hours_and_budget_exactly_at_their_limits_are_allowed() -> None:
    free = {p.candidate.describe(): p for p in search(tiny_search(global_batch=4), ("lora",))}
    fastest = free["lora, no DeepSpeed, no checkpointing, batch 4 x 1 accumulation"]
    gc = free["lora, no DeepSpeed, checkpointing, batch 4 x 1 accumulation"]
    offload_gc = free["lora, ZeRO-3 + CPU offload, checkpointing, batch 4 x 1 accumulation"]
    # by hand: the offload's CPU Adam and PCIe gathers come on top of the same FLOPs
    assert fastest.hours < gc.hours < offload_gc.hours
    assert offload_gc.hours == pytest.approx(hours_of(tiny_search(), "lora", 3, True, True, 4), rel=1e-12)
    for limit in ({"hours": gc.hours}, {"budget": gc.cost}):
        limited = search(tiny_search(global_batch=4), ("lora",), **limit)
        whys = {p.candidate.describe(): p.why for p in limited}
        assert limited[0].candidate == fastest.candidate
        assert whys[gc.candidate.describe()] == "slower: 1.25x the chosen plan's time"  # at the limit: allowed
        over = whys[offload_gc.candidate.describe()]
        if "hours" in limit:
            assert over == f"over --hours {gc.hours:g}: {offload_gc.hours:.2f} h"
        else:
            assert over == f"over --budget ${gc.cost:g}: ${offload_gc.cost:.2f}"


def kept_plans(found: Search) -> list[Planned]:
    """The plans the search makes, kept as it marks them."""
    kept: list[Planned] = []
    largest = found.largest_fitting

    def keep(*combo: Any) -> Planned:
        kept.append(largest(*combo))
        return kept[-1]

    found.largest_fitting = keep  # type: ignore[method-assign]
    return kept


def test_a_budget_on_a_card_without_a_price_rejects_every_plan() -> None:
    found = tiny_search(global_batch=4, price=None)
    kept = kept_plans(found)
    with pytest.raises(InputError) as refused:
        search(found, ("lora",), budget=100.0)
    hours = hours_of(found, "lora", 0, False, False, 4)
    assert str(refused.value) == (f"no plan on 1 x Tiny meets the limit: the quickest that fits (lora, no DeepSpeed, "
                                  f"no checkpointing, batch 4 x 1 accumulation) takes {hours:.2f} h; raise "
                                  "--hours/--budget or add GPUs")
    assert len(kept) == 4 and {p.why for p in kept} == {"over --budget $100: the card has no price"}
    free = search(tiny_search(global_batch=4, price=None), ("lora",))  # no budget: no price needed
    assert free[0].cost is None and free[0].candidate == Candidate("lora", 0, False, False, 4, 1)


def test_a_limit_below_every_plan_names_the_quickest_and_its_cost() -> None:
    # LoRA without checkpointing is the fewest FLOPs: 4 rows x 2e12 on a 100 TFLOP/s roof at 0.9 = 0.0889 s a step;
    # 1,000,000 rows in global batches of 4, two epochs: 500,000 steps = 44,444 s = 12.35 h, at $2 an hour $24.69
    with pytest.raises(InputError) as refused:
        search(tiny_search(global_batch=4, rows=1_000_000), ("lora",), hours=6.0)
    assert str(refused.value) == ("no plan on 1 x Tiny meets the limit: the quickest that fits (lora, no DeepSpeed, "
                                  "no checkpointing, batch 4 x 1 accumulation) takes 12.35 h, $24.69; raise "
                                  "--hours/--budget or add GPUs")


def test_nothing_fitting_names_the_smallest_plan() -> None:
    smallest = peak_bytes(4 * LARGEST, 1, True)  # ZeRO-3 offload, batch 1, checkpointing: full and LoRA alike
    card = one_byte_short(smallest)
    with pytest.raises(InputError) as refused:
        search(tiny_search(card, global_batch=4), ("full", "lora"))
    assert str(refused.value) == (f"nothing fits on 1 x Tiny: the smallest plan (full, ZeRO-3 + CPU offload, "
                                  f"checkpointing, batch 1 x 4 accumulation) peaks at {gib(smallest):.1f} GiB of "
                                  f"{card:g}; use a larger card, more GPUs (--gpus) or a smaller --model")


def test_no_rows_plan_no_time_and_no_plan_is_faster() -> None:
    planned = search(tiny_search(global_batch=4, rows=0), ("lora",))
    assert planned[0].hours == 0.0 and {p.why for p in planned[1:]} == {"not faster"}
