"""The recipe checks' small rules at their edges: what counts as a local path, the ZeRO stage, a recipe value
against the report's, the global batch lines on any GPU count, DeepSpeed's "auto" values. Expected values are
worked out by hand from the recipe files."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from conftest import ROOT
from conftest import ascii_locale as in_ascii_locale

from recipekit.recipes.checks import (
    CheckContext,
    Findings,
    batch_lines,
    check_compatibility,
    check_deepspeed,
    check_header,
    check_labels,
    deepspeed_config,
    is_local,
    parse_with_llamafactory,
    resolved,
    same_setting,
    zero_stage,
)
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


@pytest.mark.parametrize("labels", ["[neg, pos]", "neg,pos", "' neg , pos '", "[' neg', 'pos ']"])
def test_a_classifiers_labels_written_as_a_list_or_as_text_hold_the_same_names(tmp_path: Path, labels: str) -> None:
    """Every answer of a registered set must be one of the labels, whichever way the labels are written."""
    import json

    data = tmp_path / "data"
    data.mkdir()
    (data / "dataset_info.json").write_text(json.dumps({"two": {"file_name": "two.jsonl"},
                                                        "three": {"file_name": "three.jsonl"}}), encoding="utf-8")
    for name, answers in (("two", ["pos", "neg", "pos"]), ("three", ["neg", "neutral", "pos", "mixed"])):
        (data / f"{name}.jsonl").write_text("".join(json.dumps({"instruction": "x", "input": "", "output": a}) + "\n"
                                                    for a in answers), encoding="utf-8")
    recipe = tmp_path / "classifier" / "head.yaml"
    recipe.parent.mkdir()
    recipe.write_text(f"model_name_or_path: google-bert/bert-base-uncased\nlabels: {labels}\ndataset: two\n"
                      "eval_dataset: three\n", encoding="utf-8")
    found = Findings()
    check_labels(load_recipe(recipe), CheckContext(data_dir=data, made_by={}, gpu_counts=[1]), found)
    assert found == Findings(errors=["dataset 'three' has answers ['mixed', 'neutral'] that are not in labels "
                                     "['neg', 'pos']"])


def deepspeed_findings(tmp_path: Path, config: dict, gpu_counts: list[int]) -> Findings:
    path = lean_recipe(tmp_path, "ds", "finetuning_type: lora\ndo_train: true\noutput_dir: saves/ds\n"
                                       "per_device_train_batch_size: 4\ngradient_accumulation_steps: 4\n"
                                       "deepspeed: ds_fixed.json\n")
    found = Findings()
    check_deepspeed(load_recipe(path), config, gpu_counts, found)
    return found


def test_deepspeed_is_asked_at_each_gpu_count_and_the_first_refusal_is_reported(tmp_path: Path) -> None:
    """A config that fixes train_batch_size 32 adds up only on 2 GPUs of 4 per device x 4 accumulation."""
    config = {"train_batch_size": 32, "train_micro_batch_size_per_gpu": "auto", "gradient_accumulation_steps": "auto"}
    assert deepspeed_findings(tmp_path, config, [2]) == Findings()
    refusal = ("DeepSpeed rejects ds_fixed.json on {gpus} GPU(s): Check batch related parameters. train_batch_size is "
               "not equal to micro_batch_per_gpu * gradient_acc_step * world_size 32 != 4 * 4 * {gpus}")
    assert deepspeed_findings(tmp_path, config, [2, 8]) == Findings(errors=[refusal.format(gpus=8)])
    assert deepspeed_findings(tmp_path, config, [1, 2, 8]) == Findings(errors=[refusal.format(gpus=1)])
    auto = {**config, "train_batch_size": "auto"}
    assert deepspeed_findings(tmp_path, auto, [1, 2, 8]) == Findings()


def test_deepspeeds_own_warnings_are_shown_once_per_gpu_count_as_by_the_main_process(tmp_path: Path) -> None:
    """DeepSpeed warns (rank 0 only) that it zeroes an optimizer's max_grad_norm outside fp16."""
    import logging

    class Kept(logging.Handler):
        def __init__(self) -> None:
            super().__init__(logging.WARNING)
            self.lines: list[str] = []

        def emit(self, record: logging.LogRecord) -> None:
            self.lines.append(record.getMessage())

    config = {"train_batch_size": "auto", "train_micro_batch_size_per_gpu": "auto",
              "gradient_accumulation_steps": "auto",
              "optimizer": {"type": "AdamW", "params": {"lr": 1e-4, "max_grad_norm": 1.0}}}
    kept = Kept()
    deepspeed_findings(tmp_path, {}, [])  # DeepSpeed's logger exists from its import on
    logger = logging.getLogger("DeepSpeed")
    logger.addHandler(kept)
    try:
        assert deepspeed_findings(tmp_path, config, [1, 8]) == Findings()
    finally:
        logger.removeHandler(kept)
    warned = "DeepSpeedConfig: In FP32 mode, DeepSpeed does not permit MAX_GRAD_NORM (1.0) > 0, setting to zero"
    assert [line for line in kept.lines if line.startswith("DeepSpeedConfig:")] == [warned, warned]


