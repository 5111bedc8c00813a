"""The lm-eval task YAML written for a local multiple-choice file, and a stage's column of the benchmark report:
whole outputs compared with what was written out by hand."""

from __future__ import annotations

from pathlib import Path

import yaml

from recipekit.eval.benchmarks import Stage, multiple_choice_task, stage_entry


def test_a_multiple_choice_task_is_the_yaml_lm_eval_reads_with_one_metric_by_default(tmp_path: Path) -> None:
    rows = tmp_path / "questions.jsonl"
    text = multiple_choice_task("tiny_mc", rows, "Question: {{question}}\nAnswer:")
    assert text == ("task: tiny_mc\ndataset_path: json\ndataset_kwargs:\n  data_files:\n"
                    f'    test: "{rows}"\ntest_split: test\noutput_type: multiple_choice\n'
                    'doc_to_text: "Question: {{question}}\\nAnswer:"\ndoc_to_choice: "{{choices}}"\n'
                    "doc_to_target: answer\nmetric_list:\n  - metric: acc\n")
    assert yaml.safe_load(text) == {
        "task": "tiny_mc", "dataset_path": "json", "dataset_kwargs": {"data_files": {"test": str(rows)}},
        "test_split": "test", "output_type": "multiple_choice", "doc_to_text": "Question: {{question}}\nAnswer:",
        "doc_to_choice": "{{choices}}", "doc_to_target": "answer", "metric_list": [{"metric": "acc"}]}


def test_a_multiple_choice_task_lists_every_metric_in_order_and_keeps_the_prompt_verbatim(tmp_path: Path) -> None:
    rows = tmp_path / "mc.jsonl"
    prompt = 'Q: "{{question}}"\n\tPick one: {{choices}} # café\\'
    text = multiple_choice_task("mc_two", rows, prompt, ("acc", "acc_norm", "brier_score"))
    assert text.endswith("metric_list:\n  - metric: acc\n  - metric: acc_norm\n  - metric: brier_score\n")
    assert yaml.safe_load(text) == {
        "task": "mc_two", "dataset_path": "json", "dataset_kwargs": {"data_files": {"test": str(rows)}},
        "test_split": "test", "output_type": "multiple_choice", "doc_to_text": prompt,
        "doc_to_choice": "{{choices}}", "doc_to_target": "answer",
        "metric_list": [{"metric": "acc"}, {"metric": "acc_norm"}, {"metric": "brier_score"}]}


def test_a_stage_entry_names_the_model_adapter_and_prompt_format() -> None:
    scores = {"knowledge": {"score": 0.5, "stderr": None, "shots": 5, "tasks": []}}
    chat = Stage("sft", "Qwen/Qwen3-4B", "out/lora", chat=True)
    assert stage_entry(chat, scores) == {"name": "sft", "model": "Qwen/Qwen3-4B", "adapter": "out/lora",
                                         "prompt_format": "chat template", "dimensions": scores}
    plain = Stage("base", "models/tiny")
    assert stage_entry(plain, {}) == {"name": "base", "model": "models/tiny", "adapter": None,
                                      "prompt_format": "plain (no chat template)", "dimensions": {}}


def test_a_rows_path_with_a_hash_colon_or_quote_reaches_lm_eval_whole(tmp_path: Path) -> None:
    for rows in (tmp_path / "run #2" / "q.jsonl", tmp_path / "a: b" / 'say "hi".jsonl', Path("C:\\data\\q.jsonl")):
        read = yaml.safe_load(multiple_choice_task("mc", rows, "{{question}}"))
        assert read["dataset_kwargs"] == {"data_files": {"test": str(rows)}}
