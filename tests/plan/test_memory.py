"""recipekit/plan/memory.py and the planner's generation memory: model states per GPU under ZeRO-3 with frozen
base weights, 4-bit weights, and the key/value cache of grouped-query attention, each against a hand count from
the published architecture (never from the code's own formulas)."""

from __future__ import annotations

import pytest

from recipekit.plan.memory import GIB, Setup, model_states
from recipekit.plan.models import load_config
from recipekit.plan.planner import Run, predict_memory
from recipekit.plan.simulate import Shape, Simulation

# Llama-3.1-8B as Meta publishes it: 8,030,261,248 parameters, 32 layers of hidden size 4096, 32 query heads and 8
# key/value heads of 128 dimensions, MLP 14336, vocabulary 128,256 (untied input and output embeddings)
LLAMA_8B = 8_030_261_248
EMBEDDING = 128_256 * 4096  # the largest single weight, gathered whole by ZeRO-3
LAYER_LINEARS = 4096 * 4096 * 2 + 4096 * 1024 * 2 + 3 * 4096 * 14336  # q, o; k, v; gate, up, down
LORA_QV_R8 = 32 * (8 * (4096 + 4096) + 8 * (4096 + 1024))  # A and B of q_proj and v_proj, rank 8, every layer


def llama_8b(trainable: int) -> Simulation:
    return Simulation(params=LLAMA_8B + trainable, trainable=trainable, largest_layer=EMBEDDING,
                      quantizable=32 * LAYER_LINEARS)


def test_lora_under_zero3_partitions_the_frozen_base_over_the_gpus() -> None:
    assert LORA_QV_R8 == 3_407_872  # peft's count for this target (print_trainable_parameters)
    states = model_states(llama_8b(LORA_QV_R8), Setup(gpus=8, zero=3))
    # by hand: the 16-bit frozen base split 8 ways (2,007,565,312 bytes), the embedding gathered whole in fp32
    # (2,101,346,304), the adapters' 16-bit copy split 8 ways (851,968); their gradients 4 bytes and Adam
    # with fp32 master weights 12 bytes per adapter parameter, split 8 ways
    assert states["weights"] == 2_007_565_312 + 2_101_346_304 + 851_968
    assert states["gradients"] == 1_703_936 and states["optimizer state"] == 5_111_808
    assert sum(states.values()) / GIB == pytest.approx(3.834, abs=0.001)  # not 17.0 GiB with the base whole
    one = model_states(llama_8b(LORA_QV_R8), Setup(gpus=1, zero=3))
    assert one["weights"] - states["weights"] == pytest.approx(7 / 8 * (2 * LLAMA_8B + 2 * LORA_QV_R8))


def test_lora_under_zero2_keeps_the_frozen_base_whole_on_every_gpu() -> None:
    states = model_states(llama_8b(LORA_QV_R8), Setup(gpus=8, zero=2))
    assert states["weights"] == 2 * LLAMA_8B + 2 * LORA_QV_R8  # ZeRO-2 partitions gradients and optimizer only
    assert states["optimizer state"] == 12 * LORA_QV_R8 / 8


def test_qlora_weights_are_four_bits_with_their_block_constants() -> None:
    # bitsandbytes NF4 with double quantisation, 16,384 weights (256 blocks of 64): 8,192 bytes of 4-bit codes,
    # 256 one-byte block maxima and one 4-byte constant for the 256 blocks
    nf4 = 8452 / 16384
    linears = 32 * LAYER_LINEARS
    rest = LLAMA_8B - linears  # embeddings, output head and norms stay 16-bit
    states = model_states(llama_8b(LORA_QV_R8), Setup(gpus=1, quantization_bit=4, double_quantization=True))
    assert states["weights"] == pytest.approx(linears * nf4 + 2 * rest + 4 * LORA_QV_R8)
    assert states["weights"] / GIB == pytest.approx(5.32, abs=0.01)
    partitioned = model_states(llama_8b(LORA_QV_R8), Setup(gpus=4, zero=3, quantization_bit=4))
    assert partitioned["weights"] == pytest.approx(4 * EMBEDDING + (linears * nf4 + 2 * rest + 2 * LORA_QV_R8) / 4)


