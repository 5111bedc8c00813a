"""The classifier trainer's parts without a training run: its metrics against scikit-learn, its weighted loss
against torch's weighted cross-entropy, its ``trainer_log.jsonl`` lines and callback, its Trainer class and the
labels a recipe trains on."""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from conftest import write_jsonl
from sklearn.metrics import accuracy_score, f1_score, log_loss

from recipekit.classify.training import (
    choose_labels,
    compute_metrics,
    task_metrics,
    trainer_class,
    trainer_log_callback,
    trainer_log_record,
    weighted_loss,
)
from recipekit.errors import InputError
from recipekit.recipes.classifier import ClassifierArguments

LOGITS = np.array([[2.0, 0.5, -1.0], [0.1, 0.3, 0.2], [-2.0, 3.0, 0.0], [1.0, 1.0, 4.0], [0.0, -1.0, 0.5]])
GOLD = np.array([0, 2, 1, 2, 1])  # the argmaxes are 0, 1, 1, 2, 2: three right


def test_task_metrics_are_scikit_learns_over_every_label() -> None:
    probs = np.exp(LOGITS) / np.exp(LOGITS).sum(axis=1, keepdims=True)
    metrics = task_metrics(LOGITS, GOLD)
    assert metrics["accuracy"] == pytest.approx(3 / 5)
    assert metrics["f1"] == pytest.approx(f1_score(GOLD, probs.argmax(1), average="macro"))
    assert metrics["log_loss"] == pytest.approx(log_loss(GOLD, probs))
    half = LOGITS.astype(np.float16)  # an fp16 evaluation's logits: the softmax is taken in float64
    wide = half.astype(np.float64)
    expected = log_loss(GOLD, np.exp(wide) / np.exp(wide).sum(axis=1, keepdims=True))
    assert task_metrics(half, GOLD)["log_loss"] == pytest.approx(expected, rel=1e-12)
    # a label no row has nor predicts still counts (F1 0) in the macro mean; log loss is over all three columns
    gold = np.array([0, 1, 0, 1, 1])
    padded = task_metrics(np.column_stack([LOGITS[:, :2], np.full(5, -50.0)]), gold)
    predicted = LOGITS[:, :2].argmax(1)
    assert padded["f1"] == pytest.approx(f1_score(gold, predicted, labels=[0, 1, 2], average="macro",
                                                  zero_division=0))
    assert padded["f1"] == pytest.approx(2 / 3 * f1_score(gold, predicted, average="macro"))
    assert padded["accuracy"] == pytest.approx(accuracy_score(gold, predicted))


def test_compute_metrics_reads_the_first_of_a_tuple_of_predictions() -> None:
    plain = compute_metrics(SimpleNamespace(predictions=LOGITS, label_ids=GOLD.tolist()))
    assert plain == task_metrics(LOGITS, GOLD)
    assert compute_metrics(SimpleNamespace(predictions=(LOGITS, np.zeros((5, 7))), label_ids=GOLD)) == plain


def test_a_log_line_has_llamafactorys_fields_and_leaves_out_what_was_not_logged() -> None:
    line = trainer_log_record(5, 20, 10.9, {"loss": 1.25, "learning_rate": 2e-5, "epoch": 0.5, "other": 1})
    assert line == {"current_steps": 5, "total_steps": 20, "loss": 1.25, "lr": 2e-5, "epoch": 0.5,
                    "percentage": 25.0, "elapsed_time": "0:00:10", "remaining_time": "0:00:32"}  # 15 x 10.9 / 5
    evaluation = trainer_log_record(3, 7, 3725.0, {"eval_loss": 0.5})
    assert evaluation == {"current_steps": 3, "total_steps": 7, "eval_loss": 0.5, "percentage": 42.86,
                          "elapsed_time": "1:02:05", "remaining_time": "1:22:46"}  # 4 x 3725 / 3 = 4966.7 s
    assert trainer_log_record(0, 0, 2.0, {}) == {"current_steps": 0, "total_steps": 0, "percentage": 100,
                                                "elapsed_time": "0:00:02", "remaining_time": "0:00:00"}