def test_the_zero_stage_of_a_config_whose_zero_section_deepspeed_refuses_is_none() -> None:
    """DeepSpeed's own check names such a section; the ZeRO-3 rules just do not apply to it."""
    assert [zero_stage(config) for config in ({"zero_optimization": None}, {"zero_optimization": [3]},
                                              {"zero_optimization": {"stage": "three"}},
                                              {"zero_optimization": {"stage": [3]}},
                                              {"zero_optimization": {"stage": 2}})] == [0, 0, 0, 0, 2]


@pytest.mark.parametrize(("text", "error"), [
    ("[1, 2]", None), ('"auto"', None), ("3", None), ("null", None),
    ('{\n  "train_batch_size": 8,\n  oops\n}', "3: not valid JSON (Expecting property name enclosed in double quotes)"),
])
def test_a_deepspeed_config_must_be_a_json_object(tmp_path: Path, text: str, error: str | None) -> None:
    config = tmp_path / "ds.json"
    config.write_text(text, encoding="utf-8")
    recipe = load_recipe(lean_recipe(tmp_path, "ds", f"finetuning_type: lora\ndo_train: true\noutput_dir: saves/ds\n"
                                                     f"deepspeed: {config}\n"))
    found = Findings()
    assert deepspeed_config(recipe, found) is None
    said = f"deepspeed config {config}:{error}" if error else \
        f"deepspeed config {config}: not a JSON object of DeepSpeed settings ({{...}})"
    assert found == Findings(errors=[said])
    check_compatibility(recipe, None, found)  # as check_recipe goes on: no DeepSpeed config to compare
    assert found.errors == [said]


def test_a_deepspeed_config_of_a_bad_zero_section_is_compared_without_an_error(tmp_path: Path) -> None:
    config = tmp_path / "ds.json"
    config.write_text('{"zero_optimization": null}', encoding="utf-8")
    recipe = load_recipe(lean_recipe(tmp_path, "ds", f"finetuning_type: lora\ndo_train: true\noutput_dir: saves/ds\n"
                                                     f"deepspeed: {config}\nquantization_bit: 4\n"
                                                     "predict_with_generate: true\n"))
    found = Findings()
    loaded = deepspeed_config(recipe, found)
    assert loaded == {"zero_optimization": None} and found == Findings()
    check_compatibility(recipe, loaded, found)  # not ZeRO-3: neither ZeRO-3 refusal
    assert found.errors == [] and found.notes == [
        f"DeepSpeed recipes are launched with torchrun: `FORCE_TORCHRUN=1 llamafactory-cli train {recipe.path}`"]


