"""The calibration's arithmetic on hand-made steps: a published point's units, its ratios, the summary against the
goals, the grid fit of the step-time constants and the fit that leaves each source out.

Each step is a Simulation written by hand with a single kind of cost, so that its time under any constants is a
one-line hand count: a compute-bound kernel (FLOPs / (peak x matmul efficiency)), a memory-bound one (bytes /
(bandwidth x bandwidth efficiency)), many empty kernels (count x launch seconds) or only a ZeRO optimizer step
(trainable parameters x seconds per parameter)."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from recipekit.errors import InputError
from recipekit.plan.calibration import Checked, Prepared, check, fit, leave_one_source_out, load_points, summary
from recipekit.plan.gpus import Gpu
from recipekit.plan.memory import Setup
from recipekit.plan.simulate import Simulation
from recipekit.plan.timing import Constants

# 100 TFLOP/s in bf16, 50 in fp16, 1,000 GB/s
CARD = Gpu("test card", 80.0, 100.0, 50.0, memory_gb_s=1000.0)
FLOPS, BYTES, KERNELS, TRAINABLE = 1e14, 1e12, 1000, 10**9
# the grids' first values: what a fit keeps for a constant no point constrains
FIRST = {"matmul": 0.3, "bandwidth": 0.4, "launch": 1e-6, "zero": 0.25e-9}
KINDS = {"matmul": "compute", "bandwidth": "memory", "launch": "launch", "zero": "zero"}  # the step each one times


def prepared(kind: str, step_s: float, source: str = "a", reason: str | None = None, memory_gb: float = 1.0,
             planned_gb: float = 1.0) -> Prepared:
    kernels = {"compute": [[FLOPS, 0, 1]], "memory": [[0, BYTES, 1]], "launch": [[0, 0, KERNELS]], "zero": []}[kind]
    trainable = TRAINABLE if kind == "zero" else 0
    point = {"source": source, "precision": "bf16", "accumulation": 1, "gradient_checkpointing": False,
             "step_s": step_s, "memory_gb": memory_gb, **({"reason": reason} if reason else {})}
    sim = Simulation(params=trainable, trainable=trainable, largest_layer=0, quantizable=0, kernels=kernels)
    return Prepared(point, sim, CARD, Setup(zero=1 if kind == "zero" else 0), planned_gb)


def seconds_at(kind: str, value: float) -> float:
    """The hand count of the step of ``kind`` when its one constant is ``value``."""
    return {"compute": FLOPS / (100e12 * value), "memory": BYTES / (1000e9 * value), "launch": KERNELS * value,
            "zero": TRAINABLE * value}[kind]


def constants_of(c: Constants) -> dict[str, float]:
    return {"matmul": c.matmul_efficiency, "bandwidth": c.bandwidth_efficiency, "launch": c.launch_seconds,
            "zero": c.zero_step_seconds}


def test_the_fit_finds_the_grid_constants_that_time_every_point_exactly() -> None:
    """One point per constant, each measured at a grid value: the fit returns those four, worst |log ratio| 0;
    a point listed with a reason, however far off, does not move it."""
    grid = {"matmul": 0.3 + 0.05 * 6, "bandwidth": 0.4 * 1.25 ** 3, "launch": 1e-6 * 1.3 ** 4,
            "zero": 0.25e-9 * 1.25 ** 5}
    points = [prepared(KINDS[name], seconds_at(KINDS[name], value)) for name, value in grid.items()]
    points.append(prepared("compute", 1000.0, reason="another stack"))
    constants, worst = fit(points)
    assert constants_of(constants) == pytest.approx(grid, rel=1e-12)
    assert worst == pytest.approx(0.0, abs=1e-12)
    assert (constants.link_efficiency, constants.cpu_adam_seconds) == (0.7, 2.0e-9)  # not fitted: kept


@pytest.mark.parametrize(("kind", "best"), [
    ("matmul", 0.3), ("matmul", 0.3 + 0.05 * 12), ("bandwidth", 0.4), ("bandwidth", 0.4 * 1.25 ** 13),
    ("launch", 1e-6), ("launch", 1e-6 * 1.3 ** 11), ("zero", 0.25e-9), ("zero", 0.25e-9 * 1.25 ** 13)])
def test_a_point_beyond_a_grids_end_is_fitted_at_that_end(kind: str, best: float) -> None:
    """A point measured at 0.8 x the grid's first value or 1.25 x its last: the fit stops at that end (0.3 to 0.9
    for the matmul share, 14 steps of 1.25 from 0.4 for the bandwidth, 12 of 1.3 from 1 us for a launch, 14 of
    1.25 from 0.25 ns for the ZeRO step), the worst |log ratio| the gap left; the other constants stay at their
    grids' first values (the first of equal fits is kept)."""
    kinds = KINDS
    beyond = best * (0.8 if best == FIRST[kind] else 1.25)
    constants, worst = fit([prepared(kinds[kind], seconds_at(kinds[kind], beyond))])
    assert constants_of(constants) == pytest.approx({**FIRST, kind: best}, rel=1e-12)
    assert worst == pytest.approx(abs(math.log(seconds_at(kinds[kind], best) / seconds_at(kinds[kind], beyond))))
    assert worst == pytest.approx(math.log(1.25), rel=1e-9)