def test_the_log_callback_starts_afresh_appends_a_line_a_log_and_writes_only_where_it_saves(tmp_path: Path) -> None:
    log = tmp_path / "out" / "trainer_log.jsonl"
    log.parent.mkdir()
    log.write_text('{"current_steps": 9}\n', encoding="utf-8")
    args = SimpleNamespace(should_save=True, resume_from_checkpoint=None, output_dir=str(log.parent))
    callback = trainer_log_callback()
    callback.on_log(args, SimpleNamespace(global_step=1, max_steps=4), None, logs={"loss": 2.0})
    assert log.read_text(encoding="utf-8") == '{"current_steps": 9}\n'  # nothing before the run begins
    callback.on_train_begin(args, None, None)
    assert not log.exists()
    for step, loss in ((1, 2.0), (2, 1.5)):
        callback.on_log(args, SimpleNamespace(global_step=step, max_steps=4), None, logs={"loss": loss})
    lines = [json.loads(line) for line in log.read_text(encoding="utf-8").splitlines()]
    assert [(line["current_steps"], line["total_steps"], line["loss"], line["percentage"]) for line in lines] == [
        (1, 4, 2.0, 25.0), (2, 4, 1.5, 50.0)]
    assert all(line["elapsed_time"] == "0:00:00" for line in lines)  # counted from the run's start, not the epoch
    callback.on_log(args, SimpleNamespace(global_step=3, max_steps=4), None)
    assert json.loads(log.read_text(encoding="utf-8").splitlines()[-1])["current_steps"] == 3

    resumed = trainer_log_callback()
    resumed.on_train_begin(SimpleNamespace(should_save=True, resume_from_checkpoint="ckpt",
                                           output_dir=str(log.parent)), None, None)
    assert len(log.read_text(encoding="utf-8").splitlines()) == 3  # a resumed run goes on with the file
    other_rank = SimpleNamespace(should_save=False, resume_from_checkpoint=None, output_dir=str(tmp_path / "rank1"))
    silent = trainer_log_callback()
    silent.on_train_begin(other_rank, None, None)
    silent.on_log(other_rank, SimpleNamespace(global_step=1, max_steps=4), None, logs={"loss": 1.0})
    assert not (tmp_path / "rank1").exists()
    not_saving = SimpleNamespace(should_save=False, resume_from_checkpoint=None, output_dir=str(log.parent))
    trainer_log_callback().on_train_begin(not_saving, None, None)
    assert log.exists()
    deep = SimpleNamespace(should_save=True, resume_from_checkpoint=None, output_dir=str(tmp_path / "a" / "b" / "c"))
    fresh = trainer_log_callback()
    fresh.on_train_begin(deep, None, None)
    fresh.on_log(deep, SimpleNamespace(global_step=1, max_steps=1), None, logs={"loss": 0.5})
    assert (tmp_path / "a" / "b" / "c" / "trainer_log.jsonl").is_file()  # its folders made as needed


def test_weighted_loss_is_torchs_weighted_cross_entropy_in_float32() -> None:
    logits = torch.tensor(LOGITS, dtype=torch.bfloat16)
    labels = torch.tensor(GOLD)
    weights = [0.5, 2.0, 1.0]
    nll = -torch.log_softmax(logits.float(), dim=-1)[torch.arange(5), labels]
    row_weights = torch.tensor(weights)[labels]
    expected = (nll * row_weights).sum() / row_weights.sum()
    loss = weighted_loss(logits, labels, weights)
    assert loss.dtype == torch.float32
    assert loss.item() == pytest.approx(expected.item(), rel=1e-6)
    assert loss.item() != pytest.approx(nll.mean().item(), rel=1e-3)


