"""eval/score_labels.py: the shared-prompt scoring against re-encoding, label tokens, the CLI, and (slow)
agreement with LLaMA-Factory's greedy generation on a model trained here to answer one-token labels."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import agnews_rows, ascii_locale, command_module, run_cli, run_script, write_jsonl
from scipy.special import softmax

from recipekit.errors import InputError
from recipekit.eval.label_scoring import label_candidates, score_batch
from recipekit.eval.labels import LabelMatcher
from recipekit.eval.scoring_inputs import Loaded, ScoringSource, load_for_scoring

TOPICS = {"1": "World", "2": "Sports", "3": "Business", "4": "Tech"}
INSTRUCTION = "Classify the news topic: World, Sports, Business or Tech."


score_labels = command_module("score")


def topic_rows(per_class: int, prefix: str) -> list[dict[str, object]]:
    """Alpaca rows whose answer is one word (one token of the tiny tokenizer), with ids."""
    return [{"id": f"{prefix}-{i}", "instruction": INSTRUCTION, "input": f"{title}. {text}", "output": TOPICS[label]}
            for i, (label, title, text) in enumerate(agnews_rows(per_class, prefix))]


@pytest.fixture(scope="module")
def topics(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """A registered train/val pair with one-word answers and a tiny model whose tokenizer was trained on it."""
    tmp = tmp_path_factory.mktemp("topics")
    data = tmp / "data"
    write_jsonl(data / "topics.jsonl", topic_rows(40, "Story"))
    write_jsonl(data / "topics_val.jsonl", topic_rows(8, "Held"))
    entry = {"formatting": "alpaca", "columns": {"prompt": "instruction", "query": "input", "response": "output"}}
    (data / "dataset_info.json").write_text(json.dumps({
        "topics": {"file_name": "topics.jsonl", **entry}, "topics_val": {"file_name": "topics_val.jsonl", **entry}}))
    make_tiny_model = command_module("tiny-model")
    model = make_tiny_model.main(["--texts", str(data / "topics.jsonl"), "--out", str(tmp / "tiny_model"),
                                  "--vocab-size", "400", "--hidden", "64", "--intermediate", "128", "--layers", "2"])
    return {"tmp": tmp, "data": data, "model": model}


def template_and_tokenizer(model: Path, template_name: str = "default") -> tuple[object, object]:
    from llamafactory.data import get_template_and_fix_tokenizer
    from llamafactory.hparams import DataArguments
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(model)
    return get_template_and_fix_tokenizer(tokenizer, DataArguments(template=template_name)), tokenizer


@pytest.mark.parametrize(("arch", "candidates"), [
    ("llama", [[11], [12, 13, 14], [12, 15], [40, 41, 42, 43, 44]]),  # shared first token, different lengths
    ("qwen2", [[11], [12, 13, 14], [12, 15], [40, 41, 42, 43, 44]]),  # saved with use_cache: false (as after training)
    ("llama", [[7, 8, 9, 11], [7, 8, 9, 12, 13], [7, 8, 9, 14]]),  # a prefix all share (an empty thought, say)
])
def test_shared_prompt_pass_equals_reencoding_each_label(arch: str, candidates: list[list[int]]) -> None:
    from transformers import AutoModelForCausalLM, LlamaConfig, Qwen2Config

    config_class = LlamaConfig if arch == "llama" else Qwen2Config
    torch.manual_seed(0)
    model = AutoModelForCausalLM.from_config(config_class(
        vocab_size=97, hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=4,
        num_key_value_heads=2, max_position_embeddings=128, use_cache=arch == "llama")).eval()
    generator = torch.Generator().manual_seed(1)
    prompts = [torch.randint(4, 97, (n,), generator=generator).tolist() for n in (9, 1, 23, 5, 14)]
    fast = score_batch(model, prompts, candidates, pad_id=0)
    with torch.inference_mode():
        for i, prompt in enumerate(prompts):
            for k, candidate in enumerate(candidates):
                logp = model(input_ids=torch.tensor([prompt + candidate])).logits[0].log_softmax(-1)
                slow = sum(logp[len(prompt) - 1 + j, token].item() for j, token in enumerate(candidate))
                assert fast[i, k] == pytest.approx(slow, abs=1e-4)
    assert fast.shape == (5, len(candidates)) and (fast < 0).all()


def test_label_tokens_add_the_end_token_only_when_labels_would_clash(topics: dict[str, Path]) -> None:
    template, tokenizer = template_and_tokenizer(topics["model"])
    plain = label_candidates(template, tokenizer, list(TOPICS.values()))
    assert not plain.with_end and all(len(ids) == 1 for ids in plain.token_ids)  # one-token labels
    end = plain.end_ids
    assert end == tokenizer.encode(f"{tokenizer.eos_token}\n", add_special_tokens=False)  # default: eos + newline
    clash = label_candidates(template, tokenizer, ["World", "World Sports"])
    assert clash.with_end and clash.token_ids[0] == [*plain.token_ids[0], *end]
    assert clash.token_ids[1][0] == plain.token_ids[0][0] and clash.token_ids[1][-len(end):] == end
    assert label_candidates(template, tokenizer, ["World", "Sports"], "always").token_ids[1] == [
        plain.token_ids[1][0], *end]
    with pytest.raises(InputError) as caught:
        label_candidates(template, tokenizer, ["World", "World Sports"], "never")
    assert str(caught.value) == "with --end-tokens never, a label's tokens start another label's; use auto or always"
    with pytest.raises(InputError, match="labels 'World' and 'World' encode to the same tokens"):
        label_candidates(template, tokenizer, ["World", "World"])


@pytest.mark.parametrize(("name", "before", "after", "end"), [
    ("qwen3", "<think>\n\n</think>\n\n", "", "<|im_end|>\n"),  # an empty thought before every answer
    ("empty", "", "", ""),  # nothing after the answer: no end tokens to split off
    ("chatglm3", "\n", "", "</s>"),  # an end token LLaMA-Factory adds itself (efficient_eos)
    ("breeze", "", "", "</s>"),
    ("mistral", " ", "", "</s>"),  # a leading space a label may merge with: no end token, whatever the label
])
def test_label_tokens_are_the_answer_as_the_template_writes_it_without_its_end(
        topics: dict[str, Path], name: str, before: str, after: str, end: str) -> None:
    template, tokenizer = template_and_tokenizer(topics["model"], name)
    labels = ["1 x", "World news", "Sports news", "Sci/Tech news"]  # each several tokens
    candidates = label_candidates(template, tokenizer, labels)
    assert candidates.end_ids == tokenizer.encode(end, add_special_tokens=False) and not candidates.with_end
    assert candidates.token_ids == [tokenizer.encode(before + label + after, add_special_tokens=False)
                                    for label in labels]


def test_an_unknown_end_tokens_mode_is_named(topics: dict[str, Path]) -> None:
    template, tokenizer = template_and_tokenizer(topics["model"])
    with pytest.raises(InputError) as caught:
        label_candidates(template, tokenizer, ["World", "Sports"], "sometimes")
    assert str(caught.value) == "end tokens must be one of ('auto', 'always', 'never'), got 'sometimes'"


def test_score_labels_writes_normalised_probabilities_classify_report_reads(topics: dict[str, Path],
                                                                             tmp_path: Path) -> None:
    out = tmp_path / "scores" / "label_scores.jsonl"
    args = ["--model", str(topics["model"]), "--template", "default", "--dataset", "topics_val",
            "--dataset-dir", str(topics["data"]), "--out", str(out), "--batch-size", "5", "--no-progress"]
    result = score_labels.main(args)
    rows = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    source = [json.loads(line) for line in (topics["data"] / "topics_val.jsonl").read_text().splitlines()]
    assert len(rows) == len(source) == 32 and result["candidates"].labels == sorted(TOPICS.values())
    for row, src in zip(rows, source, strict=True):
        assert sum(row["probs"].values()) == pytest.approx(1.0, abs=1e-12)
        assert row["predict"] == max(row["probs"], key=row["probs"].get)
        logprobs = np.array(list(row["logprobs"].values()))
        assert np.allclose(softmax(logprobs), list(row["probs"].values()), atol=1e-12) and (logprobs < 0).all()
        assert row["label"] == src["output"] and row["id"] == src["id"] and src["input"] in row["prompt"]
        assert row["prompt"].endswith("Assistant:")  # LLaMA-Factory's default template, up to the answer
    first = out.read_bytes()
    score_labels.main([*args, "--batch-size", "32"])  # other batches, other padding: the same numbers
    again = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    assert all(np.allclose(list(a["logprobs"].values()), list(b["logprobs"].values()), atol=1e-4)
               for a, b in zip(rows, again, strict=True))
    score_labels.main(args)
    assert out.read_bytes() == first  # same input, same settings: the same bytes
    report = run_cli("report", "classify", out, "--bootstrap", "0")
    assert report.returncode == 0, report.stderr
    got = json.loads((out.parent / "classify_report.json").read_text(encoding="utf-8"))
    assert got["n"] == 32 and got["n_invalid"] == 0
    assert got["probabilistic"]["argmax_accuracy"] == got["accuracy"]


@pytest.mark.integration
def test_score_labels_reads_a_plain_file_and_names_bad_input(topics: dict[str, Path], tmp_path: Path) -> None:
    data = write_jsonl(tmp_path / "rows.jsonl", topic_rows(2, "File"))
    out = tmp_path / "scores.jsonl"
    base = ["--model", str(topics["model"]), "--template", "default", "--out", str(out), "--no-progress"]
    score_labels.main([*base, "--data", str(data), "--labels", "Tech,World,Sports,Business"])
    rows = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    assert len(rows) == 8 and list(rows[0]["probs"]) == ["Tech", "World", "Sports", "Business"]
    assert [r["id"] for r in rows] == [f"File-{i}" for i in range(8)]
    missing = run_cli("score", *base, "--data", data, "--labels", "World,Sports")
    assert missing.returncode == 2
    assert f"error: {data}: row 3: answer 'Business' is not one of the labels ['World', 'Sports']" in missing.stderr
    unknown = run_script("eval/score_labels.py", *base, "--dataset", "nope", "--dataset-dir", topics["data"])
    assert unknown.returncode == 2 and "dataset 'nope' is not registered" in unknown.stderr


@pytest.mark.integration
@pytest.mark.slow
def test_argmax_matches_greedy_generation_of_a_model_trained_on_one_token_labels(topics: dict[str, Path]) -> None:
    from conftest import llamafactory, recipe_with

    tmp, data = topics["tmp"], topics["data"]
    train = recipe_with(tmp, "recipes/demo/agnews_tiny_sft.yaml", model_name_or_path=str(topics["model"]),
                        dataset="topics", dataset_dir=str(data), output_dir=str(tmp / "sft"), num_train_epochs=6.0,
                        per_device_train_batch_size=16, logging_steps=5, cutoff_len=128)
    llamafactory(train, tmp / "train.log")
    predict = recipe_with(tmp, "recipes/demo/agnews_tiny_predict.yaml", model_name_or_path=str(tmp / "sft"),
                          eval_dataset="topics_val", dataset_dir=str(data), output_dir=str(tmp / "predict"),
                          cutoff_len=128, max_new_tokens=4)
    llamafactory(predict, tmp / "predict.log")
    generated = [json.loads(line)
                 for line in (tmp / "predict" / "generated_predictions.jsonl").read_text().splitlines()]
    out = tmp / "scores.jsonl"
    score_labels.main(["--recipe", str(predict), "--labels", ",".join(TOPICS.values()), "--out", str(out),
                       "--no-progress"])
    scored = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    matcher = LabelMatcher(TOPICS.values())
    greedy = [matcher.match(row["predict"]) for row in generated]
    assert len(scored) == len(greedy) == 32
    assert sum(g is not None for g in greedy) >= 28, [row["predict"] for row in generated]  # it learned the format
    assert [s["predict"] for s, g in zip(scored, greedy, strict=True) if g] == [g for g in greedy if g]
    assert [s["prompt"] for s in scored] == [g["prompt"] for g in generated]  # the very prompt LLaMA-Factory built
    assert all(matcher.match(s["predict"]) for s in scored)  # scoring never gives an invalid answer

    bench = run_script("scripts/bench_score_labels.py", "--recipe", predict, "--labels", ",".join(TOPICS.values()),
                       "--rows", "32", "--batch-size", "8", "--json", tmp / "bench.json")
    assert bench.returncode == 0, bench.stdout[-2000:] + bench.stderr[-2000:]
    numbers = json.loads((tmp / "bench.json").read_text(encoding="utf-8"))
    assert numbers["rows"] == 32 and numbers["score_invalid"] == 0
    assert numbers["generate_invalid"] == sum(g is None for g in greedy) and numbers["agreement_valid_rows"] == 1.0
    assert numbers["per_label_max_abs_diff"] < 1e-3 and "ratio score/generate" in bench.stdout


def test_a_model_that_is_neither_a_folder_nor_a_reachable_hub_id_is_one_line(tmp_path: Path,
                                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    data = write_jsonl(tmp_path / "rows.jsonl", topic_rows(1, "File"))
    base = ["--template", "default", "--data", data, "--labels", "World,Sports", "--out", tmp_path / "s.jsonl"]
    missing = run_cli("score", "--model", tmp_path / "no_model", *base)
    assert (missing.returncode, missing.stderr) == (
        2, f"error: --model {tmp_path / 'no_model'}: neither a local folder (no such folder) nor a hub id (ORG/NAME)\n")
    a_file = run_cli("score", "--model", data, *base)
    assert (a_file.returncode, a_file.stderr) == (2, f"error: --model {data}: a file, not a model folder\n")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")  # the hub does not answer
    offline = run_cli("score", "--model", "no-such-org/no-such-model", *base)
    assert (offline.returncode, offline.stderr) == (
        2, "error: --model no-such-org/no-such-model: neither a local folder (no such folder) nor a reachable hub id "
           "(the hub does not answer and the Hugging Face cache has no copy)\n")
    assert not (tmp_path / "s.jsonl").exists()


def test_an_export_recipe_scores_into_outputs_scores_not_into_its_merged_model() -> None:
    """An export recipe has no output_dir: its scores go to outputs/scores/<set>/, never into export_dir."""
    from recipekit.commands.score_labels import apply_recipe, build_parser

    args = apply_recipe(build_parser().parse_args(["--recipe", "recipes/export/yelp5_lora.yaml", "--dataset",
                                                   "yelp5_val"]))
    assert Path(args.out).parts[-4:] == ("outputs", "scores", "yelp5_val", "label_scores.jsonl")


def load(topics: dict[str, Path], **given: object) -> Loaded:
    return load_for_scoring(ScoringSource(**{"model": str(topics["model"]), "template": "default",
                                             "dataset_dir": str(topics["data"]), **given}))


def test_a_registered_set_loads_llamafactorys_prompts_gold_answers_and_the_kept_fields(topics: dict[str, Path]) -> None:
    source = [json.loads(line) for line in (topics["data"] / "topics_val.jsonl").read_text().splitlines()]
    loaded = load(topics, dataset="topics_val", keep=" output,id ,absent", batch_size=5)
    template, tokenizer = template_and_tokenizer(topics["model"])
    assert loaded.source == f"{topics['data']}/dataset_info.json:topics_val" and loaded.batch_size == 5
    assert [e.prompt_ids for e in loaded.examples] == [template.encode_oneturn(tokenizer, [
        {"role": "user", "content": f"{row['instruction']}\n{row['input']}"},
        {"role": "assistant", "content": row["output"]}])[0] for row in source]
    assert [(e.gold, e.keep) for e in loaded.examples] == [
        (row["output"], {"output": row["output"], "id": row["id"]}) for row in source]
    assert loaded.skipped == Counter()
    assert not loaded.model.training and not any(p.requires_grad for p in loaded.model.parameters())  # scoring only

    cut = load(topics, dataset="topics_val", max_samples=3, cutoff_len=12)  # fewer rows than the file: still paired
    assert [e.keep for e in cut.examples] == [{"id": row["id"]} for row in source[:3]] and cut.batch_size == 8
    assert all(len(e.prompt_ids) <= 12 < len(full.prompt_ids)
               for e, full in zip(cut.examples, loaded.examples, strict=False))


def test_rows_llamafactory_samples_keep_no_fields(topics: dict[str, Path], tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir()
    (data / "val.jsonl").write_bytes((topics["data"] / "topics_val.jsonl").read_bytes())
    registry = json.loads((topics["data"] / "dataset_info.json").read_text())["topics_val"]
    (data / "dataset_info.json").write_text(json.dumps({"sampled": {**registry, "file_name": "val.jsonl",
                                                                    "num_samples": 5}}))
    loaded = load(topics, dataset="sampled", dataset_dir=str(data))
    assert len(loaded.examples) == 5 and all(e.keep == {} for e in loaded.examples)  # order not the file's


def test_a_file_s_rows_llamafactory_drops_are_counted_and_the_others_keep_their_own_fields(
        topics: dict[str, Path], tmp_path: Path) -> None:
    def conversation(row_id: str, *turns: tuple[str, str]) -> dict[str, object]:
        return {"id": row_id, "messages": [{"role": role, "content": text} for role, text in turns]}

    rows = write_jsonl(tmp_path / "rows.jsonl", [
        conversation("a", ("user", "World news"), ("assistant", "World")),
        conversation("b", ("user", "x"), ("user", "y"), ("assistant", "Sports")),  # two user turns
        conversation("c", ("user", "Sports news"), ("assistant", "Sports")),
        conversation("d", ("user", "no answer")),  # no assistant turn
        conversation("e", ("user", "Tech news"), ("assistant", "Tech"))])
    loaded = load(topics, data=str(rows), keep="id")
    assert loaded.source == str(rows)
    assert [(e.gold, e.keep) for e in loaded.examples] == [("World", {"id": "a"}), ("Sports", {"id": "c"}),
                                                           ("Tech", {"id": "e"})]
    assert loaded.skipped == Counter({"LLaMA-Factory drops it (prompt turns not user/assistant alternating)": 2})
    named = tmp_path / "新闻" / "行.jsonl"  # a path LLaMA-Factory reads from the registry in the locale's encoding
    named.parent.mkdir()
    named.write_bytes(rows.read_bytes())
    with ascii_locale():
        assert [e.keep for e in load(topics, data=str(named), keep="id").examples] == [{"id": "a"}, {"id": "c"},
                                                                                      {"id": "e"}]
    unanswered = write_jsonl(tmp_path / "alpaca.jsonl", [{"instruction": "Topic?", "input": "x", "id": 1},
                                                         {"instruction": "Topic?", "input": "y", "output": ""}])
    assert [(e.gold, e.keep) for e in load(topics, data=str(unanswered)).examples] == [("", {"id": 1}), ("", {})]


def test_what_cannot_be_loaded_is_one_line_before_any_model_is(topics: dict[str, Path], tmp_path: Path) -> None:
    def refusal(**given: object) -> str:
        with pytest.raises(InputError) as caught:
            load(topics, **given)
        return str(caught.value)

    assert refusal(dataset="nope") == f"{topics['data']}/dataset_info.json: dataset 'nope' is not registered"
    assert refusal(data=str(tmp_path / "none.jsonl")) == f"{tmp_path / 'none.jsonl'}: no such file"
    if not torch.cuda.is_available():
        assert refusal(dataset="topics_val", quantization_bit=4) == (
            f"{topics['model']}: quantization_bit 4 needs bitsandbytes and a CUDA GPU; drop it to score in full "
            "precision")


def test_an_adapter_is_merged_into_the_model_it_scores_with(topics: dict[str, Path], tmp_path: Path) -> None:
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    torch.manual_seed(0)
    lora = get_peft_model(AutoModelForCausalLM.from_pretrained(topics["model"]),
                          LoraConfig(r=4, target_modules=["q_proj", "v_proj"], init_lora_weights=False))
    lora.save_pretrained(tmp_path / "adapter")
    merged = lora.merge_and_unload().eval()
    loaded = load(topics, dataset="topics_val", max_samples=2, adapter=str(tmp_path / "adapter"))
    prompt = torch.tensor([loaded.examples[0].prompt_ids])
    with torch.no_grad():
        base = AutoModelForCausalLM.from_pretrained(topics["model"]).eval()(prompt).logits
        expected, got = merged(prompt).logits, loaded.model(prompt).logits
    assert torch.allclose(got, expected, atol=1e-5) and not torch.allclose(got, base, atol=1e-3)


def test_a_hub_id_in_the_hugging_face_cache_is_accepted_while_the_hub_does_not_answer(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from huggingface_hub import constants

    from recipekit.eval.label_scoring import check_model_path

    snapshot = tmp_path / "hub" / "models--some-org--cached-model" / "snapshots" / "0123abcd"
    snapshot.mkdir(parents=True)
    (snapshot / "config.json").write_text("{}", encoding="utf-8")
    (snapshot.parents[1] / "refs").mkdir()
    (snapshot.parents[1] / "refs" / "main").write_text("0123abcd", encoding="utf-8")
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path / "hub"))  # where this machine's cache would be
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    check_model_path("some-org/cached-model")  # answered from the cache: no error
    with pytest.raises(InputError, match="nor a reachable hub id"):
        check_model_path("some-org/not-cached")
