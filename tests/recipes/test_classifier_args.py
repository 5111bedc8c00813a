"""A classifier recipe read into its head settings and ``TrainingArguments``: every refusal with its message, the
defaults a recipe leaves out, YAML's numbers-as-text, and the set and label lists the runner reads."""

from __future__ import annotations

import pytest

from recipekit.errors import InputError
from recipekit.recipes.classifier import ClassifierArguments, numbers_read, parse_values, zero3_lora_problem


@pytest.mark.parametrize(("settings", "message"), [
    ({"finetuning_type": "qlora"}, "finetuning_type must be one of ('full', 'lora'), got 'qlora'"),
    ({"finetuning_type": "lora", "quantization_bit": 8}, "quantization_bit must be 4 (or left out), got 8"),
    ({"quantization_bit": 4}, "quantization_bit 4 trains LoRA adapters only: set finetuning_type: lora"),
    ({"cutoff_len": 7}, "cutoff_len must be an integer >= 8, got 7"),
    ({"cutoff_len": "512"}, "cutoff_len must be an integer >= 8, got '512'"),
    ({"class_weights": [1.0, 2.0]}, "class_weights must be a mapping label: weight or 'balanced', got [1.0, 2.0]"),
    ({"class_weights": "inverse"}, "class_weights must be a mapping label: weight or 'balanced', got 'inverse'"),
])
def test_a_bad_setting_is_refused_with_its_value(settings: dict, message: str) -> None:
    with pytest.raises(ValueError) as caught:
        ClassifierArguments(model_name_or_path="m", **settings)
    assert str(caught.value) == message


@pytest.mark.parametrize("settings", [
    {"finetuning_type": "lora", "quantization_bit": 4},
    {"finetuning_type": "full"},
    {"cutoff_len": 8},
    {"class_weights": "balanced"},
    {"class_weights": {"是": 1.0, "否": 3.0}},
])
def test_the_edges_of_each_rule_are_accepted(settings: dict) -> None:
    head = ClassifierArguments(model_name_or_path="m", **settings)
    for key, value in settings.items():
        assert getattr(head, key) == value


def test_lora_alpha_is_twice_the_rank_unless_given() -> None:
    assert ClassifierArguments(model_name_or_path="m").lora_alpha == 16
    assert ClassifierArguments(model_name_or_path="m", lora_rank=12).lora_alpha == 24
    assert ClassifierArguments(model_name_or_path="m", lora_rank=12, lora_alpha=5).lora_alpha == 5


def test_the_defaults_a_recipe_leaves_out() -> None:
    head = ClassifierArguments(model_name_or_path="m")
    assert (head.dataset_dir, head.cutoff_len, head.finetuning_type, head.lora_rank, head.lora_dropout,
            head.lora_target, head.quantization_type, head.double_quantization, head.include_instruction) == (
        "data", 512, "full", 8, 0.0, "all", "nf4", True, False)
    assert (head.dataset, head.eval_dataset, head.predict_dataset, head.labels, head.class_weights,
            head.quantization_bit, head.max_samples, head.early_stopping_steps, head.adapter_name_or_path) == (
        None,) * 9


def test_sets_split_on_commas_and_drop_blanks() -> None:
    head = ClassifierArguments(model_name_or_path="m", dataset=" afqmc , afqmc_aug,,", eval_dataset="afqmc_val")
    assert head.sets("dataset") == ["afqmc", "afqmc_aug"]
    assert head.sets("eval_dataset") == ["afqmc_val"]
    assert head.sets("predict_dataset") == []


def test_label_names_keep_the_recipes_order() -> None:
    assert ClassifierArguments(model_name_or_path="m").label_names() is None
    assert ClassifierArguments(model_name_or_path="m", labels="是, 否").label_names() == ["是", "否"]
    assert ClassifierArguments(model_name_or_path="m", labels=[5, " 1 ", "3"]).label_names() == ["5", "1", "3"]


