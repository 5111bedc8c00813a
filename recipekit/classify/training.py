"""Train, evaluate and predict with a classifier recipe on the HF ``Trainer``: accuracy, macro-F1 and log loss at
every evaluation, best checkpoint by the recipe's metric, early stopping, class-weighted loss, and prediction
rows in the shape ``eval/score_labels.py`` writes."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from scipy.special import log_softmax, softmax

from recipekit.classify.data import ClassSet, class_weights, load_set, raw_answers, tokenized
from recipekit.errors import InputError
from recipekit.eval.probabilities import selection_metrics
from recipekit.files import write_json, write_jsonl
from recipekit.recipes.classifier import ClassifierArguments


def task_metrics(logits: np.ndarray, label_ids: np.ndarray) -> dict[str, float]:
    """Accuracy, macro-F1 over every label and log loss of logits against gold ids."""
    return selection_metrics(softmax(np.asarray(logits, dtype=np.float64), axis=-1), np.asarray(label_ids))


def compute_metrics(prediction: Any) -> dict[str, float]:
    """The ``Trainer``'s ``compute_metrics``: task metrics of one evaluation."""
    logits = prediction.predictions[0] if isinstance(prediction.predictions, tuple) else prediction.predictions
    return task_metrics(logits, np.asarray(prediction.label_ids))


def trainer_log_record(step: int, total: int, seconds: float, logs: dict[str, Any]) -> dict[str, Any]:
    """One line of LLaMA-Factory's ``trainer_log.jsonl`` (its ``LogCallback`` fields), so the classifier's run is
    followed and plotted the same way as a LLaMA-Factory run."""
    from datetime import timedelta

    remaining = (total - step) * seconds / step if step else 0.0
    record = {"current_steps": step, "total_steps": total, "loss": logs.get("loss"),
              "eval_loss": logs.get("eval_loss"), "lr": logs.get("learning_rate"), "epoch": logs.get("epoch"),
              "percentage": round(step / total * 100, 2) if total else 100,
              "elapsed_time": str(timedelta(seconds=int(seconds))),
              "remaining_time": str(timedelta(seconds=int(remaining)))}
    return {key: value for key, value in record.items() if value is not None}


