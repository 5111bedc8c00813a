"""`plan --measure`: the recipe's real steps on this machine beside the plan of the same run; the sweep that
writes the planned-vs-measured table (the GPU machine's one command)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
import yaml
from conftest import ROOT, run_cli, run_script

from recipekit.errors import InputError
from recipekit.plan.gpus import device_card, load_cards
from recipekit.plan.measure import measured_args
from recipekit.recipes.reading import Recipe, load_recipe
from recipekit.report.plan import render_measured

GIB = 2**30


@pytest.mark.parametrize(("device", "gib", "key"), [
    ("Tesla T4", 14.6, "t4"),
    ("NVIDIA A100-SXM4-80GB", 79.2, "a100-80g"),
    ("NVIDIA A100-SXM4-40GB", 39.4, "a100-40g"),
    ("NVIDIA H200", 139.8, "h200"),
    ("NVIDIA GeForce RTX 4090", 23.6, "rtx4090"),
    ("NVIDIA GeForce RTX 3090", 23.6, "rtx3090"),
    ("NVIDIA RTX A6000", 47.5, "rtx-a6000"),
    ("NVIDIA L40S", 44.4, "l40s"),
    ("NVIDIA L4", 22.0, "l4"),
    ("NVIDIA B200", 178.0, None),
])
def test_the_local_card_is_the_same_chip_with_the_nearest_memory(device: str, gib: float, key: str | None) -> None:
    """Device names as torch.cuda.get_device_name() gives them, with the memory NVML reports."""
    assert device_card(device, int(gib * GIB) / GIB, load_cards()) == key


def test_the_measured_run_keeps_the_method_and_swaps_model_data_and_length_of_run(tmp_path: Path) -> None:
    path = ROOT / "recipes" / "qwen3_4b_ultrafeedback_dpo_lora.yaml"
    written = yaml.safe_load(path.read_text(encoding="utf-8"))
    notes: list[str] = []
    args = measured_args(load_recipe(path), tmp_path, 3, notes)
    for key in ("stage", "finetuning_type", "lora_rank", "lora_target", "pref_beta", "per_device_train_batch_size",
                "gradient_accumulation_steps", "cutoff_len", "template"):
        assert args[key] == written[key], key
    assert args["model_name_or_path"] == str(tmp_path / "model") and args["dataset"] == "measure"
    assert args["dataset_dir"] == str(tmp_path / "data") and args["max_steps"] == 3
    assert (args["save_strategy"], args["eval_strategy"], args["report_to"]) == ("no", "no", "none")
    assert "adapter_name_or_path" not in args and "eval_dataset" not in args
    assert any(note.startswith("adapter_name_or_path not loaded") for note in notes)
    if not torch.cuda.is_available():
        assert "bf16" not in args and "bf16 dropped: this machine has no CUDA" in notes


def test_a_classifier_recipe_is_measured_with_its_own_trainers_arguments(tmp_path: Path) -> None:
    """The classifier's parser (which refuses unknown keys) takes the measured run's arguments: its head, method,
    batch and length kept, model and data swapped, nothing evaluated or saved."""
    path = ROOT / "recipes" / "classifier" / "arena_deberta_v3.yaml"
    written = yaml.safe_load(path.read_text(encoding="utf-8"))
    recipe = load_recipe(path)
    args = measured_args(recipe, tmp_path, 3, [])
    for key in ("finetuning_type", "labels", "text_pair_separator", "per_device_train_batch_size", "cutoff_len"):
        assert args[key] == written[key], key
    assert "overwrite_cache" not in args and "eval_dataset" not in args and "metric_for_best_model" not in args
    head, training = Recipe(path, args, classifier=True).parsed(explain=False)  # as the probe reads them
    assert (head.model_name_or_path, head.dataset, training.max_steps) == (str(tmp_path / "model"), "measure", 3)
    assert (training.eval_strategy, training.save_strategy, training.load_best_model_at_end) == ("no", "no", False)


def test_measure_refuses_what_it_cannot_train(tmp_path: Path) -> None:
    predict = load_recipe(ROOT / "recipes" / "agnews_predict.yaml")
    with pytest.raises(InputError, match=r"stage sft or dpo, or a classifier, with do_train \(this recipe: stage sft, "
                                         r"do_train False\)"):
        measured_args(predict, tmp_path, 3, [])
    classifier = load_recipe(ROOT / "recipes" / "classifier" / "arena_deberta_v3.yaml").with_values({"do_train": False})
    with pytest.raises(InputError, match=r"\(this recipe: a classifier, do_train False\)"):
        measured_args(classifier, tmp_path, 3, [])


@pytest.mark.integration
@pytest.mark.mutation
def test_every_synthetic_row_is_longer_than_cutoff_len_in_llamafactorys_tokens(tmp_path: Path) -> None:
    """LLaMA-Factory's own pipeline (check data's loader) tokenizes the rows: every one is longer than cutoff_len,
    so LLaMA-Factory cuts each to cutoff_len and every batch is the plan's worst case."""
    from recipekit.plan.measure import synthetic_data, synthetic_text
    from recipekit.recipes.datacheck import CheckSettings, check_one
    from recipekit.recipes.tiny_model import train_tokenizer
    from recipekit.recipes.tiny_run import TEMPLATE_TOKENS

    tokenizer = train_tokenizer([synthetic_text(1600)], 1024, TEMPLATE_TOKENS["qwen"])
    tokenizer.save_pretrained(tmp_path / "tok")
    for pairwise in (False, True):
        data = tmp_path / f"data{pairwise}"
        synthetic_data(data, 6, 96, pairwise)
        registry = json.loads((data / "dataset_info.json").read_text(encoding="utf-8"))
        report = check_one("measure", registry["measure"], CheckSettings(str(data), "qwen", 96),
                           str(tmp_path / "tok"))
        assert report["ranking"] is pairwise and report["rows_kept"] == 6
        assert report["tokens"]["over_cutoff"] == 6, (pairwise, report["tokens"])