class Head(torch.nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.linear = torch.nn.Linear(3, 3)

    def forward(self, features: torch.Tensor, labels: torch.Tensor | None = None) -> SimpleNamespace:
        return SimpleNamespace(logits=self.linear(features))


def test_a_weighted_trainer_computes_the_weighted_loss_and_averages_over_accumulation(tmp_path: Path) -> None:
    from transformers import Trainer, TrainingArguments

    assert trainer_class(None) is Trainer
    weighted = trainer_class([0.5, 2.0, 1.0])
    assert issubclass(weighted, Trainer) and weighted is not Trainer
    model = Head()
    trainer = weighted(model=model, args=TrainingArguments(output_dir=str(tmp_path), report_to=[], use_cpu=True))
    assert trainer.model_accepts_loss_kwargs is False
    features = torch.tensor(LOGITS, dtype=torch.float32)
    labels = torch.tensor(GOLD)
    loss, outputs = trainer.compute_loss(model, {"features": features, "labels": labels}, return_outputs=True)
    expected = torch.nn.CrossEntropyLoss(weight=torch.tensor([0.5, 2.0, 1.0]))(model.linear(features), labels)
    assert loss.item() == pytest.approx(expected.item(), rel=1e-6)
    assert torch.equal(outputs.logits, model.linear(features))
    alone = trainer.compute_loss(model, {"features": features, "labels": labels})
    assert alone.item() == pytest.approx(expected.item(), rel=1e-6)
    arguments = TrainingArguments(output_dir=str(tmp_path / "positional"), report_to=[], use_cpu=True)
    positional = weighted(model, arguments)  # Trainer's own signature: model and args by position
    assert positional.model is model and positional.args is arguments


def registered(folder: Path, sets: dict[str, list[str]]) -> Path:
    for name, answers in sets.items():
        write_jsonl(folder / f"{name}.jsonl", [{"instruction": "", "input": f"text {i}", "output": answer}
                                                for i, answer in enumerate(answers)])
    registry = {name: {"file_name": f"{name}.jsonl"} for name in sets}
    (folder / "dataset_info.json").write_text(json.dumps(registry), encoding="utf-8")
    return folder


def args_for(folder: Path, **values: object) -> ClassifierArguments:
    return ClassifierArguments(model_name_or_path="m", dataset_dir=str(folder), **values)


def test_labels_are_the_recipes_in_its_order_or_the_sorted_answers_of_the_training_sets(tmp_path: Path) -> None:
    folder = registered(tmp_path, {"train": ["pos", "neg", " pos ", "", "neu"], "val": ["x", "y"],
                                   "more": ["zeta"], "one": ["a", "a"]})
    assert choose_labels(args_for(folder, labels="neg, pos")) == ["neg", "pos"]
    assert choose_labels(args_for(folder, labels=["b", "a", "c"])) == ["b", "a", "c"]
    assert choose_labels(args_for(folder, dataset="train")) == ["neg", "neu", "pos"]
    assert choose_labels(args_for(folder, dataset="train,more")) == ["neg", "neu", "pos", "zeta"]
    assert choose_labels(args_for(folder, dataset="train", max_samples=2)) == ["neg", "pos"]
    assert choose_labels(args_for(folder, eval_dataset="val")) == ["x", "y"]  # no training set
    assert choose_labels(args_for(folder, dataset="val", eval_dataset="train")) == ["x", "y"]


def test_the_class_weights_go_where_the_logits_are() -> None:
    """Logits on another device than the CPU (here "meta", as a GPU's would be on "cuda"): the weights follow them,
    else PyTorch refuses to mix devices."""
    logits = torch.empty(4, 3, device="meta")
    labels = torch.zeros(4, dtype=torch.long, device="meta")
    assert weighted_loss(logits, labels, [0.5, 2.0, 1.0]).device.type == "meta"


@pytest.mark.parametrize(("values", "message"), [
    ({"labels": "pos"}, "labels needs two or more distinct names, got 'pos'"),
    ({"labels": "pos,pos"}, "labels needs two or more distinct names, got 'pos,pos'"),
    ({"labels": "pos,,neg"}, "labels needs two or more distinct names, got 'pos,,neg'"),
    ({"dataset": "one"}, "one: fewer than two distinct answers ['a']; name the labels with labels: A,B,..."),
    ({"dataset": "train", "max_samples": 1}, "train: fewer than two distinct answers ['pos']; name the labels"),
    ({}, "no dataset: fewer than two distinct answers []"),
    ({"dataset": "one,same"}, "one,same: fewer than two distinct answers ['a']"),  # both sets named
])
def test_too_few_labels_is_one_line_naming_the_sets(tmp_path: Path, values: dict, message: str) -> None:
    folder = registered(tmp_path, {"train": ["pos", "neg"], "one": ["a", "a"], "same": ["a"]})
    with pytest.raises(InputError) as raised:
        choose_labels(args_for(folder, **values))
    assert str(raised.value).startswith(message)
