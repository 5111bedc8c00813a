"""llm-recipes export: a LoRA adapter merged into its base (LLaMA-Factory's export, peft for a classifier), the
merged model's outputs against peft's unmerged adapter on the same inputs, and the model card read back by
huggingface_hub."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from conftest import ROOT, agnews_rows, command_module, hub_records, run_cli, run_script, write_jsonl

pytestmark = pytest.mark.integration  # builds tiny models and merges them with LLaMA-Factory

LABELS = ["World", "Sports", "Business"]


@pytest.fixture(scope="module")
def models(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """A tiny causal LM (qwen2) and a tiny encoder (bert), each with its tokenizer."""
    folder = tmp_path_factory.mktemp("models")
    texts = write_jsonl(folder / "texts.jsonl", hub_records(agnews_rows(20)))
    build = command_module("tiny-model").main
    common = ["--texts", str(texts), "--vocab-size", "300", "--hidden", "32", "--intermediate", "64",
              "--layers", "1", "--heads", "2"]
    return {arch: build([*common, "--arch", arch, "--out", str(folder / arch)]) for arch in ("qwen2", "bert")}


def causal_adapter(base: Path, out: Path) -> Path:
    """A LoRA adapter on q/v with random (non-zero) B matrices, so merging changes the outputs."""
    import torch
    from peft import LoraConfig, TaskType, get_peft_model
    from transformers import AutoModelForCausalLM

    torch.manual_seed(0)
    model = AutoModelForCausalLM.from_pretrained(base)
    config = LoraConfig(task_type=TaskType.CAUSAL_LM, r=4, lora_alpha=8, target_modules=["q_proj", "v_proj"],
                        init_lora_weights=False)
    get_peft_model(model, config).save_pretrained(out)
    return out


def classifier_adapter(base: Path, out: Path) -> Path:
    """A sequence-classification LoRA with its head saved whole, and the run summary train-classifier writes."""
    import torch
    from peft import LoraConfig, TaskType, get_peft_model
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    torch.manual_seed(0)
    model = AutoModelForSequenceClassification.from_pretrained(
        base, num_labels=len(LABELS), id2label=dict(enumerate(LABELS)), label2id={x: i for i, x in enumerate(LABELS)})
    config = LoraConfig(task_type=TaskType.SEQ_CLS, r=4, lora_alpha=8, target_modules=["query", "value"],
                        modules_to_save=["classifier"], init_lora_weights=False)
    get_peft_model(model, config).save_pretrained(out)
    tokenizer = AutoTokenizer.from_pretrained(base)
    tokenizer.model_max_length = 96  # the run's own tokenizer, told apart from the base's
    tokenizer.save_pretrained(out)
    (out / "classifier_run.json").write_text(json.dumps({"labels": LABELS}), encoding="utf-8")
    return out


def export_recipe(path: Path, **values: object) -> Path:
    path.write_text(yaml.safe_dump({"finetuning_type": "lora", "export_size": 1, "export_device": "cpu",
                                    "export_legacy_format": False, **values}), encoding="utf-8")
    return path


def ids(tokenizer_folder: Path) -> object:
    import torch
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(tokenizer_folder)
    return torch.tensor([tokenizer("Story 3 about markets and teams")["input_ids"]])


@pytest.mark.mutation
def test_causal_adapter_merges_to_the_same_outputs_as_peft(models: dict[str, Path], tmp_path: Path) -> None:
    import torch
    from huggingface_hub import ModelCard
    from peft import PeftModel
    from transformers import AutoModelForCausalLM

    adapter = causal_adapter(models["qwen2"], tmp_path / "saves" / "qwen2.5-0.5b" / "lora" / "yelp5")
    target = tmp_path / "merged"
    recipe = export_recipe(tmp_path / "export.yaml", model_name_or_path=str(models["qwen2"]),
                           adapter_name_or_path=str(adapter), template="default", export_dir=str(target))
    ran = run_cli("export", recipe)
    assert ran.returncode == 0, ran.stderr
    assert "exported" in ran.stdout and "model card" in ran.stdout

    x = ids(models["qwen2"])
    with torch.no_grad():
        expected = PeftModel.from_pretrained(AutoModelForCausalLM.from_pretrained(models["qwen2"]), adapter)(x).logits
        base = AutoModelForCausalLM.from_pretrained(models["qwen2"])(x).logits
        merged = AutoModelForCausalLM.from_pretrained(target)(x).logits
    assert not torch.allclose(base, expected, atol=1e-4)  # the adapter changes the outputs
    torch.testing.assert_close(merged, expected, atol=1e-5, rtol=1e-4)
    assert not (target / "adapter_config.json").exists()  # a whole model, not an adapter

    card = ModelCard.load(target / "README.md")
    # the adapter lies where recipes/yelp5_lora.yaml writes its output_dir: the card names it and its report
    chain = yaml.safe_load((ROOT / "recipes/reproduce/yelp5.yaml").read_text(encoding="utf-8"))
    difference = chain["recipes"]["recipes/yelp5_lora.yaml"]["differences"]["lora_target"]
    assert "recipes/yelp5_lora.yaml" in card.text and difference in card.text
    assert card.data.datasets == ["Yelp/yelp_review_full"]  # the training set's hub source
    assert card.data.base_model is None  # a local folder is not a hub id
    assert card.data.pipeline_tag == "text-generation" and "lora" in card.data.tags
    assert "a run on a tiny model" in card.text


@pytest.mark.mutation
def test_classifier_adapter_merges_with_its_labels_and_card_metrics(models: dict[str, Path], tmp_path: Path) -> None:
    import logging

    import torch
    from huggingface_hub import ModelCard
    from peft import PeftModel
    from sklearn.metrics import accuracy_score, f1_score
    from transformers import AutoModelForSequenceClassification

    adapter = classifier_adapter(models["bert"], tmp_path / "adapter")
    gold = ["World", "Sports", "Business", "World", "Sports", "World"]
    said = ["World", "Sports", "World", "World", "Business", "World"]
    # train-classifier writes its predictions beside its adapter: the report records that adapter
    predictions = write_jsonl(adapter / "predictions_val.jsonl", [
        {"prompt": f"row {i}", "predict": p, "label": g} for i, (p, g) in enumerate(zip(said, gold, strict=True))])
    report = tmp_path / "report"
    assert run_cli("report", "classify", predictions, "--labels", ",".join(LABELS), "--out", report).returncode == 0

    target = tmp_path / "merged"
    recipe = export_recipe(tmp_path / "export.yaml", model_name_or_path=str(models["bert"]),
                           adapter_name_or_path=str(adapter), export_dir=str(target))
    logged: list[logging.LogRecord] = []
    catch = logging.Handler(logging.WARNING)
    catch.emit = logged.append  # type: ignore[method-assign]
    library = logging.getLogger("transformers")  # its own handler, not propagated: what a terminal shows
    level = library.level
    library.addHandler(catch)
    library.setLevel(logging.WARNING)
    try:
        ran = run_cli("export", recipe, "--report", report, "--eval-dataset", "yelp5_val")
    finally:
        library.removeHandler(catch)
        library.setLevel(level)
    assert ran.returncode == 0, ran.stderr
    assert not [r for r in logged if "MISSING" in r.getMessage()]  # the head it lists is the adapter's, loaded next

    x = ids(models["bert"])
    with torch.no_grad():
        base = AutoModelForSequenceClassification.from_pretrained(models["bert"], num_labels=len(LABELS))
        expected = PeftModel.from_pretrained(base, adapter)(x).logits
        merged_model = AutoModelForSequenceClassification.from_pretrained(target)
        merged = merged_model(x).logits
    torch.testing.assert_close(merged, expected, atol=1e-5, rtol=1e-4)
    assert merged_model.config.id2label == dict(enumerate(LABELS))
    from transformers import AutoTokenizer

    base_length = AutoTokenizer.from_pretrained(models["bert"]).model_max_length
    assert (AutoTokenizer.from_pretrained(target).model_max_length, base_length != 96) == (96, True)  # the run's

    card = ModelCard.load(target / "README.md")
    results = {r.metric_type: r for r in card.data.eval_results}
    assert results["accuracy"].metric_value == pytest.approx(accuracy_score(gold, said))
    assert results["macro_f1"].metric_value == pytest.approx(f1_score(gold, said, average="macro"), abs=1e-6)
    assert results["accuracy"].dataset_name == "yelp5_val"
    assert results["accuracy"].dataset_type == "Yelp/yelp_review_full"
    assert results["accuracy"].dataset_split == "validation"
    assert card.data.pipeline_tag == "text-classification" and card.data.model_name == "merged"
    # an adapter saved without its tokenizer: the base model's is exported with it
    for name in ("tokenizer.json", "tokenizer_config.json"):
        (adapter / name).unlink()
    export_recipe(recipe, model_name_or_path=str(models["bert"]), adapter_name_or_path=str(adapter),
                  export_dir=str(tmp_path / "merged_again"))
    assert run_cli("export", recipe).returncode == 0
    assert AutoTokenizer.from_pretrained(tmp_path / "merged_again").model_max_length == base_length


@pytest.mark.mutation
def test_a_failed_merge_leaves_the_old_export_and_no_partial_folder(models: dict[str, Path], tmp_path: Path) -> None:
    target = tmp_path / "merged"
    target.mkdir()
    (target / "kept.txt").write_text("from an earlier export", encoding="utf-8")
    adapter = tmp_path / "adapter"
    adapter.mkdir()
    (adapter / "adapter_config.json").write_text(json.dumps({"task_type": "SEQ_CLS"}), encoding="utf-8")
    (adapter / "adapter_model.safetensors").write_bytes(b"")
    recipe = export_recipe(tmp_path / "export.yaml", model_name_or_path=str(models["bert"]),
                           adapter_name_or_path=str(adapter), export_dir=str(target))
    ran = run_cli("export", recipe)
    assert ran.returncode == 2
    assert ran.stderr.strip().count("\n") == 0 and "classifier_run.json" in ran.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["adapter", "export.yaml", "merged"]
    assert [p.name for p in target.iterdir()] == ["kept.txt"]
    # a base model that is not there: transformers' refusal, in one line
    classifier_adapter(models["bert"], adapter)
    export_recipe(recipe, model_name_or_path=str(tmp_path / "no-base"), adapter_name_or_path=str(adapter),
                  export_dir=str(target))
    ran = run_cli("export", recipe)
    assert ran.returncode == 2 and ran.stderr.startswith(f"error: {adapter}: cannot merge the adapter: OSError: ")
    assert ran.stderr.strip().count("\n") == 0 and str(tmp_path / "no-base") in ran.stderr
    assert [p.name for p in target.iterdir()] == ["kept.txt"]
    # an adapter whose weights were never saved (peft would look for it on the hub)
    (adapter / "adapter_model.safetensors").unlink()
    export_recipe(recipe, model_name_or_path=str(models["bert"]), adapter_name_or_path=str(adapter),
                  export_dir=str(target))
    ran = run_cli("export", recipe)
    assert ran.returncode == 2 and ran.stderr == (
        f"error: {adapter}: adapter_config.json without the adapter's weights (adapter_model.safetensors or "
        "adapter_model.bin): its training did not finish saving it\n")
    assert [p.name for p in target.iterdir()] == ["kept.txt"]


@pytest.mark.parametrize(("values", "flags", "says"), [
    ({"quantization_bit": 4}, [], "cannot be merged into a quantised model"),
    ({"export_dir": None}, [], "not an export recipe"),
    ({"adapter_name_or_path": "nowhere/adapter"}, [], "no trained adapter here"),
    ({}, ["--push", "bad repo id!"], "--push"),
    ({}, ["--report", "no/such/folder"], "no classify_report.json or gen_report.json"),
    ({}, ["--private"], "--private goes with --push"),
    ({"export_quantization_bit": 8, "export_quantization_dataset": "c4_demo.jsonl"}, [],
     "LLaMA-Factory's export refused it: "),
])
@pytest.mark.mutation
def test_bad_input_is_one_line_and_writes_nothing(models: dict[str, Path], tmp_path: Path, values: dict,
                                                   flags: list[str], says: str) -> None:
    adapter = causal_adapter(models["qwen2"], tmp_path / "adapter")
    args = {"model_name_or_path": str(models["qwen2"]), "adapter_name_or_path": str(adapter),
            "template": "default", "export_dir": str(tmp_path / "merged"), **values}
    recipe = export_recipe(tmp_path / "export.yaml", **{k: v for k, v in args.items() if v is not None})
    ran = run_cli("export", recipe, *flags)
    assert ran.returncode == 2 and says in ran.stderr, ran.stderr
    if "export_quantization_bit" in values:  # LLaMA-Factory's own refusal, whole, naming the recipe
        assert ran.stderr == (f"error: {recipe}: LLaMA-Factory's export refused it: Please merge adapters before "
                              "quantizing the model.\n")
    assert ran.stderr.strip().count("\n") == 0
    assert not (tmp_path / "merged").exists()


def test_push_without_network_is_one_line_and_keeps_the_export(models: dict[str, Path], tmp_path: Path) -> None:
    adapter = causal_adapter(models["qwen2"], tmp_path / "adapter")
    recipe = export_recipe(tmp_path / "export.yaml", model_name_or_path=str(models["qwen2"]),
                           adapter_name_or_path=str(adapter), template="default", export_dir=str(tmp_path / "merged"))
    ran = run_script(ROOT / "scripts/export.py", recipe, "--push", "someone/tiny-merged",
                     env={"HF_HUB_OFFLINE": "1", "HF_TOKEN": "hf_not_a_real_token"})
    assert ran.returncode == 2, ran.stderr
    error = [line for line in ran.stderr.splitlines() if line.startswith("error")]
    assert len(error) == 1 and "--push someone/tiny-merged failed" in error[0] and "Traceback" not in ran.stderr
    assert "hf upload someone/tiny-merged" in error[0]
    assert (tmp_path / "merged" / "README.md").is_file() and list((tmp_path / "merged").glob("*.safetensors"))
