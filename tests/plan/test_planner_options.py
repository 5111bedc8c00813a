"""The changes the planner tries on a run that does not fit, on a tiny architecture whose simulated steps are written
here by hand into the plan cache (one per shape): which changes each run gets, in order, each candidate run as
written out here, its peak, host memory and step on the card, and the fewest GPUs that hold a ZeRO run; and the
planner's arithmetic beside them: generation's key/value cache, the cards whose plan matches a report's time, and
what another GPU count does to the report's global batch."""

from __future__ import annotations

import json
import os
from dataclasses import asdict, replace
from pathlib import Path
from typing import Any

import pytest
from stand_in_model import tiny_folder

from recipekit.plan.gpus import Gpu
from recipekit.plan.memory import CUDA_CONTEXT, GIB, Setup, per_gpu
from recipekit.plan.models import load_config
from recipekit.plan.planner import Option, Run, against_report, batch_note, options, predict_memory
from recipekit.plan.simulate import Shape, Simulation, cache_key
from recipekit.plan.timing import step_time

P, T, LARGEST, Q = 1_000_000_000, 4_000_000, 40_000_000, 700_000_000  # parameters, LoRA's, largest layer, 4-bit
TOKEN_BYTES = {False: 1_000_000, True: 200_000}  # activations per token: without / with checkpointing
TOKEN_FLOPS = {("full", False): 6e9, ("full", True): 8e9, ("lora", False): 4e9, ("lora", True): 5.5e9}
ZERO3 = "deepspeed: recipes/deepspeed/ds_z3_config.json"
OFFLOAD = "deepspeed: recipes/deepspeed/ds_z3_offload_config.json (optimizer and parameters on the CPU)"
QLORA = "quantization_bit: 4 (QLoRA)"


def simulation(shape: Shape) -> Simulation:
    tokens = shape.batch * shape.seq
    flops = int(tokens * TOKEN_FLOPS[(shape.method, shape.gradient_checkpointing)])
    return Simulation(params=P, trainable=P if shape.method == "full" else T, largest_layer=LARGEST, quantizable=Q,
                      peak={"ACT": tokens * TOKEN_BYTES[shape.gradient_checkpointing]}, flops=flops,
                      kernels=[[flops, tokens * 100_000, 1]])


@pytest.fixture
def config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Any:
    """The tiny architecture's config, the plan cache in ``tmp_path``."""
    return load_config(str(tiny_folder(tmp_path, monkeypatch)))


def cached(config: Any, *shapes: Shape) -> None:
    """Each shape's hand-made step into the plan cache."""
    folder = Path(os.environ["LLM_RECIPES_CACHE"]) / "plan"
    folder.mkdir(parents=True, exist_ok=True)
    for shape in shapes:
        (folder / f"{cache_key(config, shape)}.json").write_text(json.dumps(asdict(simulation(shape))),
                                                               encoding="utf-8")


def card(memory_gib: float) -> Gpu:
    """bf16 twice fp16's peak (a run in "half" precision computes in bf16 here), 1 TB/s, NVLink at 100 GB/s."""
    return Gpu("Tiny", memory_gib, 200.0, 100.0, memory_gb_s=1000.0, link="nvlink", link_gb_s=100.0)


def run_of(shape: Shape, setup: Setup, accumulation: int = 1) -> Run:
    return Run("tiny", shape, setup, accumulation, 1.0, -1, ("x",), "data", None)


def priced(change: str, candidate: Run, gpu: Gpu) -> Option:
    """One change as the card holds it: the candidate's step (this test's own) in the planner's memory and time."""
    sim = simulation(candidate.shape)
    memory = per_gpu(sim, candidate.setup)
    seconds = step_time(sim, gpu, "bf16", candidate.setup, candidate.accumulation,
                        candidate.shape.gradient_checkpointing).step_seconds
    return Option(change, memory.total / GIB, memory.total <= gpu.memory_gib * GIB, memory.host_bytes / GIB, seconds)


def peak(candidate: Run) -> float:
    return per_gpu(simulation(candidate.shape), candidate.setup).total


