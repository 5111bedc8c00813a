"""`llm-recipes new` piece by piece, without training or planning a search: the flags it accepts, the columns and
classes it reads from a small table, the `convert generic` flags it passes on, the sets it refuses to replace, the
recipes and chain it writes (each value written by hand here), and what it prints."""

from __future__ import annotations

import argparse
import csv
import json
from pathlib import Path

import pytest
import yaml

from recipekit.commands.new import build_parser
from recipekit.errors import InputError
from recipekit.plan.fit import Candidate, Planned, Search
from recipekit.reproduce import new
from recipekit.reproduce.chain import load_chain
from recipekit.reproduce.new_recipes import NewRun, export_args, predict_args, recipe_text, template_for, train_args
from recipekit.reproduce.scaffold import NO_PUBLISHED, chain, chain_text

MODEL = "Qwen/Qwen2.5-0.5B-Instruct"


def parsed(*argv: str) -> argparse.Namespace:
    return build_parser().parse_args(["mine", *argv])


def write_table(path: Path, rows: list[dict[str, str]]) -> Path:
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    return path


def reviews(count: int, labels: tuple[str, ...] = ("good", "bad")) -> list[dict[str, str]]:
    return [{"id": str(i), "text": f"review number {i}", "label": labels[i % len(labels)]} for i in range(count)]


# --- new_recipes.py


@pytest.mark.parametrize(("model", "template"), [
    ("Qwen/Qwen3-8B", "qwen3"), ("Qwen/Qwen2.5-0.5B-Instruct", "qwen"), ("meta-llama/Meta-Llama-3-8B", "llama3"),
    ("meta-llama/Llama-3.1-8B", "llama3"), ("someone/LLAMA3-tuned", "llama3"), ("mistralai/Mistral-7B-v0.1", "mistral"),
    ("google/gemma-2b", "gemma"), ("gpt2", "default"), ("meta-llama/Llama-2-7b", "default"),
])
def test_the_chat_template_follows_the_model_family(model: str, template: str) -> None:
    assert template_for(model) == template


def run_of(task: str = "classify", method: str = "lora", zero: int = 0, offload: bool = False, gc: bool = True,
           precision: str = "bf16") -> NewRun:
    return NewRun("mine", task, MODEL, "qwen", 256, precision, Candidate(method, zero, offload, gc, 4, 4))


def test_a_runs_folders_stage_and_precision() -> None:
    lora = run_of()
    assert (lora.stage, lora.adapter) == ("sft", True)
    assert (lora.train_dir, lora.predict_dir, lora.export_dir) == (
        "saves/mine/lora/train", "saves/mine/lora/predict", "saves/mine/lora/merged")
    assert run_of("preference").stage == "dpo" and run_of("generate").stage == "sft"
    assert not run_of(method="full").adapter and run_of(method="qlora").adapter
    assert run_of(method="qlora").train_dir == "saves/mine/qlora/train"
    assert run_of(precision="bf16").precision_values() == {"bf16": True}
    assert run_of(precision="fp16").precision_values() == {"fp16": True}
    assert run_of(precision="fp32").precision_values() == {}


def test_the_training_recipe_of_a_lora_classifier() -> None:
    args = train_args(run_of())
    assert args == {
        "model_name_or_path": MODEL, "stage": "sft", "do_train": True, "finetuning_type": "lora", "lora_rank": 8,
        "lora_alpha": 16, "lora_dropout": 0.05, "lora_target": "all", "dataset": "mine", "eval_dataset": "mine_val",
        "dataset_dir": "data", "template": "qwen", "cutoff_len": 256, "output_dir": "saves/mine/lora/train",
        "logging_steps": 10, "save_strategy": "epoch", "overwrite_output_dir": True, "report_to": "none",
        "plot_loss": True, "per_device_train_batch_size": 4, "gradient_accumulation_steps": 4,
        "learning_rate": 1.0e-4, "num_train_epochs": 3.0, "lr_scheduler_type": "cosine", "warmup_ratio": 0.1,
        "bf16": True, "seed": 42, "per_device_eval_batch_size": 4, "eval_strategy": "epoch"}
    assert list(args)[:4] == ["model_name_or_path", "stage", "do_train", "finetuning_type"]


