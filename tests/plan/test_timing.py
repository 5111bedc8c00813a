"""The step-time model on hand-made steps, the cards file, and the published points it is checked against."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from recipekit.errors import InputError
from recipekit.plan import timing
from recipekit.plan.gpus import GPUS, Gpu, load_cards, resolve_gpu
from recipekit.plan.memory import Setup
from recipekit.plan.simulate import Simulation


def step(kernels: list[list[int]], params: int = 10**9, trainable: int = 10**9, quantizable: int = 0) -> Simulation:
    return Simulation(params=params, trainable=trainable, largest_layer=10**6, quantizable=quantizable,
                      kernels=kernels)


c = timing.CALIBRATED


def test_each_operation_is_timed_on_its_own_roofline_at_the_runs_precision() -> None:
    a100 = GPUS["a100-80g"]
    matmul, elementwise = [2 * 10**12, 10**9, 10], [0, 4 * 10**9, 5]
    sim = step([matmul, elementwise], trainable=10**6)
    bf16 = timing.step_time(sim, a100, "bf16", Setup(), accumulation=4, gradient_checkpointing=True)
    compute = 10 * 2e12 / (312e12 * c.matmul_efficiency)  # by hand: the matmul is compute-bound
    memory = 5 * 4e9 / (2039e9 * c.bandwidth_efficiency)  # the elementwise one reads and writes 4 GB
    optimizer = 10**6 * timing.ADAM_BYTES / (2039e9 * c.bandwidth_efficiency)
    assert bf16.micro_seconds == pytest.approx(compute + memory)
    assert bf16.step_seconds == pytest.approx(4 * (compute + memory) + optimizer)
    assert bf16.bound == "compute" and bf16.comm_seconds == 0
    fp32 = timing.step_time(sim, a100, "fp32", Setup(), accumulation=4, gradient_checkpointing=True)
    assert fp32.compute_seconds == pytest.approx(10 * 2e12 / (19.5e12 * c.matmul_efficiency))  # CUDA cores
    tf32 = timing.step_time(sim, a100, "tf32", Setup(), accumulation=4, gradient_checkpointing=True)
    assert tf32.compute_seconds == pytest.approx(compute * 312 / 156)


def test_many_small_operations_are_bound_by_their_launches() -> None:
    tiny = step([[10**6, 10**6, 20_000]], trainable=0)
    timed = timing.step_time(tiny, GPUS["h100-80g"], "bf16", Setup(), 8, True)
    assert timed.bound == "launches"
    assert timed.micro_seconds == pytest.approx(20_000 * c.launch_seconds)


def test_zero3_gathers_every_weight_three_times_with_checkpointing_and_reduce_scatters_gradients() -> None:
    params, trainable, n, accumulation = 8 * 10**9, 8 * 10**9, 8, 4
    sim = step([], params, trainable)
    a100 = GPUS["a100-40g"]
    link = 300e9 * c.link_efficiency
    zero3 = timing.step_time(sim, a100, "bf16", Setup(gpus=n, zero=3), accumulation, True)
    assert zero3.comm_seconds == pytest.approx(accumulation * (3 * params + trainable) * 2 * (n - 1) / n / link)
    assert zero3.optimizer_seconds == pytest.approx(trainable / n * c.zero_step_seconds)
    zero2 = timing.step_time(sim, a100, "bf16", Setup(gpus=n, zero=2), accumulation, True)
    assert zero2.comm_seconds == pytest.approx((accumulation + 1) * trainable * 2 * (n - 1) / n / link)
    ddp = timing.step_time(sim, a100, "bf16", Setup(gpus=n), accumulation, True)
    assert ddp.comm_seconds == pytest.approx(2 * trainable * 2 * (n - 1) / n / link)
    assert timing.step_time(sim, a100, "bf16", Setup(gpus=1, zero=3), accumulation, True).comm_seconds == 0
    offload = timing.step_time(sim, a100, "bf16", Setup(gpus=n, zero=3, offload_optimizer=True), accumulation, True)
    assert offload.optimizer_seconds > zero3.optimizer_seconds  # CPU Adam and the PCIe round trip


def test_qlora_pays_for_dequantising_each_weight_at_each_use() -> None:
    sim = step([], params=10**9, trainable=10**6, quantizable=9 * 10**8)
    a100 = GPUS["a100-80g"]
    plain = timing.step_time(sim, a100, "bf16", Setup(), 1, True)
    nf4 = timing.step_time(sim, a100, "bf16", Setup(quantization_bit=4), 1, True)
    per_weight = 0.5 + 1 / 64 + 4 / (64 * 256) + 2  # read NF4 with double-quantised absmax, write bf16
    assert nf4.dequant_seconds == pytest.approx(3 * 9e8 * per_weight / (2039e9 * c.bandwidth_efficiency))
    assert plain.dequant_seconds == 0


def test_cards_carry_what_the_model_needs_and_a_users_file_overrides_them(tmp_path: Path) -> None:
    for key, card in GPUS.items():
        assert card.memory_gib > 0 and card.fp16_tflops > 0 and card.memory_gb_s > 0 and card.link_gb_s > 0, key
        assert card.fp32_tflops and card.fp32_tflops < card.fp16_tflops, key
        assert (card.price_per_hour is None) == (not card.price_source), key
    assert GPUS["v100-16g"].memory_gib == 15.78  # what NVML reports for a 16 GB V100
    assert GPUS["t4"].half_precision() == "fp16" and GPUS["a100-40g"].half_precision() == "bf16"
    mine = tmp_path / "cards.yaml"
    mine.write_text(yaml.safe_dump({"a100-80g": {"name": "A100 (my cloud)", "memory_gib": 79.0, "memory_gb_s": 2000,
                                                 "tflops": {"fp16": 300, "bf16": 300, "fp32": 19.5},
                                                 "link": {"kind": "PCIe", "gb_s": 25},
                                                 "price": {"usd_per_hour": 0.99, "source": "my invoice",
                                                           "date": "2026-11"}}}), encoding="utf-8")
    cards = load_cards(mine)
    assert cards["a100-80g"].price_per_hour == 0.99 and cards["a100-80g"].link_gb_s == 25
    assert cards["h100-80g"] == GPUS["h100-80g"]
    assert resolve_gpu("a100-80g", cards=cards).name == "A100 (my cloud)"
    mine.write_text("a100-80g: {name: broken}\n", encoding="utf-8")
    with pytest.raises(InputError, match="card a100-80g: needs name, memory_gib, tflops"):
        load_cards(mine)


def test_the_published_points_name_their_source_and_cover_the_methods() -> None:
    from recipekit.plan.calibration import PUBLISHED_RUNS, load_points

    sources, points = load_points(PUBLISHED_RUNS)
    assert len(points) >= 15 and all(sources[p["source"]]["url"].startswith("https://") for p in points)
    methods = {(p["method"], bool(p.get("quantization_bit")), p["zero"], p["gpus"] > 1) for p in points}
    assert {("lora", False, 0, False), ("full", False, 2, False), ("full", False, 3, True), ("lora", True, 0, False)} \
        <= methods
    assert {p["seq"] for p in points} >= {256, 8192}
    # two families, a decoder and an encoder classifier, and fp32 beside half precision on a card without bf16
    assert {p["model"].split("/")[0] for p in points} >= {"Qwen", "google-bert", "meta-llama"}
    assert {(p["precision"], p["gpu"]) for p in points if p.get("head_labels")} == {("fp32", "v100-16g"),
                                                                                      ("fp16", "v100-16g")}
    for point in points:
        resolve_gpu(point["gpu"])


def test_a_classifier_point_is_planned_as_the_classifier_it_measured() -> None:
    """A point with head_labels is simulated as that sequence classifier (its parameters counted by transformers
    on the meta device), timed at its own precision's peak; a short sequence keeps the simulation quick."""
    import torch
    from transformers import AutoModelForSequenceClassification

    from recipekit.plan.calibration import PUBLISHED_RUNS, check, load_points, prepare
    from recipekit.plan.models import load_config

    _, points = load_points(PUBLISHED_RUNS)
    fp32 = next(p for p in points if p.get("head_labels") and p["precision"] == "fp32")
    point = {**fp32, "seq": 16, "batch": 1, "accumulation": 1, "gradient_checkpointing": False}
    config = load_config(point["model"])
    config.num_labels = 2
    with torch.device("meta"):
        expected = sum(p.numel() for p in AutoModelForSequenceClassification.from_config(config).parameters())
    prepared = prepare(point)
    assert prepared.sim.params == prepared.sim.trainable == expected == 335_143_938
    half = prepare({**point, "precision": "fp16"})
    assert not prepared.setup.half and half.setup.half
    assert check(prepared).bound == "launches"  # 16 tokens: the kernels wait for the CPU, whatever the precision
    # the point's own checkpointing: the layers' forward computed again in the backward, about a third more FLOPs
    # (forward 1, backward 2, recomputation 1 of the 24 layers; the embeddings and head are not recomputed)
    checkpointed = prepare({**point, "gradient_checkpointing": True})
    assert 1.25 < checkpointed.sim.flops / prepared.sim.flops < 4 / 3


