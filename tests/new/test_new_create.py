"""`llm-recipes new` as one command, on a tiny architecture whose simulated steps are written by hand into the plan
cache (so the search and the planner simulate nothing) and with LLaMA-Factory's token count of each row stood in
for by a function that reads the converted sets it is given: every file it writes (the sets and their registry, the
recipes, the chain), every line it prints and what it returns, each written out here."""

from __future__ import annotations

import argparse
import csv
import json
import os
import sys
from dataclasses import asdict
from pathlib import Path
from typing import Any

import pytest
import yaml
from stand_in_model import ROW_ACTIVATIONS, ROW_FLOPS, SEQ, TINY, P, T, simulation

from recipekit.commands.new import build_parser
from recipekit.errors import InputError
from recipekit.plan.models import load_config
from recipekit.plan.simulate import Shape, cache_key
from recipekit.reproduce import new
from recipekit.reproduce.scaffold import NO_PUBLISHED

GIB = 2**30


def tiny_model(tmp_path: Path, folder: str) -> Path:
    """The architecture's folder, every step a search at the cutoff may ask for already in the plan cache."""
    model = tmp_path / folder
    model.mkdir()
    (model / "config.json").write_text(json.dumps(TINY), encoding="utf-8")
    config = load_config(str(model))
    cache = Path(os.environ["LLM_RECIPES_CACHE"]) / "plan"
    cache.mkdir(parents=True, exist_ok=True)
    for batch in range(1, 17):
        for method in ("full", "lora"):
            for checkpointing in (False, True):
                shape = Shape(batch=batch, seq=SEQ, method=method, lora_rank=8, lora_alpha=16, lora_target="all",
                              lora_dropout=0.0 if method == "full" else 0.05,
                              gradient_checkpointing=checkpointing, dpo=False, head_labels=None, bf16=True,
                              attention="sdpa", fused_loss=False)
                (cache / f"{cache_key(config, shape)}.json").write_text(json.dumps(asdict(simulation(shape))),
                                                                        encoding="utf-8")
    return model


class TokenCounts:
    """Stands in for LLaMA-Factory's token count of every row (its data pipeline is the integration tier's): reads
    the sets it is given from the registry it is given, says what it measured with, and, as LLaMA-Factory does,
    writes its logs on stdout and stderr. Every row is ``SEQ`` tokens but the last, ``longest``."""

    def __init__(self, longest: int) -> None:
        self.longest = longest
        self.calls: list[dict[str, Any]] = []

    def __call__(self, data_dir: Path, names: list[str], registry: dict[str, Any], model: str,
                 template: str | None) -> tuple[list[int], str]:
        sys.stdout.write("[llamafactory] Running tokenizer on dataset\n")
        sys.stderr.write("Converting format of dataset: 100%\n")
        on_disk = json.loads((data_dir / "dataset_info.json").read_text(encoding="utf-8"))
        rows = {name: len((data_dir / registry[name]["file_name"]).read_text(encoding="utf-8").splitlines())
                for name in names}
        self.calls.append({"folder": data_dir.name, "names": names, "registry": registry == on_disk,
                           "model": model, "template": template, "rows": rows})
        return [SEQ] * (sum(rows.values()) - 1) + [self.longest], "the stand-in's count"


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A repository root of its own (an empty data/), the plan cache beside it."""
    root = tmp_path / "root"
    (root / "data").mkdir(parents=True)
    monkeypatch.setenv("LLM_RECIPES_ROOT", str(root))
    monkeypatch.setenv("LLM_RECIPES_CACHE", str(tmp_path / "cache"))
    monkeypatch.chdir(tmp_path)
    return root


def counted(monkeypatch: pytest.MonkeyPatch, longest: int) -> TokenCounts:
    import recipekit.recipes.datacheck

    counts = TokenCounts(longest)
    monkeypatch.setattr(recipekit.recipes.datacheck, "row_lengths", counts)
    return counts


def write_table(path: Path, header: list[str], rows: list[list[str]]) -> Path:
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(header)
        writer.writerows(rows)
    return path


def parsed(*argv: str) -> argparse.Namespace:
    return build_parser().parse_args(list(argv))


def header_and_body(text: str) -> tuple[list[str], list[tuple[str, Any]]]:
    """A recipe's comment lines as written, and its YAML's (key, value) pairs in the file's order."""
    head, body = text.split("\n\n", 1)
    return head.split("\n"), list(yaml.safe_load(body).items())


