"""The recipe checks' small rules at their edges: what counts as a local path, the ZeRO stage, a recipe value
against the report's, the global batch lines on any GPU count, DeepSpeed's "auto" values. Expected values are
worked out by hand from the recipe files."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from conftest import ROOT

from recipekit.recipes.checks import batch_lines, is_local, resolved, same_setting, zero_stage
from recipekit.recipes.reading import load_recipe

FULL = ROOT / "recipes" / "agnews_full.yaml"  # 4 per device x 4 accumulation; the report's batch: 4 x 4 x 8 = 128


@pytest.mark.parametrize(("path", "local"), [
    ("/models/x", True), ("./x", True), ("../x", True), ("saves/qwen/lora", True), ("outputs/x", True),
    ("data/x", True), ("recipes/x.yaml", True), ("a/b/c", True), ("Qwen/Qwen2.5-7B", False),
    ("savesx/model", False), ("scripts/bench_plan.py", True),  # one slash, but it exists here
])
def test_a_local_path_or_a_hub_id(path: str, local: bool) -> None:
    assert is_local(path) is local


def test_a_hub_id_without_an_organisation_is_not_a_local_path() -> None:
    assert is_local("gpt2") is False and is_local("bert-base-uncased") is False
    assert is_local("recipes") is True  # a bare name that is a folder here


def test_the_zero_stage_of_a_config() -> None:
    assert zero_stage({}) == 0
    assert zero_stage({"zero_optimization": {}}) == 0
    assert zero_stage({"zero_optimization": {"stage": None}}) == 0
    assert zero_stage({"zero_optimization": {"stage": "3"}}) == 3


@pytest.mark.parametrize(("mine", "report", "same"), [
    (None, None, False), (None, "x", False), (True, "true", True), (True, 1, False), ("True", True, True),
    (1, True, False), (0, False, False), (False, "false", True), (2e-5, "2.0e-5", True), ("0.1", 0.10, True),
    (3, "3.0", True), (3, 4, False), ("q_proj, v_proj", "Q_PROJ,v_proj", True), ("abc", "abd", False),
    ("a b", "a  b", False),
])
def test_a_recipe_value_against_the_reports(mine: object, report: object, same: bool) -> None:
    assert same_setting(mine, report) is same


def test_the_batch_lines_at_whole_fractional_and_too_small_accumulations() -> None:
    recipe = load_recipe(FULL)
    first = "global batch (4 per device x 4 accumulation): 1 GPU: 16, 2 GPUs: 32, 8 GPUs: 128"
    assert batch_lines(recipe, None) == [first] and batch_lines(recipe, 0) == [first]
    assert batch_lines(recipe, 8) == [first, "on 8 GPUs keep the report's global batch 128 with "
                                             "gradient_accumulation_steps=4"]
    assert batch_lines(recipe, 32)[1] == "on 32 GPUs keep the report's global batch 128 with " \
                                         "gradient_accumulation_steps=1"  # 128 / (4 x 32) = 1 exactly
    # 128 / (4 x 3) = 10.67: 11 gives 132; 128 / (4 x 5) = 6.4: 6 gives 120; 128 / (4 x 64) = 0.5: at least 1
    for gpus, steps, total in ((3, 11, 132), (5, 6, 120), (64, 1, 256)):
        assert batch_lines(recipe, gpus)[1] == (
            f"on {gpus} GPUs no whole accumulation gives 128 with 4 per device; gradient_accumulation_steps={steps} "
            f"gives {total} (or change per_device_train_batch_size)")
    assert batch_lines(load_recipe(ROOT / "recipes" / "agnews_predict.yaml"), 8) == []  # trains nothing


def test_a_recipe_of_no_report_gets_the_plain_sum(tmp_path: Path) -> None:
    plain = tmp_path / "plain.yaml"
    plain.write_text("model_name_or_path: Qwen/Qwen2.5-0.5B\nstage: sft\ndo_train: true\nfinetuning_type: lora\n"
                     "dataset: x\ntemplate: qwen\noutput_dir: saves/x\nper_device_train_batch_size: 3\n"
                     "gradient_accumulation_steps: 2\n", encoding="utf-8")
    assert batch_lines(load_recipe(plain), 2) == [
        "global batch (3 per device x 2 accumulation): 1 GPU: 6, 2 GPUs: 12, 8 GPUs: 48",
        "on 2 GPUs: 12 (no report batch is stated)"]


def test_deepspeed_auto_values_are_filled_as_the_trainer_fills_them() -> None:
    recipe = load_recipe(FULL)
    written = yaml.safe_load(FULL.read_text(encoding="utf-8"))
    config = {"train_batch_size": "auto", "train_micro_batch_size_per_gpu": "auto",
              "gradient_accumulation_steps": "auto", "gradient_clipping": "auto", "steps_per_print": 10,
              "bf16": {"enabled": "auto"}, "fp16": {"enabled": "auto"},
              "zero_optimization": {"stage": 3, "reduce_bucket_size": "auto", "stage3_prefetch_bucket_size": "auto",
                                    "stage3_param_persistence_threshold": "auto", "sub_group_size": "auto"}}
    filled = resolved(config, recipe, 2, (4, 4))
    assert {key: filled[key] for key in ("train_batch_size", "train_micro_batch_size_per_gpu",
                                         "gradient_accumulation_steps", "steps_per_print")} == {
        "train_batch_size": 32, "train_micro_batch_size_per_gpu": 4, "gradient_accumulation_steps": 4,
        "steps_per_print": 10}
    assert filled["gradient_clipping"] == float(written.get("max_grad_norm", 1.0))  # the trainer's default is 1.0
    assert (filled["bf16"], filled["fp16"]) == ({"enabled": True}, {"enabled": bool(written.get("fp16", False))})
    assert filled["zero_optimization"] == {"stage": 3, "reduce_bucket_size": 4096 * 4096,
                                           "stage3_prefetch_bucket_size": 15099494,  # int(0.9 x 4096^2)
                                           "stage3_param_persistence_threshold": 40960, "sub_group_size": "auto"}
    assert resolved({"train_batch_size": 64, "gradient_clipping": 0.5}, recipe, 2, (4, 4)) == {
        "train_batch_size": 64, "gradient_clipping": 0.5}  # values the config sets stay as they are


def test_a_bare_adapter_name_is_a_local_folder_that_must_exist() -> None:
    """A bare name stands for a hub model only where a model is named; an adapter named `my_lora` is a folder."""
    assert is_local("my_lora", bare_hub_id=False) is True and is_local("org/lora", bare_hub_id=False) is False


def test_a_recipe_without_a_template_gets_the_default_tiny_model() -> None:
    from recipekit.recipes.tiny_run import tiny_family

    assert tiny_family(load_recipe(ROOT / "recipes/classifier/yelp5_bert_lora.yaml")) == ("bert", "default")
    assert tiny_family(load_recipe(ROOT / "recipes/qwen3_4b_tulu_sft_lora.yaml")) == ("qwen2", "qwen3_nothink")


def lean_recipe(folder: Path, name: str, lines: str) -> Path:
    path = folder / f"{name}.yaml"
    path.write_text("model_name_or_path: Qwen/Qwen2.5-0.5B\nstage: sft\ntemplate: qwen\ndataset: agnews\n"
                    "eval_dataset: agnews_val\n" + lines, encoding="utf-8")
    return path


def llamafactory_refusal(recipe_path: Path) -> str | None:
    """What LLaMA-Factory's own model-argument verification (run by its train, predict and export commands)
    says of the recipe: its ValueError's words, None when it accepts it."""
    from llamafactory.hparams.parser import _verify_model_args

    model, data, _, finetuning, _ = load_recipe(recipe_path).parsed()
    try:
        _verify_model_args(model, data, finetuning)
    except ValueError as exc:
        return str(exc)
    return None