def test_the_training_recipe_of_full_dpo_under_zero3_without_checkpointing() -> None:
    args = train_args(run_of("preference", "full", 3, False, False, "fp16"))
    assert args["finetuning_type"] == "full" and "lora_rank" not in args and "quantization_bit" not in args
    assert (args["stage"], args["pref_beta"], args["pref_loss"]) == ("dpo", 0.1, "sigmoid")
    assert args["deepspeed"] == "recipes/deepspeed/ds_z3_config.json"
    assert args["disable_gradient_checkpointing"] is True
    assert (args["learning_rate"], args["num_train_epochs"]) == (5.0e-7, 1.0)
    assert args["fp16"] is True and "bf16" not in args and args["output_dir"] == "saves/mine/full/train"
    keys = list(args)  # the method's keys before the data's, DeepSpeed after the preference settings
    assert keys.index("pref_beta") < keys.index("deepspeed") < keys.index("dataset")


@pytest.mark.parametrize(("task", "method", "rate", "epochs"), [
    ("classify", "full", 1.0e-5, 3.0), ("generate", "lora", 1.0e-4, 3.0), ("preference", "lora", 5.0e-6, 1.0),
    ("preference", "qlora", 5.0e-6, 1.0), ("generate", "qlora", 1.0e-4, 3.0),
])
def test_the_learning_rate_and_epochs_by_stage_and_method(task: str, method: str, rate: float, epochs: float) -> None:
    args = train_args(run_of(task, method))
    assert (args["learning_rate"], args["num_train_epochs"]) == (rate, epochs)
    assert ("quantization_bit" in args) == (method == "qlora")
    if method == "qlora":
        assert args["quantization_bit"] == 4 and args["finetuning_type"] == "lora" and args["lora_rank"] == 8


def test_the_prediction_recipe_reads_the_trained_model_or_its_adapter() -> None:
    full = predict_args(run_of("generate", "full", precision="fp32"))
    assert full == {"model_name_or_path": "saves/mine/full/train", "stage": "sft", "do_predict": True,
                    "eval_dataset": "mine_test", "dataset_dir": "data", "template": "qwen", "cutoff_len": 256,
                    "output_dir": "saves/mine/full/predict", "overwrite_output_dir": True, "report_to": "none",
                    "per_device_eval_batch_size": 4, "predict_with_generate": True, "do_sample": False,
                    "max_new_tokens": 512}
    lora = predict_args(run_of("classify"))
    assert (lora["model_name_or_path"], lora["adapter_name_or_path"], lora["finetuning_type"]) == (
        MODEL, "saves/mine/lora/train", "lora")
    assert "quantization_bit" not in lora and lora["max_new_tokens"] == 16 and lora["bf16"] is True
    qlora = predict_args(run_of("preference", "qlora"))
    assert qlora["quantization_bit"] == 4 and qlora["stage"] == "sft" and qlora["max_new_tokens"] == 512
    assert qlora["adapter_name_or_path"] == "saves/mine/qlora/train"


def test_the_export_recipe_merges_into_the_16_bit_base() -> None:
    assert export_args(run_of(method="qlora")) == {
        "model_name_or_path": MODEL, "adapter_name_or_path": "saves/mine/qlora/train", "template": "qwen",
        "finetuning_type": "lora", "export_dir": "saves/mine/qlora/merged", "export_size": 2,
        "export_device": "cpu", "export_legacy_format": False}


def test_a_recipe_file_is_its_header_as_comments_a_blank_line_then_yaml() -> None:
    assert recipe_text(["first", "", "third"], {"a": 1, "b": "x"}) == "# first\n#\n# third\n\na: 1\nb: x\n"
    assert recipe_text([], {"z": 1, "a": "é"}) == "\nz: 1\na: é\n"  # the order kept, unicode as written


# --- scaffold.py


