"""eval/benchmarks.py: lm-evaluation-harness on local tasks, a tiny model and the same model with a LoRA adapter."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from conftest import command_module, run_cli, write_jsonl

from recipekit.eval.benchmarks import multiple_choice_task

IFEVAL_GLUE = '''"""The IFEval checkers of lm-eval, for a local copy of IFEval-format rows."""
from lm_eval.tasks.ifeval.utils import agg_inst_level_acc, process_results  # noqa: F401
'''


QUESTIONS = [{"question": f"Which word is a colour, number {i}?", "choices": ["red", "table", "run", "seven"],
              "answer": 0} for i in range(6)]
QUESTIONS += [{"question": f"Which word is an animal, number {i}?", "choices": ["blue", "cat", "fast", "two"],
               "answer": 1} for i in range(6)]


def local_tasks(folder: Path) -> Path:
    """Two tasks in lm-eval's real formats on local rows: multiple choice (acc, acc_norm) and IFEval-style."""
    mc = write_jsonl(folder / "mc.jsonl", QUESTIONS)
    (folder / "tiny_mc.yaml").write_text(multiple_choice_task("tiny_mc", mc, "Question: {{question}}\nAnswer:",
                                                              ("acc", "acc_norm")), encoding="utf-8")
    rows = [{"key": i, "prompt": f"Write about topic {i} in lowercase letters only.",
             "instruction_id_list": ["change_case:english_lowercase"], "kwargs": [{}]} for i in range(3)]
    rows += [{"key": 10 + i, "prompt": f"Write about topic {i} and end with the phrase 'The end.'",
              "instruction_id_list": ["startend:end_checker"], "kwargs": [{"end_phrase": "The end."}]}
             for i in range(3)]
    ifeval = write_jsonl(folder / "ifeval_rows.jsonl", rows)
    (folder / "ifeval_local.py").write_text(IFEVAL_GLUE, encoding="utf-8")
    (folder / "tiny_ifeval.yaml").write_text(f"""task: tiny_ifeval
dataset_path: json
dataset_kwargs:
  data_files:
    train: {ifeval}
test_split: train
output_type: generate_until
doc_to_text: prompt
doc_to_target: 0
generation_kwargs:
  until: []
  do_sample: false
  max_gen_toks: 8
process_results: !function ifeval_local.process_results
metric_list:
  - metric: prompt_level_strict_acc
    aggregation: mean
    higher_is_better: true
  - metric: inst_level_strict_acc
    aggregation: !function ifeval_local.agg_inst_level_acc
    higher_is_better: true
  - metric: prompt_level_loose_acc
    aggregation: mean
    higher_is_better: true
  - metric: inst_level_loose_acc
    aggregation: !function ifeval_local.agg_inst_level_acc
    higher_is_better: true
""", encoding="utf-8")
    return folder


