"""A deep stack's step from three shallow ones, against the whole stack simulated: every count equal, in the
regimes where the peak moves (logits at the end of the forward, every layer's gradients at the bottom)."""

from __future__ import annotations

import pytest
from transformers import AutoConfig

from recipekit.plan.simulate import Shape, run_step, stacked

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
