"""A stand-in architecture for the fitting search: a tiny Llama config whose simulated steps are written by hand
(round parameter counts, activations and FLOPs per row), so the search and the planner run without a fake-tensor
step."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from recipekit.plan.simulate import Shape, Simulation

TINY = {"architectures": ["LlamaForCausalLM"], "model_type": "llama", "vocab_size": 256, "hidden_size": 64,
        "intermediate_size": 128, "num_hidden_layers": 2, "num_attention_heads": 4, "num_key_value_heads": 2,
        "max_position_embeddings": 256, "tie_word_embeddings": False}
SEQ = 64
P, T, LARGEST, Q = 1_000_000_000, 2_000_000, 50_000_000, 600_000_000  # parameters, LoRA's, largest layer, 4-bit
ROW_ACTIVATIONS = {False: 2_000_000_000, True: 400_000_000}  # bytes per row: without / with checkpointing
ROW_FLOPS = {("full", False): 6e14, ("full", True): 8e14, ("lora", False): 4e14, ("lora", True): 5e14}


def simulation(shape: Shape) -> Simulation:
    """A step of ``shape`` as this architecture takes it (a DPO step holds and computes twice the rows), every
    operation on the compute roof."""
    rows = shape.batch * (2 if shape.dpo else 1)
    flops = int(rows * ROW_FLOPS[(shape.method, shape.gradient_checkpointing)])
    return Simulation(params=P, trainable=P if shape.method == "full" else T, largest_layer=LARGEST, quantizable=Q,
                      peak={"ACT": rows * ROW_ACTIVATIONS[shape.gradient_checkpointing]}, flops=flops,
                      kernels=[[flops, 0, 1]])


def tiny_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The architecture's folder (its config.json) under ``tmp_path``, the plan cache there too."""
    folder = tmp_path / "tiny"
    folder.mkdir()
    (folder / "config.json").write_text(json.dumps(TINY), encoding="utf-8")
    monkeypatch.setenv("LLM_RECIPES_CACHE", str(tmp_path / "cache"))
    return folder
