"""Fitting a new recipe to a card by the planner: the cutoff from the rows' measured token lengths, then a search
over method (full, LoRA, QLoRA), DeepSpeed ZeRO stage and offload, gradient checkpointing and per-device batch
(the accumulation keeping the global batch), each candidate planned as ``llm-recipes plan`` plans a recipe
(:mod:`recipekit.plan.planner`); the fastest that fits with the planner's margin wins.

Simulations are shared: a simulated step depends only on the shape (method, batch, length, checkpointing), so
ZeRO stages, offload, 4-bit weights and the GPU count reuse it (memory by :func:`recipekit.plan.memory.per_gpu`,
time by :func:`recipekit.plan.timing.step_time`). Memory grows with the per-device batch, so each combination's
largest batch that fits is the largest batch that divides the global batch when it fits, else found by bisection
over the smaller ones.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import Any

from recipekit.errors import InputError
from recipekit.plan.gpus import Gpu
from recipekit.plan.memory import GIB, per_gpu
from recipekit.plan.planner import TIGHT, Run, optimizer_steps
from recipekit.plan.simulate import Shape, Simulation, simulate
from recipekit.plan.timing import step_time

METHODS = ("full", "lora", "qlora")
PERCENTILE = 99  # the cutoff is the longest row, or this percentile when the longest is far beyond it
FAR_BEYOND = 1.5  # "far": the longest row above this multiple of the percentile
ZERO3 = "recipes/deepspeed/ds_z3_config.json"
ZERO3_OFFLOAD = "recipes/deepspeed/ds_z3_offload_config.json"
ZERO2 = "recipes/deepspeed/ds_z2_config.json"


def choose_cutoff(lengths: list[int]) -> tuple[int, int, str]:
    """(cutoff_len, rows cut, why): the longest row, or the 99th percentile (rounded up) when the longest row is
    more than 1.5x that, saying how many rows are cut."""
    import numpy as np

    if not lengths:
        raise InputError("no rows to measure")
    longest = max(lengths)
    high = math.ceil(float(np.percentile(lengths, PERCENTILE)))
    if longest <= FAR_BEYOND * high:
        return longest, 0, f"the longest row: {longest} tokens ({len(lengths)} rows measured)"
    cut = sum(length > high for length in lengths)
    return high, cut, (f"the {PERCENTILE}th percentile of {len(lengths)} rows: {high} tokens (the longest is "
                       f"{longest}); {cut} row(s) longer are cut to it")


@dataclass(frozen=True)
class Candidate:
    """One way to run the recipe: method, DeepSpeed, checkpointing, per-device batch and accumulation."""

    method: str  # full | lora | qlora
    zero: int  # 0 (no DeepSpeed), 2 or 3
    offload: bool
    gradient_checkpointing: bool
    batch: int
    accumulation: int

    @property
    def deepspeed(self) -> str | None:
        if self.zero == 3:
            return ZERO3_OFFLOAD if self.offload else ZERO3
        return ZERO2 if self.zero == 2 else None

    def describe(self) -> str:
        ds = {0: "no DeepSpeed", 2: "ZeRO-2", 3: "ZeRO-3 + CPU offload" if self.offload else "ZeRO-3"}[self.zero]
        gc = "checkpointing" if self.gradient_checkpointing else "no checkpointing"
        return f"{self.method}, {ds}, {gc}, batch {self.batch} x {self.accumulation} accumulation"

    def recipe_values(self) -> dict[str, Any]:
        """The recipe keys this candidate sets."""
        values: dict[str, Any] = {"finetuning_type": "full" if self.method == "full" else "lora",
                                  "per_device_train_batch_size": self.batch,
                                  "gradient_accumulation_steps": self.accumulation}
        if self.method == "qlora":
            values["quantization_bit"] = 4
        if self.deepspeed:
            values["deepspeed"] = self.deepspeed
        if not self.gradient_checkpointing:
            values["disable_gradient_checkpointing"] = True
        return values


@dataclass
class Planned:
    """A candidate as the planner sees it on the card."""

    candidate: Candidate
    peak_gib: float
    host_gib: float
    step_seconds: float
    steps: int
    hours: float
    cost: float | None
    fits: bool
    why: str = ""  # why it was not chosen ("" for the choice)

    def as_dict(self) -> dict[str, Any]:
        return {"choice": self.candidate.describe(), **self.candidate.recipe_values(), "peak_gib": self.peak_gib,
                "host_gib": self.host_gib, "step_seconds": self.step_seconds, "steps": self.steps,
                "hours": self.hours, "cost": self.cost, "fits": self.fits, "why": self.why}


@dataclass
class Search:
    """The search's inputs and its shared simulations."""

    run: Run  # the base run (LoRA, checkpointing on), read from the recipe by the planner
    config: Any
    gpu: Gpu
    gpus: int
    rows: int
    global_batch: int
    full_reference: bool = False  # full DPO holds a frozen reference copy of the model

    def __post_init__(self) -> None:
        self.simulations: dict[Shape, Simulation] = {}

    def simulation(self, shape: Shape) -> Simulation:
        if shape not in self.simulations:
            self.simulations[shape] = simulate(self.config, shape)
        return self.simulations[shape]

    def batches(self) -> list[int]:
        """Per-device batches that keep the global batch exactly, largest first."""
        per_gpu_batch = self.global_batch // self.gpus
        return [b for b in range(per_gpu_batch, 0, -1) if per_gpu_batch % b == 0 and (b & (b - 1) == 0 or
                                                                                          b == per_gpu_batch)]

    def plan(self, candidate: Candidate) -> Planned:
        """The planner's memory, step time, hours and cost of one candidate (its step simulated once per shape)."""
        full = candidate.method == "full"
        shape = replace(self.run.shape, batch=candidate.batch, gradient_checkpointing=candidate.gradient_checkpointing,
                        method="full" if full else "lora",
                        lora_dropout=0.0 if full else self.run.shape.lora_dropout)  # as the planner reads a full recipe
        setup = replace(self.run.setup, gpus=self.gpus, zero=candidate.zero, offload_optimizer=candidate.offload,
                        offload_params=candidate.offload, quantization_bit=4 if candidate.method == "qlora" else None,
                        reference_model=self.full_reference and candidate.method == "full")
        sim = self.simulation(shape)
        memory = per_gpu(sim, setup)
        seconds = step_time(sim, self.gpu, self.run.precision_on(self.gpu), setup, candidate.accumulation,
                            candidate.gradient_checkpointing).step_seconds
        steps = optimizer_steps(self.rows, candidate.batch, candidate.accumulation, self.gpus, self.run.epochs)
        hours = steps * seconds / 3600
        price = self.gpu.price_per_hour
        return Planned(candidate, memory.total / GIB, memory.host_bytes / GIB, seconds, steps, hours,
                       hours * self.gpus * price if price else None,
                       memory.total <= TIGHT * self.gpu.memory_gib * GIB)

    def combinations(self, methods: tuple[str, ...]) -> list[tuple[str, int, bool, bool]]:
        """(method, ZeRO stage, offload, checkpointing) to try: ZeRO-2/3 only across several GPUs (on one they
        partition nothing), CPU offload on any count; QLoRA without ZeRO-3 (its 4-bit weights are not
        partitioned)."""
        found = []
        for method in methods:
            stages = [(0, False)] + ([(2, False), (3, False)] if self.gpus > 1 else [])
            if method != "qlora":
                stages.append((3, True))
            else:
                stages = [s for s in stages if s[0] < 3]
            found += [(method, zero, offload, gc) for zero, offload in stages for gc in (False, True)]
        return found

    def largest_fitting(self, method: str, zero: int, offload: bool, gc: bool) -> Planned:
        """The largest per-device batch of one combination that fits: the largest batch when it fits, else a
        bisection (memory grows with the batch); the smallest batch's plan when none fits."""
        batches = self.batches()
        per_gpu_batch = self.global_batch // self.gpus

        def at(index: int) -> Planned:
            b = batches[index]
            return self.plan(Candidate(method, zero, offload, gc, b, per_gpu_batch // b))

        largest = at(0)
        if largest.fits:
            return largest
        low, high = 1, len(batches) - 1  # batches[0] does not fit; find the first index that fits
        smallest = at(high)
        if not smallest.fits:
            return smallest
        best = smallest
        while low < high:
            middle = (low + high) // 2
            planned = at(middle)
            if planned.fits:
                best, high = planned, middle
            else:
                low = middle + 1
        return best


def search(search: Search, methods: tuple[str, ...], hours: float | None = None,
           budget: float | None = None) -> list[Planned]:
    """Every combination's best plan, the choice first (the fastest that fits, within ``hours`` and ``budget``),
    then the runners-up by hours, each with why it was not chosen."""
    planned = [search.largest_fitting(*combo) for combo in search.combinations(methods)]
    card = f"{search.gpus} x {search.gpu.name}"
    for p in planned:
        if not p.fits:
            p.why = (f"does not fit: {p.peak_gib:.1f} GiB at per-device batch {p.candidate.batch} is above "
                     f"{TIGHT:.0%} of the {search.gpu.memory_gib:g} GiB of {card}")
        elif hours is not None and p.hours > hours:
            p.why = f"over --hours {hours:g}: {p.hours:.2f} h"
        elif budget is not None and (p.cost is None or p.cost > budget):
            p.why = f"over --budget ${budget:g}: " + (f"${p.cost:.2f}" if p.cost is not None else
                                                      "the card has no price")
    allowed = sorted((p for p in planned if not p.why), key=lambda p: (p.hours, p.peak_gib))
    if not allowed:
        fitting = [p for p in planned if p.fits]
        if fitting:
            quickest = min(fitting, key=lambda p: p.hours)
            cost = f", ${quickest.cost:.2f}" if quickest.cost else ""
            raise InputError(f"no plan on {card} meets the limit: the quickest that fits "
                             f"({quickest.candidate.describe()}) takes {quickest.hours:.2f} h{cost}; raise "
                             "--hours/--budget or add GPUs")
        least = min(planned, key=lambda p: p.peak_gib)
        raise InputError(f"nothing fits on {card}: the smallest plan ({least.candidate.describe()}) peaks at "
                         f"{least.peak_gib:.1f} GiB of {search.gpu.memory_gib:g}; use a larger card, more GPUs "
                         "(--gpus) or a smaller --model")
    chosen = allowed[0]
    for p in allowed[1:]:
        p.why = f"slower: {p.hours / chosen.hours:.2f}x the chosen plan's time" if chosen.hours else "not faster"
    rest = sorted((p for p in planned if p is not chosen), key=lambda p: (bool(p.why.startswith("does not fit")),
                                                                          p.hours))
    return [chosen, *rest]
