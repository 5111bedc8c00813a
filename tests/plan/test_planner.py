"""The planner: parameter counts of the shipped configs, model states against DeepSpeed's estimators, the fake
step against a real one, LLaMA-Factory's memory table, and the plan command on a small local architecture."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
import yaml
from conftest import ROOT, run_cli, run_script, script_module

from recipekit.plan.memory import GIB, Setup, host_bytes, model_states, per_gpu
from recipekit.plan.models import build_model, config_path, largest_layer, load_config
from recipekit.plan.simulate import Shape, Simulation, run_step

SMALL = {"architectures": ["LlamaForCausalLM"], "model_type": "llama", "vocab_size": 8192, "hidden_size": 512,
         "intermediate_size": 1376, "num_hidden_layers": 4, "num_attention_heads": 8, "num_key_value_heads": 8,
         "max_position_embeddings": 1024, "tie_word_embeddings": False}


def meta_counts(model_id: str) -> tuple[int, int]:
    with torch.device("meta"):
        model = build_model(load_config(model_id), None, torch.bfloat16)
    return sum(p.numel() for p in model.parameters()), largest_layer(model)


def test_every_recipe_model_has_a_config_and_the_published_parameter_counts() -> None:
    assert meta_counts("meta-llama/Llama-3.1-8B")[0] == 8_030_261_248
    assert meta_counts("Qwen/Qwen2.5-0.5B")[0] == 494_032_768
    assert meta_counts("Qwen/Qwen3-4B-Base")[0] == 4_022_468_096
    assert meta_counts("meta-llama/Llama-2-7b-hf")[0] == 6_738_415_616  # the published points' configs too
    for path in sorted((ROOT / "recipes").rglob("*.yaml")):
        model = str(yaml.safe_load(path.read_text(encoding="utf-8")).get("model_name_or_path", ""))
        if model.count("/") == 1 and not model.startswith(("saves", "outputs")):
            assert config_path(model).is_file(), (path, model)


def test_lora_trainable_count_is_peft_on_the_real_config() -> None:
    from peft import LoraConfig, get_peft_model

    from recipekit.classify.model import lora_targets
    from recipekit.plan.models import OUTPUT_LAYERS

    config = load_config("Qwen/Qwen3-4B-Base")
    with torch.device("meta"):
        model = build_model(config, None, torch.bfloat16)
        targets = lora_targets(model, "all", list(OUTPUT_LAYERS))
        peft_model = get_peft_model(model, LoraConfig(r=16, lora_alpha=32, target_modules=targets))
    assert targets == ["down_proj", "gate_proj", "k_proj", "o_proj", "q_proj", "up_proj", "v_proj"]
    trainable, _ = peft_model.get_nb_trainable_parameters()
    layers, hidden, inter, q, kv = 36, 2560, 9728, 4096, 1024
    expected = layers * 16 * ((hidden + q) * 2 + (hidden + kv) * 2 + (hidden + inter) * 3)
    assert trainable == expected == 33_030_144


def test_a_lora_all_recipe_trains_what_llamafactory_targets() -> None:
    """``lora_target: all`` as LLaMA-Factory resolves it (its own module finder: every linear layer but the LM
    head), counted by peft on the recipe's real architecture, is what the planner's simulated model trains."""
    from llamafactory.model.model_utils.misc import find_all_linear_modules
    from peft import LoraConfig, get_peft_model

    from recipekit.plan.planner import read_run
    from recipekit.plan.simulate import prepared
    from recipekit.recipes.reading import load_recipe

    run, config = read_run(load_recipe(ROOT / "recipes/qwen3_4b_tulu_sft_lora.yaml"), 2, {})
    assert (run.shape.method, run.shape.lora_target, run.shape.lora_rank) == ("lora", "all", 16)
    with torch.device("meta"):
        planned = prepared(config, run.shape)
        model = build_model(load_config("Qwen/Qwen3-4B-Base"), None, torch.bfloat16)
        targets = find_all_linear_modules(model, freeze_vision_tower=True)  # LLaMA-Factory's default
        expected, _ = get_peft_model(model, LoraConfig(r=16, lora_alpha=32, target_modules=targets)) \
            .get_nb_trainable_parameters()
    assert sum(p.numel() for p in planned.parameters() if p.requires_grad) == expected == 33_030_144
    # the LM head adapted too would add 16 x (2,560 + 151,936) = 2,471,936


@pytest.mark.parametrize("gpus", [1, 8, 64])
def test_full_fine_tuning_model_states_equal_deepspeeds_estimators(gpus: int) -> None:
    from deepspeed.runtime.zero.stage3 import estimate_zero3_model_states_mem_needs
    from deepspeed.runtime.zero.stage_1_and_2 import estimate_zero2_model_states_mem_needs

    params, largest = meta_counts("meta-llama/Llama-3.1-8B")
    sim = Simulation(params=params, trainable=params, largest_layer=largest, quantizable=0)
    cases = [
        (Setup(gpus=gpus, zero=2), estimate_zero2_model_states_mem_needs(params, gpus, 1, cpu_offload=False)[1]),
        (Setup(gpus=gpus, zero=2, offload_optimizer=True),
         estimate_zero2_model_states_mem_needs(params, gpus, 1, cpu_offload=True)[1]),
        (Setup(gpus=gpus, zero=3), estimate_zero3_model_states_mem_needs(
            params, largest, gpus, 1, cpu_offload=False, cpu_offload_params=False)[1]),
        (Setup(gpus=gpus, zero=3, offload_optimizer=True), estimate_zero3_model_states_mem_needs(
            params, largest, gpus, 1, cpu_offload=True, cpu_offload_params=False)[1]),
        (Setup(gpus=gpus, zero=3, offload_optimizer=True, offload_params=True), estimate_zero3_model_states_mem_needs(
            params, largest, gpus, 1, cpu_offload=True, cpu_offload_params=True)[1]),
    ]
    for setup, deepspeed_bytes in cases:
        ours = sum(model_states(sim, setup).values())
        assert ours == pytest.approx(deepspeed_bytes, rel=0.01), setup
    hosts = [  # the host memory of the offloaded states, per node, DeepSpeed's 1.5 buffer factor included
        (Setup(gpus=gpus, zero=2, offload_optimizer=True),
         estimate_zero2_model_states_mem_needs(params, gpus, 1, cpu_offload=True)[0]),
        (Setup(gpus=gpus, zero=3, offload_optimizer=True), estimate_zero3_model_states_mem_needs(
            params, largest, gpus, 1, cpu_offload=True, cpu_offload_params=False)[0]),
        (Setup(gpus=gpus, zero=3, offload_optimizer=True, offload_params=True), estimate_zero3_model_states_mem_needs(
            params, largest, gpus, 1, cpu_offload=True, cpu_offload_params=True)[0]),
    ]
    for setup, deepspeed_host in hosts:
        assert host_bytes(sim, setup) == pytest.approx(deepspeed_host, abs=1), setup


@pytest.mark.integration
@pytest.mark.parametrize("shape", [
    Shape(4, 256, gradient_checkpointing=False, bf16=False),
    Shape(4, 256, gradient_checkpointing=True, bf16=False),
    Shape(4, 256, method="lora", lora_target="q_proj,v_proj", bf16=False),
    Shape(2, 256, dpo=True, bf16=False),
    Shape(2, 256, dpo=True, method="lora", bf16=False),
], ids=["full", "full-gc", "lora", "dpo", "dpo-lora"])
def test_the_fake_step_equals_a_real_one(shape: Shape) -> None:
    """Activations and the whole peak on fake tensors within 5% of the same step on real CPU tensors."""
    from transformers import AutoConfig

    config = AutoConfig.for_model(**{k: v for k, v in SMALL.items() if k != "architectures"})
    fake, real = run_step(config, shape, fake=True), run_step(config, shape, fake=False)
    assert (fake.params, fake.trainable, fake.flops) == (real.params, real.trainable, real.flops)
    assert fake.activation_bytes == pytest.approx(real.activation_bytes, rel=0.05)
    assert fake.peak["Total"] == pytest.approx(real.peak["Total"], rel=0.05)


def profiled_peak(config: object, shape: Shape) -> float:
    """The peak bytes of one real training step on CPU as PyTorch's profiler records its allocations (its memory
    timeline): a measure apart from the MemTracker the planner uses. The model is built here, as LLaMA-Factory
    builds it (reentrant checkpointing, peft LoRA), not by the planner's code."""
    import gc

    from peft import LoraConfig, get_peft_model
    from torch.profiler import ProfilerActivity, profile
    from torch.profiler._memory_profiler import MemoryProfileTimeline
    from transformers import AutoModelForCausalLM

    gc.collect()
    torch.manual_seed(0)
    model = AutoModelForCausalLM.from_config(config, dtype=torch.float32)
    if shape.gradient_checkpointing:
        model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": True})
        model.config.use_cache = False
    if shape.method == "lora":
        model = get_peft_model(model, LoraConfig(r=shape.lora_rank, lora_alpha=shape.lora_alpha,
                                                 lora_dropout=shape.lora_dropout,
                                                 target_modules=shape.lora_target.split(","), task_type="CAUSAL_LM"))
    if shape.gradient_checkpointing:
        model.enable_input_require_grads()
    model.train()
    ids = torch.randint(0, config.vocab_size, (shape.batch, shape.seq))
    with profile(activities=[ProfilerActivity.CPU], profile_memory=True, record_shapes=True, with_stack=True) as prof:
        model(input_ids=ids, labels=ids).loss.backward()
    _, sizes = MemoryProfileTimeline(prof._memory_profile())._coalesce_timeline(torch.device("cpu"))
    return float(max(sum(row) for row in sizes))