# a card and constants of round numbers, so each term below is worked out by hand
ROUND = timing.Constants(matmul_efficiency=0.5, bandwidth_efficiency=2.0, launch_seconds=1e-6, link_efficiency=0.5,
                         zero_step_seconds=1e-9, cpu_adam_seconds=3e-9)


def card(memory_gb_s: float = 1000, link_gb_s: float = 100) -> Gpu:
    return Gpu("round", 80, bf16_tflops=100, fp16_tflops=100, fp32_tflops=10, memory_gb_s=memory_gb_s,
               link="test", link_gb_s=link_gb_s)


def test_a_memory_bound_step_and_an_operation_on_the_ridge_by_hand() -> None:
    # 1e12 FLOPs at 50 TFLOP/s = 0.02 s; 4e10 bytes at 2,000 GB/s = 0.02 s: on the ridge, counted as compute
    ridge, copy = [10**12, 4 * 10**10, 1], [10**9, 2 * 10**11, 3]  # the copy: 3 x 0.1 s on memory
    timed = timing.step_time(step([ridge, copy], trainable=0), card(), "bf16", Setup(), 2, False, ROUND)
    assert timed.compute_seconds == pytest.approx(0.02)
    assert timed.micro_seconds == pytest.approx(0.02 + 0.3)
    assert timed.launch_seconds == pytest.approx(4e-6) and timed.bound == "memory"
    assert timed.step_seconds == pytest.approx(2 * 0.32)
    assert timed.parts == pytest.approx({"compute": 0.02, "launches": 4e-6, "dequantisation": 0.0,
                                         "optimizer": 0.0, "communication": 0.0})
    assert timing.operations(step([ridge, copy])) == 4
    fp32 = timing.step_time(step([ridge], trainable=0), card(), "fp32", Setup(), 1, False, ROUND)
    assert fp32.micro_seconds == pytest.approx(0.2) and fp32.bound == "compute"  # 1e12 at 5 TFLOP/s


