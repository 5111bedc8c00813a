"""Every YAML file the repository reads (recipes, chains, suites, stages, cards) is read as yaml.safe_load reads
it, except that a key given twice in one mapping is refused with both lines instead of the last silently winning."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from conftest import ROOT

from recipekit.errors import InputError
from recipekit.eval.benchmarks import load_suite
from recipekit.files import load_yaml
from recipekit.recipes.reading import load_recipe
from recipekit.reproduce.chain import load_chain


def test_yaml_without_repeats_reads_as_safe_load_reads_it() -> None:
    for path in [*sorted((ROOT / "recipes").rglob("*.yaml")), ROOT / "recipekit" / "plan" / "cards.yaml"]:
        text = path.read_text(encoding="utf-8")
        assert load_yaml(text, str(path)) == yaml.safe_load(text), path
    merged = "base: &b {lr: 1, steps: 2}\nrun:\n  <<: *b\n  lr: 3\n"  # a merge may be overridden
    assert load_yaml(merged, "m.yaml") == yaml.safe_load(merged) == {"base": {"lr": 1, "steps": 2},
                                                                       "run": {"lr": 3, "steps": 2}}
    assert load_yaml("[{a: 1}, {a: 2}]", "l.yaml") == [{"a": 1}, {"a": 2}]  # the same key in two mappings


@pytest.mark.parametrize(("text", "message"), [
    ("a: 1\nb: 2\na: 3\n", "f.yaml:3: key 'a' is given twice (lines 1 and 3); YAML would keep the last one silently"),
    ("top:\n  x: 1\n  y: 2\n  x: 1\n", "f.yaml:4: key 'x' is given twice (lines 2 and 4)"),
    ("steps:\n  - {name: a, run: x, name: b}\n", "f.yaml:2: key 'name' is given twice (lines 2 and 2)"),
    ("1: a\n1: b\n", "f.yaml:2: key 1 is given twice (lines 1 and 2)"),
    ("a: [1\n", "f.yaml:2: not valid YAML (expected ',' or ']', but got '<stream end>')"),
])
def test_a_repeated_key_or_broken_yaml_is_one_line_with_the_lines(text: str, message: str) -> None:
    with pytest.raises(InputError) as caught:
        load_yaml(text, "f.yaml")
    assert str(caught.value).startswith(message)


def test_recipes_chains_and_suites_refuse_a_repeated_key(tmp_path: Path) -> None:
    recipe = tmp_path / "r.yaml"
    recipe.write_text("# a recipe\nstage: sft\nlearning_rate: 1.0e-4\nlearning_rate: 1.0e-5\n", encoding="utf-8")
    chain = tmp_path / "c.yaml"
    chain.write_text("title: t\nsteps:\n  - {name: a, run: x}\ntitle: u\n", encoding="utf-8")
    suite = tmp_path / "s.yaml"
    suite.write_text("dimensions:\n  d: {tasks: [piqa]}\n  d: {tasks: [arc_easy]}\n", encoding="utf-8")
    for load, path, line in ((load_recipe, recipe, "4: key 'learning_rate' is given twice (lines 3 and 4)"),
                             (load_chain, chain, "4: key 'title' is given twice (lines 1 and 4)"),
                             (load_suite, suite, "3: key 'd' is given twice (lines 2 and 3)")):
        with pytest.raises(InputError) as caught:
            load(str(path))
        assert str(caught.value).endswith(f"{line}; YAML would keep the last one silently")


def test_a_mapping_file_is_named_in_each_of_its_errors(tmp_path: Path) -> None:
    from recipekit.files import read_yaml_mapping

    path = tmp_path / "cards.yaml"
    for text, message in (("a: [1\n", f"{path}:2: not valid YAML ("), ("- a\n", f"{path}: a cards file is a YAML "
                                                                                   "mapping")):
        path.write_text(text, encoding="utf-8")
        with pytest.raises(InputError) as caught:
            read_yaml_mapping(path, "cards file")
        assert str(caught.value).startswith(message)
    with pytest.raises(InputError) as caught:
        read_yaml_mapping(tmp_path / "none.yaml", "cards file")
    assert str(caught.value) == f"{tmp_path / 'none.yaml'}: no such cards file"
    path.write_text("a: 1\n", encoding="utf-8")
    assert read_yaml_mapping(path, "cards file") == {"a": 1}