def trainer_log_callback() -> Any:
    """A ``TrainerCallback`` appending :func:`trainer_log_record` lines to ``output_dir/trainer_log.jsonl`` at
    every log (the file starts afresh with a run that does not resume)."""
    import json
    import time

    from transformers import TrainerCallback

    class TrainerLog(TrainerCallback):
        start = 0.0

        def on_train_begin(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
            self.start = time.time()
            if args.should_save and not args.resume_from_checkpoint:
                (Path(args.output_dir) / "trainer_log.jsonl").unlink(missing_ok=True)

        def on_log(self, args: Any, state: Any, control: Any, logs: dict[str, Any] | None = None,
                   **kwargs: Any) -> None:
            if not args.should_save or not self.start:
                return
            record = trainer_log_record(state.global_step, state.max_steps, time.time() - self.start, logs or {})
            Path(args.output_dir).mkdir(parents=True, exist_ok=True)
            with (Path(args.output_dir) / "trainer_log.jsonl").open("a", encoding="utf-8") as handle:
                handle.write(json.dumps(record) + "\n")

    return TrainerLog()


def weighted_loss(logits: Any, labels: Any, weights: list[float]) -> Any:
    """``CrossEntropyLoss(weight=...)``: the mean of each row's loss times its class weight, over the weights."""
    import torch

    weight = torch.tensor(weights, dtype=torch.float32, device=logits.device)
    return torch.nn.functional.cross_entropy(logits.float(), labels, weight=weight)


def trainer_class(weights: list[float] | None) -> type:
    """``Trainer``, or a subclass whose loss is class-weighted (per micro-batch, then averaged over the
    gradient accumulation steps, as a weighted ``CrossEntropyLoss`` in ``compute_loss`` does)."""
    from transformers import Trainer

    if weights is None:
        return Trainer

    class WeightedLossTrainer(Trainer):
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            self.model_accepts_loss_kwargs = False  # the Trainer averages over accumulation steps

        def compute_loss(self, model: Any, inputs: dict[str, Any], return_outputs: bool = False,
                         num_items_in_batch: Any = None) -> Any:
            labels = inputs.pop("labels")
            outputs = model(**inputs)
            loss = weighted_loss(outputs.logits, labels, weights)
            return (loss, outputs) if return_outputs else loss

    return WeightedLossTrainer


@dataclass
class Run:
    """What one classifier run did."""

    output_dir: Path
    labels: list[str]
    trainable: int = 0
    total: int = 0
    train_rows: int = 0
    best_checkpoint: str | None = None
    best_metric: float | None = None
    metrics: dict[str, float] = field(default_factory=dict)
    predictions: dict[str, Path] = field(default_factory=dict)


def choose_labels(args: ClassifierArguments) -> list[str]:
    """The recipe's labels, else the sorted distinct answers of its training (else evaluation) sets."""
    named = args.label_names()
    if named is not None:
        if len(named) < 2 or len(set(named)) != len(named) or not all(named):
            raise InputError(f"labels needs two or more distinct names, got {args.labels!r}")
        return named
    sets = args.sets("dataset") or args.sets("eval_dataset")
    seen = sorted(set(raw_answers(args.dataset_dir, sets, args.max_samples)))
    if len(seen) < 2:
        raise InputError(f"{','.join(sets) or 'no dataset'}: fewer than two distinct answers {seen}; "
                         "name the labels with labels: A,B,...")
    return seen


def prediction_rows(rows: ClassSet, logits: np.ndarray, labels: list[str]) -> list[dict[str, Any]]:
    """One row per example: prompt, predict, label, probs, logprobs and the kept id/fold/swapped fields."""
    logp = log_softmax(np.asarray(logits, dtype=np.float64), axis=-1)
    out = []
    for index, row_logp in enumerate(logp):
        text = rows.texts[index] if rows.pairs is None else f"{rows.texts[index]}\n{rows.pairs[index]}"
        gold = rows.label_ids[index]
        out.append({"prompt": text, "predict": labels[int(row_logp.argmax())],
                    "label": labels[gold] if gold >= 0 else "",
                    "probs": {label: float(math.exp(v)) for label, v in zip(labels, row_logp, strict=True)},
                    "logprobs": {label: float(v) for label, v in zip(labels, row_logp, strict=True)},
                    **rows.keep[index]})
    return out


def run(args: ClassifierArguments, training: Any, callbacks: list[Any] | None = None) -> Run:
    """Train (and evaluate at the recipe's steps), then write the predictions of the evaluation and predict sets;
    ``callbacks``: more ``TrainerCallback``s for the trainer."""
    from transformers import DataCollatorWithPadding, EarlyStoppingCallback

    from recipekit.classify.model import load_model, load_tokenizer, trainable_parameters

    do_train, do_predict = training.do_train, training.do_predict
    labels = choose_labels(args)
    read = dict(separator=args.text_pair_separator, include_instruction=args.include_instruction,
                max_samples=args.max_samples)
    train_sets = [load_set(args.dataset_dir, n, labels, **read) for n in args.sets("dataset")] if do_train else []
    if do_train and not train_sets:
        raise InputError("a training run needs dataset: NAME")
    eval_sets = [load_set(args.dataset_dir, n, labels, **read) for n in args.sets("eval_dataset")]
    predict_sets = [load_set(args.dataset_dir, n, labels, need_labels=False, **read)
                    for n in args.sets("predict_dataset")] if do_predict else []
    if training.load_best_model_at_end and not eval_sets:
        raise InputError("load_best_model_at_end needs eval_dataset")
    if args.early_stopping_steps and not training.load_best_model_at_end:
        raise InputError("early_stopping_steps needs load_best_model_at_end: true and metric_for_best_model")
    weights = class_weights(args.class_weights, labels, [i for s in train_sets for i in s.label_ids])
    tokenizer = load_tokenizer(args)
    model = load_model(args, labels, tokenizer, training)
    result = Run(Path(training.output_dir), labels)
    result.trainable, result.total = trainable_parameters(model)
    callbacks = [trainer_log_callback(), *(callbacks or [])]
    if args.early_stopping_steps:
        callbacks.append(EarlyStoppingCallback(early_stopping_patience=args.early_stopping_steps))
    from datasets import concatenate_datasets

    train_data = concatenate_datasets([tokenized(s, tokenizer, args.cutoff_len) for s in train_sets]) \
        if train_sets else None
    eval_data = tokenized(eval_sets[0], tokenizer, args.cutoff_len) if eval_sets else None
    trainer = trainer_class(weights)(
        model=model, args=training, train_dataset=train_data, eval_dataset=eval_data,
        processing_class=tokenizer, data_collator=DataCollatorWithPadding(tokenizer),
        compute_metrics=compute_metrics, callbacks=callbacks)
    if do_train:
        result.train_rows = len(train_data)
        trainer.train(resume_from_checkpoint=training.resume_from_checkpoint)
        trainer.save_model()
        trainer.save_state()
        result.best_checkpoint = trainer.state.best_model_checkpoint
        result.best_metric = trainer.state.best_metric
    if eval_data is not None:
        result.metrics = trainer.evaluate()
    for rows in eval_sets + predict_sets:
        logits = trainer.predict(tokenized(rows, tokenizer, args.cutoff_len)).predictions
        logits = logits[0] if isinstance(logits, tuple) else logits
        if trainer.is_world_process_zero():
            path = result.output_dir / f"predictions_{rows.name}.jsonl"
            write_jsonl(path, prediction_rows(rows, logits, labels))
            result.predictions[rows.name] = path
    if trainer.is_world_process_zero():
        write_json(result.output_dir / "classifier_run.json", {
            "labels": labels, "class_weights": weights, "trainable_parameters": result.trainable,
            "all_parameters": result.total, "train_rows": result.train_rows,
            "best_checkpoint": result.best_checkpoint, "best_metric": result.best_metric,
            "metric_for_best_model": training.metric_for_best_model, "eval_metrics": result.metrics,
            "predictions": {name: str(path) for name, path in result.predictions.items()}})
    return result
