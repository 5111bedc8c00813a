"""llm-recipes train-classifier: a classification head trained by the HF Trainer on the converters' sets, on tiny
BERT / DeBERTa-v2 / Qwen2 models built here; its predictions read by the eval scripts unchanged."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml
from conftest import ROOT, rows_of, run_cli, run_script

from recipekit.classify.data import class_weights
from recipekit.classify.model import trainable_parameters, with_lora
from recipekit.classify.training import weighted_loss
from recipekit.converters.catalog import make_fixture_dataset
from recipekit.errors import InputError
from recipekit.recipes.classifier import ClassifierArguments

pytestmark = pytest.mark.integration  # trains tiny models or starts processes

TINY = ["--vocab-size", "512", "--hidden", "32", "--intermediate", "64", "--layers", "2", "--heads", "2"]


@pytest.fixture(scope="module")
def setup(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """The afqmc, yelp5 and arena fixture sets converted by their converters, and tiny BERT, DeBERTa-v2 and Qwen2."""
    work = tmp_path_factory.mktemp("classifier")
    data = work / "data"
    for name in ("afqmc", "yelp5", "arena"):
        make_fixture_dataset(name, work / "raw", data)
    paths = {"work": work, "data": data}
    for arch in ("bert", "deberta-v2", "qwen2"):
        out = work / arch
        done = run_cli("tiny-model", "--texts", *sorted(data.glob("*.jsonl")), "--out", out, "--arch", arch, *TINY)
        assert done.returncode == 0, done.stderr
        paths[arch] = out
    return paths


def recipe(setup: dict[str, Path], name: str, **values: object) -> Path:
    base = {"model_name_or_path": str(setup["bert"]), "dataset": "afqmc", "eval_dataset": "afqmc_val",
            "dataset_dir": str(setup["data"]), "labels": "是,否", "text_pair_separator": "句子2：",
            "cutoff_len": 64, "output_dir": str(setup["work"] / "runs" / name), "per_device_train_batch_size": 4,
            "learning_rate": 1.0e-3, "logging_steps": 1, "report_to": "none", "do_train": True}
    path = setup["work"] / f"{name}.yaml"
    path.write_text(yaml.safe_dump({**base, **values}, allow_unicode=True), encoding="utf-8")
    return path


def train(path: Path, *overrides: str) -> dict:
    done = run_cli("train-classifier", path, *overrides)
    assert done.returncode == 0, done.stderr[-3000:]
    out = Path(yaml.safe_load(path.read_text(encoding="utf-8"))["output_dir"])
    run = json.loads((out / "classifier_run.json").read_text(encoding="utf-8"))
    assert (f"{path}: {run['trainable_parameters']:,} trainable of {run['all_parameters']:,} parameters, "
            f"labels {run['labels']}") in done.stdout
    return run


@pytest.mark.mutation
def test_bert_base_lora_trains_the_reports_parameter_count() -> None:
    """bert-base-uncased (transformers' BertConfig defaults are its published numbers) with LoRA r8 on
    query/value and a 5-way head: 298,757 trainable of 109,784,842, the Yelp report's figures and peft's."""
    from transformers import AutoModelForSequenceClassification, BertConfig

    config = BertConfig(num_labels=5)
    assert (config.vocab_size, config.hidden_size, config.num_hidden_layers, config.num_attention_heads,
            config.intermediate_size, config.max_position_embeddings) == (30522, 768, 12, 12, 3072, 512)
    with torch.device("meta"):
        model = AutoModelForSequenceClassification.from_config(config)
    args = ClassifierArguments(model_name_or_path="bert-base-uncased", finetuning_type="lora", lora_rank=8,
                               lora_alpha=16, lora_dropout=0.1, lora_target="query,value")
    peft_model = with_lora(model, args, ["classifier"])
    assert trainable_parameters(peft_model) == (298_757, 109_784_842)
    assert peft_model.get_nb_trainable_parameters() == (298_757, 109_784_842)


@pytest.mark.mutation
def test_class_weights_are_torchs_weighted_cross_entropy() -> None:
    logits, labels = torch.randn(6, 3, generator=torch.Generator().manual_seed(0)), torch.tensor([0, 1, 2, 2, 1, 0])
    weights = class_weights({"b": 3.0}, ["a", "b", "c"], [0, 1, 2])
    assert weights == [1.0, 3.0, 1.0]
    expected = torch.nn.CrossEntropyLoss(weight=torch.tensor(weights))(logits, labels)
    assert torch.allclose(weighted_loss(logits, labels, weights), expected)
    assert not torch.allclose(expected, torch.nn.CrossEntropyLoss()(logits, labels))
    from sklearn.utils.class_weight import compute_class_weight

    ids = [0, 0, 0, 1]
    assert class_weights("balanced", ["是", "否"], ids) == pytest.approx(
        list(compute_class_weight("balanced", classes=np.arange(2), y=np.array(ids))))
    with pytest.raises(InputError, match=r"names \['maybe'\], which are not labels"):
        class_weights({"maybe": 2}, ["是", "否"], ids)
    with pytest.raises(InputError, match="never occur in the training set"):
        class_weights("balanced", ["是", "否", "?"], ids)


@pytest.mark.mutation
def test_text_pairs_train_with_metrics_per_eval_and_feed_the_eval_scripts(setup: dict[str, Path]) -> None:
    """AFQMC pairs on a tiny BERT with class weights: accuracy/F1/log loss at every evaluation in trainer_state,
    prediction rows as score_labels writes them, read by classify_report and calibrate threshold unchanged."""
    path = recipe(setup, "afqmc_bert", class_weights={"是": 3.0, "否": 1.0}, max_steps=4, eval_strategy="steps",
                  eval_steps=2, save_steps=2, predict_dataset="afqmc_test", do_predict=True, max_samples=20,
                  metric_for_best_model="f1")
    run = train(path)
    out = setup["work"] / "runs" / "afqmc_bert"
    assert run["class_weights"] == [3.0, 1.0] and run["labels"] == ["是", "否"]
    assert run["train_rows"] == 20  # max_samples of the fixture's 24 training pairs
    assert run["predictions"] == {name: str(out / f"predictions_{name}.jsonl") for name in ("afqmc_val", "afqmc_test")}
    history = json.loads((out / "trainer_state.json").read_text(encoding="utf-8"))["log_history"]
    evals = [h for h in history if "eval_f1" in h]
    assert [h["step"] for h in evals] == [2, 4]
    best = max(evals, key=lambda h: (h["eval_f1"], -h["step"]))  # the earliest of equal scores stays the best
    assert (run["metric_for_best_model"], run["best_metric"]) == ("f1", pytest.approx(best["eval_f1"]))
    assert run["best_checkpoint"] == str(out / f"checkpoint-{best['step']}")
    for folder in (out, out / "checkpoint-2", out / "checkpoint-4"):  # each loads on its own, its tokenizer beside it
        assert (folder / "tokenizer.json").is_file() and (folder / "tokenizer_config.json").is_file(), folder
    from transformers import AutoModelForSequenceClassification

    whole = AutoModelForSequenceClassification.from_pretrained(setup["bert"], num_labels=2)  # full fine-tuning
    assert run["all_parameters"] == run["trainable_parameters"] == sum(p.numel() for p in whole.parameters())
    assert all(0 <= h["eval_accuracy"] <= 1 and h["eval_log_loss"] > 0 for h in evals)
    # the trainer log a step runner follows, in LLaMA-Factory's fields: one record per log of trainer_state (then
    # the evaluation after training, which trainer_state.json, saved before it, does not hold)
    progress = rows_of(out / "trainer_log.jsonl")
    assert [(r["current_steps"], r["total_steps"], r.get("loss"), r.get("eval_loss"))
            for r in progress[:len(history)]] == [(h["step"], 4, h.get("loss"), h.get("eval_loss")) for h in history]
    assert progress[-1]["percentage"] == 100 and set(progress[0]) >= {"elapsed_time", "remaining_time"}
    val = rows_of(out / "predictions_afqmc_val.jsonl")
    assert len(val) == 8 and set(val[0]) >= {"prompt", "predict", "label", "probs", "logprobs"}
    gold = rows_of(setup["data"] / "afqmc_val.jsonl")
    assert [row["label"] for row in val] == [row["output"] for row in gold]  # the dataset's own answers, in order
    assert [row["prompt"] for row in val] == [row["input"] for row in gold]
    assert val[0]["prompt"].startswith("句子1：") and "\n句子2：" in val[0]["prompt"]
    for row in val:
        assert math.isclose(sum(row["probs"].values()), 1.0, abs_tol=1e-9)
        assert row["predict"] == max(row["probs"], key=row["probs"].get)
        assert math.isclose(math.exp(row["logprobs"]["是"]), row["probs"]["是"], rel_tol=1e-9)
    test = rows_of(out / "predictions_afqmc_test.jsonl")
    assert all(row["label"] == "" and "id" in row for row in test)
    # the saved classifier, in a predict-only run of its own, gives the same test predictions
    again = recipe(setup, "afqmc_bert_predict", model_name_or_path=str(out), dataset="", eval_dataset="",
                   do_train=False, do_predict=True, predict_dataset="afqmc_test")
    assert train(again)["train_rows"] == 0
    repeated = rows_of(setup["work"] / "runs" / "afqmc_bert_predict" / "predictions_afqmc_test.jsonl")
    assert [(r["id"], r["predict"]) for r in repeated] == [(r["id"], r["predict"]) for r in test]
    assert [r["probs"]["是"] for r in repeated] == pytest.approx([r["probs"]["是"] for r in test], abs=1e-6)
    # include_instruction: the model reads each row's instruction before its input
    framed = recipe(setup, "afqmc_bert_framed", model_name_or_path=str(out), dataset="", eval_dataset="",
                    do_train=False, do_predict=True, predict_dataset="afqmc_test", include_instruction=True)
    train(framed)
    asked = rows_of(setup["data"] / "afqmc_test.jsonl")
    assert [r["prompt"] for r in rows_of(setup["work"] / "runs" / "afqmc_bert_framed" / "predictions_afqmc_test.jsonl")
            ] == [f"{row['instruction']}\n{row['input']}" for row in asked]
    accuracy = sum(r["predict"] == g["output"] for r, g in zip(val, gold, strict=True)) / len(val)
    assert run["eval_metrics"]["eval_accuracy"] == pytest.approx(accuracy)
    # the loss is torch's class-weighted cross entropy: sum of weight x -log p(gold) over the sum of the weights
    weight = {"是": 3.0, "否": 1.0}
    weighted = sum(weight[r["label"]] * -r["logprobs"][r["label"]] for r in val) / sum(weight[r["label"]] for r in val)
    assert run["eval_metrics"]["eval_loss"] == pytest.approx(weighted, rel=1e-5)
    assert run["eval_metrics"]["eval_loss"] != pytest.approx(run["eval_metrics"]["eval_log_loss"], rel=1e-3)
    report = run_cli("report", "classify", out / "predictions_afqmc_val.jsonl", "--out", out / "report")
    assert report.returncode == 0, report.stderr
    scored = json.loads((out / "report" / "classify_report.json").read_text(encoding="utf-8"))
    assert scored["accuracy"] == pytest.approx(accuracy) and scored["n_invalid"] == 0
    assert scored["macro"]["f1"] == pytest.approx(run["eval_metrics"]["eval_f1"])
    assert scored["probabilistic"]["log_loss"] == pytest.approx(run["eval_metrics"]["eval_log_loss"])
    calibrated = run_cli("calibrate", "threshold", "--val", out / "predictions_afqmc_val.jsonl",
                         "--test", out / "predictions_afqmc_test.jsonl", "--out", out / "calibrated")
    assert calibrated.returncode == 0, calibrated.stderr
    assert list((out / "calibrated").glob("*.jsonl"))
    plotted = run_cli("plot", out)
    assert plotted.returncode == 0, plotted.stderr
    assert (out / "task_metrics.png").stat().st_size > 0
    summary = json.loads((out / "training_summary.json").read_text(encoding="utf-8"))["runs"][0]
    assert summary["best_eval_f1"] == pytest.approx(max(h["eval_f1"] for h in evals))


@pytest.mark.mutation
def test_rows_longer_than_the_model_are_cut_at_cutoff_len(setup: dict[str, Path]) -> None:
    """A BERT of 16 positions reads the AFQMC pairs (longer) in training, evaluation and prediction only because
    each is cut at cutoff_len 16, longest first: the written probabilities are the saved model's on those cuts."""
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    short = setup["work"] / "bert16"
    built = run_cli("tiny-model", "--texts", *sorted(setup["data"].glob("*.jsonl")), "--out", short, "--arch", "bert",
                    "--max-positions", "16", *TINY)
    assert built.returncode == 0, built.stderr
    path = recipe(setup, "afqmc_cut", model_name_or_path=str(short), finetuning_type="full", cutoff_len=16,
                  max_steps=1, predict_dataset="afqmc_test", do_predict=True)
    run = train(path)
    out = setup["work"] / "runs" / "afqmc_cut"
    assert run["eval_metrics"]["eval_loss"] > 0
    tokenizer = AutoTokenizer.from_pretrained(out)
    model = AutoModelForSequenceClassification.from_pretrained(out).eval()
    asked = rows_of(setup["data"] / "afqmc_test.jsonl")
    firsts, seconds = zip(*(row["input"].split("\n", 1) for row in asked), strict=True)
    assert all(second.startswith("句子2：") for second in seconds)
    assert max(len(ids) for ids in tokenizer(list(firsts), list(seconds))["input_ids"]) > 16  # the cut bites
    cut = tokenizer(list(firsts), list(seconds), truncation="longest_first", max_length=16, padding=True,
                    return_tensors="pt")
    with torch.no_grad():
        probs = torch.softmax(model(**cut).logits, dim=-1)[:, 0].tolist()  # p(是), the first label
    written = rows_of(out / "predictions_afqmc_test.jsonl")
    assert [row["probs"]["是"] for row in written] == pytest.approx(probs, abs=1e-5)
    # a checkpoint whose config also returns the hidden states: the Trainer then predicts a tuple, logits first
    config = json.loads((out / "config.json").read_text(encoding="utf-8"))
    (out / "config.json").write_text(json.dumps({**config, "output_hidden_states": True}), encoding="utf-8")
    again = recipe(setup, "afqmc_cut_states", model_name_or_path=str(out), finetuning_type="full", cutoff_len=16,
                   dataset="", eval_dataset="", do_train=False, do_predict=True, predict_dataset="afqmc_test")
    train(again)
    states = rows_of(setup["work"] / "runs" / "afqmc_cut_states" / "predictions_afqmc_test.jsonl")
    assert [row["probs"]["是"] for row in states] == pytest.approx(probs, abs=1e-5)


# trains until eval loss and F1 disagree: half a minute
def test_best_checkpoint_follows_f1_where_eval_loss_disagrees(setup: dict[str, Path]) -> None:
    """A run whose lowest eval loss and highest macro-F1 fall on different steps keeps the F1 one (and, asked
    for log loss, the lowest log loss)."""
    # evaluated on the training pairs (the fixture's held-out pairs cannot be learnt from them): macro-F1 rises from
    # 0.33 (one class everywhere) to 1.0 while the loss still falls, so highest F1 and lowest loss fall apart
    common = dict(finetuning_type="full", eval_dataset="afqmc", learning_rate=5.0e-3, max_steps=24,
                  eval_strategy="steps", eval_steps=2, save_steps=2, load_best_model_at_end=True)
    for metric, key, pick in (("f1", "eval_f1", max), ("log_loss", "eval_log_loss", min)):
        path = recipe(setup, f"select_{metric}", metric_for_best_model=metric, **common)
        run = train(path)
        out = setup["work"] / "runs" / f"select_{metric}"
        evals = [h for h in json.loads((out / "trainer_state.json").read_text(encoding="utf-8"))["log_history"]
                 if key in h]
        best = pick(evals, key=lambda h: (h[key], -h["step"] if pick is max else h["step"]))  # earliest of ties
        worst = (min if pick is max else max)(evals, key=lambda h: h[key])
        assert worst[key] != best[key], f"{key} does not vary over this run: any checkpoint would pass"
        assert run["best_checkpoint"] == str(out / f"checkpoint-{best['step']}")
        assert run["best_metric"] == pytest.approx(best[key])
        if metric == "f1":
            lowest_loss = min(evals, key=lambda h: (h["eval_loss"], h["step"]))
            assert lowest_loss["step"] != best["step"], "this run's loss and F1 no longer disagree"
            assert run["eval_metrics"]["eval_f1"] == pytest.approx(best["eval_f1"])  # the best was loaded


@pytest.mark.mutation
def test_decoder_with_a_head_trains_lora_on_every_linear_layer(setup: dict[str, Path]) -> None:
    """A tiny Qwen2 with a sequence-classification head (the arena winners' approach): LoRA on all linear layers
    but the head, which is trained whole; the run's count equals peft's."""
    path = recipe(setup, "afqmc_qwen", model_name_or_path=str(setup["qwen2"]), finetuning_type="lora",
                  lora_rank=4, lora_target="all", class_weights="balanced", max_steps=2)
    run = train(path)
    out = setup["work"] / "runs" / "afqmc_qwen"
    adapter = json.loads((out / "adapter_config.json").read_text(encoding="utf-8"))
    assert adapter["task_type"] == "SEQ_CLS" and "score" in adapter["modules_to_save"]
    assert set(adapter["target_modules"]) == {"q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj",
                                              "down_proj"}
    from peft import LoraConfig, TaskType, get_peft_model
    from transformers import AutoModelForSequenceClassification

    base = AutoModelForSequenceClassification.from_pretrained(setup["qwen2"], num_labels=2)
    expected = get_peft_model(base, LoraConfig(task_type=TaskType.SEQ_CLS, r=4, target_modules=[
        "q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]))
    assert run["trainable_parameters"] == expected.get_nb_trainable_parameters()[0]  # adapters + the whole head
    assert run["class_weights"] == [1.0, 1.0]  # balanced on the fixture's 12 + 12 pairs: n / (k * count) = 1


@pytest.mark.mutation
def test_deberta_arena_triples_with_swapped_copies_feed_calibrate_swap(setup: dict[str, Path]) -> None:
    path = recipe(setup, "arena_deberta", model_name_or_path=str(setup["deberta-v2"]), dataset="arena",
                  eval_dataset="arena_val", predict_dataset="arena_val_swapped,arena_test", do_predict=True,
                  labels="A,B,tie", text_pair_separator="### Response A", max_steps=2, cutoff_len=128)
    train(path)
    out = setup["work"] / "runs" / "arena_deberta"
    original = rows_of(out / "predictions_arena_val.jsonl")
    swapped = rows_of(out / "predictions_arena_val_swapped.jsonl")
    assert [r["id"] for r in original] == [r["id"] for r in swapped]
    assert all(r["prompt"].startswith("### Prompt") and "\n### Response A" in r["prompt"] for r in original)
    done = run_cli("calibrate", "swap", "--original", out / "predictions_arena_val.jsonl",
                   "--swapped", out / "predictions_arena_val_swapped.jsonl", "--out", out / "swap")
    assert done.returncode == 0, done.stderr
    test = rows_of(out / "predictions_arena_test.jsonl")
    done = run_cli("submission", out / "predictions_arena_test.jsonl", "--out", out / "submission.csv")
    assert done.returncode == 0, done.stderr
    lines = (out / "submission.csv").read_text(encoding="utf-8").splitlines()
    assert lines[0] == "id,winner_model_a,winner_model_b,winner_tie" and len(lines) == len(test) + 1
    first = lines[1].split(",")
    assert first[0] == str(test[0]["id"])
    assert [float(x) for x in first[1:]] == pytest.approx([test[0]["probs"][k] for k in ("A", "B", "tie")], abs=1e-6)


@pytest.mark.mutation
def test_bad_recipes_are_one_line_errors(setup: dict[str, Path]) -> None:
    cases = [
        (recipe(setup, "bad_key", lora_rnak=8), "Some keys are not used by the HfArgumentParser: ['lora_rnak']"),
        (recipe(setup, "bad_labels", labels="same,different"), "afqmc.jsonl:1: answer '否' is not one of the labels"),
        (recipe(setup, "bad_pair", text_pair_separator="@@"), "afqmc.jsonl:1: text_pair_separator '@@' does not"),
        (recipe(setup, "bad_type", finetuning_type="freeze"), "finetuning_type must be one of ('full', 'lora')"),
        (recipe(setup, "bad_stop", early_stopping_steps=2),
         "early_stopping_steps needs load_best_model_at_end: true and metric_for_best_model"),
        (recipe(setup, "no_train_set", dataset=""), "a training run needs dataset: NAME"),
        (recipe(setup, "best_unseen", eval_dataset="", load_best_model_at_end=True, eval_strategy="steps",
                metric_for_best_model="f1"), "load_best_model_at_end needs eval_dataset"),
    ]
    for path, message in cases:
        done = run_cli("train-classifier", path)
        assert done.returncode == 2, (path, done.stderr[-2000:])
        assert message in done.stderr and "Traceback" not in done.stderr
        if path.stem in ("bad_stop", "no_train_set", "best_unseen"):  # the whole message, to the end of the line
            assert done.stderr.strip() == f"error: {message}"
        assert len(done.stderr.strip().splitlines()) == 1, done.stderr
    lora_zero3 = recipe(setup, "lora_zero3", finetuning_type="lora",
                        deepspeed=str(ROOT / "recipes/deepspeed/ds_z3_config.json"))
    done = run_script("scripts/train_classifier.py", lora_zero3, env={"FORCE_TORCHRUN": "1", "NPROC_PER_NODE": "2"})
    assert done.returncode == 2 and done.stderr.count("error:") == 1 and "use recipes/deepspeed/ds_z2" in done.stderr


def test_help_shows_an_example() -> None:
    done = run_script("scripts/train_classifier.py", "--help")
    assert done.returncode == 0
    assert "llm-recipes train-classifier recipes/classifier/yelp5_bert_lora.yaml" in done.stdout