def test_a_lora_run_without_deepspeed_gets_every_change_in_order(config: Any,
                                                                capsys: pytest.CaptureFixture[str]) -> None:
    """Batch 4 x 3 accumulation at 512 tokens, no checkpointing: batch 2 x 6 and 1 x 12 (the same global batch),
    checkpointing, ZeRO-3, ZeRO-3 with offload, half the cutoff, QLoRA; ZeRO 0: no GPU count."""
    shape = Shape(batch=4, seq=512, method="lora", gradient_checkpointing=False)
    run = run_of(shape, Setup(gpus=1), accumulation=3)
    halves = run_of(replace(shape, batch=2), Setup(gpus=1), accumulation=6)
    ones = run_of(replace(shape, batch=1), Setup(gpus=1), accumulation=12)
    checkpointed = run_of(replace(shape, gradient_checkpointing=True), Setup(gpus=1), accumulation=3)
    zero3 = run_of(shape, Setup(gpus=1, zero=3), accumulation=3)
    offload = run_of(shape, Setup(gpus=1, zero=3, offload_optimizer=True, offload_params=True), accumulation=3)
    shorter = run_of(replace(shape, seq=256), Setup(gpus=1), accumulation=3)
    qlora = run_of(shape, Setup(gpus=1, quantization_bit=4), accumulation=3)
    cached(config, shape, halves.shape, ones.shape, checkpointed.shape, shorter.shape)
    # batch 1, by hand: the frozen base in 16 bits, 16 bytes per LoRA parameter, 512 tokens of activations, 10%
    # on top and the CUDA context
    assert peak(ones) == CUDA_CONTEXT + 1.1 * (2 * (P - T) + 16 * T + 512 * TOKEN_BYTES[False])
    gpu = card(peak(qlora) / GIB)  # QLoRA exactly at the card's memory: it fits
    assert [peak(c) > peak(qlora) for c in (halves, ones, checkpointed, zero3, offload, shorter)] == [
        True, False, False, True, False, True]
    found = options(run, config, gpu)
    assert found == [
        priced("per_device_train_batch_size 2, gradient_accumulation_steps 6 (same global batch)", halves, gpu),
        priced("per_device_train_batch_size 1, gradient_accumulation_steps 12 (same global batch)", ones, gpu),
        priced("gradient checkpointing on", checkpointed, gpu),
        priced(ZERO3, zero3, gpu),
        priced(OFFLOAD, offload, gpu),
        priced("cutoff_len 256", shorter, gpu),
        priced(QLORA, qlora, gpu)]
    assert found[-1].fits and found[-1].peak_gib == gpu.memory_gib and found[4].host_gib > 0
    assert capsys.readouterr().err == ""  # every step came from the cache: nothing was simulated


def test_a_qlora_run_gets_zero3_only(config: Any) -> None:
    """Already 4-bit, checkpointed, batch 1 at 128 tokens: no offload (DeepSpeed does not offload 4-bit weights), no
    shorter cutoff, no second QLoRA."""
    shape = Shape(batch=1, seq=128, method="lora")
    run = run_of(shape, Setup(gpus=1, quantization_bit=4), accumulation=2)
    cached(config, shape)
    gpu = card(1.0)
    assert options(run, config, gpu) == [priced(ZERO3, run_of(shape, Setup(gpus=1, zero=3, quantization_bit=4), 2),
                                                gpu)]


def test_a_lora_classifier_gets_no_zero3(config: Any) -> None:
    """The classifier trainer refuses LoRA under ZeRO-3: QLoRA only; a full classifier may use ZeRO-3."""
    shape = Shape(batch=1, seq=128, method="lora", head_labels=3)
    cached(config, shape, replace(shape, method="full"))
    gpu = card(1.0)
    assert options(run_of(shape, Setup(gpus=1)), config, gpu) == [
        priced(QLORA, run_of(shape, Setup(gpus=1, quantization_bit=4)), gpu)]
    full = replace(shape, method="full")
    assert [o.change for o in options(run_of(full, Setup(gpus=1)), config, gpu)] == [ZERO3, OFFLOAD]


