"""A recipe against its report's settings (``check_fidelity``): every report setting it does not follow must be
listed under the chain entry's differences, and nothing it follows may be listed there. Each case is a small
repository of one chain file and one recipe under tmp_path; the expected lines are written out by hand."""

from __future__ import annotations

from pathlib import Path

import yaml

from recipekit.recipes.checks import Findings, check_fidelity
from recipekit.recipes.reading import load_recipe

RECIPE_KEY = "recipes/demo.yaml"


def demo_repository(tmp_path: Path, entry_edit: dict, recipe_lines: str,
                    header: str = "# Report: recipes/reproduce/demo.yaml\n") -> tuple[Path, Path]:
    """recipes/reproduce/demo.yaml (a chain whose entry for recipes/demo.yaml is updated with ``entry_edit``) and
    recipes/demo.yaml (``header`` then ``recipe_lines``); returns (chain, recipe)."""
    entry = {"hardware": "1 GPU", "global_batch": "4 per device x 2 accumulation x 1 GPU = 8", "target": "none"}
    entry.update(entry_edit)
    chain = tmp_path / "recipes" / "reproduce" / "demo.yaml"
    chain.parent.mkdir(parents=True)
    chain.write_text(yaml.safe_dump({"report": "demo.pdf", "title": "Demo", "recipes": {RECIPE_KEY: entry}},
                                    sort_keys=False),
                     encoding="utf-8")
    recipe = tmp_path / RECIPE_KEY
    recipe.write_text(header + "model_name_or_path: Qwen/Qwen2.5-0.5B\nstage: sft\n" + recipe_lines,
                      encoding="utf-8")
    return chain, recipe


def fidelity(recipe: Path) -> Findings:
    found = Findings()
    check_fidelity(load_recipe(recipe), found)
    return found


def test_each_setting_is_compared_and_a_setting_left_out_reads_unset(tmp_path: Path) -> None:
    """learning_rate is left out and not listed; cutoff_len is followed yet listed; lora_target follows (case and
    spaces aside); num_train_epochs differs and is listed; warmup_ratio differs and is not listed."""
    settings = {"learning_rate": 1.0e-4, "cutoff_len": 256, "lora_target": "q_proj,v_proj",
                "num_train_epochs": 3.0, "warmup_ratio": 0.1}
    chain, recipe = demo_repository(
        tmp_path, {"settings": settings, "differences": {"cutoff_len": "kept", "num_train_epochs": "shorter"}},
        "cutoff_len: 256\nlora_target: Q_PROJ, v_proj\nnum_train_epochs: 2.0\nwarmup_ratio: 0.05\n")
    where = f"{chain} recipes: {RECIPE_KEY}"
    assert fidelity(recipe) == Findings(errors=[
        f"learning_rate: the report has 0.0001, the recipe '(unset)', and {where} does not list it under "
        "differences (add `learning_rate: why`)",
        "cutoff_len is listed as a difference but the recipe has the report's value 256",
        f"warmup_ratio: the report has 0.1, the recipe 0.05, and {where} does not list it under differences "
        "(add `warmup_ratio: why`)"])


def test_a_text_setting_left_out_is_shown_unset_next_to_the_reports_text(tmp_path: Path) -> None:
    chain, recipe = demo_repository(tmp_path, {"settings": {"template": "qwen"}}, "")
    assert fidelity(recipe) == Findings(errors=[
        f"template: the report has 'qwen', the recipe '(unset)', and {chain} recipes: {RECIPE_KEY} does not list it "
        "under differences (add `template: why`)"])


def test_a_recipe_that_follows_every_setting_and_lists_only_real_differences_is_clean(tmp_path: Path) -> None:
    _, recipe = demo_repository(tmp_path, {"settings": {"learning_rate": "2e-5", "bf16": True, "seed": 42},
                                           "differences": {"seed": "another seed"}},
                                "learning_rate: 2.0e-5\nbf16: true\nseed: 7\n")
    assert fidelity(recipe) == Findings()


def test_a_chain_entry_without_settings_is_one_error(tmp_path: Path) -> None:
    chain, recipe = demo_repository(tmp_path, {"differences": {"seed": "x"}}, "seed: 7\n")
    assert fidelity(recipe) == Findings(errors=[
        f"{chain} recipes: {RECIPE_KEY} has no settings: (one `key: value` line per setting the report gives)"])


def test_a_recipe_of_no_report_or_of_an_unreadable_chain_is_not_compared(tmp_path: Path) -> None:
    """A header of no report has no settings to follow; a chain without the recipe's entry is check_header's."""
    plain = tmp_path / "plain.yaml"
    plain.write_text("# Report: none\n# Hardware: 1 GPU\n# Global batch: 8\n# Target: none\nstage: sft\n",
                     encoding="utf-8")
    assert fidelity(plain) == Findings()
    chain, recipe = demo_repository(tmp_path, {"settings": {"seed": 1}}, "seed: 2\n")
    chain.write_text(yaml.safe_dump({"report": "demo.pdf", "recipes": {"recipes/other.yaml": {}}}), encoding="utf-8")
    assert fidelity(recipe) == Findings()
