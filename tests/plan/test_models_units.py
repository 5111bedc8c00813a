"""The architecture the planner reads: where a model's config.json is found (a local folder, the Hugging Face
cache, the shipped copies) and what a missing one is called; an encoder; the largest layer (DeepSpeed's own rule)
and the parameters bitsandbytes quantises."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from recipekit.errors import InputError
from recipekit.plan.models import config_path, largest_layer, quantizable


def test_the_config_is_looked_for_in_the_folder_then_the_shipped_copies(tmp_path: Path,
                                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "local").mkdir()
    (tmp_path / "local" / "config.json").write_text("{}", encoding="utf-8")
    assert config_path(str(tmp_path / "local")) == tmp_path / "local" / "config.json"
    assert config_path("gpt2").parts[-3:] == ("configs", "gpt2", "config.json")
    monkeypatch.chdir(tmp_path)
    (tmp_path / "empty").mkdir()
    (tmp_path / "gpt2").mkdir()  # a local folder of that name without a config is not the hub's model
    for model, why in (("empty", "no config.json in the local folder 'empty'"),
                       ("gpt2", "no config.json in the local folder 'gpt2'"),
                       (str(tmp_path / "gone"), f"no config.json for {str(tmp_path / 'gone')!r}: no such local folder"),
                       ("./gone", "no config.json for './gone': no such local folder"),
                       ("../gone", "no config.json for '../gone': no such local folder"),
                       ("~/gone", "no config.json for '~/gone': no such local folder"),
                       ("a/b/c", "no config.json for 'a/b/c': no such local folder"),
                       ("nobody/none", "no config.json for 'nobody/none': not a local folder, not in the Hugging Face "
                                       "cache, and not shipped as recipekit/plan/configs/nobody/none/config.json")):
        with pytest.raises(InputError) as raised:
            config_path(model)
        assert str(raised.value) == why


def test_an_encoder_is_an_architecture_transformers_gives_a_masked_lm_head() -> None:
    from transformers import AutoConfig

    from recipekit.plan.models import is_encoder, load_config

    assert is_encoder(load_config("google-bert/bert-base-uncased"))
    assert is_encoder(load_config("microsoft/deberta-v3-base"))
    assert not is_encoder(load_config("Qwen/Qwen2.5-0.5B"))
    assert not is_encoder(AutoConfig.for_model("llama"))


def test_a_hub_id_is_read_from_the_hugging_face_cache_before_the_shipped_copy(tmp_path: Path,
                                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    """The cache's layout as huggingface_hub writes it: models--OWNER--NAME/refs/main names the snapshot."""
    import huggingface_hub.constants

    for model in ("someone/cached", "Qwen/Qwen2.5-0.5B"):
        repo = tmp_path / "hub" / f"models--{model.replace('/', '--')}"
        (repo / "refs").mkdir(parents=True)
        (repo / "refs" / "main").write_text("abc123", encoding="utf-8")
        (repo / "snapshots" / "abc123").mkdir(parents=True)
        (repo / "snapshots" / "abc123" / "config.json").write_text("{}", encoding="utf-8")
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(tmp_path / "hub"))
    monkeypatch.chdir(tmp_path)
    for model in ("someone/cached", "Qwen/Qwen2.5-0.5B"):
        assert config_path(model) == tmp_path / "hub" / f"models--{model.replace('/', '--')}" / "snapshots" / \
            "abc123" / "config.json"
    (tmp_path / "someone" / "cached").mkdir(parents=True)
    (tmp_path / "someone" / "cached" / "config.json").write_text("{}", encoding="utf-8")
    assert config_path("someone/cached") == Path("someone/cached/config.json")  # a local folder first


class Nested(torch.nn.Module):
    """Linear layers at several depths, an output head deep inside (``outer.inner.score``) and at the top
    (``lm_head``), and a module holding a bare parameter larger than any one layer of the others."""

    def __init__(self) -> None:
        super().__init__()
        self.embed = torch.nn.Embedding(50, 8)  # 400: the largest one module holds itself
        self.proj = torch.nn.Linear(8, 16)  # 128 + 16
        self.outer = torch.nn.Module()
        self.outer.inner = torch.nn.Module()
        self.outer.inner.score = torch.nn.Linear(16, 3)  # a head: not quantised
        self.outer.inner.mlp = torch.nn.Linear(16, 16, bias=False)  # 256
        self.lm_head = torch.nn.Linear(16, 50, bias=False)  # a head: 800 in one module


def test_the_largest_layer_is_deepspeeds_and_the_quantised_parameters_leave_the_heads_out() -> None:
    from deepspeed.runtime.zero.stage3 import model_to_params

    model = Nested()
    assert largest_layer(model) == model_to_params(model)[1] == 800
    assert largest_layer(torch.nn.Linear(4, 2)) == 10
    assert quantizable(model) == 8 * 16 + 16 * 16  # proj and mlp weights; biases and both heads stay


def test_the_model_is_built_with_the_attention_the_run_asks_for() -> None:
    from transformers import AutoConfig

    from recipekit.plan.models import build_model

    config = AutoConfig.for_model("llama", vocab_size=64, hidden_size=16, intermediate_size=32, num_hidden_layers=1,
                                  num_attention_heads=2, num_key_value_heads=1)
    with torch.device("meta"):
        eager = build_model(config, None, torch.float32, "eager")
        default = build_model(config, None, torch.float32)
        classifier = build_model(config, 3, torch.bfloat16, "eager")
    assert eager.config._attn_implementation == "eager" and default.config._attn_implementation == "sdpa"
    assert classifier.config._attn_implementation == "eager" and classifier.score.out_features == 3
    assert classifier.score.weight.dtype == torch.bfloat16 and classifier.config.pad_token_id == 0
    assert config.num_labels == 2 and config.pad_token_id is None  # the caller's config as it was
    assert config.to_dict() == AutoConfig.for_model("llama", vocab_size=64, hidden_size=16, intermediate_size=32,
                                                    num_hidden_layers=1, num_attention_heads=2,
                                                    num_key_value_heads=1).to_dict()
