"""A reproduction's rules at their edges, without running anything: which verdict wins, numbers in the report's
unit, the state kept across reruns, a chain file's step order, paths moved in a tiny run, which commands launch a
recipe. Expected values are written by hand."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from recipekit.errors import InputError
from recipekit.reproduce.card import chain_recipes, score_numbers, verdict
from recipekit.reproduce.chain import Chain, Layout, Number, StepSpec, load_chain
from recipekit.reproduce.runner import load_state, save_state
from recipekit.steps import Outcome, Step


def test_which_verdict_wins() -> None:
    assert verdict(None, 0.5, (0.4, 0.6), tiny=True) == "no published number"  # before the tiny run's
    assert verdict(0.5, None, None, tiny=True) == "no verdict (tiny run)"  # before "not measured"
    assert verdict(0.5, 0.5, (0.5, 0.5), tiny=False) == "reproduced"  # a one-point interval
    assert verdict(0.5000001, 0.5, (0.5, 0.5), tiny=False) == \
        "not reproduced: run -1e-07 (the report's number is above the interval)"
    assert verdict(0.4, 0.4123456, (0.41, 0.42), tiny=False) == \
        "not reproduced: run +0.01235 (the report's number is below the interval)"  # 4 significant digits


def test_numbers_are_scored_in_the_reports_unit_reading_each_folder_once(tmp_path: Path) -> None:
    folder = tmp_path / "report"
    folder.mkdir()
    report = {"n": 10, "accuracy": 0.9, "macro": {"precision": 0.8, "recall": 0.7, "f1": 0.75},
              "per_class": {"a": {"f1": 0.6}}, "ci": {"accuracy": [0.85, 0.95]}}
    (folder / "classify_report.json").write_text(json.dumps(report), encoding="utf-8")
    numbers = [Number("acc %", 90.0, "accuracy", "r", unit="%"), Number("f1", 0.76, "macro_f1", "r"),
               Number("loss", 0.2, "log_loss", "r"), Number("f1 a", 0.6, "f1[a]", "other")]
    reads = []

    def fill(text: str) -> Path:
        reads.append(text)
        return folder if text == "r" else tmp_path / "missing"

    scored = score_numbers(numbers, fill, tiny=False)
    assert [(s["run"], s["ci95"], s["n"], s["verdict"]) for s in scored] == [
        (pytest.approx(90.0), [pytest.approx(85.0), pytest.approx(95.0)], 10, "reproduced"),
        (0.75, None, 10, "not measured"),  # a value with no interval
        (None, None, 10, "not measured"),  # no log loss in this report
        (None, None, None, "not measured")]  # no report folder yet
    assert scored[0]["unit"] == "%" and reads == ["r", "r", "r", "other"]


def test_the_state_keeps_the_seconds_of_an_earlier_run_for_a_skipped_step(tmp_path: Path) -> None:
    chain = Chain("demo", tmp_path / "demo.yaml", "r.md", "Demo", [], [])
    layout = Layout(chain, tmp_path / "out", tiny=True)
    assert load_state(tmp_path / "out") == {}
    save_state(layout, [Outcome("convert", "ran", 2.5, "c.log", "c"), Outcome("train", "ran", 60.0, "t.log", "t")])
    save_state(layout, [Outcome("convert", "skipped", 0.0, "c.log", "c"), Outcome("eval", "ran", 1.0, "e.log", "e")])
    state = load_state(tmp_path / "out")
    assert {name: (step["status"], step["seconds"]) for name, step in state["steps"].items()} == {
        "convert": ("skipped", 2.5), "train": ("ran", 60.0), "eval": ("ran", 1.0)}
    assert (state["chain"], state["tiny"], state["group"]) == ("demo", True, "reproduce-demo-tiny")
    save_state(layout, [Outcome("new", "skipped", 0.0, "n.log", "n")])
    assert load_state(tmp_path / "out")["steps"]["new"]["seconds"] == 0.0  # skipped, never ran: 0


def write_chain(tmp_path: Path, steps: str, numbers: str = "") -> str:
    path = tmp_path / "c.yaml"
    path.write_text(f"report: r.md\nsteps:\n{steps}" + (f"numbers:\n{numbers}" if numbers else ""), encoding="utf-8")
    return str(path)


def test_a_chains_steps_and_numbers_at_their_edges(tmp_path: Path) -> None:
    one = "  - {name: a, run: echo a}\n"
    chain = load_chain(write_chain(tmp_path, one + "  - {name: b, run: echo b, wandb_run: a}\n",
                                   "  - {name: x, metric: 'f1[4: Sci/Tech]', report: r, published: '0.5'}\n"))
    assert [s.wandb_run for s in chain.steps] == [None, "a"] and chain.numbers[0].published == 0.5
    assert chain.title == "c"  # no title: the file's name
    for steps, message in ((one + "  - {name: b, run: echo b, wandb_run: b}\n", "wandb_run 'b' is not an earlier"),
                           ("  - {name: b, run: echo b, wandb_run: a}\n" + one, "wandb_run 'a' is not an earlier"),
                           (one + one, "step a: the name is used twice"), ("  - {name: a}\n", "step 1: needs a name"),
                           (one + "  - {run: echo}\n", "step 2: needs a name and a run command")):
        with pytest.raises(InputError, match=message):
            load_chain(write_chain(tmp_path, steps))
    for number, message in (("  - {name: x, metric: 'f1[]', report: r}\n", "unknown metric 'f1\\[\\]'"),
                            ("  - {name: x, metric: accuracy}\n", "number x: needs name, metric, report"),
                            ("  - {name: x, metric: accuracy, report: r, extra: 1}\n", "number x: needs")):
        with pytest.raises(InputError, match=message):
            load_chain(write_chain(tmp_path, one, number))


def layout(tmp_path: Path, tiny: bool = True) -> Layout:
    chain = Chain("demo", tmp_path / "demo.yaml", "r.md", "Demo", [StepSpec("s", "echo")], [])
    return Layout(chain, Path("out/demo"), tiny)


def test_a_tiny_run_moves_saves_and_data_under_its_folder(tmp_path: Path) -> None:
    tiny = layout(tmp_path)
    assert tiny.relocate("saves/x/lora") == "out/demo/saves/x/lora"
    assert tiny.relocate("data") == "out/demo/data"  # the folder itself
    assert tiny.relocate("output_dir=saves/x") == "output_dir=out/demo/saves/x"  # a KEY=VALUE override
    assert tiny.relocate("--out=saves/x") == "--out=saves/x"  # a flag is not an override
    assert tiny.relocate("outputs/x") == "outputs/x" and tiny.relocate("datasets/x") == "datasets/x"
    assert tiny.relocate("recipes/agnews_full.yaml", recipes=True) == "out/demo/recipes/agnews_full.yaml"
    assert tiny.relocate("recipes/agnews_full.yaml") == "recipes/agnews_full.yaml"  # checks read the real recipe
    real = layout(tmp_path, tiny=False)
    assert real.relocate("saves/x") == "saves/x" and real.relocate("recipes/agnews_full.yaml", True) == \
        "recipes/agnews_full.yaml"
    assert tiny.group_env() == {"WANDB_RUN_GROUP": "reproduce-demo-tiny", "WANDB_DIR": "out/demo",
                                "WANDB_MODE": "offline"}
    assert real.group_env() == {"WANDB_RUN_GROUP": "reproduce-demo", "WANDB_DIR": "out/demo"}


def test_placeholders_are_filled_or_refused(tmp_path: Path) -> None:
    tiny = layout(tmp_path)
    assert tiny.fill("{out}/x {out}", "s") == "out/demo/x out/demo"
    for text in ("{out:x}", "{fixture:agnews}", "{fixture}", "{model}"):  # a fixture without its sources, too
        with pytest.raises(InputError, match=r"step s: unknown placeholder"):
            tiny.fill(text, "s")
    with_sources = Layout(tiny.chain, tiny.out, True, sources=lambda name, raw, write: ["--input", f"{raw}/{name}",
                                                                                        "--name", "a b"])
    found: list[str] = []
    assert with_sources.fill("{fixture:agnews}", "s", found) == "--input out/demo/raw/agnews --name 'a b'"
    assert found == ["out/demo/raw/agnews"]
    assert Layout(tiny.chain, tiny.out, False, sources=with_sources.sources).fill("{out}", "s") == "out/demo"
    with pytest.raises(InputError, match="unknown placeholder"):  # a real run has no fixtures
        Layout(tiny.chain, tiny.out, False, sources=with_sources.sources).fill("{fixture:agnews}", "s")


@pytest.mark.parametrize(("command", "launches"), [
    ("llamafactory-cli train r.yaml", True), ("/venv/bin/llamafactory-cli export r.yaml", True),
    ("llm-recipes train-classifier r.yaml", True), ("llm-recipes export r.yaml", True),
    ("python scripts/train_classifier.py r.yaml", True), ("python scripts/export.py r.yaml", True),
    ("llamafactory-cli chat r.yaml", False), ("llm-recipes check-recipes r.yaml", False),
    ("echo llamafactory-cli", False), ("python scripts/plan.py r.yaml", False),
])
def test_which_commands_launch_their_recipe(command: str, launches: bool) -> None:
    assert Layout.launches(command.split()) is launches


def test_the_recipes_of_a_chain_once_each_in_order_of_first_use() -> None:
    steps = [Step("check", ["llm-recipes", "check-recipes", "recipes/agnews_full.yaml", "recipes/no_such.yaml"]),
             Step("train", ["llamafactory-cli", "train", "out/recipes/agnews_predict.yaml"],
                  recipe=Path("out/recipes/agnews_predict.yaml"), source_recipe="recipes/agnews_predict.yaml"),
             Step("again", ["x", "recipes/agnews_full.yaml"])]
    assert chain_recipes(steps) == ["recipes/agnews_full.yaml", "recipes/agnews_predict.yaml"]
