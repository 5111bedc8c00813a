"""Common GPUs: memory (GiB the driver reports) and dense bf16/fp16 tensor-core peak, from NVIDIA's data sheets."""

from __future__ import annotations

import re
from dataclasses import dataclass

from recipekit.errors import InputError


@dataclass(frozen=True)
class Gpu:
    """A card: name, memory in GiB, dense peak TFLOP/s in bf16 (None: no bf16) and fp16."""

    name: str
    memory_gib: float
    bf16_tflops: float | None
    fp16_tflops: float

    def peak_tflops(self, bf16: bool) -> float:
        """The dense peak for the recipe's half precision (fp16 where the card has no bf16)."""
        return self.bf16_tflops if bf16 and self.bf16_tflops else self.fp16_tflops


# dense (no sparsity) tensor-core peaks; GeForce cards at fp32 accumulation, as PyTorch runs them
GPUS = {
    "t4": Gpu("T4 16GB", 15.0, None, 65.0),
    "v100-16g": Gpu("V100 16GB", 16.0, None, 125.0),
    "v100-32g": Gpu("V100 32GB", 32.0, None, 125.0),
    "a10": Gpu("A10 24GB", 22.5, 125.0, 125.0),
    "l4": Gpu("L4 24GB", 22.5, 121.0, 121.0),
    "rtx3090": Gpu("RTX 3090 24GB", 24.0, 71.0, 71.0),
    "rtx4090": Gpu("RTX 4090 24GB", 24.0, 165.2, 165.2),
    "l40s": Gpu("L40S 48GB", 45.0, 362.0, 362.0),
    "rtx-a6000": Gpu("RTX A6000 48GB", 47.5, 154.8, 154.8),
    "a100-40g": Gpu("A100 40GB", 40.0, 312.0, 312.0),
    "a100-80g": Gpu("A100 80GB", 80.0, 312.0, 312.0),
    "h100-80g": Gpu("H100 SXM 80GB", 79.6, 989.0, 989.0),
    "h200": Gpu("H200 141GB", 139.8, 989.0, 989.0),
}


def resolve_gpu(name: str | None, memory_gib: float | None = None, tflops: float | None = None) -> Gpu:
    """A card of the table, or one described by --gpu-mem / --gpu-tflops (which also override the table's)."""
    if name is None and memory_gib is None:
        raise InputError(f"name a card with --gpu ({', '.join(GPUS)}) or describe one with --gpu-mem and --gpu-tflops")
    if name is not None and name.lower() not in GPUS:
        raise InputError(f"--gpu {name!r} is not in the table ({', '.join(GPUS)}); describe it with --gpu-mem GIB "
                         "--gpu-tflops TFLOPS")
    base = GPUS[name.lower()] if name else Gpu("custom", 0.0, None, 0.0)
    if name is None and tflops is None:
        raise InputError("--gpu-mem needs --gpu-tflops (the card's dense bf16/fp16 peak)")
    peak = tflops if tflops is not None else None
    return Gpu(base.name if name else f"custom {memory_gib:g} GiB",
               memory_gib if memory_gib is not None else base.memory_gib,
               peak if peak is not None else base.bf16_tflops, peak if peak is not None else base.fp16_tflops)


HARDWARE = re.compile(r"^\s*(?:(\d+)\s*x\s*)?([^.(;]*)", re.I)
NAMED = (("a100", "40", "a100-40g"), ("a100", "80", "a100-80g"), ("a6000", "", "rtx-a6000"), ("h100", "", "h100-80g"),
         ("h200", "", "h200"), ("4090", "", "rtx4090"), ("3090", "", "rtx3090"), ("t4", "", "t4"), ("a10", "", "a10"))


def report_hardware(hardware: str) -> tuple[str, int, bool]:
    """(card key, GPU count, named) from a report's hardware ("8x A100-SXM4-40GB"); a GPU the report does not
    name is planned on the smallest common cloud card, a T4 (named False)."""
    match = HARDWARE.search(hardware)
    if not match or not hardware.strip():
        return "t4", 1, False
    count, text = int(match.group(1) or 1), match.group(2).lower()
    for tag, size, key in NAMED:
        if tag in text and size in text:
            return key, count, True
    digits = re.match(r"\s*(\d+)\s*(?:x\s*)?gpu", text)
    return "t4", int(digits.group(1)) if digits else count, False
