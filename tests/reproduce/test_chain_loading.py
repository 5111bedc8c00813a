"""Reading a chain file: every field it gives (steps, numbers, differences, titles) as loaded, a ``.yml`` file
named as typed, and the exact one-line refusal, naming the file, of each malformed field."""

from __future__ import annotations

from pathlib import Path

import pytest

from recipekit.errors import InputError
from recipekit.reproduce.chain import Chain, Number, StepSpec, load_chain

NEEDS = "needs name, metric, report (may add published, unit, approx, set)"
KNOWN_METRICS = ("accuracy, macro_precision, macro_recall, macro_f1, log_loss, bleu-4, rouge-1, rouge-2, rouge-l, "
                 "f1[LABEL]")


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty repository root with its chain folder, the working directory."""
    monkeypatch.setenv("LLM_RECIPES_ROOT", str(tmp_path))
    monkeypatch.chdir(tmp_path)
    (tmp_path / "recipes" / "reproduce").mkdir(parents=True)
    return tmp_path


def write_chain(root: Path, text: str, name: str = "demo") -> Path:
    path = root / "recipes" / "reproduce" / f"{name}.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def refusal(path: Path) -> str:
    with pytest.raises(InputError) as refused:
        load_chain(str(path))
    return str(refused.value)


FULL = """\
report: r.md
report_title: The Report
title: Demo run
steps:
  - name: data
    run: "  python converters/x.py --out data  "
    tiny: python converters/x.py {fixture:x}
    inputs: [raw/a.csv, 7]
    outputs: [data/x.jsonl]
  - {name: train, run: llamafactory-cli train recipes/t.yaml, wandb_run: data}
  - {name: report, run: echo r, outputs: ["{out}/a.json", "{out}/b.json"]}
numbers:
  - {name: Accuracy, published: 91, unit: "%", approx: true, set: agnews_test, metric: accuracy, report: eval/r}
  - {name: F1 pos, metric: "f1[pos]", report: eval/r}
