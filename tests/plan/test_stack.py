"""A deep stack's step from three shallow ones, against the whole stack simulated: every count equal, in the
regimes where the peak moves (logits at the end of the forward, every layer's gradients at the bottom)."""

from __future__ import annotations

from dataclasses import asdict, replace

import pytest
from transformers import AutoConfig

from recipekit.plan.simulate import Shape, Simulation, run_step, stacked
from recipekit.plan.stack import extrapolate, stackable

pytestmark = pytest.mark.integration  # about a minute of fake steps

LLAMA = {"model_type": "llama", "architectures": ["LlamaForCausalLM"], "vocab_size": 2048, "hidden_size": 128,
         "intermediate_size": 384, "num_hidden_layers": 8, "num_attention_heads": 4, "num_key_value_heads": 2,
         "max_position_embeddings": 2048, "tie_word_embeddings": False}
BERT = {"model_type": "bert", "architectures": ["BertForMaskedLM"], "vocab_size": 3000, "hidden_size": 64,
        "intermediate_size": 128, "num_hidden_layers": 8, "num_attention_heads": 4}


@pytest.fixture(autouse=True)
def shallow_stacks(monkeypatch: pytest.MonkeyPatch) -> None:
    """Stacks of 8 layers are extended here (shipped models: more than 15) to keep the whole steps quick."""
    monkeypatch.setattr("recipekit.plan.stack.DEEPEST_SAMPLED", 7)


def config(values: dict) -> object:
    values = dict(values)
    return AutoConfig.for_model(values.pop("model_type"), **values)


@pytest.mark.parametrize(("values", "shape"), [
    (LLAMA, Shape(1, 128)),
    ({**LLAMA, "model_type": "qwen3", "architectures": ["Qwen3ForCausalLM"], "head_dim": 32},
     Shape(1, 64, "lora", lora_rank=4, dpo=True)),
    (BERT, Shape(4, 64, "lora", head_labels=5, gradient_checkpointing=False)),
], ids=["full", "qwen3-dpo-lora", "bert-classifier-lora-no-gc"])
def test_the_stacked_step_equals_the_whole_one(values: dict, shape: Shape) -> None:
    found = stacked(config(values), shape)
    whole = run_step(config(values), shape)
    assert found is not None
    for name in ("params", "trainable", "quantizable", "largest_layer", "flops", "peak", "kernels"):
        assert getattr(found, name) == getattr(whole, name), name
    if shape.method == "full":  # the case the bottom phase is for: the logits' backward is the peak at 5 layers,
        shallow = run_step(config({**values, "num_hidden_layers": 5}), shape)  # every gradient at 8
        assert max(shallow.phases, key=lambda p: shallow.phases[p]["Total"]) == "backward"
        assert max(whole.phases, key=lambda p: whole.phases[p]["Total"]) == "bottom"


def test_only_uniform_deep_stacks_are_extended() -> None:
    assert stackable(config(LLAMA)) and stackable(config(BERT))
    assert not stackable(config({**LLAMA, "num_hidden_layers": 7}))
    assert not stackable(config({**LLAMA, "model_type": "mixtral", "architectures": ["MixtralForCausalLM"]}))


def line(depth: int, total: int, per_layer: int, trainable: int = 10) -> Simulation:
    """A sample whose counts grow by hand-chosen amounts per layer."""
    kinds = {"PARAM": 100 * depth, "GRAD": 0, "ACT": 7 * depth, "Total": total}
    return Simulation(params=50 * depth, trainable=trainable * depth, largest_layer=9, quantizable=40 * depth,
                      peak=kinds, flops=1000 + 300 * depth, kernels=[[5, 6, 2 * depth + 1]],
                      phases={"forward": {**kinds, "Total": total - 1}, "backward": kinds})


def test_a_line_is_extended_and_a_bend_or_a_shallow_peak_is_refused() -> None:
    samples = [line(d, 1000 + 130 * d, 130) for d in (3, 4, 5)]
    deep = extrapolate(samples, 32, grad_bytes=2)
    assert deep is not None
    assert (deep.params, deep.trainable, deep.quantizable, deep.flops) == (1600, 320, 1280, 1000 + 300 * 32)
    assert deep.peak["Total"] == 1000 + 130 * 32 and deep.kernels == [[5, 6, 65]]
    bent = [*samples[:2], replace(samples[2], flops=samples[2].flops + 1)]
    assert extrapolate(bent, 32, grad_bytes=2) is None
    # a peak growing 130 a layer where a layer's parameters and gradients alone are 100 + 2 x 20 = 140
    assert extrapolate([line(d, 1000 + 130 * d, 130, trainable=20) for d in (3, 4, 5)], 32, grad_bytes=2) is None
    assert asdict(samples[0])["phases"]  # the samples keep their phases; the extended step does not claim them
    assert deep.phases == {}