def test_operations_of_each_kind_add_up() -> None:
    # two compute-bound entries (0.02 s x 2 and 0.04 s) and two memory-bound ones (0.1 s and 0.05 s x 4)
    kernels = [[10**12, 0, 2], [2 * 10**12, 0, 1], [0, 2 * 10**11, 1], [0, 10**11, 4]]
    seconds, compute, memory = timing.roofline(step(kernels), 100e12, 1000e9, ROUND)
    assert (compute, memory) == (pytest.approx(0.08), pytest.approx(0.3))
    assert seconds == pytest.approx(0.38)


def test_a_card_without_bandwidth_or_link_has_no_memory_or_communication_term() -> None:
    sim = step([[0, 10**12, 1], [10**12, 0, 1]], params=10**9, trainable=10**9)
    timed = timing.step_time(sim, card(memory_gb_s=0, link_gb_s=0), "bf16", Setup(gpus=4), 1, False, ROUND)
    assert timed.micro_seconds == pytest.approx(0.02) and timed.optimizer_seconds == 0
    assert timed.comm_seconds == 0


def test_the_optimizer_step_by_hand_for_each_way_of_holding_it() -> None:
    sim = step([], params=2 * 10**9, trainable=10**9)
    plain = timing.step_time(sim, card(), "bf16", Setup(gpus=4), 1, False, ROUND)
    assert plain.optimizer_seconds == pytest.approx(10**9 * 30 / 2e12)  # every GPU updates all: 30 B at 2,000 GB/s
    zero2 = timing.step_time(sim, card(), "bf16", Setup(gpus=4, zero=2), 1, False, ROUND)
    assert zero2.optimizer_seconds == pytest.approx(10**9 / 4 * 1e-9)
    offload = timing.step_time(sim, card(), "bf16", Setup(gpus=4, zero=2, offload_optimizer=True), 1, False, ROUND)
    assert offload.optimizer_seconds == pytest.approx(10**9 / 4 * (3e-9 + 4 / 25e9))
    alone = timing.step_time(sim, card(), "bf16", Setup(offload_optimizer=True), 1, False, ROUND)
    assert alone.optimizer_seconds == pytest.approx(10**9 * (3e-9 + 4 / 25e9))


