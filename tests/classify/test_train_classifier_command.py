"""``train-classifier``'s refusals before any rank starts: a LoRA classifier under ZeRO-3 (the recipe's DeepSpeed
file or one given on the command line), read from the file's own stage; ZeRO-2 and full training pass."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest import ROOT, run_cli
from conftest import ascii_locale as in_ascii_locale

from recipekit.errors import InputError

MESSAGE = ("a LoRA classifier under ZeRO-3 fails in DeepSpeed's hooks on peft's copy of the head; use "
           "recipes/deepspeed/ds_z2_config.json (adapters are small: ZeRO-2 partitions what matters)")


def deepspeed_file(tmp_path: Path, stage: int) -> Path:
    path = tmp_path / f"zero{stage}.json"
    path.write_text(json.dumps({"train_micro_batch_size_per_gpu": "auto", "zero_optimization": {"stage": stage}}),
                    encoding="utf-8")
    return path


@pytest.mark.parametrize(("recipe", "stage", "refused"), [
    ("yelp5_bert_lora", 3, True), ("yelp5_bert_lora", 2, False), ("afqmc_macbert", 3, False)])
def test_only_a_lora_classifier_under_zero3_is_refused(tmp_path: Path, recipe: str, stage: int,
                                                        refused: bool) -> None:
    from recipekit.commands.train_classifier import refuse_early

    path = str(ROOT / "recipes" / "classifier" / f"{recipe}.yaml")
    config = deepspeed_file(tmp_path, stage)
    if refused:
        with pytest.raises(InputError) as raised:
            refuse_early(path, {"deepspeed": str(config)})
        assert str(raised.value) == f"{config}: {MESSAGE}"
    else:
        assert refuse_early(path, {"deepspeed": str(config)}) is None
    assert refuse_early(path, {}) is None  # no DeepSpeed file: nothing to refuse


def test_a_classifier_recipe_outside_the_classifier_folder_is_read_as_one(tmp_path: Path) -> None:
    """A user's own copy elsewhere is read with the classifier's defaults: without ``finetuning_type`` it trains
    every weight (the classifier's default; LLaMA-Factory's would be LoRA), so ZeRO-3 is no problem; with LoRA
    written, it is refused."""
    from recipekit.commands.train_classifier import refuse_early

    text = (ROOT / "recipes" / "classifier" / "yelp5_bert_lora.yaml").read_text(encoding="utf-8")
    config = deepspeed_file(tmp_path, 3)
    full = tmp_path / "my_full_classifier.yaml"
    full.write_text(text.replace("finetuning_type: lora\n", ""), encoding="utf-8")
    assert "finetuning_type" not in full.read_text(encoding="utf-8")
    assert refuse_early(str(full), {"deepspeed": str(config)}) is None
    lora = tmp_path / "my_lora_classifier.yaml"
    lora.write_text(text, encoding="utf-8")
    with pytest.raises(InputError) as raised:
        refuse_early(str(lora), {"deepspeed": str(config)})
    assert str(raised.value) == f"{config}: {MESSAGE}"


def test_a_deepspeed_file_is_read_as_utf8_in_an_ascii_locale(tmp_path: Path) -> None:
    """A DeepSpeed file naming a folder in another script (its TensorBoard logs) is read whatever the locale."""
    from recipekit.commands.train_classifier import refuse_early

    config = tmp_path / "zero3.json"
    config.write_text(json.dumps({"zero_optimization": {"stage": 3},
                                  "tensorboard": {"enabled": True, "output_path": "/home/jos\u00e9/\u65e5\u5fd7"}},
                                 ensure_ascii=False), encoding="utf-8")
    recipe = str(ROOT / "recipes" / "classifier" / "yelp5_bert_lora.yaml")
    with in_ascii_locale(), pytest.raises(InputError) as raised:
        refuse_early(recipe, {"deepspeed": str(config)})
    assert str(raised.value) == f"{config}: {MESSAGE}"


def test_the_refusal_is_one_line_before_any_model_is_read(tmp_path: Path) -> None:
    config = deepspeed_file(tmp_path, 3)
    done = run_cli("train-classifier", "recipes/classifier/yelp5_bert_lora.yaml", f"deepspeed={config}",
                   "output_dir=" + str(tmp_path / "out"))
    assert done.returncode == 2
    assert done.stderr.strip().splitlines()[-1].endswith(f"{config}: {MESSAGE}")
    assert "Traceback" not in done.stderr and not (tmp_path / "out").exists()