@pytest.fixture(scope="module")
def bench(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Local tasks, a suite over them, a tiny model and a LoRA adapter trained on it for a few steps."""
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tmp = tmp_path_factory.mktemp("bench")
    tasks = local_tasks(tmp / "tasks")
    words = "Write about topic in lowercase letters only, and end with the phrase 'The end.'"
    texts = write_jsonl(tmp / "texts.jsonl", [{"t": f"Question: {q['question']}\nAnswer: {' '.join(q['choices'])}"}
                                              for q in QUESTIONS] + [{"t": words}] * 4)
    model_dir = command_module("tiny-model").main(["--texts", str(texts), "--out", str(tmp / "model"), "--vocab-size",
                                                    "300", "--hidden", "32", "--intermediate", "64", "--layers", "1",
                                                    "--heads", "2"])
    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    torch.manual_seed(0)
    model = get_peft_model(AutoModelForCausalLM.from_pretrained(model_dir),
                           LoraConfig(r=8, lora_alpha=16, task_type="CAUSAL_LM", target_modules=[
                               "q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj", "lm_head"]))
    optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-1)
    # the adapter learns tiny_mc's answers (the base model is random): its score must differ from the base's
    answered = [f"Question: {q['question']}\nAnswer: {q['choices'][q['answer']]}" for q in QUESTIONS]
    batch = tokenizer(answered, return_tensors="pt", padding=True)
    labels = batch["input_ids"].masked_fill(batch["attention_mask"] == 0, -100)
    for _ in range(100):
        loss = model(**batch, labels=labels).loss
        loss.backward()
        optimizer.step()
        optimizer.zero_grad()
    model.save_pretrained(tmp / "adapter")
    suite = tmp / "suite.yaml"
    suite.write_text("""name: tiny
dimensions:
  knowledge:
    tasks: [tiny_mc]
    shots: 0
    metric: acc_norm
  knowledge with examples:
    tasks: [tiny_mc]
    shots: 2
    metric: acc_norm
  instruction following:
    tasks: [tiny_ifeval]
    shots: 0
    metric: prompt_level_strict_acc
reported:
  knowledge: 0.5
  knowledge with examples: 0.5
  instruction following: 0.2
""", encoding="utf-8")
    stages = {}
    for name, extra in (("base", ""), ("lora", f"adapter: {tmp / 'adapter'}\n")):
        stages[name] = tmp / f"{name}.yaml"
        stages[name].write_text(f"name: {name}\nmodel: {model_dir}\n{extra}chat: false\ndtype: float32\n"
                                f"suite: {suite}\n", encoding="utf-8")
    return {"tmp": tmp, "tasks": tasks, "suite": suite, **stages}


@pytest.mark.integration
@pytest.mark.slow  # lm-evaluation-harness on a tiny model and its adapter: half a minute
def test_stages_are_scored_by_lm_eval_and_aggregated_into_dimensions(bench: dict[str, Path]) -> None:
    out = bench["tmp"] / "out"
    os.environ.update({"WANDB_MODE": "offline", "WANDB_SILENT": "true", "WANDB_PROJECT": "test"})
    try:
        done = run_cli("bench", bench["base"], bench["lora"], "--include-path", bench["tasks"], "--out", out,
                       "--device", "cpu", "--wandb")
    finally:
        for key in ("WANDB_MODE", "WANDB_SILENT", "WANDB_PROJECT"):
            os.environ.pop(key, None)
    assert done.returncode == 0, done.stderr[-3000:]
    runs = list((out / "wandb").glob("offline-run-*"))
    assert len(runs) == 1 and list(runs[0].glob("run-*.wandb"))
    report = json.loads((out / "benchmarks.json").read_text(encoding="utf-8"))
    assert [s["name"] for s in report["stages"]] == ["base", "lora"]
    assert report["stages"][1]["adapter"].endswith("adapter")
    assert report["stages"][0]["prompt_format"] == "plain (no chat template)"
    for stage in report["stages"]:
        for shots in (0, 2):
            raw = json.loads((out / "lm_eval" / f"{stage['name']}_{shots}shot.json").read_text(encoding="utf-8"))
            assert raw["results"]["tiny_mc"]["acc_norm,none"] == pytest.approx(
                stage["dimensions"]["knowledge" if shots == 0 else "knowledge with examples"]["score"])
            assert raw["n-shot"]["tiny_mc"] == shots
        raw = json.loads((out / "lm_eval" / f"{stage['name']}_0shot.json").read_text(encoding="utf-8"))
        ifeval = raw["results"]["tiny_ifeval"]
        block = stage["dimensions"]["instruction following"]
        assert block["score"] == pytest.approx(ifeval["prompt_level_strict_acc,none"])
        assert block["tasks"][0]["metric"] == "prompt_level_strict_acc"
        assert 0 <= block["score"] <= 1 and "inst_level_strict_acc,none" in ifeval
    base, lora = (s["dimensions"] for s in report["stages"])
    assert lora["knowledge"]["score"] == 1.0  # the adapter was trained on these answers; the base was not
    assert base["knowledge"]["score"] < 1.0
    delta = lora["knowledge"]["score"] - base["knowledge"]["score"]
    assert report["deltas"]["lora"]["knowledge"] == pytest.approx(delta)
    markdown = (out / "benchmarks.md").read_text(encoding="utf-8")
    assert "| dimension / task | base | lora | Δ lora | report |" in markdown and "**knowledge** (0-shot)" in markdown
    assert (out / "capability_radar.png").read_bytes()[:4] == b"\x89PNG"


def test_a_dimension_is_the_mean_of_its_tasks() -> None:
    from recipekit.eval.benchmarks import Dimension, Suite, dimension_scores

    suite = Suite("s", (Dimension("d", ("a", "b"), 0, "acc_norm"),))
    results = {0: {"a": {"acc_norm,none": 0.6, "acc_norm_stderr,none": 0.03},
                   "b": {"acc,none": 0.8, "acc_stderr,none": 0.04}}}  # b has no acc_norm: acc is used
    scores = dimension_scores(suite, results)["d"]
    assert scores["score"] == pytest.approx(0.7) and scores["stderr"] == pytest.approx(0.025)
    assert [t["metric"] for t in scores["tasks"]] == ["acc_norm", "acc"]


@pytest.mark.integration
@pytest.mark.slow  # lm-evaluation-harness on a tiny model and its adapter: half a minute
def test_missing_task_adapter_and_offline_hub_task_are_one_line_errors(bench: dict[str, Path], tmp_path: Path,
                                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    bad_suite = tmp_path / "suite.yaml"
    bad_suite.write_text("dimensions:\n  d:\n    tasks: [no_such_task_xyz]\n", encoding="utf-8")
    stage = tmp_path / "stage.yaml"
    stage.write_text(f"model: {bench['tmp'] / 'model'}\nsuite: {bad_suite}\n", encoding="utf-8")
    missing = run_cli("bench", stage, "--include-path", bench["tasks"], "--out", tmp_path / "o")
    assert missing.returncode == 2 and "task 'no_such_task_xyz' is not an lm-eval task" in missing.stderr
    no_adapter = tmp_path / "adapter.yaml"
    no_adapter.write_text(f"model: m\nadapter: saves/never/trained\nsuite: {bad_suite}\n", encoding="utf-8")
    result = run_cli("bench", no_adapter, "--out", tmp_path / "o")
    assert result.returncode == 2 and "adapter saves/never/trained: no such folder" in result.stderr
    hub_suite = tmp_path / "hub.yaml"
    hub_suite.write_text("dimensions:\n  d:\n    tasks: [arc_easy]\n", encoding="utf-8")
    hub_stage = tmp_path / "hub_stage.yaml"
    hub_stage.write_text(f"model: {bench['tmp'] / 'model'}\ndtype: float32\nsuite: {hub_suite}\n", encoding="utf-8")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")  # offline whether or not this machine reaches the hub
    offline = run_cli("bench", hub_stage, "--out", tmp_path / "o", "--limit", "2", "--device", "cpu")
    assert offline.returncode == 2 and len(offline.stderr.strip().splitlines()) == 1, offline.stderr[-2000:]
    assert "lm-eval could not run arc_easy" in offline.stderr and "--include-path" in offline.stderr
    assert not (tmp_path / "o").exists()
