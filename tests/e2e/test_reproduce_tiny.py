"""Every report's chain end to end on this CPU (`scripts/reproduce.py REPORT --tiny`), then a re-run that skips
every step (slow: about 6 minutes for the five, two at a time)."""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
import yaml
from conftest import run_script

from recipekit.converters.catalog import tiny_source_flags
from recipekit.report.wandb import run_facts
from recipekit.reproduce.chain import Layout, load_chain

REPORTS = ("agnews", "tulu_dpo", "yelp5", "afqmc", "arena")
LONGEST_FIRST = ("tulu_dpo", "agnews", "afqmc", "yelp5", "arena")
TRAINED = {"agnews": "saves/llama3.1-8b/full/agnews", "tulu_dpo": "saves/qwen3-4b/lora/tulu_dpo",
           "yelp5": "saves/bert-base-uncased/lora/yelp5", "afqmc": "saves/qwen1.5-1.8b/qlora-cls/afqmc",
           "arena": "saves/deberta-v3-base/full/arena"}


@pytest.fixture(scope="module")
def reproduced(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[Path, str]]:
    """The five tiny reproductions, two at a time (most steps use one core of this 2-core machine)."""
    base = tmp_path_factory.mktemp("reproduce")

    def reproduce(report: str) -> tuple[str, Path, Any]:
        out = base / report
        return report, out, run_script("scripts/reproduce.py", report, "--tiny", "--out", out, timeout=1200)

    done = {}
    with ThreadPoolExecutor(max_workers=2) as pool:
        for report, out, result in pool.map(reproduce, LONGEST_FIRST):
            assert result.returncode == 0, f"{report}: {result.stdout[-3000:]}{result.stderr[-3000:]}"
            done[report] = (out, result.stdout)
    return done


@pytest.mark.slow(minutes=8)  # the fixture: the five reproductions
@pytest.mark.parametrize("report", REPORTS)
def test_each_step_leaves_its_files_and_the_card_its_fields(reproduced: dict[str, tuple[Path, str]],
                                                           report: str) -> None:
    out, stdout = reproduced[report]
    layout = Layout(load_chain(report), out, tiny=True, sources=tiny_source_flags, writes=False)
    steps = layout.steps()
    assert f"{len(steps)} step(s) ran, 0 skipped" in stdout
    for step in steps:
        assert (out / "logs" / f"{step.name}.log").is_file() and (out / "logs" / f"{step.name}.done").is_file()
        for output in step.outputs:
            assert output.is_file() and output.stat().st_size > 0, (step.name, output)
        assert all(output.is_relative_to(out) for output in step.outputs), step.name  # nothing outside {out}
    card = json.loads((out / "report_card.json").read_text(encoding="utf-8"))
    assert card["first_line"].startswith("Tiny run:") and card["tiny"] is True
    assert (out / "report_card.md").read_text(encoding="utf-8").startswith("**Tiny run:")
    assert (out / "report_card.png").stat().st_size > 1000
    assert len(card["numbers"]) == len(load_chain(report).numbers)
    for number in card["numbers"]:
        assert number["verdict"] == "no verdict (tiny run)"
        assert number["run"] is not None and number["n"] > 0, number
        assert number["ci95"][0] <= number["run"] <= number["ci95"][1], number
    assert card["hardware"]["run"].startswith("CPU only") and card["hardware"]["report"]
    entries = yaml.safe_load(load_chain(report).path.read_text(encoding="utf-8"))["recipes"]
    assert set(card["hardware"]["report"]) <= {entry["hardware"] for entry in entries.values()}
    for recipe, differences in card["differences"].items():
        assert recipe == "chain" or differences == entries[recipe]["differences"], recipe
    assert card["time"]["total_seconds"] > 0 and set(card["time"]["steps_seconds"]) == {s.name for s in steps}
    timed = {recipe for recipe, entry in entries.items() if entry.get("time")}
    assert set(card["time"]["report"]) <= timed and bool(card["time"]["report"]) == (report in ("tulu_dpo", "yelp5"))
    for recipe, time in card["time"]["report"].items():  # each chain plans the recipes whose time its report gives
        assert time["report"] == entries[recipe]["time"] and time["plan"]["seconds_per_step"], recipe
        assert f"- `{recipe}`: The report's own time ({entries[recipe]['time']['said']})" in \
            (out / "report_card.md").read_text(encoding="utf-8")
    assert card["contamination"]["file"].endswith("contamination/contamination.json")  # the chain's check ran
    for number in card["numbers"]:  # each number beside its set's rows found in the training data
        assert number["contamination"]["rows"] > 0 and number["contamination"]["found"] >= 0, number
    assert card["versions"]["llamafactory"] and card["differences"]["chain"]
    assert card["wandb_group"] == f"reproduce-{report}-tiny"


