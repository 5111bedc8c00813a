"""scripts/make_tiny_model.py: offline, deterministic, loadable."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest import agnews_rows, command_module, hub_records, run_script, write_jsonl

pytestmark = pytest.mark.integration  # trains tiny models or starts processes


@pytest.fixture(scope="module")
def texts(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_jsonl(tmp_path_factory.mktemp("texts") / "texts.jsonl", hub_records(agnews_rows(30)))


make_tiny_model = command_module("tiny-model")


def build(texts: Path, out: Path, *args: str) -> Path:
    """Run the script's main in this process (one torch import for all builds)."""
    return make_tiny_model.main(["--texts", str(texts), "--out", str(out), "--vocab-size", "400", "--hidden", "32",
                                 "--intermediate", "64", "--layers", "1", "--heads", "2", *args])


@pytest.mark.parametrize("arch", ["llama", "qwen2"])
def test_same_seed_gives_identical_files(texts: Path, tmp_path: Path, arch: str) -> None:
    first = build(texts, tmp_path / "a", "--arch", arch)
    second = build(texts, tmp_path / "b", "--arch", arch)
    names = sorted(p.name for p in first.iterdir())
    assert {"config.json", "model.safetensors", "tokenizer.json", "tokenizer_config.json"} <= set(names)
    for name in names:
        assert (first / name).read_bytes() == (second / name).read_bytes(), name
    other = build(texts, tmp_path / "c", "--arch", arch, "--seed", "1")
    assert (other / "model.safetensors").read_bytes() != (first / "model.safetensors").read_bytes()
    assert json.loads((first / "config.json").read_text())["model_type"] == arch


def test_model_loads_and_tokenizer_round_trips(texts: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from transformers import AutoModelForCausalLM, AutoTokenizer

    out = build(texts, tmp_path / "m", "--extra-special-tokens", "<|im_start|>", "<|im_end|>")
    said = capsys.readouterr().out.splitlines()  # what runs, said before the work starts
    assert said[0] == f"building a tiny llama model and its tokenizer in {out}..."
    assert said[-1].startswith("wrote llama")
    tokenizer = AutoTokenizer.from_pretrained(out)
    model = AutoModelForCausalLM.from_pretrained(out)
    text = "Story 3 about the market: shares rose."
    assert tokenizer.decode(tokenizer(text)["input_ids"]) == text
    assert tokenizer.eos_token == "</s>" and tokenizer.pad_token == "<pad>"
    assert len(tokenizer("<|im_end|>")["input_ids"]) == 1
    assert model.config.vocab_size == len(tokenizer) <= 400  # BPE stops early when the texts run out of merges
    assert sum(p.numel() for p in model.parameters()) == json.loads((out / "tiny_model.json").read_text())["parameters"]


def test_no_texts_is_an_error(tmp_path: Path) -> None:
    empty = tmp_path / "empty.txt"
    empty.write_text("\n", encoding="utf-8")
    result = run_script("scripts/make_tiny_model.py", "--texts", empty, "--out", tmp_path / "m")
    assert result.returncode == 2
    assert result.stderr.strip() == f"error: {empty}: no text to train the tokenizer on"


def test_help_shows_an_example() -> None:
    result = run_script("scripts/make_tiny_model.py", "--help")
    assert result.returncode == 0 and "llm-recipes tiny-model --texts" in result.stdout
