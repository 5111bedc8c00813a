"""Choosing a run's checkpoint: its checkpoint-N folders by step, the best row by a metric, the trainer's eval
losses per step, the base model of an adapter, and the flags a --recipe fills."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import pytest
from conftest import command_module

from recipekit.errors import InputError
from recipekit.eval.checkpoints import LOWER_IS_BETTER, METRICS, Checkpoint, best_row, find_checkpoints

checkpoints_command = command_module("checkpoints")


def state(path: Path, history: list[dict]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"log_history": history}), encoding="utf-8")


def test_checkpoint_folders_sorted_by_step_as_numbers(tmp_path: Path) -> None:
    for name in ("checkpoint-10", "checkpoint-9", "checkpoint-100", "checkpoint-x", "checkpoint-5-old", "runs",
                 "xcheckpoint-3"):
        (tmp_path / name).mkdir()
    (tmp_path / "checkpoint-7").write_text("a file, not a folder", encoding="utf-8")
    (tmp_path / "checkpoint-9" / "adapter_config.json").write_text("{}", encoding="utf-8")
    found = find_checkpoints(str(tmp_path))
    assert [(c.step, c.path) for c in found] == [(9, tmp_path / "checkpoint-9"), (10, tmp_path / "checkpoint-10"),
                                                 (100, tmp_path / "checkpoint-100")]
    assert [c.is_adapter for c in found] == [True, False, False]
    (tmp_path / "checkpoint-10" / "adapter_config.json").mkdir()  # a folder of that name is no adapter
    assert not Checkpoint(10, tmp_path / "checkpoint-10").is_adapter


def test_no_run_folder_or_no_checkpoint_is_one_error_naming_the_folder(tmp_path: Path) -> None:
    with pytest.raises(InputError) as caught:
        find_checkpoints(tmp_path / "missing")
    assert str(caught.value) == f"{tmp_path / 'missing'}: no such run folder"
    (tmp_path / "file").write_text("x", encoding="utf-8")
    with pytest.raises(InputError, match="no such run folder"):
        find_checkpoints(tmp_path / "file")
    (tmp_path / "run" / "checkpoint-").mkdir(parents=True)
    with pytest.raises(InputError) as caught:
        find_checkpoints(tmp_path / "run")
    assert str(caught.value) == (f"{tmp_path / 'run'}: no checkpoint-N folders (set save_steps, or save_strategy "
                                 "steps/epoch)")


def test_the_best_row_highest_or_lowest_for_a_loss_earliest_on_a_tie() -> None:
    assert METRICS == ("f1", "accuracy", "log_loss") and LOWER_IS_BETTER == ("log_loss",)
    rows = [{"step": 8, "f1": 0.6, "accuracy": 0.2, "log_loss": 0.5},
            {"step": 2, "f1": 0.6, "accuracy": 0.9, "log_loss": 0.5},
            {"step": 4, "f1": 0.1, "accuracy": 0.9, "log_loss": 0.4}]
    assert best_row(rows, "f1")["step"] == 2  # tied f1: the earlier step, whatever the list order
    assert best_row(rows, "accuracy")["step"] == 2
    assert best_row(rows, "log_loss")["step"] == 4
    assert best_row([{"step": 3, "log_loss": 0.5}, {"step": 1, "log_loss": 0.5}], "log_loss")["step"] == 1


def test_the_trainers_eval_losses_from_the_run_else_its_last_checkpoint(tmp_path: Path) -> None:
    run = tmp_path / "run"
    run.mkdir()
    assert checkpoints_command.trainer_eval_losses(run) == {}
    state(run / "checkpoint-9" / "trainer_state.json", [{"eval_loss": 9.0, "step": 9}])
    state(run / "checkpoint-20" / "trainer_state.json", [{"eval_loss": 1.0, "step": 10},
                                                         {"eval_loss": "2.5", "step": 20.0}])
    state(run / "checkpoint-100" / "other.json", [])  # no state: passed over
    assert checkpoints_command.trainer_eval_losses(run) == {10: 1.0, 20: 2.5}  # step 20 > 9 as numbers
    state(run / "trainer_state.json", [{"loss": 3.0, "step": 5}, {"eval_loss": 0.5, "step": 5},
                                       {"eval_loss": 0.7}, {"step": 6}, {"eval_loss": 0.25, "step": 30}])
    assert checkpoints_command.trainer_eval_losses(run) == {5: 0.5, 30: 0.25}
    (run / "trainer_state.json").write_text("{}", encoding="utf-8")
    assert checkpoints_command.trainer_eval_losses(run) == {}  # the run's own state wins, even without a history


def test_an_adapters_base_model_unless_given(tmp_path: Path) -> None:
    adapter = tmp_path / "checkpoint-2"
    adapter.mkdir()
    (adapter / "adapter_config.json").write_text(json.dumps({"base_model_name_or_path": "org/base"}), "utf-8")
    assert checkpoints_command.base_model(argparse.Namespace(model=None), adapter) == "org/base"
    assert checkpoints_command.base_model(argparse.Namespace(model=Path("mine")), adapter) == "mine"
    for config in ({}, {"base_model_name_or_path": ""}, {"base_model_name_or_path": None}):
        (adapter / "adapter_config.json").write_text(json.dumps(config), "utf-8")
        with pytest.raises(InputError) as caught:
            checkpoints_command.base_model(argparse.Namespace(model=None), adapter)
        assert str(caught.value) == f"{adapter / 'adapter_config.json'}: the adapter names no base model: pass --model"


def test_run_dir_template_and_dataset_are_required_unless_the_recipe_names_them(tmp_path: Path) -> None:
    parser = checkpoints_command.build_parser()
    with pytest.raises(InputError) as caught:
        checkpoints_command.apply_recipe(parser.parse_args([]))
    assert caught.value.message == "missing RUN_DIR, --template, --dataset (or a --recipe that names it)"
    with pytest.raises(InputError) as caught:
        checkpoints_command.apply_recipe(parser.parse_args(["run", "--template", "qwen"]))
    assert caught.value.message == "missing --dataset (or a --recipe that names it)"
    recipe = tmp_path / "r.yaml"
    recipe.write_text("model_name_or_path: org/m\nstage: sft\ndo_train: true\nfinetuning_type: lora\n"
                      "template: qwen\ndataset: t\neval_dataset: v1,v2\ndataset_dir: d\noutput_dir: saves/x\n"
                      "cutoff_len: 64\nper_device_eval_batch_size: 4\n", encoding="utf-8")
    args = checkpoints_command.apply_recipe(parser.parse_args(["--recipe", str(recipe), "--template", "mine"]))
    assert (args.run_dir, args.model, args.template, args.dataset, args.dataset_dir, args.cutoff_len,
            args.batch_size, args.metric) == ("saves/x", "org/m", "mine", "v1", "d", 64, 4, "f1")
    assert checkpoints_command.RECIPE_KEYS == {
        "run_dir": "output_dir", "model": "model_name_or_path", "template": "template", "dataset": "eval_dataset",
        "dataset_dir": "dataset_dir", "cutoff_len": "cutoff_len", "batch_size": "per_device_eval_batch_size"}


def test_the_command_refuses_a_run_without_checkpoints_in_one_line(tmp_path: Path,
                                                                   capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "run").mkdir()
    with pytest.raises(SystemExit) as stopped:
        checkpoints_command.main([str(tmp_path / "run"), "--template", "default", "--dataset", "x"])
    assert stopped.value.code == 2
    assert capsys.readouterr().err == (f"error: {tmp_path / 'run'}: no checkpoint-N folders (set save_steps, or "
                                       "save_strategy steps/epoch)\n")
    with pytest.raises(SystemExit) as stopped:
        checkpoints_command.main(["--template", "default"])
    assert stopped.value.code == 2
    assert capsys.readouterr().err == "error: missing RUN_DIR, --dataset (or a --recipe that names it)\n"


def test_selection_metrics_are_scikit_learns_over_every_label_even_one_never_seen() -> None:
    import warnings

    import numpy as np
    from sklearn.metrics import accuracy_score, f1_score, log_loss

    from recipekit.eval.probabilities import selection_metrics

    probs = np.array([[0.7, 0.2, 0.1], [0.6, 0.3, 0.1], [0.2, 0.7, 0.1], [0.5, 0.4, 0.1]])
    y = np.array([0, 1, 1, 0])  # label 2 is neither answered nor predicted
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no warning about the label nobody predicted
        got = selection_metrics(probs, y)
    assert got == {"accuracy": pytest.approx(accuracy_score(y, [0, 0, 1, 0])),
                   "f1": pytest.approx((0.8 + 2 / 3 + 0) / 3),  # F1 of 0: 2/3 precision, recall 1; label 2 counts 0
                   "log_loss": pytest.approx(log_loss(y, probs, labels=[0, 1, 2]))}
    assert got["f1"] == pytest.approx(f1_score(y, [0, 0, 1, 0], labels=[0, 1, 2], average="macro", zero_division=0))
