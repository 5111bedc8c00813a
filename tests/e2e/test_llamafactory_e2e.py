"""End to end with the real LLaMA-Factory: converter -> tiny model -> train -> predict -> report, and ZeRO-3."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
from conftest import AGNEWS_LABELS, agnews_rows, llamafactory, recipe_with, run_script, write_original_csv

pytestmark = [pytest.mark.integration, pytest.mark.slow]  # end to end through LLaMA-Factory: minutes


@pytest.fixture(scope="module")
def tiny_setup(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """A converted AG-News-format dataset and a tiny model built from it, shared by the tests here."""
    tmp = tmp_path_factory.mktemp("e2e")
    raw = write_original_csv(tmp / "raw" / "test.csv", agnews_rows(60))
    data = tmp / "data"
    converted = run_script("converters/agnews.py", "--input", raw, "--data-dir", data, "--val-size", "40")
    assert converted.returncode == 0, converted.stderr
    model = tmp / "tiny_model"
    built = run_script("scripts/make_tiny_model.py", "--texts", data / "agnews.jsonl", "--out", model,
                       "--vocab-size", "512", "--hidden", "64", "--intermediate", "128", "--layers", "2")
    assert built.returncode == 0, built.stderr
    return {"tmp": tmp, "data": data, "model": model}


def test_train_predict_report(tiny_setup: dict[str, Path]) -> None:
    tmp, data = tiny_setup["tmp"], tiny_setup["data"]
    sft_dir, predict_dir = tmp / "sft", tmp / "predict"
    train = recipe_with(tmp, "recipes/demo/agnews_tiny_sft.yaml", model_name_or_path=str(tiny_setup["model"]),
                        dataset_dir=str(data), output_dir=str(sft_dir), num_train_epochs=4.0,
                        per_device_train_batch_size=16, logging_steps=5)
    llamafactory(train, tmp / "train.log")
    state = json.loads((sft_dir / "trainer_state.json").read_text(encoding="utf-8"))
    losses = [entry["loss"] for entry in state["log_history"] if "loss" in entry]
    assert state["global_step"] == 4 * math.ceil(200 / 16)  # 200 training rows, last batch partial
    assert losses[-1] < losses[0] / 2
    assert (sft_dir / "model.safetensors").is_file() and (sft_dir / "training_loss.png").is_file()

    predict = recipe_with(tmp, "recipes/demo/agnews_tiny_predict.yaml", model_name_or_path=str(sft_dir),
                          dataset_dir=str(data), output_dir=str(predict_dir))
    llamafactory(predict, tmp / "predict.log")
    predictions = predict_dir / "generated_predictions.jsonl"
    rows = [json.loads(line) for line in predictions.read_text(encoding="utf-8").splitlines()]
    val = [json.loads(line) for line in (data / "agnews_val.jsonl").read_text(encoding="utf-8").splitlines()]
    assert len(rows) == len(val) == 40
    assert [row["label"].strip() for row in rows] == [row["output"] for row in val]
    assert all(row["input"] in out["prompt"] for row, out in zip(val, rows, strict=True))

    report = run_script("eval/classify_report.py", predictions, "--labels", AGNEWS_LABELS)
    assert report.returncode == 0, report.stderr
    got = json.loads((predict_dir / "classify_report.json").read_text(encoding="utf-8"))
    forms = {label: {label, *label.split(": ")} for label in AGNEWS_LABELS.split(",")}
    answers = [" ".join(row["predict"].replace("</s>", " ").split()) for row in rows]
    golds = [row["label"].strip() for row in rows]
    valid = [any(answer in f for f in forms.values()) for answer in answers]
    correct = [answer in forms[gold] for answer, gold in zip(answers, golds, strict=True)]
    assert got["n"] == 40
    assert got["n_invalid"] == valid.count(False)
    assert got["accuracy"] == pytest.approx(sum(correct) / 40)
    assert sum(sum(r) for r in got["confusion_matrix"]["matrix"]) == 40
    assert (predict_dir / "confusion_matrix.png").is_file()


def test_zero3_on_two_cpu_ranks(tiny_setup: dict[str, Path]) -> None:
    tmp = tiny_setup["tmp"]
    out = tmp / "zero3"
    recipe = recipe_with(tmp, "recipes/demo/agnews_tiny_zero3.yaml", model_name_or_path=str(tiny_setup["model"]),
                         dataset_dir=str(tiny_setup["data"]), output_dir=str(out))
    log = llamafactory(recipe, tmp / "zero3.log", env={"FORCE_TORCHRUN": "1", "NPROC_PER_NODE": "2"})
    assert "Detected DeepSpeed ZeRO-3" in log
    assert "world size: 2" in log
    state = json.loads((out / "trainer_state.json").read_text(encoding="utf-8"))
    assert state["global_step"] == 3
    losses = [e["loss"] for e in state["log_history"] if "loss" in e]
    assert len(losses) == 3 and all(math.isfinite(loss) for loss in losses), losses
    assert losses[-1] < losses[0], losses  # it learns under ZeRO-3, not only runs

    from safetensors.torch import load_file

    saved = load_file(str(out / "model.safetensors"))
    embed = next(tensor for name, tensor in saved.items() if name.endswith("embed_tokens.weight"))
    vocab = json.loads((tiny_setup["model"] / "config.json").read_text(encoding="utf-8"))["vocab_size"]
    assert tuple(embed.shape) == (vocab, 64)  # gathered from the ZeRO-3 partitions, not an empty shard
