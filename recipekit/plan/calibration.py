"""Published, measured training runs (``recipekit/plan/published_runs.yaml``) planned the planner's way: each point's
run is simulated, its memory per GPU and its step time set beside what was measured, as ratios."""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from recipekit.errors import InputError
from recipekit.files import read_yaml_mapping
from recipekit.plan.gpus import GPUS, Gpu
from recipekit.plan.memory import Setup, per_gpu
from recipekit.plan.models import load_config
from recipekit.plan.simulate import Shape, Simulation, simulate
from recipekit.plan.timing import CALIBRATED, Constants, step_time

POINT_KEYS = {"source", "model", "as", "method", "seq", "memory_gb", "step_s", "gpu", "precision", "batch",
              "accumulation", "gradient_checkpointing", "lora_rank", "lora_alpha", "lora_target", "gpus", "zero",
              "quantization_bit", "reason", "buffer_elements", "head_labels", "memory_gib", "tokens_per_s",
              "samples_per_s"}
# a source's figures as it prints them: memory in GiB, speed as tokens or samples per GPU per second
MEMORY_UNITS = {"memory_gb": 1e9, "memory_gib": 2**30}
SPEED_UNITS = ("step_s", "tokens_per_s", "samples_per_s")
PUBLISHED_RUNS = Path(__file__).resolve().parent / "published_runs.yaml"
MEMORY_GOAL = 0.10  # planned memory within 10% of the measured
TIME_GOAL = (0.67, 1.5)  # planned step time within these ratios of the measured


@dataclass(frozen=True)
class Prepared:
    """A point's simulated step and run, ready to be timed under any constants."""

    point: dict[str, Any]
    sim: Simulation
    gpu: Gpu
    setup: Setup
    planned_gb: float

    def seconds(self, constants: Constants = CALIBRATED) -> tuple[float, str]:
        p = self.point
        timed = step_time(self.sim, self.gpu, p["precision"], self.setup, int(p["accumulation"]),
                          bool(p["gradient_checkpointing"]), constants)
        return timed.step_seconds, timed.bound


@dataclass(frozen=True)
class Checked:
    """One point and what the planner says of it: its memory per GPU, step time and what bounds the step."""

    prepared: Prepared
    planned_s: float
    bound: str

    @property
    def point(self) -> dict[str, Any]:
        return self.prepared.point

    @property
    def memory_ratio(self) -> float:
        return self.prepared.planned_gb / float(self.point["memory_gb"])

    @property
    def time_ratio(self) -> float:
        return self.planned_s / float(self.point["step_s"])

    @property
    def used(self) -> bool:
        """Whether the point sets the model's constants (a point with a ``reason`` is listed only)."""
        return not self.point.get("reason")


def load_points(path: str | Path) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """(sources, points with the file's defaults filled in); a malformed point is one error naming it."""
    source = Path(path)
    data = read_yaml_mapping(source, "calibration file")
    sources, defaults = data.get("sources") or {}, data.get("defaults") or {}
    points = []
    for index, raw in enumerate(data.get("points") or [], 1):
        point = {**defaults, **(raw or {})}
        unknown = sorted(set(point) - POINT_KEYS)
        missing = [k for k in ("source", "model", "method", "seq") if k not in point]
        memory, speed = [k for k in MEMORY_UNITS if k in point], [k for k in SPEED_UNITS if k in point]
        if len(memory) != 1:
            missing.append("one of " + " or ".join(MEMORY_UNITS))
        if len(speed) != 1:
            missing.append("one of " + " or ".join(SPEED_UNITS))
        if unknown or missing or point["source"] not in sources:
            problem = (f"unknown key(s) {unknown}" if unknown else f"lacks {', '.join(missing)}" if missing
                       else f"source {point['source']!r} is not under sources:")
            raise InputError(f"point {index}: {problem}", str(source))
        points.append(measured_as_planned(point, memory[0], speed[0]))
    return sources, points