def test_a_zero2_run_gets_the_fewest_gpus_that_hold_it(config: Any, capsys: pytest.CaptureFixture[str]) -> None:
    """Full fine-tuning under ZeRO-2 on 2 GPUs, checkpointed, batch 1 at exactly 256 tokens (no shorter cutoff
    tried): ZeRO-3, offload, then 3 GPUs, whose peak is exactly the card's memory."""
    shape = Shape(batch=1, seq=256, method="full")
    setup = Setup(gpus=2, zero=2, buffer_elements=1000)
    cached(config, shape)
    three = run_of(shape, replace(setup, gpus=3))
    gpu = card(peak(three) / GIB)
    assert peak(run_of(shape, setup)) > peak(three) > peak(run_of(shape, replace(setup, gpus=4)))
    assert options(run_of(shape, setup), config, gpu) == [
        priced(ZERO3, run_of(shape, replace(setup, zero=3)), gpu),
        priced(OFFLOAD, run_of(shape, replace(setup, zero=3, offload_optimizer=True, offload_params=True)), gpu),
        priced("3 GPUs", three, gpu)]
    assert capsys.readouterr().err == ""


def test_a_zero1_run_that_fits_still_names_one_more_gpu(config: Any) -> None:
    """The GPU count is counted up from one more than the run's: a run that fits on 2 GPUs (and on 1) gets 3."""
    shape = Shape(batch=1, seq=128, method="full")
    setup = Setup(gpus=2, zero=1)
    cached(config, shape)
    gpu = card(1000.0)
    assert options(run_of(shape, setup), config, gpu) == [
        priced(ZERO3, run_of(shape, replace(setup, zero=3)), gpu),
        priced(OFFLOAD, run_of(shape, replace(setup, zero=3, offload_optimizer=True, offload_params=True)), gpu),
        priced("3 GPUs", run_of(shape, replace(setup, gpus=3)), gpu)]


def test_a_lora_zero3_run_gets_offload_then_gpus_and_no_qlora(config: Any) -> None:
    """LoRA under ZeRO-3 on 2 GPUs, batch 2 x 2 accumulation steps: batch 1 x 4, offload, then the fewest GPUs (5)
    whose peak fits."""
    shape = Shape(batch=2, seq=128, method="lora")
    setup = Setup(gpus=2, zero=3)
    cached(config, shape, replace(shape, batch=1))
    five = run_of(shape, replace(setup, gpus=5), 2)
    gpu = card((peak(five) + peak(run_of(shape, replace(setup, gpus=4), 2))) / 2 / GIB)
    assert options(run_of(shape, setup, 2), config, gpu) == [
        priced("per_device_train_batch_size 1, gradient_accumulation_steps 4 (same global batch)",
               run_of(replace(shape, batch=1), setup, 4), gpu),
        priced(OFFLOAD, run_of(shape, replace(setup, offload_optimizer=True, offload_params=True), 2), gpu),
        priced("5 GPUs", five, gpu)]


def test_no_gpu_count_up_to_64_holds_it(config: Any) -> None:
    """A full ZeRO-3 run that would fit on 65 GPUs, not on 64: no GPU count is named."""
    shape = Shape(batch=1, seq=128, method="full")
    setup = Setup(gpus=1, zero=3)
    cached(config, shape)
    at = {n: peak(run_of(shape, replace(setup, gpus=n))) for n in (64, 65)}
    gpu = card((at[64] + at[65]) / 2 / GIB)
    assert [o.change for o in options(run_of(shape, setup), config, gpu)] == [OFFLOAD]


def test_a_cutoff_just_above_256_is_halved(config: Any) -> None:
    """257 tokens, full ZeRO-3 with its optimizer already offloaded, checkpointed: half the cutoff (128) is the
    one change; a card below the CUDA context holds no GPU count."""
    shape = Shape(batch=1, seq=257, method="full")
    setup = Setup(gpus=1, zero=3, offload_optimizer=True)
    shorter = run_of(replace(shape, seq=128), setup)
    cached(config, shape, shorter.shape)
    gpu = card(0.5)
    assert options(run_of(shape, setup), config, gpu) == [priced("cutoff_len 128", shorter, gpu)]