def test_a_classifier_chain_scores_labels_reports_and_exports() -> None:
    flags = ["--input", "t.csv", "--name", "mine", "--output-column", "label"]
    content = chain(run_of(), flags, ["good", "bad"], "t4", 2, "mine: classify")
    steps = {s["name"]: s for s in content["steps"]}
    assert list(steps) == ["convert", "check", "contamination", "plan", "train", "predict", "score", "report",
                           "export"]
    recipes = ["recipes/mine/train.yaml", "recipes/mine/predict.yaml", "recipes/mine/export.yaml"]
    data = ["data/mine.jsonl", "data/mine_val.jsonl", "data/mine_test.jsonl"]
    assert steps["convert"] == {"name": "convert", "run": "llm-recipes convert generic --input t.csv --name mine "
                                                         "--output-column label --data-dir data", "outputs": data}
    assert steps["check"] == {"name": "check", "run": "llm-recipes check recipes " + " ".join(recipes),
                              "inputs": recipes}
    assert steps["contamination"] == {
        "name": "contamination", "run": "llm-recipes check contamination recipes/mine/train.yaml "
                                        "recipes/mine/predict.yaml --data-dir data --out '{out}/contamination'",
        "outputs": ["{out}/contamination/contamination.json"], "inputs": ["data/dataset_info.json", *data]}
    assert steps["plan"] == {"name": "plan", "run": "llm-recipes plan recipes/mine/train.yaml --gpu t4 --gpus 2 "
                                                    "--out '{out}/plan/train'",
                             "outputs": ["{out}/plan/train/plan.json"], "inputs": ["recipes/mine/train.yaml"]}
    assert steps["train"] == {"name": "train", "run": "llamafactory-cli train recipes/mine/train.yaml"}
    assert steps["predict"] == {"name": "predict", "run": "llamafactory-cli train recipes/mine/predict.yaml"}
    scores = "saves/mine/lora/predict/label_scores.jsonl"
    assert steps["score"] == {
        "name": "score",
        "run": f"llm-recipes score --recipe recipes/mine/predict.yaml --labels good,bad --out {scores}",
        "tiny": f"llm-recipes score --recipe '{{out}}/recipes/mine/predict.yaml' --labels good,bad --out {scores}",
        "outputs": [scores], "inputs": ["saves/mine/lora/predict/generated_predictions.jsonl"]}
    assert steps["report"] == {
        "name": "report", "run": f"llm-recipes report classify {scores} --labels good,bad --out '{{out}}/reports/test' "
                                 "--recipe recipes/mine/predict.yaml",
        "tiny": f"llm-recipes report classify {scores} --labels good,bad --out '{{out}}/reports/test' --recipe "
                "'{out}/recipes/mine/predict.yaml'",
        "outputs": ["{out}/reports/test/classify_report.json"], "inputs": [scores]}
    assert steps["export"] == {
        "name": "export", "run": "llm-recipes export recipes/mine/export.yaml --report '{out}/reports/test' "
                                 "--eval-dataset mine_test", "inputs": ["{out}/reports/test/classify_report.json"]}
    assert content["title"] == "mine: classify" and content["differences"] == [NO_PUBLISHED]
    assert content["numbers"] == [
        {"name": "accuracy", "metric": "accuracy", "report": "{out}/reports/test", "set": "mine_test"},
        {"name": "macro-F1", "metric": "macro_f1", "report": "{out}/reports/test", "set": "mine_test"},
        {"name": "log loss", "metric": "log_loss", "report": "{out}/reports/test", "set": "mine_test"}]


def test_a_generation_chain_with_an_adapter_exports_after_its_gen_report() -> None:
    content = chain(run_of("generate"), ["--input", "q.csv", "--name", "mine"], None, "a10", 1, "mine: generate")
    steps = {s["name"]: s for s in content["steps"]}
    assert list(steps) == ["convert", "check", "contamination", "plan", "train", "predict", "report", "export"]
    assert steps["report"] == {
        "name": "report", "run": "llm-recipes report gen saves/mine/lora/predict/generated_predictions.jsonl --out "
                                 "'{out}/reports/test'", "outputs": ["{out}/reports/test/gen_report.json"],
        "inputs": ["saves/mine/lora/predict/generated_predictions.jsonl"]}
    assert steps["export"]["inputs"] == ["{out}/reports/test/gen_report.json"]
    assert [n["metric"] for n in content["numbers"]] == ["bleu-4", "rouge-1", "rouge-2", "rouge-l"]
    assert [n["name"] for n in content["numbers"]] == ["BLEU-4", "ROUGE-1", "ROUGE-2", "ROUGE-L"]


