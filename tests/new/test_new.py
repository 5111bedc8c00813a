"""`llm-recipes new`: a raw table with its own column names to recipes, a chain and (slow) a tiny run's card; bad
inputs are one line each with nothing written."""

from __future__ import annotations

import csv
import json
import random
import shutil
from pathlib import Path

import pytest
import yaml
from conftest import ROOT, run_cli

from recipekit.reproduce.chain import load_chain

SENTIMENTS = ("positive", "negative", "neutral")


def write_reviews(path: Path, rows: int = 200, classes: tuple[str, ...] = SENTIMENTS) -> Path:
    """A CSV with its own column names: order_id, review_text, sentiment."""
    rng = random.Random(0)
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["order_id", "review_text", "sentiment"])
        for i in range(rows):
            label = classes[i % len(classes)]
            writer.writerow([f"A{i:04d}", f"Order {i}: the parcel was {label} and item {rng.randint(0, 999)} came "
                                          f"{'early' if label == 'positive' else 'late'}", label])
    return path


def write_pairs(path: Path, rows: int = 200) -> Path:
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["question", "good_answer", "bad_answer"])
        for i in range(rows):
            writer.writerow([f"How do I reset device {i}?", f"Hold the button of device {i} for ten seconds.",
                             f"Device {i} cannot be reset."])
    return path


def project(tmp_path: Path) -> Path:
    """A repository root of its own: the DeepSpeed configs a plan may name, nothing else."""
    root = tmp_path / "project"
    shutil.copytree(ROOT / "recipes" / "deepspeed", root / "recipes" / "deepspeed")
    (root / "data").mkdir()
    return root


