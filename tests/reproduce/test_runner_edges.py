"""A tiny reproduction's runner prepares each step before it runs: the tiny copy of the recipe the step trains with
is written from the real one (with the notes on what this machine cannot run), a step without a recipe needs
nothing, a missing recipe is one line naming it; and the saved state with non-ASCII text is read back as UTF-8
whatever the locale. Expected values are written by hand."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from conftest import ascii_locale

from recipekit.errors import InputError
from recipekit.reproduce.chain import Chain, Layout
from recipekit.reproduce.runner import ChainRunner
from recipekit.steps import Step


@pytest.fixture
def tiny(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Layout:
    """A tiny reproduction into ``out`` under the repository root ``tmp_path``."""
    monkeypatch.setenv("LLM_RECIPES_ROOT", str(tmp_path))
    return Layout(Chain("demo", tmp_path / "demo.yaml", "r.md", "Demo", [], []), Path("out"), tiny=True)


def test_a_tiny_runs_step_without_a_recipe_needs_nothing_prepared(tmp_path: Path, tiny: Layout) -> None:
    notes: list[str] = []
    assert ChainRunner(tiny).ready(Step("convert", ["x"]), notes=notes) is True
    assert notes == [] and not (tmp_path / "out").exists()


def test_a_tiny_runs_step_whose_recipe_is_missing_stops_at_once_naming_it(tmp_path: Path, tiny: Layout) -> None:
    step = Step("train", ["x"], recipe=Path("out/recipes/sft.yaml"), source_recipe="recipes/sft.yaml")
    with pytest.raises(InputError) as caught:
        ChainRunner(tiny).ready(step, notes=[])
    assert str(caught.value) == f"{tmp_path.resolve() / 'recipes' / 'sft.yaml'}: no such recipe"


RECIPE = """\
model_name_or_path: saves/sft/merged
stage: sft
do_train: true
finetuning_type: lora
dataset: tiny
template: qwen
cutoff_len: 64
per_device_train_batch_size: 4
gradient_accumulation_steps: 4
eval_strategy: "no"
output_dir: saves/sft/lora
bf16: true
"""


def test_a_tiny_runs_step_gets_its_recipes_tiny_copy_and_its_notes_before_it_runs(tmp_path: Path,
                                                                                   tiny: Layout) -> None:
    """Reads the recipe with LLaMA-Factory's argument classes (no process, no training)."""
    import torch

    (tmp_path / "recipes").mkdir()
    (tmp_path / "recipes" / "sft.yaml").write_text(RECIPE, encoding="utf-8")
    step = Step("train", ["x"], recipe=Path("out/recipes/sft.yaml"), source_recipe="recipes/sft.yaml")
    notes: list[str] = []
    assert ChainRunner(tiny).ready(step, notes=notes) is True
    cuda = torch.cuda.is_available()
    assert notes == ([] if cuda else ["bf16 dropped: this machine has no CUDA"])
    copy = yaml.safe_load((tmp_path / "out" / "recipes" / "sft.yaml").read_text(encoding="utf-8"))
    assert {key: copy.get(key) for key in ("model_name_or_path", "output_dir", "dataset_dir", "max_steps",
                                           "per_device_train_batch_size", "gradient_accumulation_steps",
                                           "bf16")} == {
        "model_name_or_path": "out/saves/sft/merged", "output_dir": "out/saves/sft/lora", "dataset_dir": "out/data",
        "max_steps": 2, "per_device_train_batch_size": 2, "gradient_accumulation_steps": 2,
        "bf16": True if cuda else None}


def test_a_state_with_non_ascii_text_is_read_as_utf8_while_this_process_reads_ascii(tmp_path: Path) -> None:
    """Here, in the C locale's character type (a file opened without an encoding reads as ASCII): the saved state
    comes back as written."""
    from recipekit.reproduce.runner import load_state

    state = {"chain": "demo", "steps": {"greet": {"status": "ran", "seconds": 1.5, "log": "logs/greet.log",
                                                  "command": "echo 'na\u00efve \u65e5\u672c'"}}}
    (tmp_path / "reproduce.json").write_text(json.dumps(state, ensure_ascii=False), encoding="utf-8")
    with ascii_locale():
        read = load_state(tmp_path)
    assert read == state