EXPORTED = {"tulu_dpo": ("saves/qwen3-4b/lora-merged/tulu_dpo", "reports/dpo/gen_report.json", "bleu-4"),
            "yelp5": ("saves/bert-base-uncased/lora-merged/yelp5", "reports/lora/classify_report.json", "accuracy"),
            "afqmc": ("saves/qwen1.5-1.8b/qlora-cls-merged/afqmc", "reports/qlora/classify_report.json", "accuracy")}


@pytest.mark.slow
@pytest.mark.parametrize("report", sorted(EXPORTED))
def test_each_lora_chain_exports_its_model_with_a_card_of_its_report(reproduced: dict[str, tuple[Path, str]],
                                                                     report: str) -> None:
    from huggingface_hub import ModelCard

    out, _ = reproduced[report]
    folder, report_file, metric = EXPORTED[report]
    merged = out / folder
    assert list(merged.glob("*.safetensors")) and not (merged / "adapter_config.json").exists()
    card = ModelCard.load(merged / "README.md")
    written = json.loads((out / report_file).read_text(encoding="utf-8"))
    value = written["llamafactory"][metric] if metric == "bleu-4" else written[metric]
    found = {r.metric_type: r.metric_value for r in card.data.eval_results}
    assert found[metric] == pytest.approx(value, abs=1e-6)
    assert "## Differences from the report" in card.text


@pytest.mark.slow
@pytest.mark.parametrize("report", REPORTS)
def test_one_wandb_group_and_the_eval_inside_the_training_run(reproduced: dict[str, tuple[Path, str]],
                                                              report: str) -> None:
    out, _ = reproduced[report]
    runs = [run_facts(f) for f in sorted((out / "wandb").glob("offline-run-*/run-*.wandb"))]
    assert runs and {r["group"] for r in runs} == {f"reproduce-{report}-tiny"}
    trained = [r for r in runs if str(r["config"].get("output_dir", "")).endswith(TRAINED[report])]
    assert trained, [r["config"].get("output_dir") for r in runs]
    same = [r for r in runs if r["id"] == trained[-1]["id"]]
    curves = set().union(*(r["history"] for r in same))
    summary = {k for r in same for k in r["summary"]}
    assert any(k.startswith("train/") for k in curves), curves
    prefix = "gen_report/" if report == "tulu_dpo" else "classify_report/"
    assert any(k.startswith(prefix) for k in summary), summary
    card = [r for r in runs if r["job_type"] == "report_card"]
    assert card and any(k.startswith("card/") for k in card[-1]["summary"])


@pytest.mark.slow
def test_a_rerun_skips_every_step(reproduced: dict[str, tuple[Path, str]]) -> None:
    def again(report: str) -> tuple[str, Any]:
        out, _ = reproduced[report]
        return report, run_script("scripts/reproduce.py", report, "--tiny", "--out", out, "--no-wandb", timeout=600)

    with ThreadPoolExecutor(max_workers=2) as pool:
        for report, result in pool.map(again, REPORTS):
            assert result.returncode == 0, result.stderr
            steps = len(load_chain(report).steps)
            assert f"0 step(s) ran, {steps} skipped (up to date)" in result.stdout, result.stdout[-2000:]
