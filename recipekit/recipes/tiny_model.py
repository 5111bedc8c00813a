"""Tiny local models: a byte-level BPE tokenizer trained offline on the strings of JSONL or text files, and a
random-init Llama or Qwen2 (causal LM) or BERT or DeBERTa-v2 (encoder) of a given shape around it."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from recipekit.errors import InputError
from recipekit.files import read_jsonl

SPECIAL_TOKENS = ["<unk>", "<s>", "</s>", "<pad>"]
DECODERS = ("llama", "qwen2")
ENCODERS = ("bert", "deberta-v2")


def iter_texts(paths: list[str]) -> Iterator[str]:
    """Every string value of JSONL rows (nested lists/dicts included), or each line of a text file."""

    def strings(value: object) -> Iterator[str]:
        if isinstance(value, str):
            yield value
        elif isinstance(value, dict):
            for item in value.values():
                yield from strings(item)
        elif isinstance(value, list):
            for item in value:
                yield from strings(item)

    for path in paths:
        if path.endswith((".jsonl", ".json")):
            for _, row in read_jsonl(path):
                yield from strings(row)
        else:
            if not Path(path).is_file():
                raise InputError("no such file", path)
            yield from Path(path).read_text(encoding="utf-8").splitlines()


def train_tokenizer(texts: list[str], vocab_size: int, extra_special: list[str], encoder: bool = False) -> object:
    """Byte-level BPE trained on ``texts``, wrapped as a transformers fast tokenizer; an encoder's wraps each
    text (pair) as ``<s> A </s> B </s>`` with token type ids, as BERT's ``[CLS] A [SEP] B [SEP]``."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers
    from transformers import PreTrainedTokenizerFast

    tokenizer = Tokenizer(models.BPE(unk_token="<unk>"))
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tokenizer.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, special_tokens=SPECIAL_TOKENS + extra_special,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False)
    tokenizer.train_from_iterator(texts, trainer=trainer)
    if encoder:
        ids = {token: tokenizer.token_to_id(token) for token in ("<s>", "</s>")}
        tokenizer.post_processor = processors.TemplateProcessing(
            single="<s>:0 $A:0 </s>:0", pair="<s>:0 $A:0 </s>:0 $B:1 </s>:1", special_tokens=list(ids.items()))
        return PreTrainedTokenizerFast(tokenizer_object=tokenizer, bos_token="<s>", eos_token="</s>",
                                       unk_token="<unk>", pad_token="<pad>", cls_token="<s>", sep_token="</s>",
                                       additional_special_tokens=extra_special or None)
    return PreTrainedTokenizerFast(tokenizer_object=tokenizer, bos_token="<s>", eos_token="</s>",
                                   unk_token="<unk>", pad_token="<pad>",
                                   additional_special_tokens=extra_special or None)


@dataclass(frozen=True)
class TinyShape:
    """The architecture and size of a tiny model."""

    arch: str = "llama"  # llama | qwen2 (causal LM), bert | deberta-v2 (encoder, no head)
    hidden: int = 128
    intermediate: int = 352
    layers: int = 2
    heads: int = 4
    kv_heads: int | None = None
    max_positions: int = 512
    tie_embeddings: bool = False
    seed: int = 0


def build_model(shape: TinyShape, tokenizer: object) -> object:
    """A random-init model of ``shape`` whose vocabulary and special token ids are the tokenizer's: a causal LM,
    or an encoder without a head (as BERT and DeBERTa-v3 checkpoints come; a classifier adds its own)."""
    import torch
    from transformers import AutoModel, AutoModelForCausalLM, BertConfig, DebertaV2Config, LlamaConfig, Qwen2Config

    if shape.arch in ENCODERS:
        common = dict(vocab_size=len(tokenizer), hidden_size=shape.hidden, intermediate_size=shape.intermediate,
                      num_hidden_layers=shape.layers, num_attention_heads=shape.heads,
                      max_position_embeddings=shape.max_positions, pad_token_id=tokenizer.pad_token_id,
                      type_vocab_size=2)
        if shape.arch == "bert":
            config = BertConfig(**common)
        else:  # DeBERTa-v3's layout: relative positions, disentangled attention, no absolute position input
            config = DebertaV2Config(**common, relative_attention=True, position_buckets=64,
                                     pos_att_type=["p2c", "c2p"], position_biased_input=False,
                                     norm_rel_ebd="layer_norm", share_att_key=True, max_relative_positions=-1)
        torch.manual_seed(shape.seed)
        return AutoModel.from_config(config, dtype=torch.float32)

    config_class = {"llama": LlamaConfig, "qwen2": Qwen2Config}[shape.arch]
    config = config_class(
        vocab_size=len(tokenizer), hidden_size=shape.hidden, intermediate_size=shape.intermediate,
        num_hidden_layers=shape.layers, num_attention_heads=shape.heads,
        num_key_value_heads=shape.kv_heads or shape.heads, max_position_embeddings=shape.max_positions,
        tie_word_embeddings=shape.tie_embeddings, bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id, pad_token_id=tokenizer.pad_token_id,
    )
    torch.manual_seed(shape.seed)
    return AutoModelForCausalLM.from_config(config, dtype=torch.float32)


def save_tiny_model(text_paths: list[str], out: Path, shape: TinyShape, vocab_size: int,
                    extra_special: list[str], settings: dict[str, object]) -> str:
    """Train the tokenizer on ``text_paths``, build the model of ``shape`` around it and save both (with
    ``tiny_model.json``: ``settings`` and the parameter count) under ``out``; returns the line to print."""
    import json

    texts = [text for text in iter_texts(text_paths) if text]
    if not texts:
        raise InputError("no text to train the tokenizer on", " ".join(text_paths))
    tokenizer = train_tokenizer(texts, vocab_size, extra_special, shape.arch in ENCODERS)
    model = build_model(shape, tokenizer)
    out.mkdir(parents=True, exist_ok=True)
    tokenizer.save_pretrained(out)
    model.save_pretrained(out)
    params = sum(p.numel() for p in model.parameters())
    (out / "tiny_model.json").write_text(json.dumps({**settings, "parameters": params}, indent=2) + "\n")
    return f"wrote {shape.arch} model ({params / 1e6:.2f} M parameters, vocab {len(tokenizer)}) to {out}"
