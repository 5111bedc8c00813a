"""A tiny reproduction's copy of the recipe a step runs, written just before the step: the whole copy (model, data
and output folders moved under the reproduction, sizes capped, keys in the recipe's own order), the tiny model of
the recipe's family made from a hub id (its folder, its log, its tokenizer trained on the reproduction's data rows),
nothing written outside a tiny run or for a step without a recipe, one line naming the recipe for an adapter no step
makes, and an unchanged copy left untouched. Expected texts and values are written by hand."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import ascii_locale

from recipekit.errors import InputError
from recipekit.reproduce.chain import Chain, Layout
from recipekit.reproduce.tiny import prepare
from recipekit.steps import Step

HUB_RECIPE = """\
model_name_or_path: Qwen/Qwen2.5-0.5B
stage: sft
do_train: true
finetuning_type: lora
lora_target: all
dataset: tiny
dataset_dir: data
template: qwen
cutoff_len: 1024
per_device_train_batch_size: 4
gradient_accumulation_steps: 8
eval_strategy: "no"
output_dir: saves/sft/lora
"""

# a model another step trains, no output_dir and no dataset_dir: nothing to build
MADE_RECIPE = """\
model_name_or_path: saves/sft/merged
stage: sft
do_train: true
finetuning_type: full
dataset: tiny
template: default
cutoff_len: 64
per_device_train_batch_size: 1
gradient_accumulation_steps: 1
"""

WORD = "quokkaberry"  # only in the reproduction's data rows


def layout(tiny: bool = True) -> Layout:
    return Layout(Chain("demo", Path("recipes/reproduce/demo.yaml"), "r.md", "Demo", [], []), Path("out"), tiny)


def train_step(name: str) -> Step:
    return Step("train", ["x"], recipe=Path(f"out/recipes/{name}"), source_recipe=f"recipes/{name}")


def write_recipe(root: Path, name: str, text: str) -> None:
    (root / "recipes").mkdir(parents=True, exist_ok=True)
    (root / "recipes" / name).write_text(text, encoding="utf-8")


@pytest.fixture(scope="module")
def hub(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, list[str]]]:
    """A root whose recipe trains on a hub model, prepared once (the tiny Qwen2 model is built here)."""
    root = tmp_path_factory.mktemp("root").resolve()
    write_recipe(root, "sft.yaml", HUB_RECIPE)
    rows = [{"instruction": f"{WORD} number {i}", "output": f"{WORD} answer {i}"} for i in range(8)]
    (root / "out" / "data").mkdir(parents=True)
    (root / "out" / "data" / "tiny.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    notes: list[str] = []
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("LLM_RECIPES_ROOT", str(root))
        prepare(train_step("sft.yaml"), layout(), notes)
        yield root, notes


def test_a_hub_models_recipe_is_copied_whole_onto_the_tiny_model_of_its_family_trained_on_the_rows(
        hub: tuple[Path, list[str]]) -> None:
    """One test: the model is built in the module's fixture, which a mutation run traces to the first test alone."""
    from transformers import AutoConfig, AutoTokenizer

    root, notes = hub
    model = root / "out" / "models" / "qwen2_qwen"
    assert (root / "out" / "recipes" / "sft.yaml").read_text(encoding="utf-8") == f"""\
model_name_or_path: {model}
stage: sft
do_train: true
finetuning_type: lora
lora_target: all
dataset: tiny
dataset_dir: out/data
template: qwen
cutoff_len: 512
per_device_train_batch_size: 2
gradient_accumulation_steps: 2
eval_strategy: 'no'
output_dir: out/saves/sft/lora
overwrite_output_dir: true
overwrite_cache: true
max_steps: 2
logging_steps: 1
save_steps: 2
max_samples: 16
"""
    assert notes == []
    log = (root / "out" / "logs" / "tiny_model_qwen2_qwen.log").read_text(encoding="utf-8")
    assert log.splitlines()[-1].startswith("wrote qwen2 model (") and log.endswith(f" to {model}\n")
    # its tokenizer: trained on the reproduction's rows, with the template's tokens
    assert AutoConfig.from_pretrained(model).model_type == "qwen2"
    tokenizer = AutoTokenizer.from_pretrained(model)
    assert tokenizer.tokenize(WORD) == [WORD]  # a word of the rows alone: one token of the vocabulary
    assert len(tokenizer.tokenize("xylophone")) > 1  # a word of no row: in pieces
    for special in ("<|im_start|>", "<|im_end|>", "<|endoftext|>"):  # the qwen template's tokens
        assert tokenizer.tokenize(f"a{special}b") == ["a", special, "b"]
    settings = json.loads((model / "tiny_model.json").read_text(encoding="utf-8"))
    assert settings["texts"] == [str(root / "out" / "data" / "tiny.jsonl")]


