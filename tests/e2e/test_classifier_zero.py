"""Classifier training under DeepSpeed ZeRO-2 and ZeRO-3 on 2 CPU ranks (torchrun), the recipes' own configs."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
import yaml
from conftest import ROOT, run_script

from recipekit.converters.catalog import make_fixture_dataset

TINY = ["--vocab-size", "512", "--hidden", "32", "--intermediate", "64", "--layers", "2", "--heads", "2"]


@pytest.mark.slow
@pytest.mark.parametrize(("stage", "arch", "finetuning"), [(2, "bert", "lora"), (3, "qwen2", "full")])
def test_zero_on_two_cpu_ranks(tmp_path: Path, stage: int, arch: str, finetuning: str) -> None:
    make_fixture_dataset("afqmc", tmp_path / "raw", tmp_path / "data")
    model = tmp_path / arch
    built = run_script("scripts/make_tiny_model.py", "--texts", tmp_path / "data" / "afqmc.jsonl", "--out", model,
                       "--arch", arch, *TINY)
    assert built.returncode == 0, built.stderr
    out = tmp_path / "run"
    recipe = tmp_path / "zero.yaml"
    recipe.write_text(yaml.safe_dump({
        "model_name_or_path": str(model), "finetuning_type": finetuning, "lora_rank": 4, "lora_target": "all",
        "dataset": "afqmc", "eval_dataset": "afqmc_val", "dataset_dir": str(tmp_path / "data"), "labels": "是,否",
        "text_pair_separator": "句子2：", "cutoff_len": 64, "class_weights": {"是": 3.0, "否": 1.0},
        "output_dir": str(out), "do_train": True, "per_device_train_batch_size": 2, "max_steps": 4,
        "learning_rate": 1.0e-3, "logging_steps": 1, "eval_strategy": "steps", "eval_steps": 2, "save_steps": 4,
        "report_to": "none", "deepspeed": str(ROOT / f"recipes/deepspeed/ds_z{stage}_config.json")},
        allow_unicode=True), encoding="utf-8")
    done = run_script("scripts/train_classifier.py", recipe, env={"FORCE_TORCHRUN": "1", "NPROC_PER_NODE": "2"},
                      timeout=900)
    assert done.returncode == 0, (done.stdout + done.stderr)[-4000:]
    state = json.loads((out / "trainer_state.json").read_text(encoding="utf-8"))
    losses = [h["loss"] for h in state["log_history"] if "loss" in h]
    assert state["global_step"] == 4 and len(losses) == 4 and all(math.isfinite(x) and x > 0 for x in losses)
    evals = [h for h in state["log_history"] if "eval_f1" in h]
    assert [h["step"] for h in evals] == [2, 4] and all(math.isfinite(h["eval_log_loss"]) for h in evals)
    rows = (out / "predictions_afqmc_val.jsonl").read_text(encoding="utf-8").splitlines()
    assert len(rows) == 8  # written once, by rank 0
    assert all(math.isfinite(p) for row in rows for p in json.loads(row)["probs"].values())