@pytest.mark.integration
@pytest.mark.parametrize("shape", [
    Shape(4, 256, gradient_checkpointing=False, bf16=False),
    Shape(4, 256, method="lora", lora_target="q_proj,v_proj", bf16=False),
    Shape(4, 256, method="lora", lora_target="q_proj,v_proj", lora_dropout=0.1, gradient_checkpointing=False,
          bf16=False),
], ids=["full", "lora-gc", "lora-dropout"])  # full-gc (0.6%) and LoRA without checkpointing (exactly) agree too
def test_the_simulated_peak_equals_the_profilers_record_of_a_real_step(shape: Shape) -> None:
    """The planner's step peak (fake tensors, MemTracker) against the allocations PyTorch's profiler records in a
    real step of the same small Llama: weights, activations, temporaries and gradients at the peak."""
    from transformers import AutoConfig

    config = AutoConfig.for_model(**{k: v for k, v in SMALL.items() if k != "architectures"})
    planned = run_step(config, shape, fake=True).peak["Total"]
    assert planned == pytest.approx(profiled_peak(config, shape), rel=0.02)


@pytest.mark.integration
@pytest.mark.parametrize("method", ["lora", "full"])
def test_the_simulated_dpo_peak_equals_llamafactorys_own_dpo_step(method: str, tmp_path: Path) -> None:
    """LLaMA-Factory's DPO trainer computes the loss of chosen + rejected rows of a small Llama (its reference:
    the policy with the adapters off, or a frozen copy for full tuning) and backpropagates it, under PyTorch's
    profiler: the planner's step peak is that peak, less the copy's weights (memory.py counts those)."""
    import copy

    from llamafactory.hparams import FinetuningArguments
    from llamafactory.train.dpo.trainer import CustomDPOTrainer
    from peft import LoraConfig, get_peft_model
    from torch.profiler import ProfilerActivity, profile
    from torch.profiler._memory_profiler import MemoryProfileTimeline
    from transformers import AutoConfig, AutoModelForCausalLM, Seq2SeqTrainingArguments

    config = AutoConfig.for_model(**{k: v for k, v in SMALL.items() if k != "architectures"})
    shape = Shape(2, 256, method=method, lora_target="q_proj,v_proj", dpo=True, bf16=False)
    planned = run_step(config, shape, fake=True).peak["Total"]
    torch.manual_seed(0)
    model = AutoModelForCausalLM.from_config(config, dtype=torch.float32)
    reference = copy.deepcopy(model).requires_grad_(False).eval() if method == "full" else None
    model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": True})
    model.config.use_cache = False
    if method == "lora":
        model = get_peft_model(model, LoraConfig(r=8, lora_alpha=16, target_modules=["q_proj", "v_proj"],
                                                 task_type="CAUSAL_LM"))
    model.enable_input_require_grads()
    model.train()
    trainer = CustomDPOTrainer(model=model, ref_model=reference, processor=None, tokenizer=None,
                               finetuning_args=FinetuningArguments(stage="dpo", finetuning_type=method, pref_beta=0.1),
                               args=Seq2SeqTrainingArguments(output_dir=str(tmp_path), report_to="none", use_cpu=True))
    ids = torch.randint(0, config.vocab_size, (2 * shape.batch, shape.seq))
    batch = {"input_ids": ids, "attention_mask": torch.ones_like(ids), "labels": ids.clone()}
    with profile(activities=[ProfilerActivity.CPU], profile_memory=True, record_shapes=True, with_stack=True) as prof:
        loss, _ = trainer.get_batch_loss_metrics(model, batch)
        loss.backward()
    _, sizes = MemoryProfileTimeline(prof._memory_profile())._coalesce_timeline(torch.device("cpu"))
    copy_bytes = sum(p.numel() * 4 for p in reference.parameters()) if reference is not None else 0
    assert planned + copy_bytes == pytest.approx(max(sum(row) for row in sizes), rel=0.02)


