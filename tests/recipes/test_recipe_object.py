"""One recipe object: read once by LLaMA-Factory's own parser, and every consumer sees LLaMA-Factory's defaults
for the keys a recipe leaves out (cutoff_len, max_new_tokens, batch sizes, precision)."""

from __future__ import annotations

from pathlib import Path

import pytest

from recipekit.errors import InputError
from recipekit.recipes.checks import batch_lines
from recipekit.recipes.reading import load_recipe

LEAN_SFT = """model_name_or_path: Qwen/Qwen2.5-0.5B
stage: sft
do_train: true
finetuning_type: lora
lora_target: all
dataset: agnews
template: qwen
output_dir: saves/lean
"""
LEAN_PREDICT = """model_name_or_path: Qwen/Qwen2.5-0.5B
stage: sft
do_predict: true
predict_with_generate: true
finetuning_type: lora
eval_dataset: agnews_val
template: qwen
output_dir: saves/lean/predict
"""


def llamafactory_default(cls_name: str, key: str) -> object:
    """The default LLaMA-Factory's (or transformers') dataclass declares for ``key``: read from the class."""
    from llamafactory.hparams import DataArguments, FinetuningArguments, GeneratingArguments
    from transformers import Seq2SeqTrainingArguments

    classes = {"data": DataArguments, "generating": GeneratingArguments, "training": Seq2SeqTrainingArguments,
               "finetuning": FinetuningArguments}
    return classes[cls_name].__dataclass_fields__[key].default


@pytest.fixture
def lean(tmp_path: Path) -> tuple[Path, Path]:
    sft, predict = tmp_path / "lean_sft.yaml", tmp_path / "lean_predict.yaml"
    sft.write_text(LEAN_SFT, encoding="utf-8")
    predict.write_text(LEAN_PREDICT, encoding="utf-8")
    return sft, predict


def test_a_recipe_that_leaves_keys_out_gets_llamafactorys_defaults_everywhere(lean: tuple[Path, Path],
                                                                             tmp_path: Path) -> None:
    from recipekit.plan.planner import read_run
    from recipekit.recipes.tiny_run import tiny_args

    cutoff = llamafactory_default("data", "cutoff_len")
    new_tokens = llamafactory_default("generating", "max_new_tokens")
    per_device = llamafactory_default("training", "per_device_train_batch_size")
    eval_batch = llamafactory_default("training", "per_device_eval_batch_size")
    accumulation = llamafactory_default("training", "gradient_accumulation_steps")
    assert (cutoff, new_tokens, per_device, accumulation) == (2048, 1024, 8, 1)  # what LLaMA-Factory 0.9.5 says

    sft, predict = (load_recipe(p) for p in lean)
    assert sft.setting("cutoff_len") == cutoff and sft.setting("bf16") is False and sft.setting("fp16") is False

    run, _ = read_run(sft, 1, {})  # the planner
    assert (run.shape.seq, run.shape.batch, run.accumulation) == (cutoff, per_device, accumulation)
    run, _ = read_run(predict, 1, {})
    assert run.predict and (run.new_tokens, run.shape.batch, run.shape.seq) == (new_tokens, eval_batch, cutoff)

    # the checks' batch line
    assert batch_lines(sft, None)[0].startswith(f"global batch ({per_device} per device x {accumulation} accumulation)")

    # a tiny run caps the trainer's own values
    notes: list[str] = []
    tiny = tiny_args(sft, tmp_path / "data", tmp_path / "out", 2, lambda key, value: "model", notes)
    assert (tiny["cutoff_len"], tiny["per_device_train_batch_size"]) == (min(cutoff, 512), min(per_device, 2))
    tiny = tiny_args(predict, tmp_path / "data", tmp_path / "out", 2, lambda key, value: "model", notes)
    assert tiny["max_new_tokens"] == min(new_tokens, 8)


def test_the_recipe_is_parsed_once_and_keeps_its_own_precision_and_deepspeed_on_a_cpu(tmp_path: Path) -> None:
    path = tmp_path / "r.yaml"
    path.write_text(LEAN_SFT + "bf16: true\ncutoff_len: 256\ndeepspeed: recipes/deepspeed/ds_z3_config.json\n",
                    encoding="utf-8")
    recipe = load_recipe(path)
    first = recipe.parsed()
    assert recipe.parsed() is first  # parsed once
    assert recipe.setting("bf16") is True and recipe.setting("cutoff_len") == 256
    assert recipe.setting("deepspeed") == "recipes/deepspeed/ds_z3_config.json"
    assert recipe.setting("output_dir") == "saves/lean"
    from transformers.integrations.deepspeed import is_deepspeed_zero3_enabled

    assert not is_deepspeed_zero3_enabled()  # parsing does not switch ZeRO-3 on for the whole process
    assert recipe.with_values({"cutoff_len": 64}).setting("cutoff_len") == 64


