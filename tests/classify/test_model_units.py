"""The classifier's model on tiny local checkpoints: the tokenizer's pad token, the head sized to the labels,
LoRA on every linear layer with the head and new modules trained whole (counted from the model's own layers),
a trained adapter loaded back, and each refusal as one line naming the model."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch

from recipekit.classify.model import (
    load_model,
    load_tokenizer,
    new_modules,
    quantization_config,
    trainable_parameters,
    with_lora,
)
from recipekit.errors import InputError
from recipekit.recipes.classifier import ClassifierArguments
from recipekit.recipes.tiny_model import TinyShape, save_tiny_model

LABELS = ["neg", "neu", "pos"]


@pytest.fixture(scope="module")
def models(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("classifier_models")
    text = folder / "text.txt"
    text.write_text("\n".join(f"a short review number {i} of a film" for i in range(40)), encoding="utf-8")
    out = {}
    for arch in ("bert", "llama", "deberta-v2"):
        shape = TinyShape(arch, hidden=16, intermediate=24, layers=1, heads=2, max_positions=64)
        save_tiny_model([str(text)], folder / arch, shape, 300, [], {})
        out[arch] = folder / arch
    return out


def args(path: Path, **values: object) -> ClassifierArguments:
    return ClassifierArguments(model_name_or_path=str(path), **values)


def training(**values: object) -> SimpleNamespace:
    return SimpleNamespace(**{"bf16": False, "fp16": False, "do_train": True, "gradient_checkpointing": False,
                              **values})


def test_a_tokenizer_without_a_pad_token_pads_with_its_end_of_text_token(models: dict[str, Path],
                                                                      tmp_path: Path) -> None:
    from transformers import AutoTokenizer

    own = AutoTokenizer.from_pretrained(models["llama"])
    assert load_tokenizer(args(models["llama"])).pad_token == own.pad_token == "<pad>"
    own.pad_token = None
    own.save_pretrained(tmp_path / "no_pad")
    assert load_tokenizer(args(tmp_path / "no_pad")).pad_token == own.eos_token == "</s>"
    own.eos_token = None
    own.save_pretrained(tmp_path / "neither")
    with pytest.raises(InputError) as raised:
        load_tokenizer(args(tmp_path / "neither"))
    assert str(raised.value) == f"{tmp_path / 'neither'}: the tokenizer has neither a pad nor an end-of-text token"


def test_new_modules_are_the_parents_of_the_missing_parameters() -> None:
    assert new_modules(["score.weight", "pooler.dense.weight", "pooler.dense.bias", "classifier.bias", "bias"]) == [
        "classifier", "pooler.dense", "score"]
    assert new_modules([]) == []


@pytest.mark.skipif(torch.cuda.is_available(), reason="the refusal is for a machine without a CUDA GPU")
def test_four_bits_without_a_gpu_is_one_line() -> None:
    with pytest.raises(InputError) as raised:
        quantization_config(args(Path("m"), finetuning_type="lora", quantization_bit=4), torch.bfloat16)
    assert str(raised.value) == ("m: quantization_bit 4 needs bitsandbytes and a CUDA GPU; drop it to train LoRA in "
                                 "full precision")


def linear_shapes(model: torch.nn.Module, leave_out: str) -> list[tuple[int, int]]:
    return [(m.in_features, m.out_features) for name, m in model.named_modules()
            if isinstance(m, torch.nn.Linear) and not name.startswith(leave_out)]


@pytest.mark.parametrize(("arch", "head"), [("bert", "classifier"), ("llama", "score")])
def test_the_full_model_has_a_head_sized_to_the_labels_and_trains_every_weight(models: dict[str, Path], arch: str,
                                                                               head: str) -> None:
    tokenizer = load_tokenizer(args(models[arch]))
    model = load_model(args(models[arch]), LABELS, tokenizer, training())
    assert model.config.id2label == dict(enumerate(LABELS))
    assert model.config.label2id == {"neg": 0, "neu": 1, "pos": 2}
    assert model.config.pad_token_id == tokenizer.pad_token_id
    assert getattr(model, head).weight.shape == (3, 16)
    total = sum(p.numel() for p in model.parameters())
    assert trainable_parameters(model) == (total, total)


@pytest.mark.parametrize("arch", ["bert", "llama"])
def test_lora_adapts_every_linear_layer_and_trains_the_head_whole(models: dict[str, Path], arch: str) -> None:
    tokenizer = load_tokenizer(args(models[arch]))
    recipe = args(models[arch], finetuning_type="lora", lora_rank=4)
    model = load_model(recipe, LABELS, tokenizer, training())
    base = model.get_base_model()
    head_name = "classifier" if arch == "bert" else "score"
    head = getattr(base, head_name).modules_to_save["default"]
    head_params = sum(p.numel() for p in head.parameters())
    plain = load_model(args(models[arch]), LABELS, tokenizer, training())
    adapted = sum(4 * (fan_in + fan_out) for fan_in, fan_out in linear_shapes(plain, head_name))
    trainable, total = trainable_parameters(model)
    assert trainable == adapted + head_params
    assert total == sum(p.numel() for p in plain.parameters()) + adapted + head_params  # the head's trained copy
    assert model.peft_config["default"].lora_alpha == 8  # twice the rank: the recipe names none
    tuned = with_lora(load_model(args(models[arch]), LABELS, tokenizer, training()),
                      args(models[arch], finetuning_type="lora", lora_rank=2, lora_alpha=32, lora_dropout=0.25), [])
    assert (tuned.peft_config["default"].r, tuned.peft_config["default"].lora_alpha,
            tuned.peft_config["default"].lora_dropout) == (2, 32, 0.25)


def test_a_gradient_checkpointed_lora_model_gets_inputs_that_require_grad(models: dict[str, Path]) -> None:
    tokenizer = load_tokenizer(args(models["bert"]))
    recipe = args(models["bert"], finetuning_type="lora")
    ids = torch.tensor([[1, 5, 7]])
    for checkpointed in (False, True):
        model = load_model(recipe, LABELS, tokenizer, training(gradient_checkpointing=checkpointed))
        assert model.get_input_embeddings()(ids).requires_grad is checkpointed


def test_a_trained_adapter_loads_back_trainable_only_for_training(models: dict[str, Path], tmp_path: Path) -> None:
    tokenizer = load_tokenizer(args(models["bert"]))
    model = load_model(args(models["bert"], finetuning_type="lora"), LABELS, tokenizer, training())
    with torch.no_grad():
        for name, param in model.named_parameters():
            if "lora_B" in name:
                param.fill_(0.25)
    model.save_pretrained(tmp_path / "adapter")
    for do_train in (True, False):
        again = load_model(args(models["bert"], adapter_name_or_path=str(tmp_path / "adapter")), LABELS, tokenizer,
                           training(do_train=do_train))
        values = [p for name, p in again.named_parameters() if "lora_B" in name]
        assert values and all(bool((p == 0.25).all()) for p in values)
        assert all(p.requires_grad is do_train for p in values)


def test_a_model_that_cannot_load_and_a_target_it_lacks_are_one_line(models: dict[str, Path],
                                                                      tmp_path: Path) -> None:
    tokenizer = load_tokenizer(args(models["bert"]))
    with pytest.raises(InputError) as raised:
        load_model(args(tmp_path / "missing"), LABELS, tokenizer, training())
    assert str(raised.value).startswith(f"{tmp_path / 'missing'}: cannot load a sequence classifier: OSError: ")
    assert "\n" not in str(raised.value)
    (tmp_path / "empty").mkdir()
    with pytest.raises(InputError) as raised:
        load_model(args(tmp_path / "empty"), LABELS, tokenizer, training())
    message = str(raised.value)
    assert message.startswith(f"{tmp_path / 'empty'}: cannot load a sequence classifier: ValueError: ")
    assert "config.json" in message and "\n" not in message  # transformers' own first line names what is missing
    plain = load_model(args(models["bert"]), LABELS, tokenizer, training())
    with pytest.raises(InputError) as raised:
        with_lora(plain, args(models["bert"], finetuning_type="lora", lora_target="nope"), [])
    assert str(raised.value).startswith(f"{models['bert']}: lora_target 'nope': No modules were targeted")
    assert "\n" not in str(raised.value)


def test_modules_the_checkpoint_lacked_are_trained_whole_beside_the_head(models: dict[str, Path]) -> None:
    tokenizer = load_tokenizer(args(models["bert"]))
    plain = load_model(args(models["bert"]), LABELS, tokenizer, training())
    model = with_lora(plain, args(models["bert"], finetuning_type="lora"), ["bert.pooler.dense"])
    assert set(model.peft_config["default"].modules_to_save) == {"bert.pooler.dense", "classifier", "score"}
    assert "dense" in model.peft_config["default"].target_modules
    trainable = {name for name, p in model.named_parameters() if p.requires_grad and "lora_" not in name}
    assert trainable == {"base_model.model.bert.pooler.dense.modules_to_save.default.weight",
                         "base_model.model.bert.pooler.dense.modules_to_save.default.bias",
                         "base_model.model.classifier.modules_to_save.default.weight",
                         "base_model.model.classifier.modules_to_save.default.bias"}


def test_a_decoder_without_a_pad_token_classifies_a_padded_batch_with_its_end_of_text_token(
        models: dict[str, Path], tmp_path: Path) -> None:
    """A base decoder (as Llama 3's or Qwen's) ships no pad token: its classifier reads the last real token of each
    row, which needs the pad id in its config; a batch of two rows of different lengths is classified."""
    import json
    import shutil

    from transformers import AutoTokenizer

    folder = shutil.copytree(models["llama"], tmp_path / "no_pad")
    config = json.loads((folder / "config.json").read_text(encoding="utf-8"))
    config.pop("pad_token_id", None)
    (folder / "config.json").write_text(json.dumps(config), encoding="utf-8")
    own = AutoTokenizer.from_pretrained(folder)
    own.pad_token = None
    own.save_pretrained(folder)
    tokenizer = load_tokenizer(args(folder))
    model = load_model(args(folder), LABELS, tokenizer, training())
    assert model.config.pad_token_id == tokenizer.eos_token_id == tokenizer.pad_token_id
    batch = tokenizer(["a short review", "a short review number 3 of a film"], padding=True, return_tensors="pt")
    assert model(**batch).logits.shape == (2, 3)


def test_four_bits_need_both_a_cuda_gpu_and_bitsandbytes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The two things a 4-bit load needs, each missing in turn (the GPU's presence as torch reports it; a stand-in
    bitsandbytes package on the path where the real one is not installed): the settings when both are there."""
    recipe = args(Path("m"), finetuning_type="lora", quantization_bit=4, quantization_type="nf4",
                  double_quantization=True)  # both unlike BitsAndBytesConfig's defaults (fp4, no double)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    if importlib.util.find_spec("bitsandbytes") is None:
        with pytest.raises(InputError, match="needs bitsandbytes and a CUDA GPU"):
            quantization_config(recipe, torch.bfloat16)
        (tmp_path / "bitsandbytes").mkdir()
        (tmp_path / "bitsandbytes" / "__init__.py").write_text("", encoding="utf-8")
        monkeypatch.syspath_prepend(str(tmp_path))
    config = quantization_config(recipe, torch.float16)
    assert config.load_in_4bit and not config.load_in_8bit
    assert (config.bnb_4bit_quant_type, config.bnb_4bit_use_double_quant) == ("nf4", True)
    assert config.bnb_4bit_compute_dtype == torch.float16
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(InputError, match="needs bitsandbytes and a CUDA GPU"):
        quantization_config(recipe, torch.float16)


def test_a_head_part_the_checkpoint_lacks_is_trained_whole_beside_the_head(models: dict[str, Path]) -> None:
    """DeBERTa-v3 checkpoints come without the classifier's pooler: LoRA alone would leave it random and frozen."""
    tokenizer = load_tokenizer(args(models["deberta-v2"]))
    model = load_model(args(models["deberta-v2"], finetuning_type="lora"), LABELS, tokenizer, training())
    assert "pooler.dense" in model.peft_config["default"].modules_to_save
    whole = {name for name, p in model.named_parameters() if p.requires_grad and "lora_" not in name}
    assert {"base_model.model.pooler.dense.modules_to_save.default.weight",
            "base_model.model.classifier.modules_to_save.default.weight"} <= whole
    plain = load_model(args(models["bert"], finetuning_type="lora"), LABELS, load_tokenizer(args(models["bert"])),
                       training())
    assert "pooler.dense" not in plain.peft_config["default"].modules_to_save  # BERT's checkpoint has its pooler
