"""What one GPU holds during a training step, by kind, for a simulated step under the recipe's precision, ZeRO
stage and offload; model-state bytes per parameter follow DeepSpeed's own estimators."""

from __future__ import annotations

from dataclasses import dataclass, field

from recipekit.plan.simulate import Simulation

GIB = 2**30
CUDA_CONTEXT = 1.0 * GIB  # CUDA context + cuBLAS workspace per process (typical; a GPU run calibrates it)
FRAGMENTATION = 0.10  # the caching allocator's unusable share on top of live tensors (assumed)
# NF4 weights: 4 bits, one absmax per 64 weights; double quantisation stores those as 8 bits plus one fp32
# constant per 256 blocks (bitsandbytes' layout), i.e. bytes per quantised weight:
NF4_BYTES = {True: 0.5 + 1 / 64 + 4 / (64 * 256), False: 0.5 + 4 / 64}


@dataclass(frozen=True)
class Setup:
    """How the run holds its states: GPUs, ZeRO stage, offload, precision, quantisation, a separate reference."""

    gpus: int = 1
    zero: int = 0  # 0: no DeepSpeed (one full copy per GPU), 1, 2 or 3
    offload_optimizer: bool = False
    offload_params: bool = False
    half: bool = True  # bf16/fp16 mixed precision
    quantization_bit: int | None = None
    double_quantization: bool = True
    reference_model: bool = False  # DPO with a separate ref_model (its weights held too)
    buffer_elements: int = 0  # DeepSpeed's reduce (+ ZeRO-3 prefetch) bucket elements
    pure_bf16: bool = False  # LLaMA-Factory's pure_bf16: trainable weights, gradients and Adam moments in bf16


@dataclass
class Memory:
    """Bytes per GPU by kind, and host bytes for offloaded states."""

    parts: dict[str, float] = field(default_factory=dict)
    host_bytes: float = 0.0

    @property
    def total(self) -> float:
        return sum(self.parts.values())

    @property
    def model_states(self) -> float:
        return sum(self.parts.get(k, 0.0) for k in ("weights", "gradients", "optimizer state"))


def frozen_weight_bytes(sim: Simulation, setup: Setup) -> float:
    """Bytes of the weights nothing trains: every parameter but the trainable ones (none for full fine-tuning) in
    16 bits (32 without half precision; 4-bit NF4 for the quantised linear layers), and a separate reference
    model's whole copy."""
    frozen = sim.params - sim.trainable
    unit = 2.0 if setup.half else 4.0
    if setup.quantization_bit == 4:
        quantised = min(sim.quantizable, frozen)
        found = quantised * NF4_BYTES[setup.double_quantization] + (frozen - quantised) * unit
    else:
        found = frozen * unit
    return found + (sim.params * unit if setup.reference_model else 0.0)


def model_states(sim: Simulation, setup: Setup) -> dict[str, float]:
    """Weights, gradients and optimizer state per GPU.

    Trainable parameters (all of them for full fine-tuning, the adapters for LoRA), as DeepSpeed counts them:
    16-bit weights 2 bytes (replicated under ZeRO-2, partitioned under ZeRO-3, plus the largest layer gathered
    whole in 4 bytes per parameter); 18 bytes partitioned over the GPUs (ZeRO-2: 16-bit and fp32 gradients 2 + 4,
    fp32 master weights 4, Adam moments 8; ZeRO-3: the 16-bit weights are in its 18). Without DeepSpeed, the HF
    Trainer keeps fp32 trainable weights (LLaMA-Factory upcasts them), fp32 gradients and Adam: 4 + 4 + 8 on
    every GPU; with ``pure_bf16`` it upcasts nothing: bf16 weights, gradients and Adam moments, 2 + 2 + 4. ZeRO-1
    partitions the optimizer states only: ZeRO-2's figure with the 16-bit gradients whole on every GPU (they
    accumulate there until the step). DeepSpeed keeps its fp32 copies under ``pure_bf16`` too. Frozen weights:
    2 bytes (4-bit NF4 for the quantised linear layers), partitioned under ZeRO-3.
    """
    n, t = setup.gpus, sim.trainable
    frozen_bytes = frozen_weight_bytes(sim, setup)
    if setup.zero == 0 and setup.pure_bf16:
        return {"weights": frozen_bytes + 2.0 * t, "gradients": 2.0 * t, "optimizer state": 4.0 * t}
    if setup.zero == 0:
        return {"weights": frozen_bytes + 4.0 * t, "gradients": 4.0 * t, "optimizer state": 8.0 * t}
    if setup.zero in (1, 2):
        whole = 2.0 * t if setup.zero == 1 else 0.0  # ZeRO-1's 16-bit gradients, not partitioned
        if setup.offload_optimizer:
            return {"weights": frozen_bytes + 2.0 * t, "gradients": whole, "optimizer state": 0.0}
        partitioned = 4.0 if setup.zero == 1 else 6.0
        return {"weights": frozen_bytes + 2.0 * t, "gradients": whole + partitioned * t / n,
                "optimizer state": 12.0 * t / n}
    gathered = 4.0 * sim.largest_layer
    if setup.offload_params:
        return {"weights": gathered, "gradients": 0.0, "optimizer state": 0.0}
    if setup.offload_optimizer:
        return {"weights": gathered + frozen_bytes / n + 2.0 * t / n, "gradients": 0.0, "optimizer state": 0.0}
    return {"weights": gathered + frozen_bytes / n + 2.0 * t / n, "gradients": 4.0 * t / n,
            "optimizer state": 12.0 * t / n}


def host_bytes(sim: Simulation, setup: Setup) -> float:
    """Host memory (per node) DeepSpeed's estimators ask for the offloaded states, their 1.5 buffer factor
    included. Offloaded parameters take the frozen weights along: their 16-bit copy on the host, without the
    optimizer's 16 bytes of the trainable ones."""
    t = sim.trainable
    if setup.zero in (1, 2) and setup.offload_optimizer:
        return t * max(4 * setup.gpus, 16) * 1.5
    if setup.zero == 3 and setup.offload_params:
        return (t * 18 + frozen_weight_bytes(sim, setup)) * 1.5
    if setup.zero == 3 and setup.offload_optimizer:
        return t * 16 * 1.5
    return 0.0


def per_gpu(sim: Simulation, setup: Setup) -> Memory:
    """The step's peak on one GPU: model states, the simulated activations, DeepSpeed's buckets, the allowance."""
    parts = model_states(sim, setup)
    parts["activations"] = float(sim.activation_bytes)
    parts["buffers"] = 2.0 * setup.buffer_elements if setup.zero else 0.0
    parts["allowance"] = CUDA_CONTEXT + FRAGMENTATION * sum(parts.values())
    return Memory(parts, host_bytes(sim, setup))
