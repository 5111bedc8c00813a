"""A recipe made small enough to run on this CPU: its tiny model's family, its arguments capped, what this
machine cannot run dropped with a note, model and adapter paths resolved, a seeded sample of its data and the
environment of its run."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest import rows_of, write_jsonl

from recipekit.errors import InputError
from recipekit.recipes import tiny_run
from recipekit.recipes.reading import Recipe
from recipekit.recipes.tiny_run import (
    KEPT,
    TINY_ENV,
    TINY_ROWS,
    has_module,
    hub_or_made,
    launch_env,
    make_tiny_model,
    runnable_here,
    sample_dataset,
    tiny_args,
    tiny_family,
)


def recipe(tmp_path: Path, classifier: bool = False, **args: object) -> Recipe:
    return Recipe(tmp_path / "r.yaml", dict(args), classifier=classifier)


def test_the_tiny_family_by_the_models_name_and_the_template(tmp_path: Path) -> None:
    cases = {"Qwen/Qwen2.5-0.5B": "qwen2", "microsoft/DeBERTa-v3-base": "deberta-v2",
             "google-bert/bert-base-uncased": "bert", "hfl/chinese-macbert-base": "bert",
             "meta-llama/Llama-3.1-8B": "llama", "Mistral-7B": "llama"}
    for model, arch in cases.items():
        assert tiny_family(recipe(tmp_path, model_name_or_path=model, template="qwen")) == (arch, "qwen"), model
    assert tiny_family(recipe(tmp_path, model_name_or_path="x")) == ("llama", "default")  # no template written
    assert tiny_family(recipe(tmp_path, True, model_name_or_path="bert", template="qwen")) == ("bert", "default")
    assert tiny_family(recipe(tmp_path)) == ("llama", "default")


def test_a_tiny_model_already_made_is_kept(tmp_path: Path) -> None:
    out = tmp_path / "model"
    out.mkdir()
    (out / "config.json").write_text("{}", encoding="utf-8")
    log = tmp_path / "logs" / "model.log"
    assert make_tiny_model(out, "llama", "default", tmp_path / "no_data", log) == out
    assert not log.exists() and sorted(p.name for p in out.iterdir()) == ["config.json"]


def test_a_tiny_model_is_two_layers_of_64_with_its_settings_and_log(tmp_path: Path,
                                                                   capsys: pytest.CaptureFixture[str]) -> None:
    """Two layers of width 64 (128 in the MLP, 4 heads, 1,024 positions) around a 1,024-token BPE trained on the
    data's rows with the template's special tokens; its settings and parameter count in tiny_model.json, the
    libraries' lines and the summary in the log (its folder made), one progress line on the terminal."""
    import random

    from transformers import AutoModelForCausalLM, AutoTokenizer

    rng = random.Random(0)
    syllables = [a + b for a in "bcdfghjklmnprstvz" for b in "aeiou"]
    rows = [{"instruction": " ".join("".join(rng.choices(syllables, k=3)) for _ in range(40)), "input": "",
             "output": "x"} for _ in range(300)]  # enough distinct words for the BPE to reach 1,024 tokens
    write_jsonl(tmp_path / "data" / "train.jsonl", rows)
    out, log = tmp_path / "model", tmp_path / "logs" / "tiny" / "model.log"
    assert make_tiny_model(out, "llama", "llama3", tmp_path / "data", log) == out
    assert capsys.readouterr().out == "  building a tiny llama model (llama3 template)...\n"
    config = json.loads((out / "config.json").read_text(encoding="utf-8"))
    assert (config["hidden_size"], config["intermediate_size"], config["num_hidden_layers"],
            config["num_attention_heads"], config["max_position_embeddings"]) == (64, 128, 2, 4, 1024)
    tokenizer = AutoTokenizer.from_pretrained(out)
    llama3 = ["<|begin_of_text|>", "<|start_header_id|>", "<|end_header_id|>", "<|eot_id|>"]
    assert len(tokenizer) == 1024 and all(token in tokenizer.get_vocab() for token in llama3)
    parameters = sum(p.numel() for p in AutoModelForCausalLM.from_pretrained(out).parameters())
    assert json.loads((out / "tiny_model.json").read_text(encoding="utf-8")) == {
        "texts": [str(tmp_path / "data" / "train.jsonl")], "arch": "llama", "vocab_size": 1024, "hidden": 64,
        "intermediate": 128, "layers": 2, "heads": 4, "kv_heads": None, "max_positions": 1024,
        "tie_embeddings": False, "seed": 0, "extra_special_tokens": llama3, "parameters": parameters}
    assert log.read_text(encoding="utf-8").endswith(
        f"wrote llama model ({parameters / 1e6:.2f} M parameters, vocab 1024) to {out}\n")