def test_a_deepspeed_config_is_read_as_utf8_in_an_ascii_locale(tmp_path: Path) -> None:
    """A DeepSpeed file naming a folder in another script (its TensorBoard logs) is read whatever the locale."""
    config = tmp_path / "ds.json"
    config.write_text('{"tensorboard": {"output_path": "/home/jos\u00e9/\u65e5\u5fd7"}}', encoding="utf-8")
    recipe = load_recipe(lean_recipe(tmp_path, "ds", f"finetuning_type: lora\ndo_train: true\noutput_dir: saves/ds\n"
                                                     f"deepspeed: {config}\n"))
    found = Findings()
    with in_ascii_locale():
        loaded = deepspeed_config(recipe, found)
    assert loaded == {"tensorboard": {"output_path": "/home/jos\u00e9/\u65e5\u5fd7"}} and found == Findings()


def test_text_values_are_compared_lower_cased() -> None:
    """'ß' lower-cases to itself (upper-cased it would be 'SS'): 'straße' and 'strasse' are different values."""
    assert same_setting("Straße", "STRASSE") is False and same_setting("STRASSE", "strasse") is True


NO_PREDICTIONS = "do_predict without predict_with_generate saves no predictions: set predict_with_generate"
NO_EVAL_SET = "do_predict/do_eval needs `eval_dataset` (or val_size)"


@pytest.mark.parametrize(("lines", "errors"), [
    ("stage: sft\ndataset: agnews\neval_dataset: agnews_val\ndo_predict: true\n", [NO_PREDICTIONS]),
    ("stage: sft\ndataset: agnews\neval_dataset: agnews_val\ndo_predict: true\npredict_with_generate: true\n", []),
    ("dataset: agnews\ndo_predict: true\n", [NO_PREDICTIONS, NO_EVAL_SET]),  # stage left out: sft
    ("stage: rm\ndataset: agnews\neval_dataset: agnews_val\ndo_predict: true\npredict_with_generate: true\n",
     ["predict_with_generate only works with stage: sft"]),
    ("stage: dpo\ndataset: agnews\neval_dataset: agnews_val\ndo_predict: true\n", []),  # no generation outside sft
    ("stage: sft\ndo_train: true\n", ["do_train needs `dataset`"]),
    ("stage: sft\ndo_train: true\ndataset: agnews\n", []),
    ("stage: sft\ndataset: agnews\ndo_eval: true\n", [NO_EVAL_SET]),
    ("stage: sft\ndataset: agnews\ndo_eval: true\nval_size: 0.1\n", []),
    ("stage: sft\ndataset: agnews\ndo_predict: true\npredict_with_generate: true\nval_size: 0.1\n", []),
    ("stage: sft\ndataset: agnews\nlora_rnak: 8\n",
     ["unknown key(s) ['lora_rnak']: not LLaMA-Factory arguments (check the spelling; `llamafactory-cli train -h` "
      "lists them)"]),
], ids=["predict", "predict-generate", "predict-no-stage", "rm-generate", "dpo-predict", "train-no-dataset",
        "train", "eval", "eval-val-size", "predict-val-size", "unknown-key"])
def test_llamafactory_recipe_rules_of_train_eval_and_predict(tmp_path: Path, lines: str, errors: list[str]) -> None:
    path = tmp_path / "run.yaml"
    path.write_text("model_name_or_path: Qwen/Qwen2.5-0.5B\ntemplate: qwen\nfinetuning_type: lora\n"
                    "output_dir: saves/run\n" + lines, encoding="utf-8")
    found = Findings()
    parse_with_llamafactory(load_recipe(path), found)
    assert found == Findings(errors=errors)


HEADER_HINT = ("(start the file with comment lines 'Launch', 'Report: recipes/reproduce/REPORT.yaml (or none)'; "
               "a recipe of no report adds 'Hardware:', 'Global batch:', 'Target:')")