def test_a_refused_recipe_is_one_line_naming_it(tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(LEAN_SFT + "lora_rnak: 8\n", encoding="utf-8")
    with pytest.raises(InputError) as caught:
        load_recipe(path).setting("cutoff_len")
    assert str(caught.value) == (f"{path}: unknown key(s) ['lora_rnak']: not LLaMA-Factory arguments (check the "
                                 "spelling; `llamafactory-cli train -h` lists them)")


@pytest.mark.parametrize(("values", "problem"), [
    ({"learning_rate": "abc"}, "learning_rate='abc', which is not a number"),
    ({"num_train_epochs": "three"}, "num_train_epochs='three', which is not a number"),
    ({"bf16": "maybe"}, "bf16='maybe', which is not true or false"),
])
def test_a_value_of_the_wrong_type_is_refused_before_training(tmp_path: Path, values: dict, problem: str) -> None:
    path = tmp_path / "r.yaml"
    path.write_text(LEAN_SFT, encoding="utf-8")
    recipe = load_recipe(path).with_values(values)
    with pytest.raises(InputError) as caught:
        recipe.parsed()
    assert str(caught.value) == f"{path}: LLaMA-Factory's parser would take {problem}"


def test_numbers_and_switches_written_as_text_are_accepted(tmp_path: Path) -> None:
    path = tmp_path / "r.yaml"
    path.write_text(LEAN_SFT, encoding="utf-8")
    recipe = load_recipe(path).with_values({"learning_rate": "1e-4", "bf16": "true", "max_steps": "3"})
    assert recipe.setting("max_steps") == "3"  # taken as given, as LLaMA-Factory's dataclasses take it


@pytest.mark.parametrize(("text", "problem"), [
    ("per_device_train_batch_size: 0\n", "per_device_train_batch_size is 0: it must be a whole number, at least 1"),
    ("per_device_eval_batch_size: -2\n", "per_device_eval_batch_size is -2: it must be a whole number, at least 1"),
    ("gradient_accumulation_steps: 1.5\n",
     "gradient_accumulation_steps is 1.5: it must be a whole number, at least 1"),
    ("cutoff_len: 0\n", "cutoff_len is 0: it must be a whole number, at least 1"),
    ("learning_rate: .nan\n", "learning_rate is nan: it must be a finite number"),
    ("learning_rate: .inf\n", "learning_rate is inf: it must be a finite number"),
    ("learning_rate: 0\n", "learning_rate is 0: a training run needs a learning rate above 0"),
    ("learning_rate: -1e-4\n", "learning_rate is '-1e-4': a training run needs a learning rate above 0"),
    ("num_train_epochs: 0\n", "num_train_epochs is 0: a training run without max_steps needs more than 0 epochs"),
    ("num_train_epochs: -1.0\nmax_steps: -1\n",
     "num_train_epochs is -1.0: a training run without max_steps needs more than 0 epochs"),
    ("warmup_ratio: 1.5\n", "warmup_ratio is 1.5: it must lie between 0 and 1"),
    ("warmup_ratio: -0.1\n", "warmup_ratio is -0.1: it must lie between 0 and 1"),
    ("warmup_steps: -10\n", "warmup_steps is -10: it must be 0 or more"),
])
def test_values_the_parser_takes_but_no_run_can_use_are_refused_when_read(tmp_path: Path, text: str,
                                                                           problem: str) -> None:
    path = tmp_path / "r.yaml"
    path.write_text(LEAN_SFT + text, encoding="utf-8")
    with pytest.raises(InputError) as caught:
        load_recipe(path)
    assert str(caught.value) == f"{path}: {problem}"


def test_usable_edge_values_are_read_and_overrides_pass_the_same_rule(tmp_path: Path) -> None:
    path = tmp_path / "r.yaml"
    path.write_text(LEAN_SFT + "warmup_ratio: 1.0\nnum_train_epochs: 0\nmax_steps: 10\nlearning_rate: 2e-5\n",
                    encoding="utf-8")
    recipe = load_recipe(path)  # epochs do not count when max_steps is set; YAML's `2e-5` is text, read as a number
    assert recipe.args["warmup_ratio"] == 1.0 and recipe.args["learning_rate"] == "2e-5"
    predict = tmp_path / "p.yaml"
    predict.write_text(LEAN_PREDICT + "learning_rate: 0\n", encoding="utf-8")
    assert load_recipe(predict).args["learning_rate"] == 0  # a run that does not train uses no learning rate
    with pytest.raises(InputError) as caught:
        recipe.with_values({"per_device_train_batch_size": 0})
    assert str(caught.value) == f"{path}: per_device_train_batch_size is 0: it must be a whole number, at least 1"


def test_a_recipe_that_is_not_utf8_is_one_line_naming_the_line_and_byte(tmp_path: Path) -> None:
    path = tmp_path / "latin1.yaml"
    path.write_bytes(LEAN_SFT.encode("utf-8") + "run_name: café\n".encode("latin-1"))
    offset = len(LEAN_SFT.encode("utf-8")) + len(b"run_name: caf")
    line = LEAN_SFT.count("\n") + 1
    with pytest.raises(InputError) as caught:
        load_recipe(path)
    assert str(caught.value) == (f"{path}:{line}: not valid UTF-8 at byte {offset} (b'\\xe9': invalid continuation "
                                 "byte); save it as UTF-8")


@pytest.mark.parametrize(("method", "whole"), [("full", True), ("freeze", True), ("lora", False), ("oft", False)])
def test_full_and_freeze_tuning_save_the_whole_model_and_lora_and_oft_an_adapter_on_the_base(
        tmp_path: Path, method: str, whole: bool) -> None:
    from recipekit.report.provenance import recipe_models

    path = tmp_path / "r.yaml"
    path.write_text(LEAN_SFT.replace("finetuning_type: lora", f"finetuning_type: {method}"), encoding="utf-8")
    recipe = load_recipe(path)
    # LLaMA-Factory saves full- and freeze-tuned runs as whole models, LoRA and OFT runs as peft adapters on the
    # base, and a run that trains and predicts predicts with what it trained. Only a LoRA adapter loads again
    # through adapter_name_or_path: LLaMA-Factory refuses it under any other finetuning_type (test_check_edges)
    assert recipe.saves_whole_model is whole
    assert recipe_models(recipe) == (("saves/lean", None) if whole else ("Qwen/Qwen2.5-0.5B", "saves/lean"))


def test_a_predict_recipe_naming_no_model_records_none_not_the_word(tmp_path: Path) -> None:
    from recipekit.report.provenance import recipe_models

    path = tmp_path / "r.yaml"
    path.write_text("stage: sft\ndo_predict: true\ndataset: x\ntemplate: qwen\n", encoding="utf-8")
    assert recipe_models(load_recipe(path)) == (None, None)
    path.write_text("stage: sft\ndo_predict: true\nadapter_name_or_path: saves/a\n", encoding="utf-8")
    assert recipe_models(load_recipe(path)) == (None, "saves/a")


@pytest.mark.parametrize(("method", "saved", "missing"), [
    ("full", "model.safetensors", "adapter_model.safetensors"), ("freeze", "model.safetensors",
                                                                  "adapter_model.safetensors"),
    ("lora", "adapter_model.safetensors", "model.safetensors"), ("oft", "adapter_model.safetensors",
                                                                "model.safetensors")])
def test_a_smoke_run_finds_the_weights_its_method_saves(tmp_path: Path, method: str, saved: str,
                                                         missing: str) -> None:
    """peft saves a LoRA or OFT run as adapter_model.safetensors; full and freeze tuning save model.safetensors."""
    import json

    from recipekit.commands.smoke_recipe import verify

    path = tmp_path / "r.yaml"
    path.write_text(LEAN_SFT.replace("finetuning_type: lora", f"finetuning_type: {method}") + "max_steps: 2\n",
                    encoding="utf-8")
    recipe = load_recipe(path)
    out = tmp_path / "out"
    out.mkdir()
    (out / "trainer_state.json").write_text(json.dumps({"global_step": 2}), encoding="utf-8")
    (out / missing).write_bytes(b"")
    with pytest.raises(InputError) as caught:
        verify(recipe, out)
    assert caught.value.message == f"training wrote no {saved}"
    (out / saved).write_bytes(b"")
    verify(recipe, out)