def made(key: str, path: str) -> str:
    return f"tiny<{key}:{path}>"


def test_a_training_recipes_sizes_are_capped_and_its_method_kept(tmp_path: Path) -> None:
    sft = recipe(tmp_path, model_name_or_path="org/m", ref_model="org/ref/", adapter_name_or_path="saves/a/",
                 stage="dpo", do_train=True, finetuning_type="lora", lora_rank=16, lora_target="all", pref_beta=0.2,
                 dataset="d", dataset_dir="data", template="qwen", cutoff_len=4096, preprocessing_num_workers=16,
                 output_dir="saves/x", per_device_train_batch_size=8, gradient_accumulation_steps=3,
                 eval_strategy="steps", eval_steps=500, save_strategy="epoch", learning_rate=1e-4,
                 flash_attn="auto", max_samples=100000)
    notes: list[str] = []
    args = tiny_args(sft, tmp_path / "data", tmp_path / "out", 3, made, notes)
    assert args == {"model_name_or_path": "tiny<model_name_or_path:org/m>", "ref_model": "tiny<ref_model:org/ref>",
                    "adapter_name_or_path": "tiny<adapter_name_or_path:saves/a>", "stage": "dpo", "do_train": True,
                    "finetuning_type": "lora", "lora_rank": 16, "lora_target": "all", "pref_beta": 0.2,
                    "dataset": "d", "dataset_dir": str(tmp_path / "data"), "template": "qwen", "cutoff_len": 512,
                    "output_dir": str(tmp_path / "out"), "per_device_train_batch_size": 2,
                    "gradient_accumulation_steps": 2, "eval_strategy": "steps", "eval_steps": 3,
                    "save_strategy": "steps", "learning_rate": 1e-4, "flash_attn": "auto", "max_samples": TINY_ROWS,
                    "overwrite_output_dir": True, "overwrite_cache": True, "max_steps": 3, "logging_steps": 1,
                    "save_steps": 3, "per_device_eval_batch_size": 2}
    assert notes == [] and TINY_ROWS == 16
    assert {"stage", "finetuning_type", "lora_rank", "lora_target", "pref_beta", "learning_rate", "template"} <= \
        set(KEPT)


def test_sizes_under_the_caps_stay_and_defaults_are_the_trainers(tmp_path: Path) -> None:
    small = recipe(tmp_path, model_name_or_path="org/m", stage="sft", do_train=True, finetuning_type="full",
                   dataset="d", template="default", output_dir="o", cutoff_len=512, per_device_train_batch_size=1,
                   gradient_accumulation_steps=1, save_strategy="no", eval_strategy="epoch")
    args = tiny_args(small, tmp_path, tmp_path / "o", 2, made, [])
    assert (args["cutoff_len"], args["per_device_train_batch_size"], args["gradient_accumulation_steps"]) == (512, 1, 1)
    assert (args["eval_strategy"], args["eval_steps"], args["save_strategy"]) == ("steps", 2, "no")
    bare = recipe(tmp_path, model_name_or_path="org/m", stage="sft", do_train=True, finetuning_type="full",
                  dataset="d", template="default", output_dir="o", cutoff_len=513)
    args = tiny_args(bare, tmp_path, tmp_path / "o", 5, made, [])
    assert args["cutoff_len"] == 512
    # the trainer's defaults (batch 8, 1 step of accumulation) capped at 2 each: batch 2, accumulation 1; no evaluation
    assert (args["per_device_train_batch_size"], args["gradient_accumulation_steps"]) == (2, 1)
    assert "eval_strategy" not in args and "eval_steps" not in args and "per_device_eval_batch_size" not in args
    no_eval = recipe(tmp_path, model_name_or_path="org/m", stage="sft", do_train=True, finetuning_type="full",
                     dataset="d", template="default", output_dir="o", eval_strategy="no", save_strategy="steps")
    args = tiny_args(no_eval, tmp_path, tmp_path / "o", 5, made, [])
    assert args["eval_strategy"] == "no" and "eval_steps" not in args and "per_device_eval_batch_size" not in args
    short = recipe(tmp_path, model_name_or_path="org/m", stage="sft", do_train=True, finetuning_type="full",
                   dataset="d", template="default", output_dir="o", cutoff_len=64)
    assert tiny_args(short, tmp_path, tmp_path / "o", 5, made, [])["cutoff_len"] == 64


