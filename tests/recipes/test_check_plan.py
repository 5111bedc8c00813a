"""``check recipes --gpu``: each recipe planned on --gpus of that card (a tiny architecture, simulated in seconds),
a recipe that does not fit failed with its peak, one the planner cannot plan noted."""

from __future__ import annotations

import json
from pathlib import Path

import yaml
from conftest import run_cli

TINY = {"architectures": ["LlamaForCausalLM"], "model_type": "llama", "vocab_size": 256, "hidden_size": 64,
        "intermediate_size": 128, "num_hidden_layers": 2, "num_attention_heads": 4, "num_key_value_heads": 4,
        "max_position_embeddings": 16384, "tie_word_embeddings": False}


def recipe(tmp_path: Path, name: str, model: dict | None = None, **values: object) -> Path:
    folder = tmp_path / f"model_{name}"
    if model is not None:
        folder.mkdir()
        (folder / "config.json").write_text(json.dumps(model), encoding="utf-8")
    data = tmp_path / "data"
    data.mkdir(exist_ok=True)
    (data / "dataset_info.json").write_text(json.dumps({"toy": {"file_name": "toy.jsonl"}}), encoding="utf-8")
    (data / "toy.jsonl").write_text("".join(json.dumps({"instruction": f"q{i}", "input": "", "output": f"a{i}"}) + "\n"
                                            for i in range(3)), encoding="utf-8")
    args = {"model_name_or_path": str(folder), "stage": "sft", "do_train": True, "finetuning_type": "full",
            "dataset": "toy", "dataset_dir": str(data), "template": "default", "cutoff_len": 128,
            "output_dir": str(tmp_path / "saves" / name), "per_device_train_batch_size": 2,
            "gradient_accumulation_steps": 2, "num_train_epochs": 1.0, "bf16": True, **values}
    path = tmp_path / f"{name}.yaml"
    path.write_text(yaml.safe_dump(args), encoding="utf-8")
    return path


def plan_lines(out: str) -> list[str]:
    return [line.strip() for line in out.splitlines() if line.strip().startswith(("plan:", "error: does not fit"))]


def test_a_recipe_that_fits_gets_its_plan_line_on_the_cards_asked_for(tmp_path: Path) -> None:
    path = recipe(tmp_path, "fits", TINY)
    one = run_cli("check", "recipes", path, "--gpu", "t4")
    assert one.returncode == 0, one.stdout
    assert plan_lines(one.stdout) == ["plan: 1x T4 16GB: 1.0 GiB peak per GPU at 2 x 128 tokens, fits; 0.0 h, $0.00"]
    two = run_cli("check", "recipes", path, "--gpu", "h100", "--gpus", "2")
    assert two.returncode == 0, two.stdout
    assert plan_lines(two.stdout) == ["plan: 2x H100 SXM 80GB: 1.0 GiB peak per GPU at 2 x 128 tokens, fits; 0.0 h, "
                                      "$0.00"]
    plain = run_cli("check", "recipes", path)
    assert plain.returncode == 0 and plan_lines(plain.stdout) == []  # no --gpu: nothing planned


def test_a_recipe_that_does_not_fit_is_an_error_with_its_peak_and_the_others_still_pass(tmp_path: Path) -> None:
    wide = {**TINY, "vocab_size": 32000}  # 8 x 16384 tokens of float32 logits: 16.8 GB before their gradient
    big = recipe(tmp_path, "big", wide, per_device_train_batch_size=8, cutoff_len=16384)
    small = recipe(tmp_path, "small", TINY)
    done = run_cli("check", "recipes", big, small, "--gpu", "t4")
    assert done.returncode == 1
    lines = plan_lines(done.stdout)
    assert len(lines) == 3 and lines[2].startswith("plan: 1x T4 16GB: 1.0 GiB peak")
    peak = float(lines[1].split(": ", 2)[2].split(" GiB")[0])
    assert peak > 2 * 8 * 16384 * 32000 * 4 / 2**30  # the logits and their gradient alone
    assert lines[0] == f"error: does not fit 1x T4 16GB ({peak:.1f} GiB per GPU): see scripts/plan.py for the changes"
    assert lines[1] == f"plan: 1x T4 16GB: {peak:.1f} GiB peak per GPU at 8 x 16384 tokens, does not fit; 0.0 h, $0.00"
    assert "2 recipe(s) checked, 1 with errors" in done.stdout
    on_two = run_cli("check", "recipes", big, "--gpu", "t4", "--gpus", "2")
    assert f"error: does not fit 2x T4 16GB ({peak:.1f} GiB per GPU)" in on_two.stdout


def test_a_recipe_the_planner_cannot_plan_is_noted_not_failed_twice(tmp_path: Path) -> None:
    path = recipe(tmp_path, "nomodel", None)
    done = run_cli("check", "recipes", path, "--gpu", "t4")
    missing = tmp_path / "model_nomodel"
    assert f"plan: not planned (no config.json for {str(missing)!r}: no such local folder)" in done.stdout
    assert "error: does not fit" not in done.stdout