def test_generation_holds_the_key_value_cache_of_the_key_value_heads() -> None:
    config = load_config("meta-llama/Llama-3.1-8B")
    run = Run("meta-llama/Llama-3.1-8B", Shape(batch=4, seq=512), Setup(), 1, 1.0, -1, ("agnews_val",), "data",
              None, predict=True, new_tokens=64)
    memory = predict_memory(run, config, LLAMA_8B)
    # keys and values, 32 layers, 8 key/value heads of 128 dimensions, 4 rows of 512 + 64 tokens, 2 bytes each:
    # 288 MiB (grouped-query attention; the 32 query heads would make it 1,152 MiB)
    assert memory.parts["kv cache"] == 2 * 32 * 8 * 128 * 4 * 576 * 2 == 288 * 2**20
    assert memory.parts["weights"] == 2 * LLAMA_8B


# A made-up model of round numbers: 1,000,000 parameters, a largest layer of 100,000, 600,000 in quantisable
# linear layers; LoRA trains 10,000 of them. Each expected value is DeepSpeed's (or the HF Trainer's) bytes per
# parameter written out by hand.
FULL = Simulation(params=1_000_000, trainable=1_000_000, largest_layer=100_000, quantizable=600_000,
                  peak={"ACT": 300_000, "TEMP": 50_000, "PARAM": 9})
LORA = Simulation(params=1_000_000, trainable=10_000, largest_layer=100_000, quantizable=600_000)


@pytest.mark.parametrize("sim, setup, weights, gradients, optimizer, host", [
    # no DeepSpeed: fp32 trainable weights, fp32 gradients, Adam's two fp32 moments, on every GPU
    (FULL, Setup(gpus=4), 4_000_000, 4_000_000, 8_000_000, 0),
    (FULL, Setup(gpus=1, half=False), 4_000_000, 4_000_000, 8_000_000, 0),
    # LoRA: 990,000 frozen in 16 bits (32 bits without half precision) beside the fp32 adapters
    (LORA, Setup(), 1_980_000 + 40_000, 40_000, 80_000, 0),
    (LORA, Setup(half=False), 3_960_000 + 40_000, 40_000, 80_000, 0),
    # DPO with a separate reference model: its 1,000,000 weights in 16 bits too
    (LORA, Setup(reference_model=True), 2_000_000 + 1_980_000 + 40_000, 40_000, 80_000, 0),
    # ZeRO-2 on 4 GPUs: 16-bit weights whole, 2 + 4 bytes of gradients and 4 + 8 of fp32 master and Adam split
    (FULL, Setup(gpus=4, zero=2), 2_000_000, 1_500_000, 3_000_000, 0),
    # ... the optimizer offloaded: host memory max(4 x GPUs, 16) x 1.5 bytes per parameter
    (FULL, Setup(gpus=4, zero=2, offload_optimizer=True), 2_000_000, 0, 0, 24_000_000),
    (FULL, Setup(gpus=8, zero=2, offload_optimizer=True), 2_000_000, 0, 0, 48_000_000),
    # ZeRO-3 on 4 GPUs: the largest layer gathered in fp32 (400,000) plus a quarter of the 16-bit weights
    (FULL, Setup(gpus=4, zero=3), 400_000 + 500_000, 1_000_000, 3_000_000, 0),
    (FULL, Setup(gpus=4, zero=3, offload_optimizer=True), 900_000, 0, 0, 24_000_000),  # 16 x 1.5 on the host
    (FULL, Setup(gpus=4, zero=3, offload_params=True), 400_000, 0, 0, 27_000_000),  # 18 x 1.5 on the host
    # ... LoRA: the adapters' 18 bytes, and the 990,000 frozen weights' 16-bit copy (2 bytes), each x 1.5
    (LORA, Setup(gpus=2, zero=3, offload_params=True), 400_000, 0, 0, 10_000 * 27 + 990_000 * 3),
    # ... DPO's separate reference model is offloaded as well: its 1,000,000 16-bit weights x 1.5
    (LORA, Setup(gpus=2, zero=3, offload_params=True, reference_model=True), 400_000, 0, 0,
     10_000 * 27 + 990_000 * 3 + 1_000_000 * 3),
    (LORA, Setup(gpus=2, zero=3, offload_optimizer=True), 400_000 + 990_000 + 10_000, 0, 0, 240_000),
    # QLoRA without double quantisation: 36 bytes per 64 weights (4-bit codes and an fp32 block maximum)
    (LORA, Setup(quantization_bit=4, double_quantization=False), 600_000 * 36 / 64 + 390_000 * 2 + 40_000, 40_000,
     80_000, 0),
], ids=["full", "full-fp32", "lora", "lora-fp32", "dpo-reference", "zero2", "zero2-offload", "zero2-offload-8",
        "zero3", "zero3-offload-optimizer", "zero3-offload-params", "lora-zero3-offload-params",
        "dpo-reference-zero3-offload-params", "lora-zero3-offload-optimizer", "qlora-single"])
