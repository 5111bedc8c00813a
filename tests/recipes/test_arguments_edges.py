"""Edges of the recipe argument helpers: a parser's refusal line, KEY=VALUE overrides and LoRA target names."""

from __future__ import annotations

import pytest
from omegaconf import OmegaConf
from omegaconf.errors import OmegaConfBaseException
from yaml import YAMLError

from recipekit.errors import InputError
from recipekit.recipes.arguments import LLAMAFACTORY, lora_targets, parse_arguments, parse_overrides, refusal, setting


def test_refusal_keeps_a_colon_inside_an_unknown_key() -> None:
    message = "Some specified arguments are not used by the HfArgumentParser: ['--scheme:v2', 'lr:x']"
    assert refusal(message, "classifier") == (
        "unknown key(s) ['--scheme:v2', 'lr:x']: neither classifier settings nor TrainingArguments (check the "
        "spelling; scripts/train_classifier.py --help)")
    assert refusal(message, LLAMAFACTORY) == (
        "unknown key(s) ['--scheme:v2', 'lr:x']: not LLaMA-Factory arguments (check the spelling; "
        "`llamafactory-cli train -h` lists them)")


def test_a_classifier_recipe_without_output_dir_is_refused_naming_the_recipe() -> None:
    with pytest.raises(InputError) as caught:
        parse_arguments({"model_name_or_path": "bert-base-uncased", "dataset": "d"}, True, "recipes/c.yaml")
    assert (str(caught.value), caught.value.path) == ("recipes/c.yaml: missing output_dir", "recipes/c.yaml")


CLASSIFIER_VALUES = {"output_dir": "o", "model_name_or_path": "bert-base-uncased", "dataset": "d"}


def test_an_unknown_key_is_explained_unless_the_parsers_own_words_are_asked_for() -> None:
    with pytest.raises(InputError) as explained:
        parse_arguments({**CLASSIFIER_VALUES, "bogus": 1}, True, "c.yaml")
    assert str(explained.value) == ("c.yaml: unknown key(s) ['bogus']: neither classifier settings nor "
                                    "TrainingArguments (check the spelling; scripts/train_classifier.py --help)")
    with pytest.raises(InputError) as raw:
        parse_arguments({**CLASSIFIER_VALUES, "bogus": 1}, True, "c.yaml", explain=False)
    assert str(raw.value) == "c.yaml: Some keys are not used by the HfArgumentParser: ['bogus']"


def test_a_setting_no_argument_class_has_is_a_key_error_naming_it_unless_a_default_is_given() -> None:
    groups = parse_arguments(dict(CLASSIFIER_VALUES), True, "c.yaml")
    assert setting(groups, "output_dir") == "o"
    assert setting(groups, "no_such_key", None) is None
    with pytest.raises(KeyError) as caught:
        setting(groups, "no_such_key")
    assert caught.value.args == ("no_such_key",)


def test_override_with_an_empty_key_before_a_later_equals_is_refused() -> None:
    with pytest.raises(InputError) as caught:
        parse_overrides(["max_steps=2", "=a=b"], "r.yaml")
    assert str(caught.value) == "r.yaml: expected KEY=VALUE after the recipe, got '=a=b'"


def test_override_the_command_line_cannot_read_is_one_line_naming_the_recipe() -> None:
    pairs = ["max_steps=2", "dataset=[a"]
    with pytest.raises((OmegaConfBaseException, YAMLError)) as library:
        OmegaConf.from_cli(list(pairs))
    said = " ".join(str(library.value).split())
    assert said  # the library says something, and the line carries all of it on one line
    with pytest.raises(InputError) as caught:
        parse_overrides(pairs, "recipes/x.yaml")
    assert caught.value.path == "recipes/x.yaml"
    assert str(caught.value) == ("recipes/x.yaml: KEY=VALUE overrides 'max_steps=2 dataset=[a': LLaMA-Factory's "
                                 f"command line cannot read them ({said})")
    assert "\n" not in str(caught.value)


def test_lora_targets_named_list_is_split_on_commas_only() -> None:
    assert lora_targets(None, " q_proj, v_proj ,,o_proj", []) == ["q_proj", "v_proj", "o_proj"]
    assert lora_targets(None, "q_proj,v proj", []) == ["q_proj", "v proj"]


def test_lora_targets_all_names_every_linear_outside_the_head() -> None:
    import torch

    model = torch.nn.ModuleDict({
        "fc": torch.nn.Linear(2, 2),
        "layer": torch.nn.ModuleDict({"q_proj": torch.nn.Linear(2, 2), "v_proj": torch.nn.Linear(2, 2),
                                      "act": torch.nn.ReLU()}),
        "score": torch.nn.ModuleDict({"dense": torch.nn.Linear(2, 2), "out_proj": torch.nn.Linear(2, 2)}),
        "scorer_proj": torch.nn.Linear(2, 2),  # shares the head's prefix but is not inside it
    })
    assert lora_targets(model, " all ", ["score"]) == ["fc", "q_proj", "scorer_proj", "v_proj"]
