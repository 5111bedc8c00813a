"""The chain file `llm-recipes new` writes: its header comments, then YAML whose long commands fold at the first
space past column 120 (a line of 120 characters stays whole), in the order the chain gives its keys."""

from __future__ import annotations

import yaml

from recipekit.reproduce.scaffold import chain_text

CONVERT = "llm-recipes convert generic --input "


def test_a_long_command_folds_at_the_first_space_past_column_120() -> None:
    # "  run: " (7) + the command up to the file name (36) + 74 + ".csv" (4): the line reaches column 121
    content = {"title": "mine: generate",
               "steps": [{"name": "convert", "run": CONVERT + "d" * 74 + ".csv --name mine"}]}
    text = chain_text(["one", "two"], content)
    assert text == ("# one\n# two\ntitle: 'mine: generate'\nsteps:\n- name: convert\n"
                    "  run: llm-recipes convert generic --input " + "d" * 74 + ".csv\n    --name mine\n")
    assert yaml.safe_load(text) == content


def test_a_command_reaching_column_120_folds_only_past_its_next_word() -> None:
    content = {"title": "t", "steps": [{"name": "convert", "run": CONVERT + "d" * 73 + ".csv --name mine"}]}
    text = chain_text([], content)
    assert text == ("title: t\nsteps:\n- name: convert\n"
                    "  run: llm-recipes convert generic --input " + "d" * 73 + ".csv --name\n    mine\n")
    assert max(len(line) for line in text.splitlines()) == 127
    assert yaml.safe_load(text) == content


def test_the_keys_keep_the_chains_order() -> None:
    content = {"title": "t", "steps": [{"run": "b", "name": "a"}], "numbers": [], "differences": ["x"]}
    assert chain_text([], content) == "title: t\nsteps:\n- run: b\n  name: a\nnumbers: []\ndifferences:\n- x\n"