def header_findings(tmp_path: Path, header: str, batch: str = "") -> Findings:
    path = tmp_path / "run.yaml"
    path.write_text(header + "model_name_or_path: Qwen/Qwen2.5-0.5B\nstage: sft\ntemplate: qwen\ndataset: agnews\n"
                    "finetuning_type: lora\ndo_train: true\noutput_dir: saves/run\n" + batch, encoding="utf-8")
    found = Findings()
    check_header(load_recipe(path), found)
    return found


def test_a_recipe_without_a_report_line_is_a_plain_recipe_with_a_note(tmp_path: Path) -> None:
    assert header_findings(tmp_path, "# Launch:\n#   llamafactory-cli train run.yaml\n") == Findings(notes=[
        "no '# Report:' header line: checked as a plain LLaMA-Factory recipe (a header of 'Launch', 'Report:', "
        "'Hardware:', 'Global batch:', 'Target:' lines adds the report checks)"])


def test_a_header_of_no_report_lists_every_line_it_lacks(tmp_path: Path) -> None:
    assert header_findings(tmp_path, "# Report: none\n") == Findings(errors=[
        f"header lacks: launch, hardware, global batch, target {HEADER_HINT}"])
    assert header_findings(tmp_path, "# Launch:\n# Report: none\n# Target: none\n") == Findings(errors=[
        f"header lacks: hardware, global batch {HEADER_HINT}"])
    complete = "# Launch:\n# Report: none\n# Hardware: 1 GPU\n# Global batch: 16 rows\n# Target: none\n"
    assert header_findings(tmp_path, complete) == Findings()  # a batch of no per-device shape is not compared


def test_a_header_batch_must_add_up_and_match_the_recipe(tmp_path: Path) -> None:
    """2 x 8 x 2 = 32, not 30; the recipe trains 4 per device x 8 accumulation, not 2 x 8."""
    header = "# Report: none\n# Hardware: 2 GPUs\n# Global batch: 2 per device x 8 accumulation x 2 GPUs = 30\n"
    assert header_findings(tmp_path, header, "per_device_train_batch_size: 4\ngradient_accumulation_steps: 8\n") == \
        Findings(errors=[f"header lacks: launch, target {HEADER_HINT}",
                         "header's global batch does not add up: 2 x 8 x 2 != 30",
                         "header says 2 per device x 8 accumulation but the recipe sets per_device_train_batch_size 4, "
                         "gradient_accumulation_steps 8: make them agree"])
    agreeing = "# Launch:\n# Report: none\n# Hardware: 2 GPUs\n" \
               "# Global batch: 2 per device x 8 accumulation x 2 GPUs = 32\n# Target: none\n"
    assert header_findings(tmp_path, agreeing, "per_device_train_batch_size: 2\ngradient_accumulation_steps: 8\n") == \
        Findings()


def datasets_findings(data: Path, stage: str, datasets: str) -> Findings:
    from recipekit.recipes.checks import check_datasets

    path = data.parent / "run.yaml"
    path.write_text(f"model_name_or_path: Qwen/Qwen2.5-0.5B\nstage: {stage}\ntemplate: qwen\ndataset: {datasets}\n"
                    "finetuning_type: lora\ndo_train: true\noutput_dir: saves/run\n", encoding="utf-8")
    found = Findings()
    context = CheckContext(data_dir=data, made_by={}, gpu_counts=[1],
                           converter_commands={"agnews": "llm-recipes convert agnews"})
    check_datasets(load_recipe(path), context, found)
    return found