TINY_DEBERTA = {"vocab_size": 500, "hidden_size": 64, "num_hidden_layers": 2, "num_attention_heads": 4,
                "intermediate_size": 128, "max_position_embeddings": 128, "relative_attention": True,
                "position_buckets": 32, "max_relative_positions": 64, "pos_att_type": ["p2c", "c2p"],
                "norm_rel_ebd": "layer_norm", "share_att_key": True, "position_biased_input": False}


@pytest.mark.parametrize("gc", [False, True], ids=["no-gc", "gc"])
def test_deberta_runs_on_fake_tensors_and_equals_a_real_step(gc: bool) -> None:
    """DeBERTa's TorchScript relative positions and its label-picking loss run on fake tensors; checkpointing as
    the classifier's Trainer does it (non-reentrant: DeBERTa's shared relative embeddings cannot be recomputed
    reentrantly). Counts, FLOPs and the peak are those of the same step on real tensors."""
    from transformers import AutoConfig

    config = AutoConfig.for_model("deberta-v2", **TINY_DEBERTA)
    shape = Shape(2, 64, head_labels=3, gradient_checkpointing=gc, bf16=False)
    fake, real = run_step(config, shape, fake=True), run_step(config, shape, fake=False)
    assert fake.params == real.params == sum(p.numel() for p in build_model(config, 3, torch.float32).parameters())
    assert (fake.flops, fake.peak["Total"]) == (real.flops, real.peak["Total"])
    assert fake.flops > 6 * 2 * 64 * 64 * 64 * 2  # at least the attention projections' 6 FLOPs per weight-token


