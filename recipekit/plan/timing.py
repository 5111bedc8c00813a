"""Step time from the simulated step: every operation on the card's roofline (its FLOPs at the peak of the run's
precision, its bytes at the card's memory bandwidth), the kernel launches eager PyTorch issues one per operation,
4-bit dequantisation, the optimizer step and ZeRO's communication over the card's link.

The constants below are the model's only free numbers, the same for every model and card; they are calibrated on
published measured runs (``recipekit/plan/published_runs.yaml``, checked by ``scripts/bench_plan.py --published``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from recipekit.plan.gpus import Gpu
from recipekit.plan.memory import NF4_BYTES, Setup
from recipekit.plan.simulate import Simulation

# the optimizer step of a mixed-precision run: fp32 weight, gradient and Adam's two moments read, the three
# written back, and the half-precision copy of the weight written (bytes per trainable parameter)
ADAM_BYTES = 4 * 4 + 3 * 4 + 2
PCIE_BYTES_PER_SECOND = 25e9  # ZeRO-Offload's round trip: half gradients down, half weights up


@dataclass(frozen=True)
class Constants:
    """The model's free numbers, the same for every model and card."""

    # share of the precision's peak that matrix products reach, attention's whole score matrices counted (a causal
    # flash-attention kernel computes half of them, which this share absorbs at long sequences)
    matmul_efficiency: float = 0.9
    # the bandwidth the counted bytes move at, relative to the card's: above 1 because the step counts every
    # operation's inputs and outputs as if nothing stayed in cache or was fused (flash attention, fused norms)
    bandwidth_efficiency: float = 1.53
    launch_seconds: float = 4.8e-6  # per operation: below this a kernel waits for the CPU to issue it
    link_efficiency: float = 0.7  # share of the link's bandwidth NCCL's collectives reach
    # DeepSpeed's ZeRO optimizer step runs far below the memory bandwidth (partition bookkeeping, flattening,
    # overflow checks): seconds per trainable parameter of the GPU's partition
    zero_step_seconds: float = 0.49e-9
    cpu_adam_seconds: float = 2.0e-9  # ZeRO-Offload's CPU Adam per parameter (assumed: no published point yet)


CALIBRATED = Constants()


@dataclass(frozen=True)
class StepTime:
    """Seconds of one optimizer step and of its parts."""

    micro_seconds: float  # one forward + backward
    compute_seconds: float  # the micro-step's operations on the roofline
    launch_seconds: float  # the micro-step's kernel launches
    dequant_seconds: float  # the micro-step's 4-bit dequantisation
    optimizer_seconds: float
    comm_seconds: float  # per optimizer step
    step_seconds: float
    bound: str  # what limits the micro-step: compute, memory or launches

    @property
    def parts(self) -> dict[str, float]:
        return {"compute": self.compute_seconds, "launches": self.launch_seconds, "dequantisation":
                self.dequant_seconds, "optimizer": self.optimizer_seconds, "communication": self.comm_seconds}


def roofline(sim: Simulation, peak_flops: float, bandwidth: float, c: Constants = CALIBRATED
             ) -> tuple[float, float, float]:
    """(seconds, seconds of compute-bound operations, of memory-bound ones) of the micro-step's operations."""
    compute = memory = 0.0
    for flops, size, count in sim.kernels:
        on_compute, on_memory = flops / (peak_flops * c.matmul_efficiency), size / (bandwidth * c.bandwidth_efficiency)
        if on_compute >= on_memory:
            compute += count * on_compute
        else:
            memory += count * on_memory
    return compute + memory, compute, memory


def operations(sim: Simulation) -> int:
    return sum(count for _, _, count in sim.kernels)


def communication(sim: Simulation, setup: Setup, gradient_checkpointing: bool, accumulation: int,
                  link_bytes_per_second: float) -> float:
    """Bytes each GPU sends per optimizer step over the link, as seconds. ZeRO-3 gathers every weight for the
    forward, the recomputation and the backward and reduce-scatters the gradients each micro-step; ZeRO-2
    reduce-scatters the gradients each micro-step and gathers the updated weights once; plain data parallelism
    all-reduces the gradients once. A ring moves (n - 1) / n of the data per GPU."""
    n = setup.gpus
    if n <= 1:
        return 0.0
    share, half = (n - 1) / n, 2
    if setup.zero == 3:
        gathers = 3 if gradient_checkpointing else 2
        sent = accumulation * (gathers * sim.params + sim.trainable) * half * share
    elif setup.zero == 2:
        sent = (accumulation + 1) * sim.trainable * half * share
    else:
        sent = 2 * sim.trainable * half * share
    return sent / link_bytes_per_second


def step_time(sim: Simulation, gpu: Gpu, precision: str, setup: Setup, accumulation: int,
              gradient_checkpointing: bool, c: Constants = CALIBRATED) -> StepTime:
    """One optimizer step of ``accumulation`` micro-steps on ``setup.gpus`` cards of ``gpu``."""
    bandwidth = gpu.memory_gb_s * 1e9 or math.inf  # a card described by its peak alone: no memory term
    seconds, compute, memory = roofline(sim, gpu.peak_tflops(precision) * 1e12, bandwidth, c)
    launches = operations(sim) * c.launch_seconds
    dequant = 0.0
    if setup.quantization_bit == 4:  # each use of a 4-bit weight dequantises it: read NF4, write half precision
        uses = 3 if gradient_checkpointing else 2
        dequant = uses * sim.quantizable * (NF4_BYTES[setup.double_quantization] + 2) / (
            bandwidth * c.bandwidth_efficiency)
    micro = max(seconds, launches) + dequant
    bound = "launches" if launches > seconds else ("compute" if compute >= memory else "memory")
    partition = sim.trainable / setup.gpus if setup.zero else sim.trainable
    if setup.offload_optimizer:
        optimizer = partition * (c.cpu_adam_seconds + 2 * 2 / PCIE_BYTES_PER_SECOND)
    else:
        optimizer = partition * (c.zero_step_seconds if setup.zero else
                                 ADAM_BYTES / (bandwidth * c.bandwidth_efficiency))
    comm = communication(sim, setup, gradient_checkpointing, accumulation,
                         gpu.link_gb_s * 1e9 * c.link_efficiency or math.inf)
    if setup.zero == 3 and setup.offload_params:  # every gather first brings the 16-bit weights over PCIe
        comm += accumulation * (3 if gradient_checkpointing else 2) * sim.params * 2 / PCIE_BYTES_PER_SECOND
    return StepTime(micro, compute, launches, dequant, optimizer, comm, accumulation * micro + optimizer + comm, bound)