def test_a_recipe_without_an_output_folder_runs_into_saves_run_under_the_reproduction(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LLM_RECIPES_ROOT", str(tmp_path))
    write_recipe(tmp_path, "made.yaml", MADE_RECIPE)
    prepare(train_step("made.yaml"), layout(), [])
    assert (tmp_path / "out" / "recipes" / "made.yaml").read_text(encoding="utf-8") == """\
model_name_or_path: out/saves/sft/merged
stage: sft
do_train: true
finetuning_type: full
dataset: tiny
template: default
cutoff_len: 64
per_device_train_batch_size: 1
gradient_accumulation_steps: 1
dataset_dir: out/data
output_dir: out/saves/run
overwrite_output_dir: true
overwrite_cache: true
max_steps: 2
logging_steps: 1
save_steps: 2
max_samples: 16
"""
    assert not (tmp_path / "out" / "models").exists()


def test_nothing_is_written_outside_a_tiny_run_or_for_a_step_without_its_recipe(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LLM_RECIPES_ROOT", str(tmp_path))
    write_recipe(tmp_path, "made.yaml", MADE_RECIPE)
    prepare(train_step("made.yaml"), layout(tiny=False), [])
    prepare(Step("train", ["x"], source_recipe="recipes/made.yaml"), layout(), [])
    prepare(Step("train", ["x"], recipe=Path("out/recipes/made.yaml")), layout(), [])
    assert not (tmp_path / "out").exists()


def test_an_adapter_no_step_makes_is_one_line_naming_the_recipe(tmp_path: Path,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LLM_RECIPES_ROOT", str(tmp_path))
    write_recipe(tmp_path, "lora.yaml", MADE_RECIPE + "adapter_name_or_path: someone/adapter\n")
    with pytest.raises(InputError) as caught:
        prepare(train_step("lora.yaml"), layout(), [])
    recipe = tmp_path.resolve() / "recipes" / "lora.yaml"
    assert str(caught.value) == (f"{recipe}: adapter_name_or_path someone/adapter: a tiny run needs it made by a "
                                 "step of the chain")
    assert not (tmp_path / "out").exists()


def test_an_unchanged_copy_keeps_its_time_and_a_changed_one_is_rewritten(tmp_path: Path,
                                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LLM_RECIPES_ROOT", str(tmp_path))
    write_recipe(tmp_path, "made.yaml", MADE_RECIPE)
    copy = tmp_path / "out" / "recipes" / "made.yaml"
    prepare(train_step("made.yaml"), layout(), [])
    text = copy.read_text(encoding="utf-8")
    os.utime(copy, (1_000_000, 1_000_000))
    prepare(train_step("made.yaml"), layout(), [])
    assert copy.stat().st_mtime == 1_000_000 and copy.read_text(encoding="utf-8") == text
    copy.write_text("stage: pt\n", encoding="utf-8")
    os.utime(copy, (1_000_000, 1_000_000))
    prepare(train_step("made.yaml"), layout(), [])
    assert copy.stat().st_mtime > 1_000_000 and copy.read_text(encoding="utf-8") == text


def test_a_copy_edited_with_non_ascii_text_is_read_as_utf8_in_an_ascii_locale(tmp_path: Path,
                                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LLM_RECIPES_ROOT", str(tmp_path))
    write_recipe(tmp_path, "made.yaml", MADE_RECIPE)
    copy = tmp_path / "out" / "recipes" / "made.yaml"
    prepare(train_step("made.yaml"), layout(), [])
    text = copy.read_text(encoding="utf-8")
    copy.write_text("# caf\u00e9 \u4f60\u597d\n" + text, encoding="utf-8")
    with ascii_locale():
        prepare(train_step("made.yaml"), layout(), [])
    assert copy.read_text(encoding="utf-8") == text