def test_a_model_fake_tensors_cannot_run_is_stepped_for_real(monkeypatch: pytest.MonkeyPatch,
                                                             tmp_path: Path) -> None:
    """Without the Python versions of DeBERTa's TorchScript functions the fake step fails: the planner then runs
    the step on real CPU tensors (a small model) and gets the same numbers."""
    import contextlib

    from transformers import AutoConfig

    from recipekit.errors import InputError
    from recipekit.plan import simulate

    monkeypatch.setenv("LLM_RECIPES_CACHE", str(tmp_path))
    config = AutoConfig.for_model("deberta-v2", **TINY_DEBERTA)
    shape = Shape(2, 64, head_labels=3, gradient_checkpointing=False, bf16=False)
    expected = run_step(config, shape, fake=False)
    monkeypatch.setattr(simulate, "python_script_functions", lambda model: contextlib.nullcontext())
    with pytest.raises(RuntimeError):
        run_step(config, shape, fake=True)
    monkeypatch.setattr(simulate, "REAL_STEP_LIMIT", expected.params - 1)
    with pytest.raises(InputError, match="parameters are too many for a real CPU step"):
        simulate.simulate(config, shape)
    monkeypatch.setattr(simulate, "REAL_STEP_LIMIT", expected.params)
    result = simulate.simulate(config, shape)
    assert (result.params, result.flops, result.peak) == (expected.params, expected.flops, expected.peak)