def test_every_dataset_of_a_recipe_is_checked_against_the_registry(tmp_path: Path) -> None:
    """Unknown names (with the command that makes a repository set), the stage's kind of set, files not made."""
    import json

    data = tmp_path / "data"
    data.mkdir()
    (data / "dataset_info.json").write_text(json.dumps({
        "plain": {"file_name": "plain.jsonl"}, "prefs": {"file_name": "prefs.jsonl", "ranking": True},
        "hub": {"hf_hub_url": "org/x"}, "agnews": {"file_name": "agnews.jsonl"}}), encoding="utf-8")
    (data / "plain.jsonl").write_text("{}\n", encoding="utf-8")
    registry = data / "dataset_info.json"
    assert datasets_findings(data, "sft", "missing_one,agnews_val,plain,prefs,hub,agnews") == Findings(
        errors=[f"dataset 'missing_one' is not in {registry}: register it in dataset_info.json",
                f"dataset 'agnews_val' is not in {registry}: run `llm-recipes convert agnews`",
                "dataset 'prefs' is a preference (ranking) set but stage is sft"],
        notes=[f"{data / 'prefs.jsonl'} is not made yet", f"{data / 'agnews.jsonl'} is not made yet: "
                                                           "`llm-recipes convert agnews`"])
    assert datasets_findings(data, "dpo", "plain,prefs") == Findings(
        errors=["dataset 'plain' is not a preference set but stage is dpo"],
        notes=[f"{data / 'prefs.jsonl'} is not made yet"])
    registry.write_text('{\n  oops\n}', encoding="utf-8")
    assert datasets_findings(data, "sft", "plain") == Findings(
        errors=[f"{registry}:2: not valid JSON (Expecting property name enclosed in double quotes)"])



