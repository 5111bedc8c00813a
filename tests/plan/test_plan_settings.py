"""Recipe settings the planner models beyond the step's shape: the attention implementation, Liger's fused
cross-entropy, pure bf16, ZeRO-1 and GPT-2's architecture, each against a real step, DeepSpeed's estimator, the
optimizer itself or a hand count; and the settings it leaves out, named in the plan."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
import yaml
from conftest import ROOT, run_cli
from test_planner import SMALL, profiled_peak, small_recipe

from recipekit.plan.memory import Setup, model_states
from recipekit.plan.simulate import FusedLinearCrossEntropy, Shape, Simulation, liger_chunk, run_step


def small_config(vocab: int = SMALL["vocab_size"], **values: object) -> object:
    from transformers import AutoConfig

    return AutoConfig.for_model(**{**{k: v for k, v in SMALL.items() if k != "architectures"},
                                   "vocab_size": vocab, **values})


@pytest.mark.integration
def test_eager_attention_holds_each_layers_score_matrix_as_a_real_step_does() -> None:
    """At 2 x 512 tokens the score matrices dominate: the eager step's planned peak is the profiler's record of a
    real eager step, and exceeds the sdpa step's by one fp32 score matrix (batch x heads x seq x seq) per layer,
    kept for the backward."""
    eager = Shape(2, 512, gradient_checkpointing=False, bf16=False, attention="eager")
    sdpa = Shape(2, 512, gradient_checkpointing=False, bf16=False)
    planned = run_step(small_config(), eager).peak["Total"]
    assert planned == pytest.approx(profiled_peak(small_config(attn_implementation="eager"), eager), rel=0.02)
    scores = SMALL["num_hidden_layers"] * 2 * SMALL["num_attention_heads"] * 512 * 512 * 4
    assert planned - run_step(small_config(), sdpa).peak["Total"] == pytest.approx(scores, rel=0.01)


def test_the_fused_loss_is_cross_entropy_with_its_gradients() -> None:
    """Loss and gradients of the chunked loss equal PyTorch's cross-entropy over the whole logits (an ignored
    label left out of the mean), in chunks of Liger's size."""
    torch.manual_seed(0)
    hidden = torch.randn(37, 16, dtype=torch.float64, requires_grad=True)
    weight = torch.randn(100, 16, dtype=torch.float64, requires_grad=True)
    target = torch.randint(0, 100, (37,))
    target[3] = -100
    FusedLinearCrossEntropy.apply(hidden, weight, target).mul(3.0).backward()
    fused = hidden.grad.clone(), weight.grad.clone()
    hidden.grad = weight.grad = None
    expected = torch.nn.functional.cross_entropy(hidden @ weight.t(), target)
    expected.mul(3.0).backward()
    assert float(FusedLinearCrossEntropy.apply(hidden, weight, target)) == pytest.approx(float(expected), rel=1e-6)
    assert torch.allclose(fused[0], hidden.grad) and torch.allclose(fused[1], weight.grad)
    # Liger: next_power_of_2(ceil(tokens / ceil(vocab / hidden))) rows
    assert (liger_chunk(37, 16, 100), liger_chunk(1024, 512, 8192), liger_chunk(8192, 4096, 128256)) == (8, 64, 256)


def profiled_fused_peak(config: object, shape: Shape) -> float:
    """The profiler's record of a real LoRA step (reentrant checkpointing) whose loss is the chunked one."""
    from peft import LoraConfig, get_peft_model
    from torch.profiler import ProfilerActivity, profile
    from torch.profiler._memory_profiler import MemoryProfileTimeline
    from transformers import AutoModelForCausalLM

    torch.manual_seed(0)
    model = AutoModelForCausalLM.from_config(config, dtype=torch.float32)
    model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": True})
    model = get_peft_model(model, LoraConfig(r=8, lora_alpha=16, target_modules=["q_proj", "v_proj"],
                                             task_type="CAUSAL_LM"))
    model.enable_input_require_grads()
    model.train()
    ids = torch.randint(0, config.vocab_size, (shape.batch, shape.seq))
    labels = torch.cat([ids[:, 1:], torch.full((shape.batch, 1), -100)], dim=1)
    with profile(activities=[ProfilerActivity.CPU], profile_memory=True, record_shapes=True,
                 with_stack=True) as prof:
        hidden = model.get_base_model().model(input_ids=ids).last_hidden_state
        FusedLinearCrossEntropy.apply(hidden.reshape(-1, hidden.shape[-1]), model.get_base_model().lm_head.weight,
                                      labels.reshape(-1)).backward()
    _, sizes = MemoryProfileTimeline(prof._memory_profile())._coalesce_timeline(torch.device("cpu"))
    return float(max(sum(row) for row in sizes))