@pytest.mark.slow
def test_seven_b_lora_and_qlora_land_near_llamafactorys_table(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """LLaMA-Factory's README: 7B LoRA 16 GB, QLoRA 4-bit 6 GB, at its implied settings (batch 1, short rows).
    docs/planner.md's claim: without the allowance (which the table does not count) both within 10% of the table."""
    from recipekit.plan.simulate import simulate

    monkeypatch.setenv("LLM_RECIPES_CACHE", str(tmp_path))
    sim = simulate(load_config("Qwen/Qwen2.5-7B"), Shape(1, 512, method="lora", lora_rank=8, lora_target="all"))
    memory = {bits: per_gpu(sim, Setup(quantization_bit=bits)) for bits in (None, 4)}
    gib = {bits: m.total / GIB for bits, m in memory.items()}
    bare = {bits: (m.total - m.parts["allowance"]) / GIB for bits, m in memory.items()}
    print(f"Qwen2.5-7B LoRA r8 all, 1 x 512: {gib[None]:.1f} GiB ({bare[None]:.1f} without the allowance); "
          f"QLoRA: {gib[4]:.1f} GiB ({bare[4]:.1f})")
    table = {None: 16.0, 4: 6.0}
    assert all(abs(bare[bits] / table[bits] - 1) <= 0.10 for bits in table), bare
    page = " ".join((ROOT / "docs" / "planner.md").read_text(encoding="utf-8").split())
    assert f"the planner gives {gib[None]:.1f} and {gib[4]:.1f} GiB for Qwen2.5-7B" in page
    assert f"{bare[None]:.1f} and {bare[4]:.1f} GiB without it" in page


def small_recipe(tmp_path: Path, **values: object) -> Path:
    model = tmp_path / "small"
    model.mkdir(exist_ok=True)
    (model / "config.json").write_text(json.dumps(SMALL), encoding="utf-8")
    recipe = {"model_name_or_path": str(model), "stage": "sft", "do_train": True, "finetuning_type": "full",
              "dataset": "x", "template": "default", "cutoff_len": 512, "output_dir": "saves/x",
              "per_device_train_batch_size": 8, "gradient_accumulation_steps": 2, "num_train_epochs": 2.0, "bf16": True,
              **values}
    path = tmp_path / "recipe.yaml"
    path.write_text(yaml.safe_dump(recipe), encoding="utf-8")
    return path


@pytest.mark.integration
def test_plan_writes_its_table_time_and_cost(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LLM_RECIPES_CACHE", str(tmp_path / "cache"))
    recipe = small_recipe(tmp_path)
    done = run_cli("plan", recipe, "--gpu", "a100-40g", "--gpus", "2", "--rows", "1000", "--price", "1.5",
                   "--mfu", "0.38", "--out", tmp_path / "out")
    assert done.returncode == 0, done.stderr[-2000:]
    plan = json.loads((tmp_path / "out" / "plan.json").read_text(encoding="utf-8"))
    assert plan["fits"] and plan["params"] == 21_041_664 and plan["global_batch"] == 32
    assert plan["steps"] == 64  # ceil(1000 / 32) x 2 epochs
    step = plan["flops_per_micro_batch"] * 2 / (312e12 * 0.38)  # a measured MFU: FLOPs at that share of the peak
    assert plan["time"]["hours"] == pytest.approx(64 * step / 3600)
    assert plan["time"]["cost"] == pytest.approx(plan["time"]["gpu_hours"] * 1.5)
    assert plan["time"]["price_source"] == "--price" and plan["precision"] == "bf16"
    modelled = run_cli("plan", recipe, "--gpu", "h100-80g", "--gpus", "2", "--rows", "1000", "--out", tmp_path / "m")
    plan = json.loads((tmp_path / "m" / "plan.json").read_text(encoding="utf-8"))
    assert modelled.returncode == 0 and plan["time"]["hours"] == pytest.approx(64 * plan["step_seconds"] / 3600)
    assert plan["time"]["cost"] == pytest.approx(plan["time"]["hours"] * 2 * 2.95)  # the card's dated price
    assert "aimultiple.com" in plan["time"]["price_source"] and "aimultiple.com" in modelled.stdout
    parts = plan["memory"]["per_gpu_gib"]
    assert set(parts) == {"weights", "gradients", "optimizer state", "activations", "buffers", "allowance"}
    assert parts["optimizer state"] * GIB == pytest.approx(8 * 21_041_664)  # no DeepSpeed: fp32 Adam moments
    assert "**Peak per GPU" in (tmp_path / "out" / "plan.md").read_text(encoding="utf-8")
    assert list((tmp_path / "cache" / "plan").glob("*.json")), "the simulation was not cached"


@pytest.mark.integration
def test_a_run_that_does_not_fit_gets_simulated_fixes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LLM_RECIPES_CACHE", str(tmp_path / "cache"))
    recipe = small_recipe(tmp_path, deepspeed=str(ROOT / "recipes/deepspeed/ds_z2_config.json"))
    done = run_cli("plan", recipe, "--gpu-mem", "2.4", "--gpu-tflops", "100", "--gpus", "2",
                   "--out", tmp_path / "out")
    assert done.returncode == 0, done.stderr[-2000:]
    plan = json.loads((tmp_path / "out" / "plan.json").read_text(encoding="utf-8"))
    assert not plan["fits"] and plan["memory"]["peak_gib"] > 2.4
    changes = {o["change"]: o for o in plan["options"]}
    smaller = changes["per_device_train_batch_size 4, gradient_accumulation_steps 4 (same global batch)"]
    assert smaller["peak_gib"] < plan["memory"]["peak_gib"]
    assert changes["per_device_train_batch_size 1, gradient_accumulation_steps 16 (same global batch)"]["fits"]
    assert plan["memory"]["per_gpu_gib"]["buffers"] * GIB == pytest.approx(2 * 5e8)  # ds_z2's reduce bucket
    assert "does NOT fit" in done.stdout and "Changes tried (each simulated; host memory is" in done.stdout
    from deepspeed.runtime.zero.stage3 import estimate_zero3_model_states_mem_needs

    offload = next(o for c, o in changes.items() if c.startswith("deepspeed: recipes/deepspeed/ds_z3_offload"))
    zero3 = changes["deepspeed: recipes/deepspeed/ds_z3_config.json"]
    host = estimate_zero3_model_states_mem_needs(plan["params"], plan["largest_layer"], 2, 1, cpu_offload=True,
                                                 cpu_offload_params=True)[0]  # per node, with its 1.5 factor
    assert offload["host_gib"] * GIB == pytest.approx(host) and zero3["host_gib"] == 0
    assert offload["step_seconds"] > zero3["step_seconds"] > 0  # the states cross PCIe and Adam runs on the CPU


@pytest.mark.integration
def test_bad_cards_are_one_line_errors(tmp_path: Path) -> None:
    recipe = small_recipe(tmp_path)
    done = run_script("scripts/plan.py", recipe, "--gpu", "gtx1080")
    assert done.returncode == 2 and "--gpu 'gtx1080' is not in the table" in done.stderr
    assert "Traceback" not in done.stderr
    assert "llm-recipes plan recipes/agnews_full.yaml --gpu a100-40g" in run_script(
        "scripts/plan.py", "--help").stdout


@pytest.mark.integration
def test_check_recipes_plans_on_a_card() -> None:
    done = run_cli("check", "recipes", "recipes/classifier/yelp5_bert_lora.yaml", "--gpu", "t4")
    assert done.returncode == 0, done.stdout[-2000:]
    assert "plan: 1x T4 16GB: " in done.stdout and "at 16 x 256 tokens, fits" in done.stdout


@pytest.mark.integration
def test_check_recipes_plans_deberta_on_fake_tensors() -> None:
    done = run_cli("check", "recipes", "recipes/classifier/arena_deberta_v3.yaml", "--gpu", "t4")
    assert done.returncode == 0, done.stdout[-2000:]
    assert "plan: 1x T4 16GB: " in done.stdout and "at 4 x 512 tokens, fits" in done.stdout


@pytest.mark.integration
def test_check_recipes_fails_a_recipe_that_does_not_fit(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LLM_RECIPES_CACHE", str(tmp_path / "cache"))
    recipe = small_recipe(tmp_path, per_device_train_batch_size=32, cutoff_len=8192)  # 256k-token batch of logits
    done = run_cli("check", "recipes", recipe, "--gpu", "t4")
    assert done.returncode == 1
    assert "error: does not fit 1x T4 16GB (" in done.stdout and "plan: 1x T4 16GB: " in done.stdout


@pytest.mark.integration
def test_data_measures_the_longest_row(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """--data: the recipe's registered set tokenized by LLaMA-Factory (check_data's loader) sets the row length."""
    from recipekit.converters.catalog import make_fixture_dataset

    monkeypatch.setenv("LLM_RECIPES_CACHE", str(tmp_path / "cache"))
    make_fixture_dataset("afqmc", tmp_path / "raw", tmp_path / "data")
    recipe = small_recipe(tmp_path, dataset="afqmc", dataset_dir=str(tmp_path / "data"))
    done = run_cli("plan", recipe, "--gpu", "l4", "--data", "--out", tmp_path / "out")
    assert done.returncode == 0, done.stderr[-2000:]
    plan = json.loads((tmp_path / "out" / "plan.json").read_text(encoding="utf-8"))
    assert 8 < plan["shape"]["seq"] < 512 and plan["rows"] == 24  # the fixture's training rows, registered
    assert plan["seq_note"].startswith(f"--data: longest row {plan['shape']['seq']} tokens by a tiny BPE")
    pad, seq, batch = plan["padding"], plan["shape"]["seq"], plan["shape"]["batch"]
    assert (pad["rows"], pad["batch"], pad["cutoff"]) == (24, batch, 512)
    # every row runs at least as itself and at most as the longest row; batches of 8 pad the short ones
    assert 24 * 8 < pad["used"] < pad["paid"] <= 24 * seq
    assert pad["typical_row"] == pytest.approx(pad["paid"] / 24, abs=0.05)
    # a block is filled to within one row of cutoff_len: between used / 512 and used / (512 - longest) blocks
    assert -(-pad["used"] // 512) <= pad["packed_blocks"] <= -(-pad["used"] // (512 - seq))
    assert pad["packed_paid"] == pad["packed_blocks"] * 513
    assert pad["typical_hours"] == pytest.approx(plan["time"]["hours"] * pad["paid"] / 24 / seq)
    markdown = (tmp_path / "out" / "plan.md").read_text(encoding="utf-8")
    assert f"the batches run {pad['paid']:,} tokens for the {pad['used']:,} the rows hold" in markdown


def test_the_plan_line_goes_after_the_report_line_and_replaces_an_old_one() -> None:
    from recipekit.errors import InputError
    from recipekit.report.plan import set_plan_line

    text = ("# A recipe.\n#\n# Report: recipes/reproduce/x.yaml (the facts\n#   live there).\n# Notes.\n"
            "stage: sft\n")
    once = set_plan_line(text, "# Plan (a).")
    assert once.splitlines()[2:6] == ["# Report: recipes/reproduce/x.yaml (the facts", "#   live there).",
                                      "# Plan (a).", "# Notes."]
    assert set_plan_line(once, "# Plan (b).") == once.replace("# Plan (a).", "# Plan (b).")
    with pytest.raises(InputError, match="no 'Report:' line"):
        set_plan_line("# A recipe.\nstage: sft\n", "# Plan (a).")


def test_report_hardware_is_read_from_the_chain_file() -> None:
    from recipekit.plan.gpus import report_hardware
    from recipekit.recipes.reading import load_recipe

    assert report_hardware(load_recipe(ROOT / "recipes" / "agnews_full.yaml").facts().hardware) == \
        ("a100-40g", 8, True)
    assert report_hardware(load_recipe(ROOT / "recipes" / "qwen3_4b_tulu_sft_lora.yaml").facts().hardware) == \
        ("rtx-a6000", 2, True)
    assert report_hardware(load_recipe(ROOT / "recipes" / "yelp5_lora.yaml").facts().hardware) == ("t4", 1, False)
    assert report_hardware("") == ("t4", 1, False)


def test_a_layers_flops_equal_a_hand_count_attention_included() -> None:
    """One Llama layer with grouped-query attention, a full step without checkpointing, counted by hand: every
    linear layer 2 FLOPs per weight per token forward and 4 backward (input and weight gradients), attention's
    two matmuls 4*b*h*s*s*d forward (whole score matrices, as PyTorch counts them) and 2.5 times that backward,
    and rotary's angle table (2*(d/2)*s: one row of positions, shared by the batch)."""
    from transformers import LlamaConfig

    hidden, heads, kv_heads, inter, vocab, batch, seq = 64, 4, 2, 128, 256, 2, 64
    head_dim = hidden // heads
    config = LlamaConfig(vocab_size=vocab, hidden_size=hidden, intermediate_size=inter, num_hidden_layers=1,
                         num_attention_heads=heads, num_key_value_heads=kv_heads, tie_word_embeddings=False,
                         max_position_embeddings=seq, attn_implementation="sdpa")
    linear = hidden * hidden * 2 + hidden * kv_heads * head_dim * 2 + hidden * inter * 3 + hidden * vocab
    tokens = batch * seq
    attention = 4 * batch * heads * seq * seq * head_dim
    rotary = 2 * (head_dim // 2) * seq
    expected = 6 * tokens * linear + attention + attention * 5 // 2 + rotary
    sim = run_step(config, Shape(batch, seq, gradient_checkpointing=False, bf16=False))
    assert sim.flops == expected


def test_the_benchmark_table_gives_hours_and_the_cost_where_a_plan_has_them() -> None:
    hours_and_cost = script_module("bench_plan").hours_and_cost
    assert hours_and_cost({"time": {"hours": 1.234, "cost": 1234.5}}) == "1.23 | $1,234.50"
    assert hours_and_cost({"time": {"hours": 0.5, "cost": None}}) == "0.50 | -"
    assert hours_and_cost({"time": None}) == hours_and_cost({"time": {"hours": None}}) == "- | -"


@pytest.mark.parametrize(("stage", "reference"), [("sft", False), ("dpo", True), ("kto", True), ("rm", False)])
def test_a_stage_with_a_reference_model_is_planned_as_two_rows_and_a_reference(tmp_path: Path, stage: str,
                                                                                reference: bool) -> None:
    """LLaMA-Factory 0.9.5 builds a frozen reference model for dpo (chosen and rejected rows) and kto (the example
    and its KL pair: kto/workflow.py), none for rm or sft."""
    from recipekit.plan.planner import read_run
    from recipekit.recipes.reading import load_recipe

    run, _ = read_run(load_recipe(small_recipe(tmp_path, stage=stage)), 1, {})
    assert run.shape.dpo is reference