def test_every_local_model_path_is_found_made_by_a_recipe_or_refused(tmp_path: Path,
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    """In a repository of nothing but one folder: a trailing '/' names the same folder; hub ids (org/name, and a
    bare model name) and folders that exist are not looked for."""
    from recipekit.recipes.checks import check_paths

    monkeypatch.setenv("LLM_RECIPES_ROOT", str(tmp_path))
    (tmp_path / "exists_here").mkdir()
    path = tmp_path / "run.yaml"
    path.write_text("model_name_or_path: saves/baseX/\n"
                    "adapter_name_or_path: org/hub_adapter, exists_here, saves/a1, my_lora\n"
                    "ref_model: outputs/demo/tiny_model/\n"
                    "ref_model_adapters: /no/such/adapter,outputs/demo/tiny_modelX\nstage: dpo\n",
                    encoding="utf-8")
    producer = tmp_path / "base.yaml"
    found = Findings()
    check_paths(load_recipe(path), {"saves/baseX": producer, "saves/other": tmp_path / "other.yaml"}, found)
    assert found == Findings(
        errors=["adapter_name_or_path saves/a1: no such local path, and no recipe writes it",
                "adapter_name_or_path my_lora: no such local path, and no recipe writes it",
                "ref_model_adapters /no/such/adapter: no such local path, and no recipe writes it",
                "ref_model_adapters outputs/demo/tiny_modelX: no such local path, and no recipe writes it"],
        notes=[f"model_name_or_path saves/baseX/ is made by {producer}",
               "ref_model outputs/demo/tiny_model/ is made by make demo (scripts/run_demo.py runs "
               "scripts/make_tiny_model.py)"])


def test_a_deepspeed_config_that_is_not_there_is_one_error(tmp_path: Path) -> None:
    missing = tmp_path / "no_such_ds.json"
    recipe = load_recipe(lean_recipe(tmp_path, "ds", f"finetuning_type: lora\ndeepspeed: {missing}\n"))
    found = Findings()
    assert deepspeed_config(recipe, found) is None
    assert found == Findings(errors=[f"deepspeed config {missing}: no such file"])


PREDICT_UNDER_ZERO3 = ("predict_with_generate is refused under DeepSpeed ZeRO-3: drop `deepspeed` from this predict "
                       "recipe (generation fits on one GPU) or use ds_z2_config.json")
QUANTISED_UNDER_ZERO3 = ("quantization_bit with ZeRO-3: bitsandbytes-quantised weights cannot be partitioned here; use "
                         "ds_z2_config.json or no DeepSpeed for QLoRA")
REMOTE_CODE = ("trust_remote_code runs Python code from the model's hub repository; models that transformers "
               "supports natively (Llama, Qwen2/2.5/3, Gemma...) do not need it: drop it")


@pytest.mark.parametrize(("config", "errors"), [
    ({"zero_optimization": {"stage": 3}}, [PREDICT_UNDER_ZERO3, QUANTISED_UNDER_ZERO3]),
    ({"zero_optimization": {"stage": "3"}}, [PREDICT_UNDER_ZERO3, QUANTISED_UNDER_ZERO3]),
    ({"zero_optimization": {"stage": 2}}, []), ({}, []), (None, []),
], ids=["zero3", "zero3-text", "zero2", "no-zero", "no-deepspeed"])
def test_a_zero3_predict_recipe_of_a_quantised_model_gets_every_finding(tmp_path: Path, config: dict | None,
                                                                       errors: list[str]) -> None:
    """Generation and 4-bit weights are refused only under ZeRO-3; a predict run needs no torchrun; the remote-code
    warning and the chat template on a base model (Qwen2.5-0.5B) are said whatever DeepSpeed does."""
    path = lean_recipe(tmp_path, "predict", "finetuning_type: lora\nquantization_bit: 4\ndo_predict: true\n"
                                            "predict_with_generate: true\ntrust_remote_code: true\n"
                                            "output_dir: saves/p\n")
    found = Findings()
    check_compatibility(load_recipe(path), config, found)
    assert found == Findings(errors=errors, warnings=[
        REMOTE_CODE, "template qwen is a chat template and Qwen/Qwen2.5-0.5B looks like a base model: fine when SFT "
                     "teaches the format; for the untuned base model use template default"])


@pytest.mark.parametrize(("header", "config", "errors", "notes"), [
    ("", {}, [], ["DeepSpeed recipes are launched with torchrun: `FORCE_TORCHRUN=1 llamafactory-cli train {path}`"]),
    ("# Launch:\n#   llamafactory-cli train x.yaml\n# Report: none\n", {},
     ["DeepSpeed recipes must be launched with torchrun: make the header's launch line `FORCE_TORCHRUN=1 "
      "llamafactory-cli train {path}`"], []),
    ("# Launch:\n#   FORCE_TORCHRUN=1 llamafactory-cli train x.yaml\n# Report: none\n", {}, [], []),
    ("# Launch:\n#   llamafactory-cli train x.yaml\n# Report: none\n", None, [], []),
], ids=["plain", "header-without-torchrun", "header-with-torchrun", "no-deepspeed"])
def test_a_deepspeed_training_recipe_is_launched_with_torchrun(tmp_path: Path, header: str, config: dict | None,
                                                               errors: list[str], notes: list[str]) -> None:
    path = tmp_path / "train.yaml"
    path.write_text(header + "model_name_or_path: Qwen/Qwen2.5-0.5B-Instruct\nstage: sft\ntemplate: qwen\n"
                    "dataset: agnews\nfinetuning_type: lora\ndo_train: true\noutput_dir: saves/t\n", encoding="utf-8")
    found = Findings()
    check_compatibility(load_recipe(path), config, found)
    assert found == Findings(errors=[line.format(path=path) for line in errors],
                             notes=[line.format(path=path) for line in notes])


@pytest.mark.parametrize(("method", "stage", "errors"), [
    ("lora", 3, ["a LoRA classifier under ZeRO-3 fails in DeepSpeed's hooks on peft's copy of the head; use "
                 "recipes/deepspeed/ds_z2_config.json (adapters are small: ZeRO-2 partitions what matters)"]),
    ("lora", 2, []), ("full", 3, []),
])
def test_a_classifier_under_deepspeed_is_launched_through_its_own_command(tmp_path: Path, method: str, stage: int,
                                                                          errors: list[str]) -> None:
    """LLaMA-Factory's adapter and quantisation rules are not a classifier's; a plain classifier recipe is told to
    launch with train-classifier under torchrun."""
    path = tmp_path / "classifier" / "head.yaml"
    path.parent.mkdir()
    path.write_text(f"model_name_or_path: google-bert/bert-base-uncased\nlabels: [neg, pos]\ndataset: two\n"
                    f"do_train: true\nfinetuning_type: {method}\nadapter_name_or_path: saves/a\n"
                    "output_dir: saves/head\n", encoding="utf-8")
    found = Findings()
    check_compatibility(load_recipe(path), {"zero_optimization": {"stage": stage}}, found)
    assert found == Findings(errors=errors, notes=[
        f"DeepSpeed recipes are launched with torchrun: `FORCE_TORCHRUN=1 llm-recipes train-classifier {path}`"])


def test_a_classifier_whose_header_launches_it_under_torchrun_is_not_told_to(tmp_path: Path) -> None:
    path = tmp_path / "classifier" / "head.yaml"
    path.parent.mkdir()
    launch = "FORCE_TORCHRUN=1 llm-recipes train-classifier recipes/classifier/head.yaml"
    path.write_text(f"# Launch:\n#   {launch}\n# Report: none\n"
                    "model_name_or_path: google-bert/bert-base-uncased\nlabels: [neg, pos]\ndataset: two\n"
                    "do_train: true\nfinetuning_type: full\noutput_dir: saves/head\n", encoding="utf-8")
    recipe = load_recipe(path)
    assert recipe.launch_line() == launch
    found = Findings()
    check_compatibility(recipe, {"zero_optimization": {"stage": 2}}, found)
    assert found == Findings()


@pytest.mark.parametrize(("model", "template", "warned"), [
    ("Qwen/Qwen2.5-0.5B", "qwen", True), ("gpt2", "gpt2", True),  # a bare hub name is no local folder
    ("Qwen/Qwen2.5-0.5B-Instruct", "qwen", False), ("org/Model-INSTRUCT", "qwen", False),
    ("google/gemma-2-2b-it", "gemma", False), ("meta/Llama-2-7b-chat-hf", "llama2", False),
    ("TinyLlama/TinyLlama-1.1B", "llama2", False),
    ("org/Chat-Model-Base", "qwen", True),  # the word "base" outweighs a chat tag
    ("org/basement-chat", "qwen", False),  # "base" inside a word is no base tag
    ("chat-org/Model-7B", "qwen", True),  # only the model's own name counts, not its organisation
    ("Qwen/Qwen2.5-0.5B", "default", False), ("Qwen/Qwen2.5-0.5B", "empty", False),
    ("Qwen/Qwen2.5-0.5B", "alpaca", False), ("Qwen/Qwen2.5-0.5B", "vicuna", False),
    ("Qwen/Qwen2.5-0.5B", None, False), ("saves/merged", "qwen", False), ("./models/base", "qwen", False),
])
def test_a_chat_template_on_a_base_model_is_a_warning(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, model: str,
                                                      template: str | None, warned: bool) -> None:
    monkeypatch.setenv("LLM_RECIPES_ROOT", str(tmp_path))  # no hub name is a folder of this repository
    path = tmp_path / "run.yaml"
    path.write_text(f"model_name_or_path: {model}\nstage: sft\ndataset: agnews\nfinetuning_type: lora\n"
                    "do_train: true\noutput_dir: saves/t\n" + (f"template: {template}\n" if template else ""),
                    encoding="utf-8")
    found = Findings()
    check_compatibility(load_recipe(path), None, found)
    assert found == Findings(warnings=[
        f"template {template} is a chat template and {model} looks like a base model: fine when SFT teaches the "
        "format; for the untuned base model use template default"] if warned else [])


def test_an_export_recipe_gets_no_template_warning(tmp_path: Path) -> None:
    """Its template is its training recipe's (compared by check_export), so a base model with qwen says nothing."""
    path = tmp_path / "export.yaml"
    path.write_text("model_name_or_path: Qwen/Qwen2.5-0.5B\nadapter_name_or_path: saves/a\ntemplate: qwen\n"
                    "finetuning_type: lora\nexport_dir: saves/merged\ntrust_remote_code: true\n", encoding="utf-8")
    found = Findings()
    check_compatibility(load_recipe(path), None, found)
    assert found == Findings(warnings=[REMOTE_CODE])


def test_full_finetuning_without_quantization_has_no_quantization_finding(tmp_path: Path) -> None:
    path = lean_recipe(tmp_path, "full", "finetuning_type: full\ndo_predict: true\npredict_with_generate: true\n"
                                         "output_dir: saves/f\n")
    found = Findings()
    check_compatibility(load_recipe(path), None, found)
    assert found.errors == []


def test_a_recipe_that_names_no_model_gets_no_template_warning(tmp_path: Path,
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LLM_RECIPES_ROOT", str(tmp_path))  # a repository of nothing but the recipe
    path = tmp_path / "run.yaml"
    path.write_text("stage: sft\ntemplate: qwen\ndataset: agnews\nfinetuning_type: lora\ndo_train: true\n"
                    "output_dir: saves/t\n", encoding="utf-8")
    found = Findings()
    check_compatibility(load_recipe(path), None, found)
    assert found == Findings()


def test_an_absolute_path_of_one_part_is_local() -> None:
    assert is_local("/nowhere_here") is True and is_local("/nowhere_here", bare_hub_id=False) is True


def test_bare_hub_model_names_are_not_looked_for_on_disk(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A bare name names a hub model under model_name_or_path and ref_model (gpt2), a folder under the adapter keys."""
    from recipekit.recipes.checks import check_paths

    monkeypatch.setenv("LLM_RECIPES_ROOT", str(tmp_path))
    path = tmp_path / "run.yaml"
    path.write_text("model_name_or_path: gpt2\nref_model: distilgpt2\nadapter_name_or_path: gpt2\n"
                    "ref_model_adapters: lora_b\nstage: dpo\n", encoding="utf-8")
    found = Findings()
    check_paths(load_recipe(path), {}, found)
    assert found == Findings(errors=["adapter_name_or_path gpt2: no such local path, and no recipe writes it",
                                     "ref_model_adapters lora_b: no such local path, and no recipe writes it"])


def test_every_check_of_a_recipe_reports_a_missing_deepspeed_file(tmp_path: Path) -> None:
    """A plain, otherwise sound recipe: the plain-recipe note, and the missing DeepSpeed file as the one error
    (with no config to compare, no torchrun note follows)."""
    import json

    from recipekit.recipes.checks import check_recipe

    data = tmp_path / "data"
    data.mkdir()
    (data / "dataset_info.json").write_text(json.dumps({"demo": {"file_name": "demo.json"}}), encoding="utf-8")
    (data / "demo.json").write_text("[]", encoding="utf-8")
    missing = tmp_path / "no_such_ds.json"
    path = tmp_path / "run.yaml"
    path.write_text("model_name_or_path: Qwen/Qwen2.5-0.5B-Instruct\nstage: sft\ntemplate: qwen\ndataset: demo\n"
                    f"finetuning_type: lora\ndo_train: true\noutput_dir: saves/t\ndeepspeed: {missing}\n",
                    encoding="utf-8")
    found = check_recipe(load_recipe(path), CheckContext(data_dir=data, made_by={}, gpu_counts=[1]))
    assert found == Findings(errors=[f"deepspeed config {missing}: no such file"], notes=[
        "no '# Report:' header line: checked as a plain LLaMA-Factory recipe (a header of 'Launch', 'Report:', "
        "'Hardware:', 'Global batch:', 'Target:' lines adds the report checks)"])