def test_only_lora_under_zero3_is_a_problem() -> None:
    assert zero3_lora_problem("lora", 3) == (
        "a LoRA classifier under ZeRO-3 fails in DeepSpeed's hooks on peft's copy of the head; use "
        "recipes/deepspeed/ds_z2_config.json (adapters are small: ZeRO-2 partitions what matters)")
    assert zero3_lora_problem("lora", 2) is None
    assert zero3_lora_problem("full", 3) is None
    assert zero3_lora_problem("lora", 0) is None


def test_numbers_written_as_text_become_numbers_of_their_fields_type() -> None:
    from transformers import TrainingArguments

    values = {"learning_rate": "5e-5", "lora_rank": "16", "num_train_epochs": "3", "eval_steps": "1e2",
              "lora_dropout": "0.05", "warmup_steps": "2.5", "lora_alpha": "32", "model_name_or_path": "123",
              "include_instruction": "1", "seed": "forty-two", "my_key": "7", "cutoff_len": 256}
    read = numbers_read(values, (ClassifierArguments, TrainingArguments))
    assert read["learning_rate"] == 5e-05 and isinstance(read["learning_rate"], float)
    assert read["lora_rank"] == 16 and isinstance(read["lora_rank"], int)
    assert read["num_train_epochs"] == 3.0 and isinstance(read["num_train_epochs"], float)  # a float field
    assert read["lora_dropout"] == 0.05
    assert read["warmup_steps"] == 2.5  # not an integer: kept as the number written, for the parser to refuse
    # text fields, a boolean, a field without a numeric default, words and unknown keys stay as written
    assert (read["model_name_or_path"], read["include_instruction"], read["seed"], read["my_key"],
            read["lora_alpha"], read["eval_steps"]) == ("123", "1", "forty-two", "7", "32", "1e2")
    assert read["cutoff_len"] == 256
    assert values["learning_rate"] == "5e-5"  # the caller's mapping is left as it was


def test_an_integer_field_written_as_exponent_is_an_integer_and_words_before_it_do_not_stop_the_reading() -> None:
    read = numbers_read({"lora_dropout": "none", "lora_rank": "1e1", "cutoff_len": "3.0"}, (ClassifierArguments,))
    assert read == {"lora_dropout": "none", "lora_rank": 10, "cutoff_len": 3}
    assert isinstance(read["lora_rank"], int) and isinstance(read["cutoff_len"], int)


def test_parse_values_fills_the_runners_switches_and_reads_numbers(tmp_path) -> None:
    values = {"model_name_or_path": "m", "output_dir": str(tmp_path / "out"), "learning_rate": "2e-5",
              "finetuning_type": "lora", "lora_rank": "4"}
    head, training = parse_values(values)
    assert (head.model_name_or_path, head.finetuning_type, head.lora_rank, head.lora_alpha) == ("m", "lora", 4, 8)
    assert (training.do_train, training.do_eval, training.do_predict) == (True, False, False)
    assert training.learning_rate == 2e-05 and training.report_to == []
    assert "report_to" not in values and "do_train" not in values  # the caller's values are not changed
    head, training = parse_values({**values, "do_train": False, "do_predict": True, "report_to": "wandb"})
    assert (training.do_train, training.do_eval, training.do_predict, training.report_to) == (
        False, False, True, ["wandb"])


@pytest.mark.parametrize(("values", "message"), [
    ({"model_name_or_path": "m"}, "missing output_dir"),
    ({"model_name_or_path": "m", "output_dir": ""}, "missing output_dir"),
    ({"model_name_or_path": "m", "output_dir": "o", "lora_rnak": 8},
     "Some keys are not used by the HfArgumentParser: ['lora_rnak']"),
    ({"model_name_or_path": "m", "output_dir": "o", "finetuning_type": "qlora"},
     "finetuning_type must be one of ('full', 'lora'), got 'qlora'"),
    ({"output_dir": "o"},
     "missing or wrong key (ClassifierArguments.__init__() missing 1 required positional argument: "
     "'model_name_or_path')"),
])
def test_a_bad_recipe_is_one_input_error(values: dict, message: str) -> None:
    with pytest.raises(InputError) as caught:
        parse_values(values)
    assert str(caught.value) == message