@pytest.mark.integration
@pytest.mark.mutation
def test_every_synthetic_classifier_row_fills_cutoff_len_with_both_texts_and_every_label(tmp_path: Path) -> None:
    """The classifier's own reader and tokenization take the rows: each is a text pair cut at the recipe's
    separator, tokenized to exactly cutoff_len (so every batch is the plan's worst case), the labels in turn."""
    from recipekit.classify.data import load_set, tokenized
    from recipekit.plan.measure import synthetic_data, synthetic_text
    from recipekit.recipes.tiny_model import train_tokenizer

    tokenizer = train_tokenizer([synthetic_text(1600)], 1024, [], encoder=True)
    labels = ["A", "B", "tie"]
    synthetic_data(tmp_path, 7, 96, False, labels, "### Response A")
    rows = load_set(tmp_path, "measure", labels, separator="### Response A")
    assert rows.label_ids == [0, 1, 2, 0, 1, 2, 0]
    assert all(len(pair.split()) > 96 for pair in rows.pairs) and all(len(text.split()) > 96 for text in rows.texts)
    assert [len(ids) for ids in tokenized(rows, tokenizer, 96)["input_ids"]] == [96] * 7


@pytest.mark.extended  # the same measurement as the next test, over a recipe list (`make test-all`)
@pytest.mark.slow  # the whole sweep command: four plans, two real DPO steps of a 0.5B model and two of BERT: 3 min
def test_the_sweep_measures_a_dpo_and_a_classifier_recipe_within_ten_percent_and_writes_its_table(
        tmp_path: Path) -> None:
    """bench_plan.py --measure, the whole command, on a DPO LoRA recipe of Qwen2.5-0.5B and a LoRA classifier
    recipe of bert-base-uncased (adapter dropout on) at their real sizes (random weights, no download): two steps
    each on this CPU in fp32, LLaMA-Factory's DPO trainer and the classifier's; the table has each run's shape, both
    peaks (planned within 10% of the process's measured peak) and the measured step."""
    dpo = tmp_path / "dpo.yaml"
    dpo.write_text(yaml.safe_dump({
        "model_name_or_path": "Qwen/Qwen2.5-0.5B", "stage": "dpo", "do_train": True, "finetuning_type": "lora",
        "lora_target": "all", "lora_rank": 4, "pref_beta": 0.1, "dataset": "x", "template": "qwen",
        "cutoff_len": 64, "output_dir": "saves/x", "per_device_train_batch_size": 1,
        "gradient_accumulation_steps": 1, "bf16": True}), encoding="utf-8")
    classifier = tmp_path / "classifier" / "bert.yaml"
    classifier.parent.mkdir()
    classifier.write_text(yaml.safe_dump({
        "model_name_or_path": "google-bert/bert-base-uncased", "finetuning_type": "lora", "lora_target": "query,value",
        "lora_dropout": 0.1, "dataset": "x", "labels": "a,b,c,d,e", "cutoff_len": 128, "output_dir": "saves/y",
        "do_train": True, "per_device_train_batch_size": 8, "fp16": True}), encoding="utf-8")
    table = tmp_path / "measured.yaml"
    done = run_script("scripts/bench_plan.py", dpo, classifier, "--measure", table, "--steps", "2", timeout=1200)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-3000:]
    runs = yaml.safe_load(table.read_text(encoding="utf-8"))["runs"]
    assert [run["steps"] for run in runs] == [2, 2]
    shapes = [(run["shape"]["dpo"], run["shape"]["head_labels"], run["shape"]["batch"], run["shape"]["seq"],
               run["shape"]["method"], run["shape"]["lora_rank"], run["shape"]["lora_dropout"]) for run in runs]
    assert shapes == [(True, None, 1, 64, "lora", 4, 0.0), (False, 5, 8, 128, "lora", 8, 0.1)]
    for run in runs:
        assert run["step_seconds"] > 0
        assert run["memory_ratio"] == pytest.approx(run["planned_gib"] / run["peak_gib"])
        assert 0.9 <= run["memory_ratio"] <= 1.1, run
        assert f"| {run['memory_ratio']:.2f} |" in done.stdout