def test_a_full_runs_chain_checks_two_recipes_and_exports_nothing() -> None:
    content = chain(run_of("generate", "full"), ["--input", "q.csv", "--name", "mine"], None, "a10", 1, "t")
    steps = {s["name"]: s for s in content["steps"]}
    assert "export" not in steps
    assert steps["check"]["inputs"] == ["recipes/mine/train.yaml", "recipes/mine/predict.yaml"]
    assert steps["check"]["run"] == "llm-recipes check recipes recipes/mine/train.yaml recipes/mine/predict.yaml"


def test_the_chain_file_is_its_header_then_yaml_that_the_chain_reader_accepts(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LLM_RECIPES_ROOT", str(tmp_path))
    content = chain(run_of(), ["--input", "t.csv", "--name", "mine"], ["a: b", "c"], "t4", 1, "mine: é")
    text = chain_text(["one", "two"], content)
    assert text.startswith("# one\n# two\ntitle: 'mine: é'\nsteps:\n")  # unicode kept as written
    assert yaml.safe_load(text) == content
    # lines up to 120 characters: a run command of 98 stays on one line
    line = ("- name: check\n  run: llm-recipes check recipes recipes/mine/train.yaml recipes/mine/predict.yaml "
            "recipes/mine/export.yaml\n")
    assert line in text
    path = tmp_path / "mine.yaml"
    path.write_text(text, encoding="utf-8")
    loaded = load_chain(str(path))
    assert [s.name for s in loaded.steps][-3:] == ["score", "report", "export"]
    assert [n.published for n in loaded.numbers] == [None, None, None] and loaded.title == "mine: é"
    assert loaded.differences == [NO_PUBLISHED]


# --- new.py: flags, columns, conversion


def test_a_known_models_config_is_found_and_an_unknown_one_says_how_to_fetch_it() -> None:
    new.require_config(MODEL)  # shipped with the package
    with pytest.raises(InputError) as refused:
        new.require_config("nobody/none")
    assert str(refused.value) == (
        "--model nobody/none: its config.json is not available offline (not a local folder, not in the Hugging "
        "Face cache, not shipped in recipekit/plan/configs/); fetch it once with `huggingface-cli download "
        "nobody/none config.json` (or pass a local folder with --model)")


def test_the_card_named_or_this_machines(monkeypatch: pytest.MonkeyPatch) -> None:
    import torch

    assert new.local_card("t4", None) == ("t4", 1) and new.local_card("a10", 4) == ("a10", 4)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(InputError) as refused:
        new.local_card(None, 2)
    assert str(refused.value) == (  # the cards of recipekit/plan/cards.yaml, in its order
        "no GPU on this machine: name the card the run will use with --gpu (t4, v100-16g, v100-32g, a10, l4, "
        "rtx3090, rtx4090, l40s, rtx-a6000, a100-40g, a100-80g, h100-80g, h200) and --gpus N")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)  # a machine with two cards
    monkeypatch.setattr(torch.cuda, "get_device_name", lambda index: f"NVIDIA H100 80GB HBM3 #{index}")
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)
    assert new.local_card(None, None) == ("NVIDIA H100 80GB HBM3 #0", 2)
    assert new.local_card(None, 1) == ("NVIDIA H100 80GB HBM3 #0", 1)