differences: [fewer epochs, 3]
"""


def test_every_field_of_a_chain_is_read_as_written(project: Path) -> None:
    path = write_chain(project, FULL)
    assert load_chain("demo") == Chain(
        "demo", path, "r.md", "Demo run",
        [StepSpec("data", "python converters/x.py --out data", "python converters/x.py {fixture:x}",
                  ("raw/a.csv", "7"), ("data/x.jsonl",), None),
         StepSpec("train", "llamafactory-cli train recipes/t.yaml", None, (), (), "data"),
         StepSpec("report", "echo r", None, (), ("{out}/a.json", "{out}/b.json"), None)],
        [Number("Accuracy", 91.0, "accuracy", "eval/r", "%", True, "agnews_test"),
         Number("F1 pos", None, "f1[pos]", "eval/r", "", False, "")],
        ["fewer epochs", "3"], "The Report")


def test_a_chain_with_one_step_and_nothing_else_takes_the_defaults(project: Path) -> None:
    path = write_chain(project, "steps:\n  - {name: only, run: echo a}\n", "solo")
    assert load_chain(str(path)) == Chain("solo", path, "", "solo", [StepSpec("only", "echo a")], [], [], "")
    path = write_chain(project, "steps:\n  - {name: only, run: echo a, inputs: '', outputs: []}\nnumbers: []\n"
                                "differences:\nrecipes: {}\n", "empty")
    assert load_chain(str(path)) == Chain("empty", path, "", "empty", [StepSpec("only", "echo a")], [], [], "")


@pytest.mark.parametrize("typed", ["chains/extra.yml", "{root}/chains/extra.yml"])
def test_a_yml_file_is_read_from_where_it_is_named(project: Path, typed: str) -> None:
    (project / "chains").mkdir()
    (project / "chains" / "extra.yml").write_text("steps:\n  - {name: a, run: echo a}\n", encoding="utf-8")
    chain = load_chain(typed.format(root=project))
    assert (chain.name, chain.path, chain.title) == ("extra", Path(typed.format(root=project)), "extra")
    assert chain.steps == [StepSpec("a", "echo a")]


def test_the_first_and_last_metric_and_a_per_class_f1_are_known(project: Path) -> None:
    path = write_chain(project, "steps:\n  - {name: a, run: x}\nnumbers:\n"
                                "  - {name: a, metric: accuracy, report: r, published: 0.5}\n"
                                "  - {name: b, metric: rouge-l, report: r, published: '12.5', approx: 0}\n"
                                "  - {name: c, metric: 'f1[x]', report: r, unit: 7, set: 0}\n")
    assert load_chain(str(path)).numbers == [Number("a", 0.5, "accuracy", "r"),
                                             Number("b", 12.5, "rouge-l", "r", "", False, ""),
                                             Number("c", None, "f1[x]", "r", "7", False, "0")]


STEPS = "steps:\n  - {name: a, run: x}\n"


REFUSED = {
    "duplicate-last-step": ("steps:\n  - {name: a, run: x}\n  - {name: b, run: y}\n  - {name: a, run: z}\n",
                            "step a: the name is used twice"),
    "wandb-run-itself": ("steps:\n  - {name: a, run: x, wandb_run: a}\n",
                         "step a: wandb_run 'a' is not an earlier step"),
    "wandb-run-later": ("steps:\n  - {name: a, run: x, wandb_run: b}\n  - {name: b, run: y}\n",
                        "step a: wandb_run 'b' is not an earlier step"),
    "wandb-run-unknown-last-step": (
        "steps:\n  - {name: a, run: x}\n  - {name: b, run: y}\n  - {name: c, run: z, wandb_run: d}\n",
        "step c: wandb_run 'd' is not an earlier step"),
    "last-step-lacks-run": ("steps:\n  - {name: a, run: x}\n  - {name: b}\n", "step 2: needs a name and a run command"),
    "empty-name": ("steps:\n  - {name: '', run: x}\n", "step 1: needs a name and a run command"),
    "number-lacks-name": (STEPS + "numbers:\n  - {metric: accuracy, report: r}\n", f"number ?: {NEEDS}"),
    "number-lacks-report": (STEPS + "numbers:\n  - {name: n, metric: accuracy}\n", f"number n: {NEEDS}"),
    "number-unknown-key": (STEPS + "numbers:\n  - {name: n, metric: accuracy, report: r, units: '%'}\n",
                           f"number n: {NEEDS}"),
    "unknown-metric": (STEPS + "numbers:\n  - {name: n, metric: f1, report: r}\n",
                       f"number n: unknown metric 'f1' (known: {KNOWN_METRICS})"),
    "empty-per-class-label": (
        STEPS + "numbers:\n  - {name: n, metric: accuracy, report: r}\n  - {name: m, metric: 'f1[]', report: r}\n",
        f"number m: unknown metric 'f1[]' (known: {KNOWN_METRICS})"),
}


@pytest.mark.parametrize(("text", "message"), list(REFUSED.values()), ids=list(REFUSED))
def test_each_malformed_field_is_one_line_naming_the_chain_file(project: Path, text: str, message: str) -> None:
    path = write_chain(project, text, "bad")
    assert refusal(path) == f"recipes/reproduce/bad.yaml: {message}"


def test_the_recipes_facts_are_checked_when_the_chain_is_read(project: Path) -> None:
    path = write_chain(project, STEPS + "recipes:\n  - recipes/a.yaml\n", "bad")
    assert refusal(path) == f"{path}: recipes: must map each recipe path to its report facts"
    path = write_chain(project, STEPS + "recipes:\n  recipes/a.yaml: 1\n", "bad")
    assert refusal(path).startswith(f"{path}: recipes: recipes/a.yaml: must be a mapping of ")


WRONG_SHAPE = {
    "null-number": (STEPS + "numbers:\n  - null\n", f"number ?: {NEEDS}"),
    "text-number": (STEPS + "numbers:\n  - {name: n, metric: accuracy, report: r}\n  - accuracy\n",
                    f"number ?: {NEEDS}"),
    "numbers-a-count": (STEPS + "numbers: 5\n", "numbers: must be a list, not 5"),
    "numbers-a-mapping": (STEPS + "numbers: {name: n}\n", "numbers: must be a list, not {'name': 'n'}"),
    "published-words": (STEPS + "numbers:\n  - {name: n, metric: accuracy, report: r, published: about 90}\n",
                        "number n: published must be a number, not 'about 90'"),
    "published-list": (STEPS + "numbers:\n  - {name: n, metric: accuracy, report: r, published: [1, 2]}\n",
                       "number n: published must be a number, not [1, 2]"),
    "differences-a-count": (STEPS + "differences: 5\n", "differences: must be a list, not 5"),
    "inputs-a-count": ("steps:\n  - {name: a, run: x, inputs: 5}\n", "step a: inputs: must be a list, not 5"),
    "outputs-a-string": ("steps:\n  - {name: a, run: x}\n  - {name: b, run: y, outputs: data/x.jsonl}\n",
                         "step b: outputs: must be a list, not 'data/x.jsonl'"),
    "name-a-list": ("steps:\n  - {name: [a], run: x}\n", "step 1: needs a name and a run command"),
    "name-a-mapping": ("steps:\n  - {name: a, run: x}\n  - {name: {b: 1}, run: y}\n",
                       "step 2: needs a name and a run command"),
    "tiny-a-count": ("steps:\n  - {name: a, run: x, tiny: 5}\n", "step a: tiny must be a command, not 5"),
    "text-and-number-name": ("steps:\n  - {name: '1', run: x}\n  - {name: 1, run: y}\n",
                             "step 1: the name is used twice"),
}


@pytest.mark.parametrize(("text", "message"), list(WRONG_SHAPE.values()), ids=list(WRONG_SHAPE))
def test_a_field_of_the_wrong_shape_is_one_line_naming_the_chain_file(project: Path, text: str,
                                                                       message: str) -> None:
    path = write_chain(project, text, "bad")
    assert refusal(path) == f"recipes/reproduce/bad.yaml: {message}"


def test_recipes_that_are_not_a_mapping_are_one_line_naming_the_chain_file(project: Path) -> None:
    path = write_chain(project, STEPS + "recipes: 5\n", "bad")
    assert refusal(path) == f"{path}: recipes: must map each recipe path to its report facts"
