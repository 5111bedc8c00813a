"""The planner on every published, measured run of recipekit/plan/published_runs.yaml (memory and step time against
the goals), and docs/planner.md's figures, which `python scripts/bench_plan.py --published` prints."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import ROOT, run_cli

from recipekit.errors import InputError

PLANNER_PAGE = ROOT / "docs" / "planner.md"


@pytest.fixture(scope="module")
def published(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, list]:
    """The command's output and every point planned, in a cache of the module's own (the first plan of each point
    simulates its step; the points planned again after the command read it from the cache)."""
    from recipekit.plan.calibration import PUBLISHED_RUNS, check, load_points, prepare

    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("LLM_RECIPES_CACHE", str(tmp_path_factory.mktemp("cache")))
        ran = run_cli("scripts/bench_plan.py", "--published")
        assert ran.returncode == 0, ran.stderr
        _, points = load_points(PUBLISHED_RUNS)
        return ran.stdout, [check(prepare(point)) for point in points]


@pytest.mark.slow
@pytest.mark.extended  # every published point simulated: 2.5 min (`make test-all`)
def test_every_point_that_sets_the_model_is_planned_within_the_goals(published: tuple[str, list]) -> None:
    import yaml

    raw = yaml.safe_load((ROOT / "recipekit/plan/published_runs.yaml").read_text(encoding="utf-8"))
    used = [c for c in published[1] if not c.point.get("reason")]
    assert len(used) == sum(1 for p in raw["points"] if "reason" not in p) >= 24
    for checked in used:
        point = checked.point
        name = f"{point['source']} {point.get('as', point['model'])} {point['method']} {point['seq']}"
        assert abs(checked.prepared.planned_gb / point["memory_gb"] - 1) <= 0.10, name
        assert 0.67 <= checked.planned_s / point["step_s"] <= 1.5, name


@pytest.mark.slow
@pytest.mark.extended  # every published point simulated: 2.5 min (`make test-all`)
def test_the_planner_page_quotes_the_published_figures_as_the_command_prints_them(published: tuple[str, list]) -> None:
    out = published[0].splitlines()
    first = next(i for i, line in enumerate(out) if line.startswith("Planned against measured on the"))
    table = [line for line in out[first + 2:] if line.startswith("|")]
    figures = [out[first], *table[:2 + len({c.point["source"] for c in published[1]})]]
    assert figures[2] == "|---|---|---|---|---|---|"
    page = PLANNER_PAGE.read_text(encoding="utf-8").splitlines()
    for line in figures:
        assert line in page, line
    # every source appears, the two that set the model with their left-out ratios
    rows = {row.split(" | ")[0].lstrip("| "): row for row in figures[3:]}
    assert set(rows) == {"qwen-readme", "hf-single-gpu", "llamafactory-wiki", "torchtune-readme", "ms-swift-benchmark"}
    assert rows["torchtune-readme"].endswith(", listed |") and not rows["qwen-readme"].endswith(", listed |")


def test_a_point_is_read_in_the_units_its_source_prints(tmp_path: Path) -> None:
    """GiB and tokens or samples per GPU per second become GB and seconds per optimizer step (by hand: 18.9 GiB =
    18.9 x 2^30 bytes; 2 rows x 1 step x 2,048 tokens at 1,650 tokens/s; 1 x 16 rows at 4.31 samples/s)."""
    from recipekit.plan.calibration import load_points

    runs = tmp_path / "runs.yaml"
    head = "sources: {s: {url: 'https://example.org'}}\ndefaults: {source: s, batch: 2, accumulation: 1}\npoints:\n"
    runs.write_text(head + "  - {model: m, method: lora, seq: 2048, memory_gib: 18.9, tokens_per_s: 1650}\n"
                    "  - {model: m, method: lora, seq: 512, batch: 1, accumulation: 16, memory_gb: 7.0,"
                    " samples_per_s: 4.31}\n", encoding="utf-8")
    _, (tokens, samples) = load_points(runs)
    assert tokens["memory_gb"] == pytest.approx(20.2937205) and tokens["step_s"] == pytest.approx(2.4824242)
    assert samples["memory_gb"] == 7.0 and samples["step_s"] == pytest.approx(3.7122970)
    runs.write_text(head + "  - {model: m, method: lora, seq: 8, memory_gb: 1, memory_gib: 1, step_s: 1}\n",
                    encoding="utf-8")
    with pytest.raises(InputError, match=r"point 1: lacks one of memory_gb or memory_gib"):
        load_points(runs)


@pytest.mark.integration  # three points simulated (a 1.8B model twice, BERT-large once): about 30 s
def test_a_launch_bound_a_compute_bound_and_an_encoder_point_are_planned_within_the_goals() -> None:
    """The calibration guarded in every run of the suite, on the cheapest points of each kind: Qwen-1.8B LoRA at
    256 tokens (its time mostly kernel launches), at 2,048 (mostly matmuls) and BERT-large's first point."""
    from recipekit.plan.calibration import PUBLISHED_RUNS, check, load_points, prepare

    _, points = load_points(PUBLISHED_RUNS)
    qwen = [p for p in points if p.get("as") == "Qwen-1.8B" and p["method"] == "lora" and p["seq"] in (256, 2048)]
    bert = [p for p in points if p["model"] == "google-bert/bert-large-uncased"][:1]
    assert len(qwen) == 2 and len(bert) == 1
    for point in qwen + bert:
        checked = check(prepare(point))
        name = f"{point['model']} {point['method']} {point['seq']}"
        assert abs(checked.prepared.planned_gb / point["memory_gb"] - 1) <= 0.10, name
        assert 0.67 <= checked.planned_s / point["step_s"] <= 1.5, (name, checked.planned_s, point["step_s"])