@pytest.mark.parametrize(("argv", "message"), [
    (("--task", "preference", "--input-column", "q", "--chosen-column", "c"),
     "--task preference needs --chosen-column and --rejected-column (and no --output-column or --label-map)"),
    (("--task", "preference", "--input-column", "q", "--rejected-column", "r"), "--task preference needs"),
    (("--task", "preference", "--input-column", "q", "--chosen-column", "c", "--rejected-column", "r",
      "--output-column", "o"), "--task preference needs"),
    (("--task", "preference", "--input-column", "q", "--chosen-column", "c", "--rejected-column", "r",
      "--label-map", "0=a"), "--task preference needs"),
    (("--task", "classify", "--input-column", "q"),
     "--task classify needs --output-column (and no --chosen-column/--rejected-column)"),
    (("--task", "generate", "--input-column", "q", "--output-column", "o", "--chosen-column", "c"),
     "--task generate needs --output-column"),
    (("--task", "generate", "--input-column", "q", "--output-column", "o", "--rejected-column", "r"),
     "--task generate needs --output-column"),
    (("--task", "generate", "--input-column", "q", "--output-column", "o", "--label-map", "0=a"),
     "--label-map is for --task classify"),
    (("--task", "generate", "--output-column", "o"),
     "give --input-column, --template or --instruction (what the model reads)"),
])
def test_flags_that_do_not_fit_the_task_are_one_line(argv: tuple[str, ...], message: str) -> None:
    with pytest.raises(InputError) as refused:
        new.columns_needed(parsed("--data", "x.csv", *argv))
    assert str(refused.value).startswith(message)


def test_the_columns_the_flags_name() -> None:
    assert new.columns_needed(parsed("--data", "x", "--task", "classify", "--input-column", "text",
                                     "--output-column", "label", "--label-map", "0=a,1=b")) == {
        "--input-column": "text", "--output-column": "label"}
    assert new.columns_needed(parsed("--data", "x", "--task", "preference", "--instruction", "Answer.",
                                     "--chosen-column", "good", "--rejected-column", "bad")) == {
        "--chosen-column": "good", "--rejected-column": "bad"}
    assert new.columns_needed(parsed("--data", "x", "--task", "generate", "--template", "Q: {question} ({topic})",
                                     "--output-column", "answer")) == {
        "--output-column": "answer", "--template {question}": "question", "--template {topic}": "topic"}


def test_the_rows_and_columns_of_a_table_and_a_column_it_lacks(tmp_path: Path) -> None:
    table = write_table(tmp_path / "t.csv", reviews(7))
    flags = ("--data", str(table), "--task", "classify", "--output-column", "label")
    assert new.read_columns(parsed(*flags, "--input-column", "text")) == (7, ["id", "text", "label"])
    with pytest.raises(InputError) as refused:
        new.read_columns(parsed(*flags, "--input-column", "body"))
    assert str(refused.value) == f"{table}: --input-column 'body': no such column (columns: id, text, label)"
    folder = tmp_path / "splits"  # a folder of split files: every split's rows counted, columns from each
    folder.mkdir()
    write_table(folder / "train.csv", reviews(5))
    write_table(folder / "test.csv", [{**row, "extra": "x"} for row in reviews(3)])
    rows, columns = new.read_columns(parsed("--data", str(folder), "--task", "classify", "--input-column", "extra",
                                            "--output-column", "label"))
    assert rows == 8 and sorted(columns) == ["extra", "id", "label", "text"]