def test_a_predict_recipe_generates_a_few_tokens_in_batches_of_two(tmp_path: Path) -> None:
    predict = recipe(tmp_path, model_name_or_path="saves/m", stage="sft", do_predict=True, finetuning_type="full",
                     eval_dataset="v", template="default", output_dir="o", predict_with_generate=True,
                     max_new_tokens=64, per_device_eval_batch_size=32)
    args = tiny_args(predict, tmp_path / "d", tmp_path / "o", 4, made, [])
    assert (args["per_device_eval_batch_size"], args["max_new_tokens"], args["max_samples"]) == (2, 8, 16)
    assert "max_steps" not in args and "save_steps" not in args and args["overwrite_output_dir"] is True
    few = recipe(tmp_path, model_name_or_path="saves/m", stage="sft", do_predict=True, finetuning_type="full",
                 eval_dataset="v", template="default", output_dir="o", predict_with_generate=True, max_new_tokens=3)
    assert tiny_args(few, tmp_path / "d", tmp_path / "o", 4, made, [])["max_new_tokens"] == 3


def test_a_classifier_recipe_keeps_its_own_output_handling(tmp_path: Path) -> None:
    classifier = recipe(tmp_path, True, model_name_or_path="google-bert/bert-base-uncased", dataset="d",
                        labels="a,b", output_dir="o", do_train=True, do_predict=True, cutoff_len=256,
                        per_device_train_batch_size=16, eval_strategy="epoch", save_strategy="epoch")
    args = tiny_args(classifier, tmp_path / "d", tmp_path / "o", 2, made, [])
    assert "overwrite_output_dir" not in args and "overwrite_cache" not in args and "max_new_tokens" not in args
    assert (args["cutoff_len"], args["per_device_train_batch_size"], args["eval_steps"], args["save_strategy"],
            args["max_samples"], args["dataset_dir"]) == (256, 2, 2, "steps", 16, str(tmp_path / "d"))


def test_an_export_recipe_merges_into_the_runs_folder(tmp_path: Path, no_cuda: None) -> None:
    export = recipe(tmp_path, model_name_or_path="Qwen/Qwen2.5-0.5B", adapter_name_or_path="saves/lora/yelp5",
                    template="default", finetuning_type="lora", export_dir="saves/merged", export_size=2,
                    cutoff_len=4096)
    args = tiny_args(export, tmp_path / "d", tmp_path / "merged", 2, made, [])
    assert args == {"model_name_or_path": "tiny<model_name_or_path:Qwen/Qwen2.5-0.5B>",
                    "adapter_name_or_path": "tiny<adapter_name_or_path:saves/lora/yelp5>", "template": "default",
                    "finetuning_type": "lora", "export_dir": str(tmp_path / "merged"), "export_size": 2,
                    "cutoff_len": 4096}
    # a path's trailing slash is dropped, nothing else of it; what this machine cannot run is dropped, with a note
    notes: list[str] = []
    kernels = recipe(tmp_path, model_name_or_path="Qwen/Qwen2.5-0.5B", adapter_name_or_path="saves/lora_X/",
                     template="default", finetuning_type="lora", export_dir="saves/merged", flash_attn="fa2")
    args = tiny_args(kernels, tmp_path / "d", tmp_path / "merged", 2, made, notes)
    assert (args["adapter_name_or_path"], args["flash_attn"]) == ("tiny<adapter_name_or_path:saves/lora_X>", "auto")
    assert notes == ["flash_attn fa2 -> auto (no flash-attn kernels here)"]


@pytest.fixture
def no_cuda(monkeypatch: pytest.MonkeyPatch) -> None:
    import torch

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)


def test_what_a_machine_without_cuda_drops(no_cuda: None) -> None:
    a = {"flash_attn": "fa2", "bf16": True, "fp16": False, "pure_bf16": True, "quantization_bit": 4,
         "quantization_method": "bnb", "quantization_type": "nf4", "double_quantization": True, "lora_rank": 8}
    notes: list[str] = []
    runnable_here(a, notes)
    assert a == {"flash_attn": "auto", "lora_rank": 8}  # fp16: false is dropped too, without a note
    assert notes == ["flash_attn fa2 -> auto (no flash-attn kernels here)", "bf16 dropped: this machine has no CUDA",
                     "pure_bf16 dropped: this machine has no CUDA",
                     "4-bit quantisation dropped: bitsandbytes with a GPU is not available here (LoRA kept)"]
    for kept in ("auto", "disabled", None):
        a, notes = {"flash_attn": kept, "quantization_bit": None, "quantization_method": "bnb"}, []
        runnable_here(a, notes)
        assert a == {"flash_attn": kept, "quantization_bit": None, "quantization_method": "bnb"} and notes == []
    a, notes = {"fp16": True}, []
    runnable_here(a, notes)
    assert (a, notes) == ({}, ["fp16 dropped: this machine has no CUDA"])


