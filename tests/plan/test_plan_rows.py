"""The rows a plan counts: the report's run as its chain file states it, whatever lies in the data folder; the
steps as the HF Trainer counts them, checked against the steps the reports printed."""

from __future__ import annotations

import json
import re
from dataclasses import replace
from pathlib import Path

import pytest
from conftest import ROOT

from recipekit.errors import InputError
from recipekit.plan.planner import optimizer_steps, plan_rows, read_run
from recipekit.recipes.reading import all_recipe_files, load_recipe, recipe_outputs

MADE_BY = recipe_outputs(all_recipe_files(ROOT / "recipes"))


def rows_and_steps(path: str, data_dir: str | None = None) -> tuple[int | None, str | None, int | None]:
    recipe = load_recipe(ROOT / path)
    run, _ = read_run(recipe, 2, MADE_BY)
    if data_dir:
        run = replace(run, dataset_dir=data_dir)
    rows, source = plan_rows(run, None, recipe.facts())
    gpus = recipe.facts().batch()[2] if recipe.facts().batch() else 1
    steps = optimizer_steps(rows, run.shape.batch, run.accumulation, gpus, run.epochs) if rows else None
    return rows, source, steps


@pytest.mark.parametrize("path", ["recipes/qwen3_4b_tulu_sft_lora.yaml",
                                  "recipes/qwen3_4b_ultrafeedback_dpo_lora.yaml"])
def test_the_reports_own_step_counts_follow_from_their_rows(path: str) -> None:
    """The Qwen3-4B report's checkpoint-2532 (SFT, 3 epochs) and 1,875 DPO steps (1.5 epochs), printed in the
    report and kept in the chain's time: entry, from the rows the chain states and the recipe's batch."""
    rows, source, steps = rows_and_steps(path)
    assert steps == load_recipe(ROOT / path).facts().time["steps"]
    assert source.startswith(f"the report's run: {rows:,}, ")


def test_hand_counts_of_the_trainers_steps() -> None:
    # 10 rows on 2 GPUs: 5 each, batches of 2 -> 3 per rank; accumulation 2 -> 2 steps (the last one partial)
    assert optimizer_steps(10, 2, 2, 2, 1.0) == 2
    assert optimizer_steps(10, 2, 2, 2, 2.5) == 5  # 2.5 x 2, rounded up
    assert optimizer_steps(64, 4, 4, 1, 1.0) == 4 and optimizer_steps(65, 4, 4, 1, 1.0) == 5


def test_the_data_folder_does_not_change_a_report_recipes_rows(tmp_path: Path) -> None:
    """The demo's 6,600 AG News rows registered in data/ leave the report's 119,000 (120,000 less 1,000 held
    out) in agnews_full's plan: 930 steps of 128."""
    (tmp_path / "agnews.jsonl").write_text("".join(json.dumps({"instruction": "x", "output": "1"}) + "\n"
                                                   for _ in range(6600)), encoding="utf-8")
    (tmp_path / "dataset_info.json").write_text(json.dumps({"agnews": {"file_name": "agnews.jsonl"}}),
                                                encoding="utf-8")
    assert rows_and_steps("recipes/agnews_full.yaml", str(tmp_path)) == (
        119_000, "the report's run: 119,000, AG News's 120,000 training rows (section 4.1 of the report) less the "
        "1,000 the chain's conversion holds out", 930)
    from test_report_time import mini_repository

    (tmp_path / "dataset_info.json").write_text(json.dumps({"x": {"file_name": "agnews.jsonl"}}), encoding="utf-8")
    (tmp_path / "mini").mkdir()
    recipe = load_recipe(mini_repository(tmp_path / "mini", None))  # its chain states no rows: the data's count
    run, _ = read_run(recipe, 1, {})
    rows, source = plan_rows(replace(run, dataset_dir=str(tmp_path)), None, recipe.facts())
    assert (rows, source) == (6600, f"the registered data in {tmp_path}/")
    # 8 per device x 2 accumulation, 3 epochs (LLaMA-Factory's default): ceil(ceil(6,600 / 8) / 2) = 413 x 3
    assert optimizer_steps(rows, run.shape.batch, run.accumulation, 1, run.epochs) == 1239


def test_max_samples_caps_the_reports_rows() -> None:
    recipe = load_recipe(ROOT / "recipes/agnews_full.yaml")
    run, _ = read_run(recipe, 8, MADE_BY)
    rows, source = plan_rows(replace(run, max_samples=100_000), None, recipe.facts())
    assert rows == 100_000 and source.endswith("; max_samples keeps 100,000")
    assert plan_rows(run, 5000, recipe.facts()) == (5000, "--rows")


@pytest.mark.parametrize(("rows", "message"), [
    ({"train": 100}, "rows: lacks said"),
    ({"train": 0, "said": "s"}, "rows: train must be a positive whole number of rows"),
    ({"train": 10, "said": "s", "test": 3}, "rows: unknown key(s) ['test']"),
])
def test_a_malformed_rows_entry_is_one_error_naming_the_chain(tmp_path: Path, rows: dict, message: str) -> None:
    from test_report_time import mini_repository

    recipe = mini_repository(tmp_path, {}, rows)
    with pytest.raises(InputError, match=re.escape(message)) as error:
        load_recipe(recipe).facts()
    assert error.value.path == str(tmp_path / "recipes" / "reproduce" / "mini.yaml")