def test_the_convert_flags_pass_every_flag_given_and_stratify_a_classifier(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    args = parsed("--data", "t.csv", "--task", "classify", "--input-column", "text", "--output-column", "label",
                  "--instruction", "Sort it.")
    assert new.convert_flags(args, 10) == [
        "--input", "t.csv", "--name", "mine", "--instruction", "Sort it.", "--input-column", "text",
        "--output-column", "label", "--stratify", "--val-size", "10", "--test-size", "10"]
    mapped = parsed("--hf", "org/set", "--task", "classify", "--template", "{a} {b}", "--output-column", "label",
                    "--label-map", "0=no,1=yes")
    assert new.convert_flags(mapped, 25) == [  # a label map stratifies by itself
        "--hf", "org/set", "--name", "mine", "--template", "{a} {b}", "--output-column", "label", "--label-map",
        "0=no,1=yes", "--val-size", "25", "--test-size", "25"]
    pairs = parsed("--data", str(tmp_path / "p.csv"), "--task", "preference", "--input-column", "q",
                   "--chosen-column", "c", "--rejected-column", "r")
    assert new.convert_flags(pairs, 12) == [
        "--input", "p.csv", "--name", "mine", "--input-column", "q", "--chosen-column", "c", "--rejected-column", "r",
        "--val-size", "12", "--test-size", "12"]


def converted(tmp_path: Path, rows: list[dict[str, str]], held: int = 10) -> tuple[object, Path]:
    table = write_table(tmp_path / "t.csv", rows)
    args = parsed("--data", str(table), "--task", "classify", "--input-column", "text", "--output-column", "label")
    data = tmp_path / "data"
    return new.convert(new.convert_flags(args, held), data), data


def test_a_conversion_reads_its_source_under_the_root_from_any_working_directory_and_writes_three_sets(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The flags name the source relative to the root (the chain's convert step runs there); the conversion that
    `new` runs at once reads it there too, wherever the command was started."""
    root = tmp_path / "root"
    root.mkdir()
    monkeypatch.setenv("LLM_RECIPES_ROOT", str(root))
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    conversion, data = converted(root, reviews(60, ("good", "bad", "fine")))
    assert new.convert_flags(parsed("--data", str(root / "t.csv"), "--task", "generate", "--input-column",
                                    "text", "--output-column", "label"), 10)[:2] == ["--input", "t.csv"]
    registry = json.loads((data / "dataset_info.json").read_text(encoding="utf-8"))
    assert {name: entry["converter"] for name, entry in registry.items()} == {
        "mine": "generic", "mine_val": "generic", "mine_test": "generic"}
    counts = {name: len((data / f"{name}.jsonl").read_text(encoding="utf-8").splitlines()) for name in registry}
    assert counts == {"mine": 40, "mine_val": 10, "mine_test": 10}
    # the classes most frequent first (40 training rows of 3 classes: 14 / 13 / 13; held-out rows stratified)
    labels = new.label_set(conversion, "mine", "label", "t.csv")
    assert sorted(labels) == ["bad", "fine", "good"]
    everywhere = [row["output"] for name in registry
                  for row in map(json.loads, (data / f"{name}.jsonl").read_text(encoding="utf-8").splitlines())]
    assert [everywhere.count(label) for label in labels] == sorted((everywhere.count(x) for x in labels),
                                                                   reverse=True)


@pytest.mark.parametrize(("labels", "message"), [
    (("good",), "t.csv: --output-column label: one class only ('good'); a classifier needs two or more"),
    (("good, really", "bad"), "t.csv: --output-column label: a label holds a comma (['"),
])
def test_one_class_or_a_comma_in_a_label_is_one_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                     labels: tuple[str, ...], message: str) -> None:
    monkeypatch.setenv("LLM_RECIPES_ROOT", str(tmp_path))
    conversion, _ = converted(tmp_path, reviews(40, labels))
    with pytest.raises(InputError) as refused:
        new.label_set(conversion, "mine", "label", "t.csv")
    assert str(refused.value).startswith(message)
    if len(labels) > 1:
        assert str(refused.value).endswith("]); rename it with --label-map")


def test_the_classes_most_frequent_first_rows_without_one_left_out() -> None:
    from types import SimpleNamespace

    def staged(*labels: object) -> SimpleNamespace:
        return SimpleNamespace(labels=list(labels))

    conversion = SimpleNamespace(plan=SimpleNamespace(sets={"mine": staged("b", None, "a", "b"),
                                                             "mine_val": staged("c", "b", None, 1, 1, 1)}))
    assert new.label_set(conversion, "mine", "label", "t.csv") == ["b", "1", "a", "c"]
    with pytest.raises(InputError) as refused:
        new.label_set(SimpleNamespace(plan=SimpleNamespace(sets={"mine": staged("x,y", "z")})), "mine", "y", "s")
    assert str(refused.value) == ("s: --output-column y: a label holds a comma (['x,y', 'z']); rename it with "
                                  "--label-map")
    with pytest.raises(InputError) as refused:
        new.label_set(SimpleNamespace(plan=SimpleNamespace(sets={"mine": staged(None, None)})), "mine", "y", "s")
    assert str(refused.value) == "s: --output-column y: one class only (none); a classifier needs two or more"


def test_sets_another_converter_wrote_are_named_and_kept_without_force(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LLM_RECIPES_ROOT", str(tmp_path))
    names = ["mine", "mine_val", "mine_test"]
    new.check_sets_free(names, False)  # no registry yet
    (tmp_path / "data").mkdir()
    registry = tmp_path / "data" / "dataset_info.json"
    registry.write_text(json.dumps({"mine": {"file_name": "mine.jsonl", "converter": "generic"},
                                    "mine_val": {"file_name": "mine_val.jsonl"},
                                    "other": {"file_name": "o.jsonl", "converter": "agnews"}}), encoding="utf-8")
    new.check_sets_free(names, False)  # this command's own sets, and one no converter recorded
    registry.write_text(json.dumps({"mine_test": {"file_name": "t.jsonl", "converter": "yelp"},
                                    "mine": {"file_name": "m.jsonl", "converter": "agnews"}}), encoding="utf-8")
    with pytest.raises(InputError) as refused:
        new.check_sets_free(names, False)
    assert str(refused.value) == ("data/dataset_info.json: 'mine', 'mine_test' were written by convert agnews and "
                                  "convert yelp: choose another NAME, or --force to replace it")
    new.check_sets_free(names, True)
    registry.write_text(json.dumps({"mine_val": {"file_name": "v.jsonl", "converter": "yelp"}}), encoding="utf-8")
    with pytest.raises(InputError, match=r"^data/dataset_info.json: 'mine_val' was written by convert yelp: "):
        new.check_sets_free(names, False)


def test_the_recipes_folder_and_chain_of_a_name(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LLM_RECIPES_ROOT", str(tmp_path))
    assert new.targets("mine") == (tmp_path / "recipes" / "mine", tmp_path / "recipes" / "reproduce" / "mine.yaml")


def test_a_reports_chain_is_never_replaced(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LLM_RECIPES_ROOT", str(tmp_path))
    (tmp_path / "recipes" / "reproduce").mkdir(parents=True)
    (tmp_path / "recipes" / "reproduce" / "agnews.yaml").write_text("steps: []\n", encoding="utf-8")
    with pytest.raises(InputError) as refused:
        new.create(build_parser().parse_args(["agnews", "--data", "x.csv", "--task", "generate", "--force"]))
    assert str(refused.value) == "agnews is a report's chain: choose another NAME"
    with pytest.raises(InputError) as refused:  # without --force: it exists
        new.create(build_parser().parse_args(["agnews", "--data", "x.csv", "--task", "generate"]))
    assert str(refused.value) == ("agnews already exists (recipes/reproduce/agnews.yaml): choose another NAME, or "
                                  "--force to replace it")
    (tmp_path / "recipes" / "agnews").mkdir()  # recipes new wrote before under that name: --force replaces them
    with pytest.raises(InputError) as refused:
        new.create(build_parser().parse_args(["agnews", "--data", "x.csv", "--task", "generate", "--force",
                                              "--model", "nobody/none"]))
    assert str(refused.value).startswith("--model nobody/none: its config.json is not available offline")


@pytest.mark.parametrize(("rows", "message"), [
    (39, "t.csv: 39 rows: too few for train / val / test splits (at least 40 needed)"),
    (40, "data/dataset_info.json: 'mine_test' was written by convert yelp"),  # the count passes: the next check
])
def test_forty_rows_are_the_fewest_with_ten_held_out_twice(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                           rows: int, message: str) -> None:
    """A tenth of the rows for each held-out set but at least 10, leaving at least 20 to train."""
    monkeypatch.setenv("LLM_RECIPES_ROOT", str(tmp_path))
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "dataset_info.json").write_text(json.dumps(
        {"mine_test": {"file_name": "t.jsonl", "converter": "yelp"}}), encoding="utf-8")
    table = write_table(tmp_path / "t.csv", reviews(rows))
    args = build_parser().parse_args(["mine", "--data", str(table), "--task", "classify", "--input-column", "text",
                                      "--output-column", "label", "--gpu", "t4"])
    with pytest.raises(InputError) as refused:
        new.create(args)
    assert str(refused.value).endswith(message) if rows == 39 else str(refused.value).startswith(message)


# --- new.py: what it prints


def test_the_report_names_the_counts_the_plans_and_the_one_command(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    from recipekit.plan.gpus import resolve_gpu

    monkeypatch.setenv("LLM_RECIPES_ROOT", str(tmp_path))
    conversion, _ = converted(tmp_path, reviews(60, ("good", "bad", "fine")))
    folder = tmp_path / "recipes" / "mine"
    folder.mkdir(parents=True)
    for name in ("train.yaml", "predict.yaml", "notes.txt"):
        (folder / name).write_text("", encoding="utf-8")
    found = Search(None, None, resolve_gpu("t4"), 2, 40, 16)  # type: ignore[arg-type]
    found.simulations = {i: None for i in range(3)}  # type: ignore[misc]
    planned = [Planned(Candidate("full", 0, False, True, 8, 1), 12.34, 0.0, 1.0, 10, 0.5, 1.234, True),
               Planned(Candidate("lora", 3, True, False, 1, 8), 80.0, 2.0, 2.0, 10, 1.0, None, False,
                       "does not fit: too big")]
    args = parsed("--data", "t.csv", "--task", "classify", "--input-column", "text", "--output-column", "label")
    new.report(args, "the tokenizer", "the longest row: 9 tokens (60 rows measured)", 0, planned, found, conversion,
               folder, tmp_path / "recipes" / "reproduce" / "mine.yaml", ["good", "bad"])
    out = capsys.readouterr().out.splitlines()
    assert out[0] == "rows: mine 40, mine_val 10, mine_test 10; labels: good, bad"
    assert out[1] == "tokens per row by the tokenizer; cutoff_len the longest row: 9 tokens (60 rows measured)"
    assert out[2] == ("planned 2 candidates on 2 x T4 16GB from 3 simulated steps (shared across candidates), "
                      "global batch 16:")
    table = [line for line in out if line.startswith("|")]
    assert [cell.strip() for cell in table[0].split("|")[1:-1]] == ["", "plan", "peak GiB", "hours", "cost", "why"]
    cells = [[cell.strip() for cell in line.split("|")[1:-1]] for line in table[2:]]
    assert cells == [["chosen", "full, no DeepSpeed, checkpointing, batch 8 x 1 accumulation", "12.3", "0.5",
                      "$1.23", "the fastest that fits"],
                     ["", "lora, ZeRO-3 + CPU offload, no checkpointing, batch 1 x 8 accumulation", "80.0", "1",
                      "-", "does not fit: too big"]]
    assert ("chosen: full fine-tuning, the fastest that fits; its output (saves/mine/full/train) is the whole model, "
            "so there is no export step") in out
    assert out[-2] == ("wrote recipes/mine/ (predict.yaml, train.yaml), recipes/reproduce/mine.yaml and "
                       "data/mine*.jsonl")
    assert out[-1] == ("run it all: llm-recipes reproduce mine --gpus 2   (a CPU rehearsal on a tiny model: "
                       "llm-recipes reproduce mine --tiny)")
    one = Search(None, None, resolve_gpu("t4"), 1, 40, 16)  # type: ignore[arg-type]
    lora = [Planned(Candidate("qlora", 0, False, True, 16, 1), 5.0, 0.0, 1.0, 10, 0.25, 0.5, True)]
    new.report(args, "a tiny BPE", "why", 0, lora, one, conversion, folder, tmp_path / "c.yaml", None)
    out = capsys.readouterr().out.splitlines()
    assert out[0] == "rows: mine 40, mine_val 10, mine_test 10"  # no labels: nothing after the counts
    assert not any(line.startswith("chosen: full") for line in out)
    assert out[-1].startswith("run it all: llm-recipes reproduce mine   (a CPU")  # one GPU: no --gpus