def test_what_a_cuda_machine_keeps(monkeypatch: pytest.MonkeyPatch) -> None:
    import torch

    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    installed = {"flash_attn"}
    monkeypatch.setattr(tiny_run, "has_module", lambda name: name in installed)
    a = {"flash_attn": "fa2", "bf16": True, "quantization_bit": 4, "quantization_type": "nf4"}
    notes: list[str] = []
    runnable_here(a, notes)
    assert a == {"flash_attn": "fa2", "bf16": True} and notes == [
        "4-bit quantisation dropped: bitsandbytes with a GPU is not available here (LoRA kept)"]
    installed = {"bitsandbytes"}
    a, notes = {"flash_attn": "sdpa", "quantization_bit": 8}, []
    runnable_here(a, notes)
    assert a == {"flash_attn": "auto", "quantization_bit": 8}
    assert notes == ["flash_attn sdpa -> auto (no flash-attn kernels here)"]


def test_made_elsewhere_another_recipes_run_else_the_tiny_model_else_an_error(tmp_path: Path) -> None:
    producer = tmp_path / "recipes" / "sft.yaml"
    resolve = hub_or_made(tmp_path / "tiny", {"saves/sft": producer}, lambda p: tmp_path / "runs" / p.stem,
                          recipe(tmp_path))
    assert resolve("adapter_name_or_path", "saves/sft") == str(tmp_path / "runs" / "sft")
    assert resolve("model_name_or_path", "saves/sft") == str(tmp_path / "runs" / "sft")
    assert resolve("model_name_or_path", "Qwen/Qwen2.5-0.5B") == str(tmp_path / "tiny")
    assert resolve("ref_model", "org/ref") == str(tmp_path / "tiny")
    for key in ("adapter_name_or_path", "ref_model_adapters"):
        with pytest.raises(InputError) as caught:
            resolve(key, "saves/nobody")
        assert str(caught.value) == f"{tmp_path / 'r.yaml'}: {key} saves/nobody is not made by any recipe"


def registry(data: Path, entries: dict) -> Path:
    data.mkdir(parents=True, exist_ok=True)
    (data / "dataset_info.json").write_text(json.dumps(entries), encoding="utf-8")
    return data / "dataset_info.json"


def test_a_seeded_sample_of_a_registered_set_with_the_same_entry(tmp_path: Path) -> None:
    import datasets

    data, out = tmp_path / "data", tmp_path / "tiny"
    rows = [{"instruction": f"q{i}", "output": str(i % 3)} for i in range(40)]
    write_jsonl(data / "s.jsonl", rows)
    entry = {"file_name": "s.jsonl", "columns": {"prompt": "instruction", "response": "output"}}
    registry(data, {"s": entry})
    sample_dataset("s", data, out)
    picked = datasets.load_dataset("json", data_files=[str(data / "s.jsonl")], split="train").shuffle(seed=0)
    assert rows_of(out / "s.jsonl") == [picked[i] for i in range(16)]
    assert json.loads((out / "dataset_info.json").read_text(encoding="utf-8")) == {"s": {**entry,
                                                                                          "file_name": "s.jsonl"}}
    sample_dataset("s", data, out, rows=5, seed=3)
    picked = datasets.load_dataset("json", data_files=[str(data / "s.jsonl")], split="train").shuffle(seed=3)
    assert rows_of(out / "s.jsonl") == [picked[i] for i in range(5)]
    write_jsonl(data / "zh.jsonl", [{"instruction": "花呗怎么还款", "output": "是"}])
    registry(data, {"zh": {"file_name": "zh.jsonl"}})
    sample_dataset("zh", data, tmp_path / "deep" / "tiny")  # its folders made; the text kept as written
    assert (tmp_path / "deep" / "tiny" / "zh.jsonl").read_text(encoding="utf-8") == (
        '{"instruction":"花呗怎么还款","output":"是"}\n')
    write_jsonl(data / "few" / "b.jsonl", rows[2:3])
    write_jsonl(data / "few" / "a.jsonl", rows[:2])
    registry(data, {"few": {"file_name": "few", "formatting": "alpaca"}})
    sample_dataset("few", data, out)  # a folder of files, fewer rows than asked: all of them
    files = [str(data / "few" / "a.jsonl"), str(data / "few" / "b.jsonl")]  # read in name order
    picked = datasets.load_dataset("json", data_files=files, split="train").shuffle(seed=0)
    assert rows_of(out / "few.jsonl") == [picked[i] for i in range(3)]
    assert sorted(r["instruction"] for r in rows_of(out / "few.jsonl")) == ["q0", "q1", "q2"]
    assert json.loads((out / "dataset_info.json").read_text(encoding="utf-8"))["few"] == {
        "file_name": "few.jsonl", "formatting": "alpaca"}


