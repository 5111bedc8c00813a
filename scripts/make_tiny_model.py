"""Build a tiny, random-init Llama or Qwen2 model and a BPE tokenizer trained on given texts, offline.

The tokenizer is a byte-level BPE (`tokenizers`) with special tokens <unk> <s> </s> <pad>; the texts
are every string field of the given JSONL files (or the lines of plain-text files). Same texts and
seed give byte-identical files.

Example:
    python scripts/make_tiny_model.py --texts data/agnews.jsonl --out outputs/tiny_model
    python scripts/make_tiny_model.py --texts notes.txt --arch qwen2 --hidden 64 --layers 1 --out outputs/tiny_qwen
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from recipekit.cli import script_parser
from recipekit.errors import InputError, exit_on_input_error
from recipekit.tiny_tokenizer import iter_texts, train_tokenizer


def build_model(args: argparse.Namespace, tokenizer: object) -> object:
    """A random-init causal LM of the requested architecture and shape."""
    import torch
    from transformers import AutoModelForCausalLM, LlamaConfig, Qwen2Config

    config_class = {"llama": LlamaConfig, "qwen2": Qwen2Config}[args.arch]
    config = config_class(
        vocab_size=len(tokenizer), hidden_size=args.hidden, intermediate_size=args.intermediate,
        num_hidden_layers=args.layers, num_attention_heads=args.heads,
        num_key_value_heads=args.kv_heads or args.heads, max_position_embeddings=args.max_positions,
        tie_word_embeddings=args.tie_embeddings, bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
    )
    torch.manual_seed(args.seed)
    return AutoModelForCausalLM.from_config(config, dtype=torch.float32)


def build_parser() -> argparse.ArgumentParser:
    parser = script_parser(__doc__)
    parser.add_argument("--texts", nargs="+", required=True, help="JSONL or plain-text files to train the BPE on")
    parser.add_argument("--out", required=True, help="output folder (model + tokenizer)")
    parser.add_argument("--arch", choices=("llama", "qwen2"), default="llama")
    parser.add_argument("--vocab-size", type=int, default=4096)
    parser.add_argument("--hidden", type=int, default=128)
    parser.add_argument("--intermediate", type=int, default=352)
    parser.add_argument("--layers", type=int, default=2)
    parser.add_argument("--heads", type=int, default=4)
    parser.add_argument("--kv-heads", type=int, help="key/value heads (default: --heads)")
    parser.add_argument("--max-positions", type=int, default=512)
    parser.add_argument("--tie-embeddings", action="store_true",
                        help="share the input embeddings with the output head (untied by default: an untied "
                             "head lets a model trained from scratch leave its label-prior plateau much sooner)")
    parser.add_argument("--extra-special-tokens", nargs="*", default=[],
                        help="more special tokens, e.g. <|im_start|> <|im_end|> for chat templates")
    parser.add_argument("--seed", type=int, default=0)
    return parser


@exit_on_input_error
def main(argv: list[str] | None = None) -> Path:
    args = build_parser().parse_args(argv)
    texts = [text for text in iter_texts(args.texts) if text]
    if not texts:
        raise InputError("no text to train the tokenizer on", " ".join(args.texts))
    tokenizer = train_tokenizer(texts, args.vocab_size, args.extra_special_tokens)
    model = build_model(args, tokenizer)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    tokenizer.save_pretrained(out)
    model.save_pretrained(out)
    params = sum(p.numel() for p in model.parameters())
    settings = {key: value for key, value in vars(args).items() if key != "out"}  # no path: same bytes anywhere
    (out / "tiny_model.json").write_text(json.dumps({**settings, "parameters": params}, indent=2) + "\n")
    print(f"wrote {args.arch} model ({params / 1e6:.2f} M parameters, vocab {len(tokenizer)}) to {out}")
    return out


if __name__ == "__main__":
    main()