def measured_as_planned(point: dict[str, Any], memory: str, speed: str) -> dict[str, Any]:
    """The point with its measurement in the planner's units: memory per GPU in GB (1e9 bytes) and seconds per
    optimizer step (a step runs batch x accumulation rows of ``seq`` tokens on each GPU)."""
    rows = int(point["batch"]) * int(point["accumulation"])
    value = float(point[speed])
    seconds = {"step_s": value, "tokens_per_s": rows * int(point["seq"]) / value, "samples_per_s": rows / value}
    return {**point, "memory_gb": float(point[memory]) * MEMORY_UNITS[memory] / 1e9, "step_s": seconds[speed]}


def prepare(point: dict[str, Any]) -> Prepared:
    """Simulate one published point's step (cached like every plan) and its memory per GPU."""
    gpu = GPUS[point["gpu"]]
    half = point["precision"] in ("bf16", "fp16")
    shape = Shape(int(point["batch"]), int(point["seq"]), point["method"], lora_rank=int(point["lora_rank"]),
                  lora_alpha=int(point["lora_alpha"]), lora_target=str(point["lora_target"]),
                  gradient_checkpointing=bool(point["gradient_checkpointing"]), head_labels=point.get("head_labels"),
                  bf16=half)
    setup = Setup(gpus=int(point["gpus"]), zero=int(point["zero"]), half=half,
                  quantization_bit=point.get("quantization_bit"), buffer_elements=int(point.get("buffer_elements", 0)))
    sim = simulate(load_config(point["model"]), shape)
    return Prepared(point, sim, gpu, setup, per_gpu(sim, setup).total / 1e9)


def check(prepared: Prepared, constants: Constants = CALIBRATED) -> Checked:
    """The planner on one published point."""
    return Checked(prepared, *prepared.seconds(constants))


def fit(prepared: list[Prepared]) -> tuple[Constants, float]:
    """The constants that keep the worst time ratio of the points that set the model closest to 1 (a grid over
    the four that the published points constrain), and that worst |log ratio|."""
    import itertools
    import math

    used = [(p, float(p.point["step_s"])) for p in prepared if not p.point.get("reason")]
    best: tuple[float, Constants] = (math.inf, CALIBRATED)
    for matmul, bandwidth, launch, zero in itertools.product(
            [0.3 + 0.05 * i for i in range(13)], [0.4 * 1.25 ** i for i in range(14)],
            [1e-6 * 1.3 ** i for i in range(12)], [0.25e-9 * 1.25 ** i for i in range(14)]):
        constants = replace(CALIBRATED, matmul_efficiency=matmul, bandwidth_efficiency=bandwidth,
                            launch_seconds=launch, zero_step_seconds=zero)
        worst = 0.0
        for index, (point, measured) in enumerate(used):
            worst = max(worst, abs(math.log(point.seconds(constants)[0] / measured)))
            if worst >= best[0]:  # no better than the best so far: try that point first next time
                used.insert(0, used.pop(index))
                break
        else:
            best = (worst, constants)
    return best[1], best[0]


def leave_one_source_out(prepared: list[Prepared]) -> dict[str, tuple[Constants, list[Checked]]]:
    """For each source with points that set the model: the constants fitted on every other source's points, and
    that source's points planned under them (how the model does on a stack and card it was not set on)."""
    sources = dict.fromkeys(p.point["source"] for p in prepared if not p.point.get("reason"))
    held: dict[str, tuple[Constants, list[Checked]]] = {}
    for source in sources:
        constants, _ = fit([p for p in prepared if p.point["source"] != source])
        held[source] = constants, [check(p, constants) for p in prepared if p.point["source"] == source]
    return held


def summary(checked: list[Checked]) -> dict[str, Any]:
    """Memory MAPE and worst error, the time ratios' range and MAPE, over the points that set the constants (over
    all of them where none does)."""
    used = [c for c in checked if c.used] or checked
    memory_errors = [abs(c.memory_ratio - 1) for c in used]
    ratios = [c.time_ratio for c in used]
    return {"points": len(checked), "used": len(used),
            "memory_mape": sum(memory_errors) / len(memory_errors), "memory_worst": max(memory_errors),
            "time_low": min(ratios), "time_high": max(ratios),
            "time_mape": sum(abs(r - 1) for r in ratios) / len(ratios),
            "memory_goal_met": max(memory_errors) <= MEMORY_GOAL,
            "time_goal_met": TIME_GOAL[0] <= min(ratios) and max(ratios) <= TIME_GOAL[1]}