def test_a_set_that_cannot_be_sampled_is_one_error(tmp_path: Path) -> None:
    data = tmp_path / "data"
    info = registry(data, {"hub": {"hf_hub_url": "org/x"}, "gone": {"file_name": "gone.jsonl"},
                           "blank": {"file_name": ""}, "xmls": {"file_name": "xmls"},
                           "empty": {"file_name": "empty"}, "odd": {"file_name": "s.xml"},
                           "bare": {"file_name": "noext"}, "bad": {"file_name": "bad.json"},
                           "upper": {"file_name": "rows.Xjson"}})
    (data / "empty").mkdir()
    (data / "xmls").mkdir()
    (data / "xmls" / "b.xml").write_text("<a/>", encoding="utf-8")
    (data / "xmls" / "a.jsonl").mkdir()  # a folder inside: not a file of the set
    (data / "s.xml").write_text("<a/>", encoding="utf-8")
    (data / "noext").write_text("x", encoding="utf-8")
    (data / "rows.Xjson").write_text('{"a": 1}\n', encoding="utf-8")  # no type LLaMA-Factory reads
    (data / "bad.json").write_text("{not json\n", encoding="utf-8")
    expected = {
        "nope": f"{info}: dataset 'nope' is not registered (no smoke fixture makes it either)",
        "hub": f"{info}: dataset 'hub' is not a local file: a smoke run samples local files only",
        "blank": f"{info}: dataset 'blank' is not a local file: a smoke run samples local files only",
        "gone": f"{info}: dataset 'gone' is registered but {data / 'gone.jsonl'} is not there",
        "xmls": f"{data / 'xmls' / 'b.xml'}: dataset 'xmls': LLaMA-Factory reads arrow, csv, json, jsonl, parquet, "
                "txt files, not .xml",
        "empty": f"{info}: dataset 'empty' is registered but {data / 'empty'} is not there",
        "odd": f"{data / 's.xml'}: dataset 'odd': LLaMA-Factory reads arrow, csv, json, jsonl, parquet, txt files, "
               "not .xml",
        "bare": f"{data / 'noext'}: dataset 'bare': LLaMA-Factory reads arrow, csv, json, jsonl, parquet, txt files, "
                "not files without an extension",
        "upper": f"{data / 'rows.Xjson'}: dataset 'upper': LLaMA-Factory reads arrow, csv, json, jsonl, parquet, txt "
                 "files, not .Xjson",
    }
    for name, says in expected.items():
        with pytest.raises(InputError) as caught:
            sample_dataset(name, data, tmp_path / "out")
        assert str(caught.value) == says, name
    with pytest.raises(InputError) as caught:
        sample_dataset("bad", data, tmp_path / "out")
    assert str(caught.value).startswith(f"{data / 'bad.json'}: dataset 'bad' cannot be read: An error occurred "
                                        "while generating the dataset")  # the datasets library's words, one line
    assert "\n" not in str(caught.value) and not (tmp_path / "out").exists()


def test_the_environment_of_a_tiny_run(tmp_path: Path) -> None:
    assert TINY_ENV == {"WANDB_MODE": "offline", "LLAMAFACTORY_VERBOSITY": "WARN"}
    assert launch_env(recipe(tmp_path, deepspeed="")) == TINY_ENV
    assert launch_env(recipe(tmp_path, deepspeed="ds.json")) == {**TINY_ENV, "FORCE_TORCHRUN": "1",
                                                                  "NPROC_PER_NODE": "2"}
    assert has_module("json") and not has_module("no_such_module_here")