@pytest.mark.slow  # a 0.5B model trained for real on this CPU: about three minutes each
@pytest.mark.parametrize("method", ["full", "lora"])
def test_measured_memory_of_qwen2_5_0_5b_is_within_ten_percent_of_the_plan(tmp_path: Path, method: str) -> None:
    """Qwen2.5-0.5B at its real size (random weights, no download) trained two steps by LLaMA-Factory on this CPU
    in fp32: the process's peak resident memory over its baseline against the plan of the same run."""
    recipe = tmp_path / "recipe.yaml"
    recipe.write_text(yaml.safe_dump({
        "model_name_or_path": "Qwen/Qwen2.5-0.5B", "stage": "sft", "do_train": True, "finetuning_type": method,
        "lora_target": "all", "dataset": "x", "template": "qwen", "cutoff_len": 64, "output_dir": "saves/x",
        "per_device_train_batch_size": 1, "gradient_accumulation_steps": 1, "bf16": True}), encoding="utf-8")
    done = run_cli("plan", recipe, "--gpu", "t4", "--rows", "100", "--measure", "--measure-steps", "2",
                   "--out", tmp_path / "out")
    assert done.returncode == 0, done.stderr[-3000:]
    measured = json.loads((tmp_path / "out" / "plan.json").read_text(encoding="utf-8"))["measured"]
    print(f"Qwen2.5-0.5B {method}: planned {measured['planned_gib']:.2f} GiB, measured {measured['peak_gib']:.2f} "
          f"GiB ({measured['memory_ratio']:.2f}x), {measured['step_seconds']:.1f} s per step")
    assert 0.9 <= measured["memory_ratio"] <= 1.1, measured
    assert (tmp_path / "out" / "measure.log").is_file()
    assert "## Measured on " in (tmp_path / "out" / "plan.md").read_text(encoding="utf-8")