def test_each_source_is_planned_under_the_constants_fitted_on_the_others() -> None:
    """Source a times its compute-bound point at a matmul share of 0.6, source b its memory-bound point at a
    bandwidth factor of 0.78125; left out, each is planned at the grid's first value of its own constant (nothing
    else constrains it); a source whose points all carry a reason is not left out."""
    compute = prepared("compute", seconds_at("compute", 0.6), source="a")
    listed = prepared("memory", 99.0, source="a", reason="listed only")
    memory = prepared("memory", seconds_at("memory", 0.78125), source="b")
    other = prepared("launch", 5.0, source="c", reason="listed only")
    held = leave_one_source_out([compute, listed, memory, other])
    assert list(held) == ["a", "b"]
    without_a, checked_a = held["a"]
    assert constants_of(without_a) == pytest.approx({**FIRST, "bandwidth": 0.78125}, rel=1e-12)
    assert [c.point for c in checked_a] == [compute.point, listed.point]
    assert [c.planned_s for c in checked_a] == pytest.approx([1e14 / (100e12 * 0.3), 1e12 / (1000e9 * 0.78125)])
    without_b, checked_b = held["b"]
    assert constants_of(without_b) == pytest.approx({**FIRST, "matmul": 0.6}, rel=1e-12)
    assert [c.planned_s for c in checked_b] == pytest.approx([1e12 / (1000e9 * 0.4)])
    assert [c.bound for c in checked_b] == ["memory"]


def test_a_points_time_is_its_accumulated_micro_steps_with_recomputed_dequantisation() -> None:
    """Three micro-steps of a compute-bound step over 4-bit weights with checkpointing (each weight dequantised
    three times: read NF4 with its double-quantised constants, write 16 bits), at the given constants."""
    point = {"precision": "fp16", "accumulation": 3, "gradient_checkpointing": True}
    sim = Simulation(params=0, trainable=0, largest_layer=0, quantizable=10**9, kernels=[[FLOPS, 0, 1]])
    step = Prepared(point, sim, CARD, Setup(quantization_bit=4), 1.0)
    nf4 = 0.5 + 1 / 64 + 4 / (64 * 256)
    dequant = 3 * 1e9 * (nf4 + 2) / (1000e9 * 1.53)
    seconds, bound = step.seconds()
    assert seconds == pytest.approx(3 * (FLOPS / (50e12 * 0.9) + dequant))
    assert bound == "compute"
    assert step.seconds(Constants(matmul_efficiency=0.5))[0] == pytest.approx(3 * (FLOPS / (50e12 * 0.5) + dequant))
    checked = check(step, Constants(matmul_efficiency=0.5))
    assert (checked.planned_s, checked.bound) == (pytest.approx(3 * (FLOPS / (50e12 * 0.5) + dequant)), "compute")


def test_a_checked_points_ratios_and_whether_it_sets_the_constants() -> None:
    checked = Checked(prepared("compute", 4.0, memory_gb=8.0, planned_gb=6.0), 5.0, "compute")
    assert (checked.memory_ratio, checked.time_ratio, checked.used) == (0.75, 1.25, True)
    assert Checked(prepared("compute", 4.0, reason="other stack"), 5.0, "compute").used is False
    assert Checked(prepared("compute", 4.0, reason=""), 5.0, "compute").used is True


def checked(planned_gb: float, memory_gb: float, planned_s: float, step_s: float, reason: str | None = None
            ) -> Checked:
    return Checked(prepared("compute", step_s, reason=reason, memory_gb=memory_gb, planned_gb=planned_gb), planned_s,
                   "compute")


def test_the_summary_is_over_the_points_that_set_the_constants() -> None:
    """Memory errors 0.05 and 0.0 (MAPE 0.025), time ratios 0.75 and 1.25 (MAPE 0.25); the listed point's 3x
    memory and 10x time count only in the number of points."""
    found = summary([checked(10.5, 10.0, 3.0, 4.0), checked(4.0, 4.0, 5.0, 4.0),
                     checked(30.0, 10.0, 40.0, 4.0, reason="listed")])
    assert found == {"points": 3, "used": 2, "memory_mape": pytest.approx(0.025), "memory_worst": pytest.approx(0.05),
                     "time_low": 0.75, "time_high": 1.25, "time_mape": 0.25, "memory_goal_met": True,
                     "time_goal_met": True}