def jsonl(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


CLASSES = ("good", "bad", "good", "fine", "bad", "good")  # 3 : 2 : 1


def test_a_classifier_on_two_named_cards_writes_its_sets_recipes_and_chain_and_says_so(
        project: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    """120 rows: a tenth (12) held out twice, 96 to train; the cutoff the 99th percentile (one row of 200 tokens
    cut to 64); LoRA on 2 x A10 (the card as people write it), the fastest that fits."""
    model = tiny_model(tmp_path, "org-qwen-tiny")
    counts = counted(monkeypatch, 200)
    table = write_table(project / "t.csv", ["id", "text", "label"],
                        [[str(i), f"review {i}", CLASSES[i % 6]] for i in range(120)])
    done = new.create(parsed("mine", "--data", str(table), "--task", "classify", "--input-column", "text",
                             "--output-column", "label", "--model", str(model), "--gpu", "A10", "--gpus", "2",
                             "--method", "lora"))
    printed = capsys.readouterr()

    # LLaMA-Factory's logs hidden; it measured the three sets as converted, with the model and its chat template
    assert printed.err == ""
    assert counts.calls == [{"folder": "data", "names": ["mine", "mine_val", "mine_test"], "registry": True,
                             "model": str(model), "template": "qwen",
                             "rows": {"mine": 96, "mine_val": 12, "mine_test": 12}}]

    # the chosen plan worked out by hand: LoRA without checkpointing at 8 rows a GPU (16 a step): the frozen base
    # in 16 bits, 16 bytes per adapter parameter, 8 rows of activations, 10% on top and 1 GiB of context
    peak = (GIB + 1.1 * (2 * (P - T) + 16 * T + 8 * ROW_ACTIVATIONS[False])) / GIB
    # 96 rows / 16 = 6 steps an epoch, 3 epochs; a step: 8 rows on the roof of an A10 (125 TFLOP/s, 90%)
    hours = 18 * 8 * ROW_FLOPS[("lora", False)] / (125e12 * 0.9) / 3600
    assert (f"{peak:.1f}", f"{hours:.3g}", f"{hours:.1f}", f"{hours * 1.39 * 2:.2f}") == ("19.5", "0.142", "0.1",
                                                                                           "0.40")
    assert printed.out.splitlines() == [
        "rows: mine 96, mine_val 12, mine_test 12; labels: good, bad, fine",
        "tokens per row by the stand-in's count; cutoff_len the 99th percentile of 120 rows: 64 tokens (the longest "
        "is 200); 1 row(s) longer are cut to it",
        "planned 8 candidates on 2 x A10 24GB from 2 simulated steps (shared across candidates), global batch 16:",
        "|  | plan | peak GiB | hours | cost | why |",
        "|---|---|---|---|---|---|",
        "| chosen | lora, no DeepSpeed, no checkpointing, batch 8 x 1 accumulation | 19.5 | 0.142 | $0.40 | the "
        "fastest that fits |",
        "|  | lora, ZeRO-2, no checkpointing, batch 8 x 1 accumulation | 19.5 | 0.142 | $0.40 | slower: 1.00x the "
        "chosen plan's time |",
        "|  | lora, ZeRO-3, no checkpointing, batch 8 x 1 accumulation | 18.6 | 0.143 | $0.40 | slower: 1.00x the "
        "chosen plan's time |",
        "|  | lora, ZeRO-3 + CPU offload, no checkpointing, batch 8 x 1 accumulation | 17.6 | 0.144 | $0.40 | slower: "
        "1.01x the chosen plan's time |",
        "|  | lora, no DeepSpeed, checkpointing, batch 8 x 1 accumulation | 6.4 | 0.178 | $0.49 | slower: 1.25x the "
        "chosen plan's time |",
        "|  | lora, ZeRO-2, checkpointing, batch 8 x 1 accumulation | 6.3 | 0.178 | $0.49 | slower: 1.25x the "
        "chosen plan's time |",
        "|  | lora, ZeRO-3, checkpointing, batch 8 x 1 accumulation | 5.5 | 0.179 | $0.50 | slower: 1.26x the "
        "chosen plan's time |",
        "|  | lora, ZeRO-3 + CPU offload, checkpointing, batch 8 x 1 accumulation | 4.5 | 0.18 | $0.50 | slower: "
        "1.26x the chosen plan's time |",
        "wrote recipes/mine/ (export.yaml, predict.yaml, train.yaml), recipes/reproduce/mine.yaml and "
        "data/mine*.jsonl",
        "run it all: llm-recipes reproduce mine --gpus 2   (a CPU rehearsal on a tiny model: llm-recipes reproduce "
        "mine --tiny)"]

    folder = project / "recipes" / "mine"
    chain_path = project / "recipes" / "reproduce" / "mine.yaml"
    plans = done.pop("plans")
    assert done == {"cutoff_len": 64, "rows_cut": 1, "lengths_by": "the stand-in's count",
                    "labels": ["good", "bad", "fine"], "simulations": 2,
                    "recipes": [str(folder / "export.yaml"), str(folder / "predict.yaml"), str(folder / "train.yaml")],
                    "chain": str(chain_path)}
    assert [p["choice"] for p in plans] == [
        f"lora, {zero}, {gc}, batch 8 x 1 accumulation" for gc in ("no checkpointing", "checkpointing")
        for zero in ("no DeepSpeed", "ZeRO-2", "ZeRO-3", "ZeRO-3 + CPU offload")]
    assert plans[0]["peak_gib"] == pytest.approx(peak, abs=1e-3) and plans[0]["hours"] == pytest.approx(hours,
                                                                                                        rel=1e-4)
    assert (plans[0]["steps"], plans[0]["fits"], plans[0]["why"]) == (18, True, "")

    # the sets: in the root's data/, recorded as `convert generic`'s, the held-out sets stratified (3 : 2 : 1)
    data = project / "data"
    entry = {"formatting": "alpaca", "columns": {"prompt": "instruction", "query": "input", "response": "output"},
             "converter": "generic"}
    assert json.loads((data / "dataset_info.json").read_text(encoding="utf-8")) == {
        name: {"file_name": f"{name}.jsonl", **entry} for name in ("mine", "mine_val", "mine_test")}
    sets = {name: jsonl(data / f"{name}.jsonl") for name in ("mine", "mine_val", "mine_test")}
    assert sorted(row["input"] for rows in sets.values() for row in rows) == sorted(f"review {i}" for i in range(120))
    assert all(row["output"] == CLASSES[int(row["input"].split()[1]) % 6] and row["instruction"] == ""
               for rows in sets.values() for row in rows)
    for held in ("mine_val", "mine_test"):
        assert sorted(row["output"] for row in sets[held]) == ["bad"] * 4 + ["fine"] * 2 + ["good"] * 6

    # the recipes, every line
    assert sorted(p.name for p in folder.iterdir()) == ["export.yaml", "predict.yaml", "train.yaml"]
    common = ["# Report: none (your own dataset mine: no published numbers; its chain is recipes/reproduce/mine.yaml).",
              "# Hardware: 2x A10 24GB"]
    launch = "# Launch (from the repository root, after the chain's convert step):"
    assert header_and_body((folder / "train.yaml").read_text(encoding="utf-8")) == ([
        f"# mine: classify (SFT, lora) of {model}, written by llm-recipes new; change a value, then re-check with "
        "llm-recipes check recipes and llm-recipes plan recipes/mine/train.yaml --gpu a10 --gpus 2.", "#", launch,
        "#   FORCE_TORCHRUN=1 llamafactory-cli train recipes/mine/train.yaml", "#", *common,
        "# Global batch: 8 per device x 1 accumulation x 2 GPUs = 16 rows per optimizer step",
        "# Target: this run's numbers on mine_test with 95% intervals (llm-recipes reproduce mine).",
        "# Plan (planned on 2x A10 24GB: 19.5 GiB peak per GPU at 8 x 64 tokens, fits; 0.1 h, $0.40)."], [
        ("model_name_or_path", str(model)), ("stage", "sft"), ("do_train", True), ("finetuning_type", "lora"),
        ("lora_rank", 8), ("lora_alpha", 16), ("lora_dropout", 0.05), ("lora_target", "all"), ("dataset", "mine"),
        ("eval_dataset", "mine_val"), ("dataset_dir", "data"), ("template", "qwen"), ("cutoff_len", 64),
        ("output_dir", "saves/mine/lora/train"), ("logging_steps", 10), ("save_strategy", "epoch"),
        ("overwrite_output_dir", True), ("report_to", "none"), ("plot_loss", True),
        ("per_device_train_batch_size", 8), ("gradient_accumulation_steps", 1),
        ("disable_gradient_checkpointing", True), ("learning_rate", 1.0e-4), ("num_train_epochs", 3.0),
        ("lr_scheduler_type", "cosine"), ("warmup_ratio", 0.1), ("bf16", True), ("seed", 42),
        ("per_device_eval_batch_size", 8), ("eval_strategy", "epoch")])
    assert header_and_body((folder / "predict.yaml").read_text(encoding="utf-8")) == ([
        "# mine: greedy answers of the trained model for mine_test (llm-recipes new).", "#", launch,
        "#   llamafactory-cli train recipes/mine/predict.yaml", "#", *common, "# Global batch: none (prediction only).",
        "# Target: saves/mine/lora/predict/generated_predictions.jsonl, scored by the chain's report step."], [
        ("model_name_or_path", str(model)), ("adapter_name_or_path", "saves/mine/lora/train"),
        ("finetuning_type", "lora"), ("stage", "sft"), ("do_predict", True), ("eval_dataset", "mine_test"),
        ("dataset_dir", "data"), ("template", "qwen"), ("cutoff_len", 64), ("output_dir", "saves/mine/lora/predict"),
        ("overwrite_output_dir", True), ("report_to", "none"), ("per_device_eval_batch_size", 8),
        ("predict_with_generate", True), ("do_sample", False), ("max_new_tokens", 16), ("bf16", True)])
    assert header_and_body((folder / "export.yaml").read_text(encoding="utf-8")) == ([
        f"# mine: the adapter of recipes/mine/train.yaml merged into {model} (llm-recipes new).", "#", launch,
        "#   llamafactory-cli export recipes/mine/export.yaml   # the merge alone", "#",
        "# Report: none (exports what recipes/mine/train.yaml trains).", "# Hardware: CPU (export_device cpu).",
        "# Global batch: none (an export trains nothing).",
        "# Target: saves/mine/lora/merged: the merged weights, the tokenizer and a model card."], [
        ("model_name_or_path", str(model)), ("adapter_name_or_path", "saves/mine/lora/train"), ("template", "qwen"),
        ("finetuning_type", "lora"), ("export_dir", "saves/mine/lora/merged"), ("export_size", 2),
        ("export_device", "cpu"), ("export_legacy_format", False)])

    # the chain: two comment lines, then its steps (the convert step names the table relative to the root)
    text = chain_path.read_text(encoding="utf-8")
    assert text.splitlines()[:2] == [
        f"# mine: classify on {table} with {model}, written by llm-recipes new.",
        "# Run: llm-recipes reproduce mine (--tiny: a CPU rehearsal on a tiny model; --dry-run: the commands)."]
    recipes = "recipes/mine/train.yaml recipes/mine/predict.yaml recipes/mine/export.yaml"
    data_files = ["data/mine.jsonl", "data/mine_val.jsonl", "data/mine_test.jsonl"]
    scores = "saves/mine/lora/predict/label_scores.jsonl"
    labels = "--labels good,bad,fine"
    assert yaml.safe_load(text) == {
        "title": f"mine: classify with {model} (llm-recipes new)",
        "steps": [
            {"name": "convert", "run": "llm-recipes convert generic --input t.csv --name mine --input-column text "
                                       "--output-column label --stratify --val-size 12 --test-size 12 --data-dir data",
             "outputs": data_files},
            {"name": "check", "run": f"llm-recipes check recipes {recipes}", "inputs": recipes.split()},
            {"name": "contamination", "run": "llm-recipes check contamination recipes/mine/train.yaml "
                                             "recipes/mine/predict.yaml --data-dir data --out '{out}/contamination'",
             "outputs": ["{out}/contamination/contamination.json"], "inputs": ["data/dataset_info.json", *data_files]},
            {"name": "plan", "run": "llm-recipes plan recipes/mine/train.yaml --gpu a10 --gpus 2 --out "
                                    "'{out}/plan/train'",
             "outputs": ["{out}/plan/train/plan.json"], "inputs": ["recipes/mine/train.yaml"]},
            {"name": "train", "run": "llamafactory-cli train recipes/mine/train.yaml"},
            {"name": "predict", "run": "llamafactory-cli train recipes/mine/predict.yaml"},
            {"name": "score", "run": f"llm-recipes score --recipe recipes/mine/predict.yaml {labels} --out {scores}",
             "tiny": f"llm-recipes score --recipe '{{out}}/recipes/mine/predict.yaml' {labels} --out {scores}",
             "outputs": [scores], "inputs": ["saves/mine/lora/predict/generated_predictions.jsonl"]},
            {"name": "report", "run": f"llm-recipes report classify {scores} {labels} --out '{{out}}/reports/test' "
                                      "--recipe recipes/mine/predict.yaml",
             "tiny": f"llm-recipes report classify {scores} {labels} --out '{{out}}/reports/test' --recipe "
                     "'{out}/recipes/mine/predict.yaml'",
             "outputs": ["{out}/reports/test/classify_report.json"], "inputs": [scores]},
            {"name": "export", "run": "llm-recipes export recipes/mine/export.yaml --report '{out}/reports/test' "
                                      "--eval-dataset mine_test",
             "inputs": ["{out}/reports/test/classify_report.json"]}],
        "differences": [NO_PUBLISHED],
        "numbers": [{"name": name, "metric": metric, "report": "{out}/reports/test", "set": "mine_test"}
                    for name, metric in (("accuracy", "accuracy"), ("macro-F1", "macro_f1"),
                                         ("log loss", "log_loss"))]}


def test_a_full_generation_run_replaces_the_names_recipes_and_sets_with_force(
        project: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    """A second run under the same name with --force: the sets another converter wrote replaced, the recipes this
    run no longer writes (an export, an older file) removed, other files kept; full fine-tuning on the one H100
    named (no --gpus): no export, no label scoring; every row within the cutoff."""
    model = tiny_model(tmp_path, "org-gemma-tiny")
    counted(monkeypatch, SEQ)
    folder = project / "recipes" / "mine"
    folder.mkdir(parents=True)
    for name in ("train.yaml", "export.yaml", "old.yaml", "notes.txt"):
        (folder / name).write_text(f"{name} of an earlier run\n", encoding="utf-8")
    (project / "recipes" / "reproduce").mkdir()
    (project / "recipes" / "reproduce" / "mine.yaml").write_text("title: earlier\n", encoding="utf-8")
    data = project / "data"
    (data / "dataset_info.json").write_text(json.dumps({
        "mine": {"file_name": "mine.jsonl", "converter": "yelp"}, "mine_val": {"file_name": "mine_val.jsonl"},
        "other": {"file_name": "other.jsonl", "converter": "agnews"}}), encoding="utf-8")
    for name in ("mine", "mine_val", "other"):
        (data / f"{name}.jsonl").write_text('{"instruction": "old", "input": "", "output": "old"}\n',
                                            encoding="utf-8")
    table = write_table(tmp_path / "qa.csv", ["question", "answer"],
                        [[f"How far is stop {i}?", f"{i} km"] for i in range(60)])
    argv = ("mine", "--data", str(table), "--task", "generate", "--instruction", "Answer briefly.",
            "--input-column", "question", "--output-column", "answer", "--model", str(model), "--gpu", "H100",
            "--method", "full")
    with pytest.raises(InputError) as refused:  # without --force: the name is taken
        new.create(parsed(*argv))
    assert str(refused.value) == ("mine already exists (recipes/mine): choose another NAME, or --force to replace "
                                  "it")
    done = new.create(parsed(*argv, "--force"))
    printed = capsys.readouterr()
    assert printed.err == ""
    # 60 rows: 10 held out twice (the least), 40 to train; batch 16 on one card, 3 steps in all
    out = printed.out.splitlines()
    assert out[:3] == [
        "rows: mine 40, mine_val 10, mine_test 10",
        "tokens per row by the stand-in's count; cutoff_len the longest row: 64 tokens (60 rows measured)",
        "planned 4 candidates on 1 x H100 SXM 80GB from 2 simulated steps (shared across candidates), global batch 16:"]
    assert out[-3:] == [
        "chosen: full fine-tuning, the fastest that fits; its output (saves/mine/full/train) is the whole model, so "
        "there is no export step",
        "wrote recipes/mine/ (predict.yaml, train.yaml), recipes/reproduce/mine.yaml and data/mine*.jsonl",
        "run it all: llm-recipes reproduce mine   (a CPU rehearsal on a tiny model: llm-recipes reproduce mine "
        "--tiny)"]
    assert (done["cutoff_len"], done["rows_cut"], done["labels"], done["plans"][0]["choice"]) == (
        64, 0, None, "full, no DeepSpeed, no checkpointing, batch 16 x 1 accumulation")
    assert done["recipes"] == [str(folder / "predict.yaml"), str(folder / "train.yaml")]

    assert sorted(p.name for p in folder.iterdir()) == ["notes.txt", "predict.yaml", "train.yaml"]
    assert (folder / "notes.txt").read_text(encoding="utf-8") == "notes.txt of an earlier run\n"
    registry = json.loads((data / "dataset_info.json").read_text(encoding="utf-8"))
    entry = {"formatting": "alpaca", "columns": {"prompt": "instruction", "query": "input", "response": "output"},
             "converter": "generic"}
    assert registry == {"mine": {"file_name": "mine.jsonl", **entry}, "mine_val": {"file_name": "mine_val.jsonl",
                                                                                   **entry},
                        "other": {"file_name": "other.jsonl", "converter": "agnews"},
                        "mine_test": {"file_name": "mine_test.jsonl", **entry}}
    sets = {name: jsonl(data / f"{name}.jsonl") for name in ("mine", "mine_val", "mine_test")}
    assert {name: len(rows) for name, rows in sets.items()} == {"mine": 40, "mine_val": 10, "mine_test": 10}
    assert sorted((r["instruction"], r["input"], r["output"]) for rows in sets.values() for r in rows) == sorted(
        ("Answer briefly.", f"How far is stop {i}?", f"{i} km") for i in range(60))

    train_head, train = header_and_body((folder / "train.yaml").read_text(encoding="utf-8"))
    assert train_head[0] == (f"# mine: generate (SFT, full) of {model}, written by llm-recipes new; change a value, "
                             "then re-check with llm-recipes check recipes and llm-recipes plan "
                             "recipes/mine/train.yaml --gpu h100-80g --gpus 1.")
    assert train_head[3] == "#   llamafactory-cli train recipes/mine/train.yaml"
    assert train_head[6:8] == ["# Hardware: 1x H100 SXM 80GB",
                               "# Global batch: 16 per device x 1 accumulation x 1 GPU = 16 rows per optimizer step"]
    assert dict(train)["template"] == "gemma" and dict(train)["finetuning_type"] == "full"
    assert (dict(train)["learning_rate"], dict(train)["output_dir"]) == (1.0e-5, "saves/mine/full/train")
    _, predict = header_and_body((folder / "predict.yaml").read_text(encoding="utf-8"))
    assert predict[:2] == [("model_name_or_path", "saves/mine/full/train"), ("stage", "sft")]
    assert dict(predict)["max_new_tokens"] == 512

    text = (project / "recipes" / "reproduce" / "mine.yaml").read_text(encoding="utf-8")
    assert text.splitlines()[:2] == [
        f"# mine: generate on {table} with {model}, written by llm-recipes new.",
        "# Run: llm-recipes reproduce mine (--tiny: a CPU rehearsal on a tiny model; --dry-run: the commands)."]
    content = yaml.safe_load(text)
    assert content["title"] == f"mine: generate with {model} (llm-recipes new)"
    steps = {step["name"]: step for step in content["steps"]}
    assert list(steps) == ["convert", "check", "contamination", "plan", "train", "predict", "report"]
    assert steps["convert"]["run"] == (
        f"llm-recipes convert generic --input {table} --name mine --instruction 'Answer briefly.' --input-column "
        "question --output-column answer --val-size 10 --test-size 10 --data-dir data")
    assert steps["plan"]["run"] == ("llm-recipes plan recipes/mine/train.yaml --gpu h100-80g --gpus 1 --out "
                                    "'{out}/plan/train'")
    assert steps["report"]["run"] == ("llm-recipes report gen saves/mine/full/predict/generated_predictions.jsonl "
                                      "--out '{out}/reports/test'")
    assert [n["metric"] for n in content["numbers"]] == ["bleu-4", "rouge-1", "rouge-2", "rouge-l"]


def test_a_classifier_of_one_class_is_one_line_naming_its_table_and_writes_nothing(
        project: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    model = tiny_model(tmp_path, "org-qwen-tiny")
    counts = counted(monkeypatch, SEQ)
    table = write_table(project / "t.csv", ["text", "label"], [[f"review {i}", "good"] for i in range(40)])
    with pytest.raises(InputError) as refused:
        new.create(parsed("mine", "--data", str(table), "--task", "classify", "--input-column", "text",
                          "--output-column", "label", "--model", str(model), "--gpu", "t4"))
    assert str(refused.value) == (f"{table}: --output-column label: one class only ('good'); a classifier needs two "
                                  "or more")
    assert counts.calls == []
    assert sorted(str(p.relative_to(project)) for p in project.rglob("*")) == ["data", "t.csv"]


# --- the pieces `new` reads its source and converts with


def test_a_tables_columns_are_those_of_each_splits_first_row(tmp_path: Path) -> None:
    """A JSONL source whose rows differ: the first row says what the columns are."""
    source = tmp_path / "rows.jsonl"
    source.write_text('{"text": "a", "label": "x"}\n{"text": "b", "label": "y", "extra": "z"}\n', encoding="utf-8")
    flags = ("mine", "--data", str(source), "--task", "generate", "--output-column", "label")
    assert new.read_columns(parsed(*flags, "--input-column", "text")) == (2, ["text", "label"])
    with pytest.raises(InputError) as refused:
        new.read_columns(parsed(*flags, "--input-column", "extra"))
    assert str(refused.value) == f"{source}: --input-column 'extra': no such column (columns: text, label)"


def test_a_hub_source_is_read_by_datasets(tmp_path: Path) -> None:
    """--hf goes through datasets.load_dataset, which reads a local dataset folder of any file name (a folder of
    split files read directly would need train.csv, test.csv ...)."""
    hub = tmp_path / "org-set"
    hub.mkdir()
    write_table(hub / "reviews.csv", ["body", "stars"], [[f"text {i}", str(i % 5)] for i in range(7)])
    assert new.read_columns(parsed("mine", "--hf", str(hub), "--task", "generate", "--input-column", "body",
                                   "--output-column", "stars")) == (7, ["body", "stars"])


def test_a_conversion_checks_its_held_out_sets_against_its_training_set(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Forty copies of one row: each of the 20 training rows is also in the validation set, which the commit of
    the sets named by --name refuses."""
    monkeypatch.setenv("LLM_RECIPES_ROOT", str(tmp_path))
    table = write_table(tmp_path / "same.csv", ["text", "answer"], [["the same question", "the same answer"]] * 40)
    args = parsed("mine", "--data", str(table), "--task", "generate", "--input-column", "text", "--output-column",
                  "answer")
    data = tmp_path / "data"
    with pytest.raises(InputError) as refused:
        new.convert(new.convert_flags(args, 10), data)
    assert str(refused.value) == (
        f"{data}: 20 row(s) of mine are also in mine_val (same prompt and answer): a held-out set must not overlap "
        "its training set; nothing was written (--drop-overlap removes them from mine)")
    assert not (data / "dataset_info.json").exists()


def test_a_qlora_recipe_names_its_4_bit_base_beside_the_adapters_settings() -> None:
    from recipekit.plan.fit import Candidate
    from recipekit.reproduce.new_recipes import NewRun, train_args

    run = NewRun("mine", "generate", "org/model", "qwen", 128, "bf16", Candidate("qlora", 3, False, False, 2, 8))
    assert list(train_args(run).items())[:11] == [
        ("model_name_or_path", "org/model"), ("stage", "sft"), ("do_train", True), ("finetuning_type", "lora"),
        ("lora_rank", 8), ("lora_alpha", 16), ("lora_dropout", 0.05), ("lora_target", "all"),
        ("quantization_bit", 4), ("deepspeed", "recipes/deepspeed/ds_z3_config.json"), ("dataset", "mine")]