def test_probe_results_are_read_per_rank_against_the_plan_of_the_same_run(tmp_path: Path,
                                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    """Two CUDA ranks: the larger rank's reserved peak plus its context, the median step after each rank's
    first, the card found by the device's name and the plan's whole peak; on the CPU, the resident peak over the
    process's baseline against the plan without the CUDA allowance, and no planned time."""
    import statistics

    from recipekit.plan.measure import summarize
    from recipekit.plan.planner import evaluate, read_run
    from recipekit.plan.timing import step_time

    monkeypatch.setenv("LLM_RECIPES_CACHE", str(tmp_path / "cache"))
    (tmp_path / "small").mkdir()
    (tmp_path / "small" / "config.json").write_text(json.dumps({
        "architectures": ["LlamaForCausalLM"], "model_type": "llama", "vocab_size": 2048, "hidden_size": 128,
        "intermediate_size": 344, "num_hidden_layers": 2, "num_attention_heads": 4, "num_key_value_heads": 2,
        "max_position_embeddings": 512, "tie_word_embeddings": False}), encoding="utf-8")
    recipe = tmp_path / "r.yaml"
    recipe.write_text(yaml.safe_dump({"model_name_or_path": str(tmp_path / "small"), "stage": "sft",
                                      "do_train": True, "finetuning_type": "full", "dataset": "x",
                                      "template": "default", "cutoff_len": 128, "output_dir": "saves/x",
                                      "per_device_train_batch_size": 2, "bf16": True}), encoding="utf-8")
    run, config = read_run(load_recipe(recipe), 2, {})
    sim, memory = evaluate(run, config)
    cards = load_cards()
    ranks = [{"device": "NVIDIA H200", "device_total": int(139.8 * GIB), "reserved_peak": 3 * GIB,
              "context": GIB // 2, "allocated_peak": int(2.5 * GIB), "step_seconds": [2.0, 0.5, 0.7]},
             {"device": "NVIDIA H200", "device_total": int(139.8 * GIB), "reserved_peak": int(3.5 * GIB),
              "context": GIB // 2, "allocated_peak": int(2.8 * GIB), "step_seconds": [2.1, 0.6, 0.9]}]
    gpu = summarize(ranks, run, sim, memory, cards, 3, [])
    assert gpu.device == "NVIDIA H200 (H200 141GB)" and gpu.peak_gib == pytest.approx(4.0)
    assert gpu.allocated_gib == pytest.approx(2.8) and gpu.step_seconds == pytest.approx(0.65)
    assert gpu.planned_gib == pytest.approx(memory.total / GIB)
    assert gpu.planned_step_seconds == pytest.approx(step_time(sim, cards["h200"], "bf16", run.setup, 1, True)
                                                     .step_seconds)
    assert gpu.memory_ratio == pytest.approx(memory.total / GIB / 4.0)
    h200_bf16 = cards["h200"].peak_tflops("bf16") * 1e12
    assert gpu.measured_mfu == pytest.approx(sim.flops / (h200_bf16 * 0.65))
    assert gpu.planned_mfu == pytest.approx(sim.flops / (h200_bf16 * gpu.planned_step_seconds))
    shown = render_measured(gpu.as_dict())
    assert f"| MFU | {gpu.planned_mfu:.1%} | {gpu.measured_mfu:.1%} | - |" in shown
    cpu = summarize([{"device": "cpu", "rss_before": GIB, "rss_peak": 3 * GIB, "step_seconds": [5.0, 4.0, 6.0]}],
                    run, sim, memory, cards, 3, [])
    assert cpu.peak_gib == pytest.approx(2.0) and cpu.step_seconds == statistics.median([4.0, 6.0])
    assert cpu.planned_gib == pytest.approx((memory.total - memory.parts["allowance"]) / GIB)
    assert cpu.planned_step_seconds is None and cpu.time_ratio is None and cpu.allocated_gib is None
    assert cpu.measured_mfu is None and "MFU" not in render_measured(cpu.as_dict())


@pytest.mark.integration
@pytest.mark.mutation
def test_a_random_model_is_built_once_per_architecture_and_template(tmp_path: Path,
                                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    """A sweep measures several recipes of one model: its random weights are written once into the cache and
    found there again; another template (other tokens) or a classifier (the bare model) is another folder; a cache
    that cannot be written only costs the build."""
    from transformers import AutoConfig

    from recipekit.plan import measure
    from recipekit.plan.measure import cached_random_model

    made: list[tuple[str, bool]] = []
    real = measure.random_model

    def counted(model: str, template: str, out: Path, classifier: bool = False) -> None:
        made.append((template, classifier))
        real(model, template, out, classifier)

    monkeypatch.setattr(measure, "random_model", counted)
    monkeypatch.setenv("LLM_RECIPES_CACHE", str(tmp_path / "cache"))
    small = tmp_path / "small"
    small.mkdir()
    (small / "config.json").write_text(json.dumps({
        "architectures": ["LlamaForCausalLM"], "model_type": "llama", "vocab_size": 2048, "hidden_size": 64,
        "intermediate_size": 128, "num_hidden_layers": 2, "num_attention_heads": 4, "num_key_value_heads": 2,
        "max_position_embeddings": 256}), encoding="utf-8")
    first, again, default, head = (tmp_path / name for name in ("first", "again", "default", "head"))
    cached_random_model(str(small), "qwen", first)
    written = {p.name: p.stat().st_mtime_ns for p in first.iterdir()}
    assert first.resolve().parent == tmp_path / "cache" / "models" and "config.json" in written
    cached_random_model(str(small), "qwen", again)
    assert again.resolve() == first.resolve()
    assert {p.name: p.stat().st_mtime_ns for p in first.iterdir()} == written  # found, not made again
    cached_random_model(str(small), "default", default)
    cached_random_model(str(small), "qwen", head, True)
    assert len({first.resolve(), default.resolve(), head.resolve()}) == 3
    assert made == [("qwen", False), ("default", False), ("qwen", True)]
    assert AutoConfig.from_pretrained(first).num_hidden_layers == 2
    assert not list((tmp_path / "cache" / "models").glob(".making-*"))  # no scratch folder left
    blocked = tmp_path / "blocked"
    blocked.write_text("a file where the cache would go", encoding="utf-8")
    monkeypatch.setenv("LLM_RECIPES_CACHE", str(blocked))
    cached_random_model(str(small), "qwen", tmp_path / "here")
    assert not (tmp_path / "here").is_symlink() and (tmp_path / "here" / "config.json").is_file()
    assert made[-1] == ("qwen", False)