@pytest.mark.integration
def test_the_fused_loss_never_holds_the_whole_logits() -> None:
    """Liger's fused cross-entropy (LoRA, frozen head): the planned peak is the profiler's record of a real step
    of the chunked loss; four times the vocabulary adds nothing to its activations (a chunk of logits is the size
    of the hidden states), while the plain loss adds at least the logits and their log-softmax (2 x tokens x the
    added vocabulary x 4 bytes)."""
    fused = Shape(2, 512, method="lora", lora_target="q_proj,v_proj", bf16=False, fused_loss=True)
    plain = Shape(2, 512, method="lora", lora_target="q_proj,v_proj", bf16=False)
    assert run_step(small_config(), fused).peak["Total"] == pytest.approx(
        profiled_fused_peak(small_config(), fused), rel=0.02)
    wide = 4 * SMALL["vocab_size"]
    grown = {name: run_step(small_config(wide), shape).activation_bytes - run_step(small_config(), shape)
             .activation_bytes for name, shape in (("fused", fused), ("plain", plain))}
    assert abs(grown["fused"]) <= 64 * 1024
    assert grown["plain"] >= 2 * 2 * 512 * (wide - SMALL["vocab_size"]) * 4


def test_pure_bf16_states_are_those_adamw_keeps() -> None:
    """Model states against torch's AdamW after one step of a small model: fp32 weights (LLaMA-Factory's upcast)
    hold 16 bytes per parameter, pure bf16 weights 8 (bf16 gradients and moments)."""
    counted = {}
    for dtype in (torch.float32, torch.bfloat16):
        model = torch.nn.Sequential(torch.nn.Linear(64, 96), torch.nn.Linear(96, 32)).to(dtype)
        optimizer = torch.optim.AdamW(model.parameters())
        model(torch.randn(4, 64, dtype=dtype)).sum().backward()
        optimizer.step()
        tensors = [*model.parameters(), *(p.grad for p in model.parameters()),
                   *(s for state in optimizer.state.values() for s in (state["exp_avg"], state["exp_avg_sq"]))]
        counted[dtype] = sum(t.numel() * t.element_size() for t in tensors)
    params = 64 * 96 + 96 + 96 * 32 + 32
    sim = Simulation(params=params, trainable=params, largest_layer=64 * 96, quantizable=0)
    assert sum(model_states(sim, Setup()).values()) == counted[torch.float32]
    assert sum(model_states(sim, Setup(pure_bf16=True)).values()) == counted[torch.bfloat16]


@pytest.mark.parametrize("gpus", [1, 8])
def test_zero1_partitions_the_optimizer_states_only(gpus: int) -> None:
    """ZeRO-1 is DeepSpeed's ZeRO-2 estimate with the 16-bit gradients (2 bytes per parameter) whole on every
    GPU instead of partitioned; with offload, those gradients stay on the GPU beside the 16-bit weights."""
    from deepspeed.runtime.zero.stage_1_and_2 import estimate_zero2_model_states_mem_needs

    params = 8_030_261_248
    sim = Simulation(params=params, trainable=params, largest_layer=525_336_576, quantizable=0)
    zero2 = estimate_zero2_model_states_mem_needs(params, gpus, 1, cpu_offload=False)[1]
    assert sum(model_states(sim, Setup(gpus=gpus, zero=1)).values()) == pytest.approx(
        zero2 + 2 * params * (1 - 1 / gpus), rel=0.001)
    offloaded = estimate_zero2_model_states_mem_needs(params, gpus, 1, cpu_offload=True)[1]
    assert sum(model_states(sim, Setup(gpus=gpus, zero=1, offload_optimizer=True)).values()) == pytest.approx(
        offloaded + 2 * params, rel=0.001)