def test_every_training_recipe_of_a_report_states_its_rows_and_its_header_its_hours() -> None:
    """Each shipped training recipe's chain entry gives the report's rows, so its header's plan line (written by
    `plan --report-hardware --write-header`) carries hours, and a cost where the card has a sourced price."""
    import yaml

    trained = [path for path in all_recipe_files(ROOT / "recipes")
               if yaml.safe_load(path.read_text(encoding="utf-8")).get("do_train")
               and "recipes/demo/" not in path.as_posix()]
    assert len(trained) == 11
    for path in trained:
        recipe = load_recipe(path)
        assert recipe.facts().rows["train"] > 0, path
        line = next(row for row in path.read_text(encoding="utf-8").splitlines() if row.startswith("# Plan ("))
        assert re.search(r"; \d[\d,.]* h", line), (path, line)
        assert "$" in line, (path, line)  # every card of the reports' hardware has a sourced price


@pytest.mark.parametrize(("tokens", "message"), [
    ({"longest": 256}, "tokens: lacks said"),
    ({"longest": 0, "said": "s"}, "tokens: longest must be a positive whole number of tokens"),
    ({"longest": 256.5, "said": "s"}, "tokens: longest must be a positive whole number of tokens"),
    ({"longest": 256, "said": "s", "mean": 40}, "tokens: unknown key(s) ['mean']"),
])
def test_a_malformed_tokens_entry_is_one_error_naming_the_chain(tmp_path: Path, tokens: dict, message: str) -> None:
    from test_report_time import mini_repository

    recipe = mini_repository(tmp_path, {}, None, tokens)
    with pytest.raises(InputError, match=re.escape(message)) as error:
        load_recipe(recipe).facts()
    assert error.value.path == str(tmp_path / "recipes" / "reproduce" / "mini.yaml")


def test_a_report_that_states_its_longest_row_is_planned_there_with_cutoff_len_beside_it(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The chain's longest row (64 tokens) sets the plan's length; the worst case at cutoff_len (512) is the very
    plan --seq 512 gives; a --seq of the user's own is planned as asked, with no worst case beside it."""
    from test_report_time import mini_repository

    from recipekit.plan.gpus import GPUS
    from recipekit.plan.planner import plan
    from recipekit.report.plan import header_line, render_markdown

    monkeypatch.setenv("LLM_RECIPES_CACHE", str(tmp_path / "cache"))
    recipe = load_recipe(mini_repository(tmp_path, {}, None, {"longest": 64, "said": "the rows are short"}))
    stated = plan(recipe, GPUS["t4"], 1, {})
    at_cutoff = plan(recipe, GPUS["t4"], 1, {}, seq=512)
    assert stated["shape"]["seq"] == 64 and at_cutoff["shape"]["seq"] == 512 and "worst_case" not in at_cutoff
    assert stated["worst_case"] == {"seq": 512, "peak_gib": pytest.approx(at_cutoff["memory"]["peak_gib"]),
                                    "fits": at_cutoff["fits"]}
    assert stated["memory"]["peak_gib"] < at_cutoff["memory"]["peak_gib"]
    assert stated["seq_source"] == "the report's longest row: the rows are short"
    assert f"x 64 tokens (the report's longest row), fits ({at_cutoff['memory']['peak_gib']:.1f} GiB at the " \
           "512-token cutoff_len, " in header_line(stated)
    assert "Rows of 64 tokens, the report's longest row: the rows are short. At cutoff_len 512, the worst case" \
           in render_markdown(stated)


def test_the_readme_hours_and_cost_are_those_of_each_recipes_header() -> None:
    """recipes/README.md's hours-and-cost table and each training recipe's header plan line come from the same
    plan: same hardware, hours and cost, and every training recipe of a report is in the table."""
    from recipekit.report.plan import dollars

    table = [line.split(" | ") for line in (ROOT / "recipes" / "README.md").read_text(encoding="utf-8").splitlines()
             if re.match(r"\| `[^`]+\.yaml` \| \d+x ", line) and line.count(" | ") == 5]
    assert len(table) == 11
    for name, hardware, shape, peak, hours, cost in table:
        path = ROOT / "recipes" / name.strip("| `")
        line = next(row for row in path.read_text(encoding="utf-8").splitlines() if row.startswith("# Plan ("))
        assert f"{hardware}: {peak.replace(' GiB', '')} GiB peak per GPU at {shape} tokens" in line, (path, line)
        said = re.search(r"; ([\d.]+) h, (\$[\d,.]+)", line)
        # the table's hours to 2 decimals, the header's to 1, both rounded from the same plan
        assert abs(float(said.group(1)) - float(hours)) <= 0.05 + 0.005, (path, line)
        assert said.group(2) == dollars(float(cost.strip(" |$").replace(",", ""))), (path, line)


def test_the_readme_peak_per_card_is_each_recipes_header_peak() -> None:
    """recipes/README.md's peak-per-GPU table (each card at the report's GPU count) holds, on every card, the peak
    of the recipe's header plan line: the peak per GPU depends on the run, not on the card."""
    rows = [line.strip("| ").split(" | ") for line in (ROOT / "recipes" / "README.md").read_text(
        encoding="utf-8").splitlines() if re.match(r"\| `[^`]+\.yaml` \| \d+ \| \d+ \| ", line)]
    assert len(rows) == 17
    for name, _, _, *cells in rows:
        line = next(row for row in (ROOT / "recipes" / name.strip("`")).read_text(encoding="utf-8").splitlines()
                    if row.startswith("# Plan ("))
        peak = re.search(r"([\d.]+) GiB peak per GPU", line).group(1)
        assert {cell.replace(" ✗", "") for cell in cells} == {peak}, (name, cells, line)