class Uneven:
    """An architecture whose hidden size (100) is no multiple of its heads (8) and that names no head_dim."""

    num_hidden_layers, num_attention_heads, hidden_size, vocab_size = 2, 8, 100, 10


def test_generation_cache_uses_the_whole_head_size_when_heads_do_not_divide_the_hidden_size() -> None:
    """transformers' head size is hidden // heads (12, not 12.5): the key/value cache of 2 layers x 8 heads x 12 x
    (3 prompt + 1 new) tokens, keys and values at 2 bytes."""
    run = Run("m", Shape(1, 3), Setup(), 1, 1.0, -1, (), "", None, predict=True, new_tokens=1)
    assert predict_memory(run, Uneven(), 1000).parts["kv cache"] == 2 * 2 * 8 * 12 * 4 * 2 == 3072


# one micro-step's operations: 9e13 FLOPs, 1 s at a 100 TFLOP/s peak (x 0.9 efficiency); nothing to optimize
STEP = Simulation(params=0, trainable=0, largest_layer=0, quantizable=0, kernels=[[9e13, 0, 1]])


def test_a_half_precision_run_is_matched_on_each_card_at_its_own_half_precision() -> None:
    """"half" is bf16 on a card with it (200 TFLOP/s: 0.5 s a micro-step, 1 s for 2) and fp16 on one without
    (100: 2 s); the report's step is 1 s (one step a second)."""
    run = Run("m", Shape(1, 8), Setup(), 2, 1.0, -1, (), "", None)
    cards = {"with-bf16": Gpu("B", 80.0, 200.0, 100.0), "fp16-only": Gpu("H", 80.0, None, 100.0)}
    found = against_report({"said": "s", "steps_per_second": 1}, STEP, run, cards["with-bf16"], 1.0, cards)
    assert found["matching_cards"] == ["with-bf16"]


def test_a_zero3_run_is_matched_with_its_recomputations_gathers() -> None:
    """ZeRO-3 on 2 GPUs, checkpointed: each micro-step gathers the 7e10 16-bit weights three times (forward,
    recomputation, backward), half of them over a 100 GB/s link at 70%: 3 s, plus 1 s of compute = 4 s, 0.8x the
    report's 5 s; two gathers (2 s) would give 3 s, 0.6x: outside the goal."""
    run = Run("m", Shape(1, 8, gradient_checkpointing=True), Setup(gpus=2, zero=3), 1, 1.0, -1, (), "", None)
    sim = Simulation(params=70_000_000_000, trainable=0, largest_layer=0, quantizable=0, kernels=[[9e13, 0, 1]])
    linked = Gpu("L", 80.0, 100.0, 100.0, link="nvlink", link_gb_s=100.0)
    found = against_report({"said": "s", "steps_per_second": 0.2}, sim, run, linked, 4.0, {"linked": linked})
    assert found["matching_cards"] == ["linked"]


def test_a_plan_at_exactly_the_time_goals_lower_end_matches() -> None:
    """The report: 0.67 steps a second (1 / 0.67 s each); the plan: 1 s, exactly 0.67x of it, is within the goal."""
    run = Run("m", Shape(1, 8), Setup(), 1, 1.0, -1, (), "", None)
    card = Gpu("Card 100", 80.0, 100.0, 100.0)
    found = against_report({"said": "s", "steps_per_second": 0.67}, STEP, run, card, 1.0, {"at-the-end": card})
    assert found["ratio"] == [0.67] and found["matching_cards"] == ["at-the-end"]


def test_a_gpu_count_whose_batch_does_not_divide_the_reports_says_no_accumulation_keeps_it() -> None:
    """The report's global batch 12 at per-device batch 2 on 4 GPUs (8 a micro-step): 12 is no multiple of 8."""
    assert batch_note(12, 2, 4, 8) == ("global batch 8 on 4 GPU(s), the report's is 12: no whole "
                                       "gradient_accumulation_steps keeps it at per-device batch 2; choose a GPU "
                                       "count that divides it, or say the batch changed")
    assert batch_note(16, 2, 4, 8) == ("global batch 8 on 4 GPU(s), the report's is 16: gradient_accumulation_steps=2"
                                       " keeps it (the step count and time above are for the recipe as written)")