def files_under(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


CLASSIFY = ("--task", "classify", "--input-column", "review_text", "--output-column", "sentiment", "--instruction",
            "Is this review positive, negative or neutral?", "--gpu", "t4")


@pytest.mark.integration
def test_a_classify_table_becomes_recipes_and_a_chain_with_its_labels(tmp_path: Path) -> None:
    root = project(tmp_path)
    raw = write_reviews(tmp_path / "reviews.csv")
    ran = run_cli("--root", root, "new", "reviews", "--data", raw, *CLASSIFY, "--method", "lora", cwd=root)
    assert ran.returncode == 0, ran.stderr
    assert "run it all: llm-recipes reproduce reviews" in ran.stdout
    # 200 rows: a tenth each for validation and test (stratified: 20 rows hold the three classes 7/7/6)
    assert "rows: reviews 160, reviews_val 20, reviews_test 20" in ran.stdout
    test_rows = [json.loads(line) for line in (root / "data" / "reviews_test.jsonl").read_text().splitlines()]
    assert sorted({r["output"] for r in test_rows}) == sorted(SENTIMENTS)
    registered = json.loads((root / "data" / "dataset_info.json").read_text())
    assert {name: entry["converter"] for name, entry in registered.items()} == {
        "reviews": "generic", "reviews_val": "generic", "reviews_test": "generic"}  # as `convert generic` records
    train = yaml.safe_load((root / "recipes/reviews/train.yaml").read_text())
    assert train["finetuning_type"] == "lora" and train["dataset"] == "reviews" and train["fp16"] is True  # T4: fp16
    assert train["per_device_train_batch_size"] * train["gradient_accumulation_steps"] == 16
    header = (root / "recipes/reviews/train.yaml").read_text().split("\n\n")[0]
    assert "# Plan (planned on 1x T4 16GB:" in header
    assert {p.name for p in (root / "recipes/reviews").iterdir()} == {"train.yaml", "predict.yaml", "export.yaml"}
    chain_file = root / "recipes/reproduce/reviews.yaml"
    steps = [s["name"] for s in yaml.safe_load(chain_file.read_text())["steps"]]
    assert steps == ["convert", "check", "contamination", "plan", "train", "predict", "score", "report", "export"]
    chain = load_chain(str(chain_file))
    assert [n.metric for n in chain.numbers] == ["accuracy", "macro_f1", "log_loss"]
    assert all(n.published is None for n in chain.numbers)
    score = yaml.safe_load(chain_file.read_text())["steps"][6]["run"]
    assert "--labels " in score and set(score.split("--labels ")[1].split()[0].split(",")) == set(SENTIMENTS)
    again = run_cli("--root", root, "new", "reviews", "--data", raw, *CLASSIFY, cwd=root)
    assert again.returncode == 2 and again.stderr.startswith("error: reviews already exists")


@pytest.mark.parametrize(("change", "expected"), [
    (("--input-column", "review"), "--input-column 'review': no such column (columns: order_id, review_text, "
                                   "sentiment)"),
    (("--model", "nobody/no-such-model"), "--model nobody/no-such-model: its config.json is not available "
                                          "offline"),
    (("--template", "Order {order_ID}"), "--template {order_ID} 'order_ID': no such column (columns: order_id, "
                                         "review_text, sentiment)"),
])
def test_bad_flags_are_one_line_and_write_nothing(tmp_path: Path, change: tuple[str, str], expected: str) -> None:
    root = project(tmp_path)
    raw = write_reviews(tmp_path / "reviews.csv")
    before = files_under(root)
    flags = list(CLASSIFY)
    if change[0] in flags:
        flags[flags.index(change[0]) + 1] = change[1]
    else:
        flags += list(change)
    ran = run_cli("--root", root, "new", "reviews", "--data", raw, *flags, cwd=root)
    assert ran.returncode == 2 and ran.stderr.startswith("error: ") and ran.stderr.count("\n") == 1, ran.stderr
    assert expected in ran.stderr
    assert files_under(root) == before


def test_an_existing_name_without_force_is_one_line_and_changes_nothing(tmp_path: Path) -> None:
    root = project(tmp_path)
    (root / "recipes" / "reviews").mkdir()
    (root / "recipes" / "reviews" / "train.yaml").write_text("stage: sft\n", encoding="utf-8")
    before = files_under(root)
    ran = run_cli("--root", root, "new", "reviews", "--data", write_reviews(tmp_path / "reviews.csv"), *CLASSIFY,
                  cwd=root)
    assert (ran.returncode, ran.stderr) == (2, "error: reviews already exists (recipes/reviews): choose another "
                                               "NAME, or --force to replace it\n")
    assert files_under(root) == before


def test_no_gpu_here_and_no_gpu_flag_asks_for_gpu(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import torch

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)  # the same answer on a machine with a GPU
    root = project(tmp_path)
    before = files_under(root)
    flags = list(CLASSIFY[:-2])
    assert "--gpu" not in flags
    ran = run_cli("--root", root, "new", "reviews", "--data", write_reviews(tmp_path / "reviews.csv"), *flags,
                  cwd=root)
    assert ran.returncode == 2 and ran.stderr.count("\n") == 1, ran.stderr
    assert ran.stderr.startswith("error: no GPU on this machine: name the card the run will use with --gpu (t4, ")
    assert files_under(root) == before


def test_sets_another_converter_wrote_are_replaced_only_with_force(tmp_path: Path) -> None:
    root = project(tmp_path)
    registry = root / "data" / "dataset_info.json"
    registry.write_text(json.dumps({"reviews_test": {"file_name": "reviews_test.jsonl", "converter": "agnews"}}),
                        encoding="utf-8")
    before = files_under(root)
    ran = run_cli("--root", root, "new", "reviews", "--data", write_reviews(tmp_path / "reviews.csv"), *CLASSIFY,
                  cwd=root)
    assert (ran.returncode, ran.stderr) == (2, "error: data/dataset_info.json: 'reviews_test' was written by "
                                               "convert agnews: choose another NAME, or --force to replace it\n")
    assert files_under(root) == before


@pytest.mark.parametrize(("rows", "classes", "expected"), [
    (200, ("positive",), "--output-column sentiment: one class only ('positive')"),
    (30, SENTIMENTS, "30 rows: too few for train / val / test splits (at least 40 needed)"),
])
def test_bad_data_is_one_line_and_writes_nothing(tmp_path: Path, rows: int, classes: tuple[str, ...],
                                                 expected: str) -> None:
    root = project(tmp_path)
    raw = write_reviews(tmp_path / "reviews.csv", rows, classes)
    before = files_under(root)
    ran = run_cli("--root", root, "new", "reviews", "--data", raw, *CLASSIFY, cwd=root)
    assert ran.returncode == 2 and ran.stderr.startswith("error: ") and ran.stderr.count("\n") == 1, ran.stderr
    assert expected in ran.stderr
    assert files_under(root) == before


def test_a_full_runs_chain_has_no_export_and_its_card_says_there_are_no_published_numbers(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from recipekit.plan.fit import Candidate
    from recipekit.report.card import render_markdown
    from recipekit.reproduce.card import build_card
    from recipekit.reproduce.chain import Layout
    from recipekit.reproduce.new_recipes import NewRun, predict_args, train_args
    from recipekit.reproduce.scaffold import chain, chain_text

    monkeypatch.setenv("LLM_RECIPES_ROOT", str(tmp_path))
    run = NewRun("mine", "generate", "Qwen/Qwen2.5-0.5B-Instruct", "qwen", 128, "bf16",
                 Candidate("full", 0, False, False, 16, 1))
    assert predict_args(run)["model_name_or_path"] == train_args(run)["output_dir"]  # the trained whole model
    flags = ["--input", "qa.csv", "--name", "mine", "--input-column", "q", "--output-column", "a"]
    path = tmp_path / "recipes" / "reproduce" / "mine.yaml"
    path.parent.mkdir(parents=True)
    path.write_text(chain_text([], chain(run, flags, None, "a100-80g", 1, "mine: generate")), encoding="utf-8")
    text = path.read_text(encoding="utf-8")
    assert "export" not in text and "recipes/mine/predict.yaml" in text
    assert [s["name"] for s in yaml.safe_load(text)["steps"]] == ["convert", "check", "contamination", "plan",
                                                                 "train", "predict", "report"]
    out = tmp_path / "out"
    (out / "reports" / "test").mkdir(parents=True)
    (out / "reports" / "test" / "gen_report.json").write_text(json.dumps({
        "n": 20, "llamafactory": {"bleu-4": 31.5, "rouge-1": 40.0, "rouge-2": 20.0, "rouge-l": 35.0},
        "ci": {"bleu-4": [25.0, 38.0], "rouge-1": [33.0, 47.0], "rouge-2": [14.0, 26.0], "rouge-l": [29.0, 41.0]}}),
        encoding="utf-8")
    card = build_card(Layout(load_chain(str(path)), out, tiny=False), [], {})
    assert card["first_line"] == ("mine: generate: this run's numbers with their 95% intervals; there are no "
                                  "published numbers to compare.")
    assert [(n["name"], n["run"], n["ci95"], n["n"], n["verdict"]) for n in card["numbers"]] == [
        ("BLEU-4", 31.5, [25.0, 38.0], 20, "no published number"),
        ("ROUGE-1", 40.0, [33.0, 47.0], 20, "no published number"),
        ("ROUGE-2", 20.0, [14.0, 26.0], 20, "no published number"),
        ("ROUGE-L", 35.0, [29.0, 41.0], 20, "no published number")]
    markdown = render_markdown(card)
    assert "\nReport: none (your own dataset: no published numbers). wandb group: `reproduce-mine`.\n" in markdown
    assert "| BLEU-4 | - | 31.5 | [25, 38] | 20 | - | no published number |" in markdown


TASKS = {
    "classify": lambda tmp: ("--data", write_reviews(tmp / "reviews.csv"), *CLASSIFY, "--method", "lora"),
    "generate": lambda tmp: ("--data", write_pairs(tmp / "pairs.csv"), "--task", "generate", "--input-column",
                             "question", "--output-column", "good_answer", "--gpu", "a100-80g"),
    "preference": lambda tmp: ("--data", write_pairs(tmp / "pairs.csv"), "--task", "preference", "--input-column",
                               "question", "--chosen-column", "good_answer", "--rejected-column", "bad_answer",
                               "--gpu", "rtx4090"),
}


# the classify chain in CI; the other two task kinds in `make test-all` (the same chain runner, other recipes)
@pytest.mark.slow
@pytest.mark.parametrize("task", ["classify", *(pytest.param(task, marks=pytest.mark.extended)
                                               for task in TASKS if task != "classify")])
def test_each_task_goes_from_a_raw_file_to_a_tiny_runs_card(tmp_path: Path, task: str) -> None:
    root = project(tmp_path)
    ran = run_cli("--root", root, "new", "mine", *TASKS[task](tmp_path), cwd=root)
    assert ran.returncode == 0, ran.stderr
    tiny = run_cli("--root", root, "reproduce", "mine", "--tiny", "--out", root / "tiny", cwd=root)
    assert tiny.returncode == 0, tiny.stderr[-3000:]
    card = json.loads((root / "tiny" / "report_card.json").read_text())
    assert card["first_line"].endswith("there are no published numbers to compare.")
    metrics = {n["metric"] for n in card["numbers"]}
    assert metrics == ({"accuracy", "macro_f1", "log_loss"} if task == "classify" else
                       {"bleu-4", "rouge-1", "rouge-2", "rouge-l"})
    for number in card["numbers"]:
        assert number["verdict"] == "no published number" and number["n"] > 0
        assert number["ci95"][0] <= number["run"] <= number["ci95"][1]
    if task == "preference":
        assert yaml.safe_load((root / "recipes/mine/train.yaml").read_text())["stage"] == "dpo"
    if task == "generate":  # full fine-tuning on the 80 GB card: its output is the whole model, nothing to export
        assert "chosen: full fine-tuning, the fastest that fits" in ran.stdout
        assert sorted(p.name for p in (root / "recipes/mine").iterdir()) == ["predict.yaml", "train.yaml"]
        assert "export" not in (root / "recipes/reproduce/mine.yaml").read_text()
