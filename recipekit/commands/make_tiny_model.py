"""Build a tiny, random-init Llama/Qwen2 causal LM or BERT/DeBERTa-v2 encoder and a BPE tokenizer, offline.

The tokenizer is a byte-level BPE (`tokenizers`) with special tokens <unk> <s> </s> <pad>; the texts
are every string field of the given JSONL files (or the lines of plain-text files). Same texts and
seed give byte-identical files.

Example:
    llm-recipes tiny-model --texts data/agnews.jsonl --out outputs/tiny_model
    llm-recipes tiny-model --texts notes.txt --arch qwen2 --hidden 64 --layers 1 --out outputs/tiny_qwen
    llm-recipes tiny-model --texts data/afqmc.jsonl --arch bert --out outputs/tiny_bert
"""

from __future__ import annotations

import argparse
from pathlib import Path

from recipekit.cli import at_least, script_parser
from recipekit.errors import exit_on_input_error
from recipekit.files import announce
from recipekit.progress import working
from recipekit.recipes.tiny_model import DECODERS, ENCODERS, TinyShape, save_tiny_model


# pragma: no mutate start
def build_parser() -> argparse.ArgumentParser:
    parser = script_parser(__doc__)
    parser.add_argument("--texts", nargs="+", required=True, help="JSONL or plain-text files to train the BPE on")
    parser.add_argument("--out", required=True, help="output folder (model + tokenizer)")
    parser.add_argument("--arch", choices=DECODERS + ENCODERS, default="llama",
                        help="llama/qwen2: causal LM; bert/deberta-v2: encoder (for classifier recipes)")
    parser.add_argument("--vocab-size", type=at_least(64), default=4096)
    parser.add_argument("--hidden", type=at_least(1), default=128)
    parser.add_argument("--intermediate", type=at_least(1), default=352)
    parser.add_argument("--layers", type=at_least(1), default=2)
    parser.add_argument("--heads", type=at_least(1), default=4)
    parser.add_argument("--kv-heads", type=at_least(1), help="key/value heads (default: --heads)")
    parser.add_argument("--max-positions", type=at_least(1), default=512)
    parser.add_argument("--tie-embeddings", action="store_true",
                        help="share the input embeddings with the output head (untied by default: an untied "
                             "head lets a model trained from scratch leave its label-prior plateau much sooner)")
    parser.add_argument("--extra-special-tokens", nargs="*", default=[],
                        help="more special tokens, e.g. <|im_start|> <|im_end|> for chat templates")
    parser.add_argument("--seed", type=at_least(0), default=0)
    return parser


# pragma: no mutate end
@exit_on_input_error
def main(argv: list[str] | None = None) -> Path:
    args = build_parser().parse_args(argv)
    shape = TinyShape(args.arch, args.hidden, args.intermediate, args.layers, args.heads, args.kv_heads,
                      args.max_positions, args.tie_embeddings, args.seed)
    out = Path(args.out)
    settings = {key: value for key, value in vars(args).items() if key != "out"}  # no path: same bytes anywhere
    with working(f"building a tiny {args.arch} model and its tokenizer in {out}"):
        said = save_tiny_model(args.texts, out, shape, args.vocab_size, args.extra_special_tokens, settings)
    announce(said)
    return out


if __name__ == "__main__":
    main()
