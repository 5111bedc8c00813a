"""A chain's steps as they run here, built from small recipes under a root of their own without running anything:
each step's command, environment, inputs, outputs and progress file, real and tiny, and a chain file's refusals."""

from __future__ import annotations

import argparse
import hashlib
from pathlib import Path

import pytest
import yaml

from recipekit.errors import InputError
from recipekit.recipes.reading import load_recipe
from recipekit.reproduce.chain import (
    Chain,
    Layout,
    StepSpec,
    add_chain_arguments,
    chain_folder,
    chain_names,
    is_recipe_token,
    layout_for,
    load_chain,
    recipe_marker,
)


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A root with a DeepSpeed config, a training recipe (LoRA on a model another step trains, DeepSpeed), a
    prediction recipe, an export recipe and a classifier recipe."""
    monkeypatch.setenv("LLM_RECIPES_ROOT", str(tmp_path))
    monkeypatch.chdir(tmp_path)
    (tmp_path / "recipes" / "classifier").mkdir(parents=True)
    (tmp_path / "recipes" / "reproduce").mkdir()
    (tmp_path / "recipes" / "ds.json").write_text('{"zero_optimization": {"stage": 2}}', encoding="utf-8")
    recipes = {
        "train.yaml": {"model_name_or_path": "saves/base/full", "stage": "sft", "do_train": True,
                       "finetuning_type": "lora", "dataset": "a,b", "eval_dataset": "v", "dataset_dir": "data",
                       "template": "qwen", "output_dir": "saves/r/train", "deepspeed": "recipes/ds.json"},
        "predict.yaml": {"model_name_or_path": "Qwen/Qwen2.5-0.5B", "adapter_name_or_path": "saves/r/train",
                         "stage": "sft", "do_predict": True, "finetuning_type": "lora", "eval_dataset": "t",
                         "predict_with_generate": True, "dataset_dir": "data", "template": "qwen",
                         "output_dir": "saves/r/predict/"},
        "export.yaml": {"model_name_or_path": "Qwen/Qwen2.5-0.5B", "adapter_name_or_path": "saves/r/train",
                        "template": "qwen", "finetuning_type": "lora", "export_dir": "saves/r/merged"},
        "classifier/cls.yaml": {"model_name_or_path": "bert-base-uncased", "dataset": "c", "dataset_dir": "data",
                                "predict_dataset": "c_test", "labels": "x,y", "output_dir": "saves/cls"},
    }
    for name, args in recipes.items():
        (tmp_path / "recipes" / name).write_text(yaml.safe_dump(args), encoding="utf-8")
    return tmp_path


def layout(root: Path, steps: list[StepSpec], tiny: bool = False, gpus: int | None = None) -> Layout:
    chain = Chain("demo", root / "recipes" / "reproduce" / "demo.yaml", "r.md", "Demo", steps, [])
    return Layout(chain, Path("out"), tiny, gpus)


def run_id(root: Path, step: str) -> str:
    return f"demo-{step}-{hashlib.sha1(str((root / 'out').resolve()).encode()).hexdigest()[:8]}"


def test_a_training_step_reads_its_recipe_data_model_and_config_and_writes_its_trainer_state(project: Path) -> None:
    spec = StepSpec("train", "HF_HUB_OFFLINE=1 llamafactory-cli train recipes/train.yaml seed=7 output_dir=saves/o",
                    inputs=("{out}/extra.txt",))
    step = layout(project, [spec]).step(spec)
    assert step.command == ["llamafactory-cli", "train", "recipes/train.yaml", "seed=7", "output_dir=saves/o"]
    assert (step.source_recipe, step.recipe, step.overrides) == ("recipes/train.yaml", Path("recipes/train.yaml"),
                                                                  {"seed": 7, "output_dir": "saves/o"})
    # the override moves the output: the trainer state is written where the run writes
    assert step.outputs == [Path("saves/o/trainer_state.json")]
    assert step.progress == Path("saves/o/trainer_log.jsonl")
    assert step.inputs == [Path("out/extra.txt"), Path("recipes/train.yaml"), Path("data/dataset_info.json"),
                           Path("data/a.jsonl"), Path("data/b.jsonl"), Path("data/v.jsonl"), Path("saves/base/full"),
                           Path("recipes/ds.json")]
    assert step.env == {"HF_HUB_OFFLINE": "1", "FORCE_TORCHRUN": "1", "WANDB_RUN_GROUP": "reproduce-demo",
                        "WANDB_DIR": "out", "WANDB_RUN_ID": run_id(project, "train"), "WANDB_RESUME": "allow"}


def test_a_tiny_training_step_runs_the_tiny_copy_on_two_ranks_under_its_folder(project: Path) -> None:
    spec = StepSpec("train", "llamafactory-cli train recipes/train.yaml output_dir=saves/o seed=3")
    moved = layout(project, [spec], tiny=True).step(spec)
    assert moved.overrides == {"output_dir": "out/saves/o", "seed": 3}
    assert moved.command[3:] == ["output_dir=out/saves/o", "seed=3"]
    assert moved.outputs == [Path("out/saves/o/trainer_state.json")]
    spec = StepSpec("train", "llamafactory-cli train recipes/train.yaml")
    step = layout(project, [spec], tiny=True, gpus=4).step(spec)
    assert step.command == ["llamafactory-cli", "train", "out/recipes/train.yaml"]
    assert step.recipe == Path("out/recipes/train.yaml") and step.source_recipe == "recipes/train.yaml"
    assert step.outputs == [Path("out/saves/r/train/trainer_state.json")]
    assert step.progress == Path("out/saves/r/train/trainer_log.jsonl")
    assert step.inputs == [Path("out/recipes/train.yaml"), Path("out/data/dataset_info.json"),
                           Path("out/data/a.jsonl"), Path("out/data/b.jsonl"), Path("out/data/v.jsonl"),
                           Path("out/saves/base/full"), Path("recipes/ds.json")]
    assert step.env == {"FORCE_TORCHRUN": "1", "NPROC_PER_NODE": "2", "WANDB_RUN_GROUP": "reproduce-demo-tiny",
                        "WANDB_DIR": "out", "WANDB_MODE": "offline", "WANDB_RUN_ID": run_id(project, "train"),
                        "WANDB_RESUME": "allow"}


def test_gpus_launch_through_torchrun_and_a_prediction_has_no_run_id(project: Path) -> None:
    spec = StepSpec("predict", "llamafactory-cli train recipes/predict.yaml")
    step = layout(project, [spec], gpus=3).step(spec)
    assert step.outputs == [Path("saves/r/predict/generated_predictions.jsonl")]  # the trailing slash dropped
    assert step.progress == Path("saves/r/predict/trainer_log.jsonl")
    assert step.env == {"FORCE_TORCHRUN": "1", "NPROC_PER_NODE": "3", "WANDB_RUN_GROUP": "reproduce-demo",
                        "WANDB_DIR": "out"}
    assert step.inputs == [Path("recipes/predict.yaml"), Path("data/dataset_info.json"), Path("data/t.jsonl"),
                           Path("saves/r/train")]  # the hub model is not a file
    plain = layout(project, [spec]).step(spec)
    assert plain.env == {"WANDB_RUN_GROUP": "reproduce-demo", "WANDB_DIR": "out"}  # no DeepSpeed, no --gpus
    tiny = layout(project, [spec], tiny=True).step(spec)
    assert "NPROC_PER_NODE" not in tiny.env and "FORCE_TORCHRUN" not in tiny.env


def test_an_export_writes_its_model_card_with_no_progress_and_reads_no_registry(project: Path) -> None:
    spec = StepSpec("export", "llm-recipes export recipes/export.yaml")
    step = layout(project, [spec]).step(spec)
    assert (step.outputs, step.progress) == ([Path("saves/r/merged/README.md")], None)
    assert step.inputs == [Path("recipes/export.yaml"), Path("saves/r/train")]


def test_a_classifier_writes_its_run_summary(project: Path) -> None:
    spec = StepSpec("train", "python scripts/train_classifier.py recipes/classifier/cls.yaml")
    step = layout(project, [spec]).step(spec)
    assert step.outputs == [Path("saves/cls/classifier_run.json")]
    assert step.inputs == [Path("recipes/classifier/cls.yaml"), Path("data/dataset_info.json"),
                           Path("data/c.jsonl"), Path("data/c_test.jsonl")]
    marker = recipe_marker(load_recipe(project / "recipes" / "classifier" / "cls.yaml"), lambda p: f"moved/{p}")
    assert marker == Path("moved/saves/cls/classifier_run.json")


def test_a_check_reads_the_real_recipe_and_an_eval_logs_into_its_training_run(project: Path) -> None:
    check = StepSpec("check", "llm-recipes check recipes recipes/train.yaml recipes/none.yaml",
                     inputs=("recipes/train.yaml", "recipes/train.yaml"), outputs=("{out}/check.json",))
    report = StepSpec("report", "python eval/classify_report.py saves/r/predict/p.jsonl --out {out}/r",
                      tiny="python eval/classify_report.py {out}/p.jsonl", outputs=("{out}/r/x.json",),
                      wandb_run="train")
    tiny = layout(project, [check, report], tiny=True)
    step = tiny.step(check)
    assert step.command == ["llm-recipes", "check", "recipes", "recipes/train.yaml", "recipes/none.yaml"]
    assert step.recipe is None and step.source_recipe is None and step.progress is None
    assert step.inputs == [Path("recipes/train.yaml")]  # once
    assert step.outputs == [Path("out/check.json")]  # {out} filled; already under the folder, not moved again
    assert "WANDB_RUN_ID" not in step.env
    evaluated = tiny.step(report)
    assert evaluated.command == ["python", "eval/classify_report.py", "out/p.jsonl"]  # the tiny command
    assert (evaluated.env["WANDB_RUN_ID"], evaluated.env["WANDB_RESUME"]) == (run_id(project, "train"), "allow")
    real = layout(project, [check, report]).step(report)
    assert real.command[2:] == ["saves/r/predict/p.jsonl", "--out", "out/r"]
    assert real.outputs == [Path("out/r/x.json")]
    assert [s.name for s in tiny.steps()] == ["check", "report"]


def test_a_recipe_token_is_a_yaml_file_under_recipes(project: Path) -> None:
    assert is_recipe_token("recipes/train.yaml") and is_recipe_token("recipes/classifier/cls.yaml")
    assert not is_recipe_token("recipes/none.yaml")  # no such file
    assert not is_recipe_token("recipes/ds.json") and not is_recipe_token("./recipes/train.yaml")
    assert not is_recipe_token("other/recipes/train.yaml")


def write_chain(root: Path, text: str, name: str = "demo") -> Path:
    path = root / "recipes" / "reproduce" / f"{name}.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def test_chains_by_name_and_their_refusals(project: Path) -> None:
    write_chain(project, "steps:\n  - {name: a, run: echo a}\n", "zeta")
    write_chain(project, "report: r.md\ntitle: Demo\nsteps:\n  - {name: a, run: '  echo a  '}\n")
    (project / "recipes" / "reproduce" / "notes.txt").write_text("", encoding="utf-8")
    assert chain_folder() == project / "recipes" / "reproduce"
    assert chain_names() == ["demo", "zeta"]
    chain = load_chain("demo")
    assert (chain.name, chain.report, chain.title, chain.steps[0].run) == ("demo", "r.md", "Demo", "echo a")
    with pytest.raises(InputError) as refused:
        load_chain("none")
    assert str(refused.value) == "no chain for report 'none' (known: demo, zeta)"
    for text, message in (
            ("- a\n", "a chain is a mapping with a non-empty 'steps' list"),
            ("steps: []\n", "a chain is a mapping with a non-empty 'steps' list"),
            ("steps: {a: 1}\n", "a chain is a mapping with a non-empty 'steps' list"),
            ("steps:\n  - {name: a, run: x}\nzz: 1\nyy: 2\nxx: 3\nbb: 4\naa: 5\n",
             "unknown key(s) aa, bb, xx, yy, zz (known: differences, numbers, recipes, report, report_title, steps, "
             "title)"),
            ("steps:\n  - {name: a, run: x, when: 1, after: 2}\n", "step a: unknown key(s) after, when"),
            ("steps:\n  - a\n", "step 1: needs a name and a run command")):
        path = write_chain(project, text, "bad")
        with pytest.raises(InputError) as refused:
            load_chain(str(path))
        assert str(refused.value) == f"recipes/reproduce/bad.yaml: {message}"


def test_no_chain_folder_names_the_root(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LLM_RECIPES_ROOT", str(tmp_path))
    with pytest.raises(InputError) as refused:
        load_chain("agnews")
    assert str(refused.value) == (f"no chain for report 'agnews': there is no {tmp_path}/recipes/reproduce (the "
                                  f"repository root is {tmp_path}: run from the repository, or name it with "
                                  "`llm-recipes --root DIR`)")


def test_the_reproductions_folder_by_default_and_as_given(project: Path) -> None:
    write_chain(project, "steps:\n  - {name: a, run: echo a}\n")
    real = layout_for("demo", None, False)
    assert (real.out, real.tiny, real.group) == (Path("outputs/reproduce/demo"), False, "reproduce-demo")
    tiny = layout_for("demo", None, True, gpus=2, writes=False)
    assert (tiny.out, tiny.tiny, tiny.gpus, tiny.writes) == (Path("outputs/reproduce/demo-tiny"), True, 2, False)
    assert tiny.group == "reproduce-demo-tiny"
    assert layout_for("demo", str(project / "runs" / "one"), False).out == Path("runs/one")  # under the root
    outside = project.parent / f"{project.name}-out"
    assert layout_for("demo", str(outside), False).out == outside


def test_the_arguments_every_chain_command_takes(project: Path) -> None:
    write_chain(project, "steps:\n  - {name: a, run: echo a}\n")
    parser = argparse.ArgumentParser()
    add_chain_arguments(parser, "where it goes", "a CPU run")
    assert vars(parser.parse_args(["demo"])) == {"report": "demo", "out": None, "tiny": False}
    assert vars(parser.parse_args(["demo", "--out", "x", "--tiny"])) == {"report": "demo", "out": "x", "tiny": True}
    text = parser.format_help()
    assert "the report: demo" in text and "where it goes (default: outputs/reproduce/REPORT[-tiny])" in text
    assert "a CPU run" in text