def test_model_states_and_host_memory_by_hand(sim: Simulation, setup: Setup, weights: float, gradients: float,
                                              optimizer: float, host: float) -> None:
    from recipekit.plan.memory import host_bytes

    states = model_states(sim, setup)
    assert (states["weights"], states["gradients"], states["optimizer state"]) == pytest.approx(
        (weights, gradients, optimizer), abs=0.5)  # to the byte
    assert host_bytes(sim, setup) == pytest.approx(host, abs=0.5)


def test_the_peak_adds_activations_buckets_and_the_allowance() -> None:
    from recipekit.plan.memory import per_gpu

    memory = per_gpu(FULL, Setup(gpus=4, zero=3, buffer_elements=250_000))
    states = 900_000 + 1_000_000 + 3_000_000
    assert memory.parts["activations"] == 350_000  # the simulated step's activations and temporaries
    assert memory.parts["buffers"] == 500_000  # DeepSpeed's bucket elements in 16 bits
    assert memory.parts["allowance"] == pytest.approx(2**30 + 0.1 * (states + 350_000 + 500_000))
    assert memory.model_states == pytest.approx(states)
    assert memory.total == pytest.approx(1.1 * (states + 850_000) + 2**30)
    assert memory.host_bytes == 0
    no_deepspeed = per_gpu(FULL, Setup(buffer_elements=250_000))
    assert no_deepspeed.parts["buffers"] == 0
    assert per_gpu(FULL, Setup(gpus=4, zero=3, offload_params=True)).host_bytes == 27_000_000


def test_lora_with_offloaded_parameters_holds_the_frozen_base_on_the_host() -> None:
    """Qwen3-4B, LoRA rank 16 on every linear layer, under the shipped ZeRO-3 offload config on 2 GPUs: DeepSpeed's
    estimator for all parameters (18 bytes each, as if all were trained) less its optimizer-offload figure (16
    bytes: fp32 master weights, gradients and Adam) for the frozen ones, which keep only their 16-bit copy."""
    from conftest import ROOT
    from deepspeed.runtime.zero.stage3 import estimate_zero3_model_states_mem_needs as zero3

    from recipekit.plan.memory import host_bytes
    from recipekit.plan.planner import deepspeed_setup

    base, adapters, largest = 4_022_468_096, 33_030_144, 151_936 * 2560  # published; peft's count; the embedding
    setup = Setup(gpus=2, **deepspeed_setup(str(ROOT / "recipes/deepspeed/ds_z3_offload_config.json"), 2560))
    assert (setup.zero, setup.offload_params, setup.offload_optimizer) == (3, True, True)
    sim = Simulation(params=base + adapters, trainable=adapters, largest_layer=largest, quantizable=0)
    expected = (zero3(base + adapters, largest, 2, 1, cpu_offload=True, cpu_offload_params=True)[0]
                - zero3(base, largest, 2, 1, cpu_offload=True, cpu_offload_params=False)[0])
    assert host_bytes(sim, setup) == expected
    assert expected / GIB == pytest.approx(12.07, abs=0.01)  # the 16-bit base alone is 7.49 GiB: not 0.83 in all