def test_gpt2_configs_are_causal_lms_and_a_masked_lm_is_refused() -> None:
    """The shipped "gpt2" config is transformers' GPT2Config and builds GPT-2 small (124,439,808 parameters, its
    head tied to the embeddings); a BERT masked LM is still no causal LM."""
    from transformers import BertConfig, GPT2Config

    from recipekit.errors import InputError
    from recipekit.plan.models import build_model, load_config

    config = load_config("gpt2")
    where = ("transformers_version", "_name_or_path")
    assert {k: v for k, v in config.to_dict().items() if k not in where} == {
        k: v for k, v in GPT2Config(architectures=["GPT2LMHeadModel"]).to_dict().items() if k not in where}
    with torch.device("meta"):
        assert sum(p.numel() for p in build_model(config, None, torch.bfloat16).parameters()) == 124_439_808
        with pytest.raises(InputError, match="bert is not a causal LM"):
            build_model(BertConfig(architectures=["BertForMaskedLM"]), None, torch.bfloat16)


@pytest.mark.integration
def test_a_recipes_settings_reach_the_plan_and_the_unmodelled_ones_are_named(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """flash_attn, enable_liger_kernel, pure_bf16 and a ZeRO-1 config are planned as such; settings the plan does
    not model (packing, another optimizer, evaluation) are named in plan.json and plan.md; a plain recipe names
    none."""
    monkeypatch.setenv("LLM_RECIPES_CACHE", str(tmp_path / "cache"))
    zero1 = tmp_path / "ds_z1.json"
    zero1.write_text(json.dumps({"zero_optimization": {"stage": 1}}), encoding="utf-8")
    recipe = small_recipe(tmp_path, flash_attn="disabled", enable_liger_kernel=True, pure_bf16=True,
                          deepspeed=str(zero1), packing=True, optim="adafactor", eval_strategy="steps",
                          per_device_train_batch_size=1, cutoff_len=128)
    done = run_cli("plan", recipe, "--gpu", "l4", "--gpus", "2", "--out", tmp_path / "out")
    assert done.returncode == 0, done.stderr[-2000:]
    plan = json.loads((tmp_path / "out" / "plan.json").read_text(encoding="utf-8"))
    assert (plan["shape"]["attention"], plan["shape"]["fused_loss"]) == ("eager", True)
    assert (plan["setup"]["zero"], plan["setup"]["pure_bf16"]) == (1, True)
    params = 21_041_664
    # DeepSpeed keeps its fp32 copies: 2 bytes of weights, whole 16-bit gradients, 16 bytes over the 2 GPUs
    assert plan["memory"]["model_states_gib"] * 2**30 == pytest.approx(2 * params + 2 * params + 16 * params / 2)
    assert [line.split(":")[0] for line in plan["unmodelled"]] == ["packing", "optim", "eval_strategy",
                                                                    "enable_liger_kernel"]
    markdown = (tmp_path / "out" / "plan.md").read_text(encoding="utf-8")
    assert "**Not modelled** (settings of the recipe that change its memory or time, which this plan leaves " \
           "out): packing: rows packed into cutoff_len blocks change the steps' count; optim: optimizer states " \
           "are planned as AdamW's;" in markdown
    (tmp_path / "plain").mkdir()
    plain = small_recipe(tmp_path / "plain", per_device_train_batch_size=1, cutoff_len=128)
    done = run_cli("plan", plain, "--gpu", "l4", "--out", tmp_path / "plain-out")
    assert done.returncode == 0 and json.loads((tmp_path / "plain-out" / "plan.json").read_text(
        encoding="utf-8"))["unmodelled"] == []
    assert "Not modelled" not in (tmp_path / "plain-out" / "plan.md").read_text(encoding="utf-8")


def test_the_pure_bf16_plan_of_a_full_run_halves_the_model_states(tmp_path: Path) -> None:
    """Without DeepSpeed, pure_bf16 holds 8 bytes per parameter where mixed precision holds 16."""
    from recipekit.plan.planner import read_run
    from recipekit.recipes.reading import load_recipe

    runs = {pure: read_run(load_recipe(small_recipe(tmp_path, pure_bf16=pure)), 1, {})[0] for pure in (False, True)}
    sim = Simulation(params=1000, trainable=1000, largest_layer=100, quantizable=0)
    assert [sum(model_states(sim, runs[pure].setup).values()) for pure in (False, True)] == [16_000, 8_000]
    assert yaml.safe_load(Path(ROOT / "recipes" / "agnews_full.yaml").read_text(encoding="utf-8"))["flash_attn"] == \
        "fa2" and read_run(load_recipe(ROOT / "recipes" / "agnews_full.yaml"), 8, {})[0].shape.attention == "sdpa"
