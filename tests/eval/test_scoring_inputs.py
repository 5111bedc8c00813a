"""Label scoring's inputs: a local file's registry entry, the raw rows kept beside LLaMA-Factory's, every
example's summed label log-probabilities and the output rows written from them."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
from conftest import write_jsonl

from recipekit.errors import InputError
from recipekit.eval.label_scoring import Candidates
from recipekit.eval.scoring_inputs import (
    DATA_NAME,
    Example,
    Loaded,
    ScoringSource,
    entry_for_file,
    result_rows,
    score_examples,
    source_rows,
)


def test_a_files_entry_by_its_first_row(tmp_path: Path) -> None:
    messages = write_jsonl(tmp_path / "m.jsonl", [{"messages": []}, {"instruction": "x"}])
    assert entry_for_file(messages) == {
        "formatting": "sharegpt", "columns": {"messages": "messages"},
        "tags": {"role_tag": "role", "content_tag": "content", "user_tag": "user", "assistant_tag": "assistant",
                 "system_tag": "system"}}
    conversations = write_jsonl(tmp_path / "c.jsonl", [{"conversations": [], "messages": None}])
    assert entry_for_file(conversations)["columns"] == {"messages": "messages"}  # 'messages' is looked at first
    conversations = write_jsonl(tmp_path / "c2.jsonl", [{"conversations": []}])
    assert entry_for_file(conversations) == {"formatting": "sharegpt", "columns": {"messages": "conversations"}}
    alpaca = tmp_path / "a.jsonl"
    alpaca.write_text("\n\n" + json.dumps({"instruction": "i", "messages": 1}).replace("messages", "x") + "\n", "utf-8")
    assert entry_for_file(alpaca) == {"formatting": "alpaca",
                                      "columns": {"prompt": "instruction", "query": "input", "response": "output"}}
    empty = tmp_path / "e.jsonl"
    empty.write_text("\n \n", encoding="utf-8")
    with pytest.raises(InputError) as caught:
        entry_for_file(empty)
    assert str(caught.value) == f"{empty}: empty file: no rows"


def registry(folder: Path, entries: dict) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "dataset_info.json").write_text(json.dumps(entries), encoding="utf-8")
    return folder


def test_the_raw_rows_only_when_they_pair_with_llamafactorys(tmp_path: Path) -> None:
    rows = [{"instruction": "a", "id": 1}, {"instruction": "b", "id": 2}]
    write_jsonl(tmp_path / "s.jsonl", rows)
    write_jsonl(tmp_path / "s.json", rows)  # JSON lines under a .json name: read too
    write_jsonl(tmp_path / "s.txt", rows)
    (tmp_path / "array.json").write_text(json.dumps(rows), encoding="utf-8")
    (tmp_path / "shards.jsonl").mkdir()  # a folder of files: LLaMA-Factory reads it, no raw rows kept
    data = registry(tmp_path, {"s": {"file_name": "s.jsonl"}, "j": {"file_name": "s.json"},
                               "t": {"file_name": "s.txt"}, "arr": {"file_name": "array.json"},
                               "sampled": {"file_name": "s.jsonl", "num_samples": 1},
                               "sampled0": {"file_name": "s.jsonl", "num_samples": 0},
                               "hub": {"hf_hub_url": "org/x"}, "gone": {"file_name": "nowhere.jsonl"},
                               "folder": {"file_name": "shards.jsonl"}})
    assert source_rows(data, "s") == rows
    assert source_rows(data, "j") == rows
    assert source_rows(data, "sampled0") == rows  # num_samples 0: not sampled
    for name in ("t", "arr", "sampled", "hub", "gone", "folder", "unregistered"):
        assert source_rows(data, name) is None, name
    assert source_rows(tmp_path / "no_registry", "s") is None


def test_the_scoring_source_defaults() -> None:
    source = ScoringSource(model="m", template="t", dataset_dir="d")
    assert (source.dataset, source.data, source.adapter, source.cutoff_len, source.batch_size, source.max_samples,
            source.quantization_bit, source.keep) == (None, None, None, None, None, None, None, "id,fold,swapped")
    assert DATA_NAME == "score_labels_input"


@pytest.fixture(scope="module")
def tiny() -> tuple:
    """A byte-level BPE tokenizer and a random 2-layer Llama over its vocabulary."""
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    from recipekit.recipes.tiny_model import train_tokenizer

    tokenizer = train_tokenizer(["the cat sat on the mat", "a dog ran far away"] * 4, 300, [])
    torch.manual_seed(0)
    config = LlamaConfig(vocab_size=len(tokenizer), hidden_size=16, intermediate_size=32, num_hidden_layers=2,
                         num_attention_heads=2, num_key_value_heads=2, max_position_embeddings=64,
                         pad_token_id=tokenizer.pad_token_id)
    return tokenizer, LlamaForCausalLM(config).eval()


def by_hand(model, prompt: list[int], candidate: list[int]) -> float:
    """Sum of log p(candidate tokens | prompt, the candidate's earlier tokens): one unpadded forward pass."""
    import torch

    with torch.no_grad():
        logits = model(torch.tensor([prompt + candidate])).logits[0]
    logp = torch.log_softmax(logits.double(), dim=-1)
    return float(sum(logp[len(prompt) - 1 + i, token] for i, token in enumerate(candidate)))


def test_every_example_is_scored_against_every_label_in_input_order(tiny: tuple) -> None:
    tokenizer, model = tiny
    prompts = [tokenizer("the cat")["input_ids"], tokenizer("a dog ran far away on the mat")["input_ids"],
               tokenizer("sat")["input_ids"]]
    candidates = Candidates(["cat", "dog"], [tokenizer(" cat")["input_ids"], tokenizer(" dog ran")["input_ids"]],
                            [], False)
    examples = [Example(p, "cat", {}) for p in prompts]
    loaded = Loaded(model, tokenizer, None, examples, Counter(), "rows.jsonl", 2)
    scores = score_examples(loaded, candidates, progress=False)
    expected = [[by_hand(model, p, c) for c in candidates.token_ids] for p in prompts]
    assert scores.shape == (3, 2)
    assert np.allclose(scores, expected, atol=1e-4)


def test_output_rows_decode_the_prompt_and_pick_the_likeliest_label(tiny: tuple) -> None:
    tokenizer, _ = tiny
    ids = [tokenizer("the cat")["input_ids"], tokenizer("a dog")["input_ids"] + [tokenizer.eos_token_id]]
    examples = [Example(ids[0], "yes", {"id": 7, "fold": 1}), Example(ids[1], "no", {})]
    loaded = Loaded(None, tokenizer, None, examples, Counter(), "rows.jsonl", 1)
    logprobs = np.array([[-1.0, -3.0, -2.0], [-5.0, -0.5, -0.5]])
    rows = result_rows(loaded, ["yes", "no", "maybe"], logprobs)
    first = np.exp([-1.0, -3.0, -2.0]) / np.exp([-1.0, -3.0, -2.0]).sum()
    assert rows[0]["prompt"] == "the cat" and rows[1]["prompt"] == "a dog</s>"  # special tokens kept
    assert [row["predict"] for row in rows] == ["yes", "no"]  # a tie goes to the earlier label
    assert [row["label"] for row in rows] == ["yes", "no"]
    assert list(rows[0]["probs"]) == ["yes", "no", "maybe"]
    assert rows[0]["probs"] == pytest.approx(dict(zip(["yes", "no", "maybe"], first, strict=True)))
    assert rows[1]["probs"]["no"] == pytest.approx(rows[1]["probs"]["maybe"])
    assert rows[0]["logprobs"] == {"yes": -1.0, "no": -3.0, "maybe": -2.0}
    assert all(type(v) is float for row in rows for v in [*row["probs"].values(), *row["logprobs"].values()])
    assert (rows[0]["id"], rows[0]["fold"]) == (7, 1) and set(rows[1]) == {"prompt", "predict", "label", "probs",
                                                                          "logprobs"}
    with pytest.raises(ValueError):
        result_rows(loaded, ["yes", "no", "maybe"], logprobs[:1])  # a row short: not silently cut


def test_scoring_shows_a_bar_of_batches_only_when_asked(tiny: tuple, capsys: pytest.CaptureFixture[str]) -> None:
    tokenizer, model = tiny
    examples = [Example(tokenizer(text)["input_ids"], "cat", {}) for text in ("the cat", "a dog", "sat", "far")]
    loaded = Loaded(model, tokenizer, None, examples, Counter(), "rows.jsonl", 3)
    candidates = Candidates(["cat", "dog"], [tokenizer(" cat")["input_ids"], tokenizer(" dog")["input_ids"]], [],
                            False)
    score_examples(loaded, candidates, progress=False)
    assert capsys.readouterr().err == ""
    score_examples(loaded, candidates, progress=True)
    bar = capsys.readouterr().err.replace("\r", "\n").strip().splitlines()[-1]
    assert bar.startswith("scoring labels: 100%|") and " 2/2 [" in bar and "batch/s]" in bar  # 4 rows, 3 a batch