def test_communication_by_hand_with_and_without_recomputation_and_offloaded_weights() -> None:
    sim = step([], params=4 * 10**9, trainable=10**9)
    link, ring = 100e9 * 0.5, 3 / 4
    zero3 = timing.step_time(sim, card(), "bf16", Setup(gpus=4, zero=3), 2, False, ROUND)
    assert zero3.comm_seconds == pytest.approx(2 * (2 * 4e9 + 1e9) * 2 * ring / link)
    zero3_gc = timing.step_time(sim, card(), "bf16", Setup(gpus=4, zero=3), 2, True, ROUND)
    assert zero3_gc.comm_seconds == pytest.approx(2 * (3 * 4e9 + 1e9) * 2 * ring / link)
    params = timing.step_time(sim, card(), "bf16", Setup(gpus=4, zero=3, offload_params=True), 2, True, ROUND)
    assert params.comm_seconds == pytest.approx(zero3_gc.comm_seconds + 2 * 3 * 4e9 * 2 / 25e9)
    no_gc = timing.step_time(sim, card(), "bf16", Setup(gpus=4, zero=3, offload_params=True), 2, False, ROUND)
    assert no_gc.comm_seconds == pytest.approx(zero3.comm_seconds + 2 * 2 * 4e9 * 2 / 25e9)
    zero2 = timing.step_time(sim, card(), "bf16", Setup(gpus=4, zero=2, offload_params=True), 2, True, ROUND)
    assert zero2.comm_seconds == pytest.approx(3 * 1e9 * 2 * ring / link)  # offload_params means nothing below 3
    two = timing.step_time(sim, card(), "bf16", Setup(gpus=2), 5, True, ROUND)
    assert two.comm_seconds == pytest.approx(2 * 1e9 * 2 * (1 / 2) / link)  # one all-reduce per optimizer step
    assert two.step_seconds == pytest.approx(5 * two.micro_seconds + two.optimizer_seconds + two.comm_seconds)


def test_dequantisation_without_recomputation_and_without_double_quantisation() -> None:
    sim = step([], params=10**9, trainable=10**6, quantizable=8 * 10**8)
    nf4 = timing.step_time(sim, card(), "bf16", Setup(quantization_bit=4, double_quantization=False), 1, False, ROUND)
    assert nf4.dequant_seconds == pytest.approx(2 * 8e8 * (0.5 + 4 / 64 + 2) / 2e12)
    assert nf4.micro_seconds == pytest.approx(nf4.dequant_seconds)  # nothing else in this step
    assert nf4.bound == "compute"  # no operation at all: neither side is larger


def test_launch_bound_steps_add_dequantisation_to_the_launches() -> None:
    sim = step([[10, 10, 1000]], params=10**6, trainable=0, quantizable=10**6)
    timed = timing.step_time(sim, card(), "bf16", Setup(quantization_bit=4), 1, True, ROUND)
    dequant = 3 * 10**6 * (0.5 + 1 / 64 + 4 / (64 * 256) + 2) / 2e12
    assert timed.bound == "launches"
    assert timed.micro_seconds == pytest.approx(1000 * 1e-6 + dequant)


@pytest.mark.parametrize(("written", "key"), [
    ("a100-80g", "a100-80g"), ("A100-80GB", "a100-80g"), ("NVIDIA A100-SXM4-40GB", "a100-40g"), ("4090", "rtx4090"),
    ("RTX 4090", "rtx4090"), ("GeForce RTX 3090", "rtx3090"), ("H100", "h100-80g"), ("Tesla T4", "t4"),
    ("V100 32GB", "v100-32g"), ("a10", "a10"), ("RTX A6000", "rtx-a6000"), ("L40S", "l40s"),
])
def test_a_card_is_found_as_people_write_it(written: str, key: str) -> None:
    assert resolve_gpu(written) == GPUS[key]


def test_a_name_that_fits_several_cards_asks_and_an_unknown_one_gets_the_nearest() -> None:
    with pytest.raises(InputError) as caught:
        resolve_gpu("a100")
    assert str(caught.value) == "--gpu 'a100' fits a100-40g and a100-80g: say which (memory matters to the plan)"
    with pytest.raises(InputError) as caught:
        resolve_gpu("b200")
    assert "--gpu 'b200' is not in the table (t4, " in str(caught.value)
    assert str(caught.value).endswith("did you mean h200? or describe it with --gpu-mem GIB --gpu-tflops TFLOPS")


def test_a_gigabyte_per_second_is_exactly_ten_to_the_nine_bytes() -> None:
    """Cards list decimal GB/s: the memory and link terms divide by exactly 1e9 bytes per GB (to 12 digits, where
    the looser default tolerance would let one byte more per GB pass)."""
    a100 = GPUS["a100-40g"]
    sim = step([], params=10**9, trainable=10**9)
    ddp = timing.step_time(sim, a100, "bf16", Setup(gpus=2), 1, False)
    assert ddp.optimizer_seconds == pytest.approx(10**9 * timing.ADAM_BYTES / (1555 * 10**9 * c.bandwidth_efficiency),
                                                  rel=1e-12)
    assert ddp.comm_seconds == pytest.approx(2 * 10**9 * 2 * 0.5 / (300 * 10**9 * c.link_efficiency), rel=1e-12)