QUANTISED_BY = {"full": False, "freeze": False, "lora": True, "oft": True}  # by hand from LLaMA-Factory 0.9.5


@pytest.mark.parametrize("run", ["do_train: true\noutput_dir: saves/q\n",
                                 "do_predict: true\npredict_with_generate: true\noutput_dir: saves/q/predict\n"],
                         ids=["train", "predict"])
@pytest.mark.parametrize("method", ["full", "freeze", "lora", "oft"])
def test_quantization_is_refused_under_the_methods_llamafactory_refuses_it(tmp_path: Path, method: str,
                                                                          run: str) -> None:
    from recipekit.recipes.checks import Findings, check_compatibility

    path = lean_recipe(tmp_path, method, f"finetuning_type: {method}\nquantization_bit: 4\n{run}")
    expected = None if QUANTISED_BY[method] else "Quantization is only compatible with the LoRA or OFT method."
    assert llamafactory_refusal(path) == expected
    found = Findings()
    check_compatibility(load_recipe(path), None, found)
    quantisation = [line for line in found.errors if line.startswith("quantization_bit with finetuning_type")]
    assert quantisation == ([] if QUANTISED_BY[method] else [
        f"quantization_bit with finetuning_type {method}: a quantised model can only be trained through adapters "
        "(LLaMA-Factory: quantization only with the LoRA or OFT method); use finetuning_type lora (QLoRA) or oft, "
        "or drop quantization_bit"])


@pytest.mark.parametrize("method", ["full", "freeze", "lora", "oft"])
def test_an_adapter_is_loaded_only_under_lora_as_llamafactory_demands(tmp_path: Path, method: str) -> None:
    from recipekit.recipes.checks import Findings, check_compatibility

    path = lean_recipe(tmp_path, method, f"finetuning_type: {method}\nadapter_name_or_path: saves/a\n"
                                         "do_predict: true\npredict_with_generate: true\noutput_dir: saves/p\n")
    loads = method == "lora"  # LLaMA-Factory 0.9.5: "Adapter is only valid for the LoRA method."
    assert llamafactory_refusal(path) == (None if loads else "Adapter is only valid for the LoRA method.")
    found = Findings()
    check_compatibility(load_recipe(path), None, found)
    assert [line for line in found.errors if line.startswith("adapter_name_or_path with")] == ([] if loads else [
        f"adapter_name_or_path with finetuning_type {method}: LLaMA-Factory loads an adapter only with "
        "finetuning_type lora; set it to lora"])


@pytest.mark.parametrize(("method", "whole"), [("full", True), ("freeze", True), ("lora", False), ("oft", False)])
def test_an_export_refuses_a_producer_that_saved_the_whole_model_only(tmp_path: Path, method: str,
                                                                      whole: bool) -> None:
    from recipekit.recipes.checks import Findings, check_export

    producer = lean_recipe(tmp_path, "producer", f"finetuning_type: {method}\ndo_train: true\n"
                                                 "output_dir: saves/made\n")
    export = tmp_path / "export.yaml"
    export.write_text("model_name_or_path: Qwen/Qwen2.5-0.5B\nadapter_name_or_path: saves/made\ntemplate: qwen\n"
                      "finetuning_type: lora\nexport_dir: saves/merged\n", encoding="utf-8")
    found = Findings()
    check_export(load_recipe(export), {"saves/made": producer}, found)
    # peft saves a LoRA or OFT run as adapter_model.safetensors: something to merge; full and freeze: the model
    assert [line.split(": ", 1)[0] for line in found.errors if "trains all weights" in line] == (
        ["adapter_name_or_path saves/made"] if whole else [])
    assert len(found.errors) == int(whole)  # nothing else: same base, same template