def test_the_summary_of_listed_points_only_is_over_all_of_them() -> None:
    found = summary([checked(12.0, 10.0, 2.0, 4.0, reason="listed"), checked(8.0, 10.0, 8.0, 4.0, reason="listed")])
    assert (found["points"], found["used"]) == (2, 2)
    assert found["memory_mape"] == pytest.approx(0.2) and found["memory_worst"] == pytest.approx(0.2)
    assert (found["time_low"], found["time_high"], found["time_mape"]) == (0.5, 2.0, 0.75)
    assert (found["memory_goal_met"], found["time_goal_met"]) == (False, False)


@pytest.mark.parametrize(("ratios", "met"), [
    ((0.67, 1.5), True), ((0.66, 1.0), False), ((1.0, 1.51), False), ((0.67, 1.0), True), ((1.0, 1.5), True)])
def test_the_time_goal_includes_both_of_its_ends(ratios: tuple[float, float], met: bool) -> None:
    found = summary([checked(1.0, 1.0, ratio, 1.0) for ratio in ratios])
    assert found["time_goal_met"] is met and found["memory_goal_met"] is True


@pytest.mark.parametrize(("planned", "met"), [(1.09, True), (0.91, True), (1.11, False), (0.89, False)])
def test_the_memory_goal_is_ten_percent_either_way(planned: float, met: bool) -> None:
    assert summary([checked(planned, 1.0, 1.0, 1.0)])["memory_goal_met"] is met


HEAD = "sources: {s: {url: 'https://example.org'}}\ndefaults: {source: s, batch: 2, accumulation: 1}\npoints:\n"


def test_a_points_own_values_override_the_files_defaults_and_step_seconds_stay_seconds(tmp_path: Path) -> None:
    runs = tmp_path / "runs.yaml"
    runs.write_text(HEAD + "  - {model: m, method: full, seq: 128, batch: 4, memory_gb: 3.5, step_s: 0.25}\n"
                    "  - {model: m, method: lora, seq: 64, memory_gb: 1, samples_per_s: 4}\n", encoding="utf-8")
    sources, (first, second) = load_points(runs)
    assert sources == {"s": {"url": "https://example.org"}}
    assert (first["batch"], first["accumulation"], first["memory_gb"], first["step_s"]) == (4, 1, 3.5, 0.25)
    assert (second["batch"], second["step_s"], second["samples_per_s"]) == (2, 0.5, 4)  # 2 rows at 4 rows/s


def test_a_file_without_sources_or_points_has_none(tmp_path: Path) -> None:
    runs = tmp_path / "runs.yaml"
    runs.write_text("defaults: {}\n", encoding="utf-8")
    assert load_points(runs) == ({}, [])


@pytest.mark.parametrize(("point", "message"), [
    ("{model: m, method: lora, seq: 8, memory_gb: 1, step_s: 1, gpu_count: 2}", r"point 1: unknown key\(s\) "
                                                                                r"\['gpu_count'\]$"),
    ("{model: m, method: lora, seq: 8, memory_gb: 1, step_s: 1, zz: 1, yy: 1, mm: 1, bb: 1, aa: 2}",
     r"unknown key\(s\) \['aa', 'bb', 'mm', 'yy', 'zz'\]$"),
    ("{model: m, memory_gb: 1, step_s: 1}", r"point 1: lacks method, seq$"),
    ("{model: m, method: lora, seq: 8, memory_gb: 1}", r"point 1: lacks one of step_s or tokens_per_s or "
                                                       r"samples_per_s$"),
    ("{model: m, method: lora, seq: 8, memory_gb: 1, step_s: 1, tokens_per_s: 9}", r"lacks one of step_s or "
                                                                                   r"tokens_per_s"),
    ("{method: lora, seq: 8, step_s: 1}", r"point 1: lacks model, one of memory_gb or memory_gib$"),
    ("{model: m, method: lora, seq: 8, memory_gb: 1, step_s: 1, source: t}", r"point 1: source 't' is not under "
                                                                             r"sources:$"),
])
def test_a_malformed_point_is_one_error_naming_it_and_the_file(tmp_path: Path, point: str, message: str) -> None:
    runs = tmp_path / "runs.yaml"
    runs.write_text(HEAD + f"  - {point}\n", encoding="utf-8")
    with pytest.raises(InputError, match=message) as raised:
        load_points(runs)
    assert str(runs) in str(raised.value)


def test_the_error_counts_points_from_one(tmp_path: Path) -> None:
    runs = tmp_path / "runs.yaml"
    runs.write_text(HEAD + "  - {model: m, method: lora, seq: 8, memory_gb: 1, step_s: 1}\n  - {model: m}\n",
                    encoding="utf-8")
    with pytest.raises(InputError, match=r"point 2: lacks method, seq"):
        load_points(runs)
