"""Suite and stage files read into what lm-evaluation-harness is run with, and lm-eval's results block read back
into task and dimension scores: values worked out by hand from the files and results written here."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import pytest

from recipekit.errors import InputError
from recipekit.eval.benchmarks import (
    Dimension,
    Stage,
    Suite,
    deltas,
    dimension_scores,
    load_stage,
    load_stages,
    load_suite,
    task_score,
)


def write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def test_the_shipped_suite_groups_its_tasks_by_shots() -> None:
    suite = load_suite("recipes/benchmarks/capabilities.yaml")
    assert suite.name == "qwen3_4b_capabilities"
    assert [d.name for d in suite.dimensions] == ["academic knowledge", "commonsense reasoning",
                                                   "physical reasoning", "instruction following"]
    assert suite.dimensions[0] == Dimension("academic knowledge", ("mmlu", "arc_challenge"), 5, "acc_norm")
    assert suite.dimensions[3].metric == "prompt_level_strict_acc"
    assert suite.tasks_by_shots() == {5: ["mmlu", "arc_challenge"],
                                      0: ["hellaswag", "winogrande", "commonsense_qa", "piqa", "arc_challenge",
                                          "ifeval"]}
    assert suite.reported == {"academic knowledge": 0.6859, "commonsense reasoning": 0.7048,
                              "physical reasoning": 0.5171, "instruction following": 0.3623}


def test_a_suite_file_defaults_and_a_task_shared_by_dimensions_runs_once(tmp_path: Path) -> None:
    path = write(tmp_path / "mine.yaml", "dimensions:\n  a:\n    tasks: piqa\n  b:\n    tasks: [piqa, 7]\n"
                                         "    shots: 3\n    metric: acc\n  c:\n    tasks: [hellaswag, piqa]\n")
    suite = load_suite(path)
    assert suite.name == "mine" and suite.reported == {}
    assert suite.dimensions == (Dimension("a", ("piqa",), 0, "acc_norm"), Dimension("b", ("piqa", "7"), 3, "acc"),
                                Dimension("c", ("hellaswag", "piqa"), 0, "acc_norm"))
    assert suite.tasks_by_shots() == {0: ["piqa", "hellaswag"], 3: ["piqa", "7"]}


BAD_SUITES = [
    ("name: x\n", "a suite needs at least one dimension under `dimensions:`"),
    ("dimensions: {}\n", "a suite needs at least one dimension under `dimensions:`"),
    ("dimensions:\n  d: [piqa]\n", "dimension 'd' needs `tasks: [...]`"),
    ("dimensions:\n  d:\n    tasks: []\n", "dimension 'd' needs `tasks: [...]`"),
    ("dimensions:\n  d:\n    tasks: [piqa]\n    shots: -1\n", "dimension 'd': shots must be a whole number >= 0"),
    ("dimensions:\n  d:\n    tasks: [piqa]\n    shots: 2.5\n", "dimension 'd': shots must be a whole number >= 0"),
    ("dimensions:\n  d:\n    tasks: [piqa]\n    shots: five\n", "dimension 'd': shots must be a whole number >= 0"),
]


def test_a_missing_or_non_mapping_file_names_its_kind(tmp_path: Path) -> None:
    listed = write(tmp_path / "list.yaml", "- piqa\n")
    for load, kind in ((load_suite, "suite file"), (load_stage, "stage file")):
        with pytest.raises(InputError) as caught:
            load(tmp_path / "none.yaml")
        assert str(caught.value) == f"{tmp_path / 'none.yaml'}: no such {kind}"
        with pytest.raises(InputError) as caught:
            load(listed)
        assert str(caught.value) == f"{listed}: a {kind} is a YAML mapping"


def test_zero_shots_are_accepted(tmp_path: Path) -> None:
    suite = load_suite(write(tmp_path / "s.yaml", "dimensions:\n  d:\n    tasks: [piqa]\n    shots: 0\n"))
    assert suite.dimensions[0].shots == 0


def test_the_shipped_stages_name_their_model_adapter_and_suite() -> None:
    stage, suite = load_stage("recipes/benchmarks/qwen3_4b_base.yaml")
    assert (stage.model, stage.adapter, suite) == ("Qwen/Qwen3-4B-Base", None, "recipes/benchmarks/capabilities.yaml")
    assert (stage.name, stage.chat) == ("base", False)
    assert stage.model_args() == {"pretrained": "Qwen/Qwen3-4B-Base", "dtype": "auto"}


def test_a_stage_file_with_an_adapter_folder(tmp_path: Path) -> None:
    adapter = tmp_path / "saves" / "sft"
    adapter.mkdir(parents=True)
    path = write(tmp_path / "sft_stage.yaml", f"model: m\nadapter: {adapter}\nchat: true\ndtype: bfloat16\n"
                                              "suite: s.yaml\n")
    stage, suite = load_stage(path)
    assert stage == Stage("sft_stage", "m", str(adapter), True, "bfloat16") and suite == "s.yaml"
    assert stage.model_args() == {"pretrained": "m", "dtype": "bfloat16", "peft": str(adapter)}
    named = write(tmp_path / "named.yaml", "name: base\nmodel: m\nsuite: s.yaml\n")
    stage, _ = load_stage(named)
    assert stage == Stage("base", "m", None, False, "auto")
    assert stage.model_args() == {"pretrained": "m", "dtype": "auto"}


def test_a_hub_adapter_id_is_accepted_without_a_folder(tmp_path: Path) -> None:
    stage, _ = load_stage(write(tmp_path / "s.yaml", "model: m\nadapter: someone/qwen-lora\nsuite: s.yaml\n"))
    assert stage.adapter == "someone/qwen-lora"


def test_stages_compared_together_share_one_suite_and_distinct_names(tmp_path: Path) -> None:
    base = write(tmp_path / "base.yaml", "model: m\nsuite: s.yaml\n")
    sft = write(tmp_path / "sft.yaml", "model: m2\nsuite: s.yaml\n")
    stages, suite = load_stages([str(base), str(sft)])
    assert [stage.name for stage in stages] == ["base", "sft"] and suite == "s.yaml"
    twin = write(tmp_path / "twin.yaml", "name: base\nmodel: m3\nsuite: s.yaml\n")
    with pytest.raises(InputError) as caught:
        load_stages([str(base), str(twin)])
    assert str(caught.value) == "two stages share a name: base base (set `name:` in the stage files)"
    other = write(tmp_path / "other.yaml", "model: m\nsuite: t.yaml\n")
    with pytest.raises(InputError) as caught:
        load_stages([str(base), str(other)])
    assert str(caught.value) == "stages compared together share one suite, got s.yaml, t.yaml"


def test_deltas_are_each_later_stage_minus_the_first() -> None:
    def stage(name: str, **scores: float) -> dict[str, Any]:
        return {"name": name, "dimensions": {d: {"score": v} for d, v in scores.items()}}

    found = deltas([stage("base", knowledge=0.5, reasoning=0.25), stage("sft", knowledge=0.75, reasoning=0.125),
                    stage("dpo", knowledge=0.25, reasoning=0.5)])
    assert found == {"sft": {"knowledge": 0.25, "reasoning": -0.125}, "dpo": {"knowledge": -0.25, "reasoning": 0.25}}


BAD_STAGES = [
    ("suite: s.yaml\n", "a stage names its `model` (hub id or folder)"),
    ("model: ''\nsuite: s.yaml\n", "a stage names its `model` (hub id or folder)"),
    ("model: m\n", "a stage names its `suite` file"),
    ("model: m\nadapter: saves/never/trained\nsuite: s.yaml\n",
     "adapter saves/never/trained: no such folder (train it first, or give a hub id)"),
    ("model: m\nadapter: lonely\nsuite: s.yaml\n", "adapter lonely: no such folder (train it first, or give a hub id)"),
]


@pytest.mark.parametrize(("load", "text", "message"), [(load_suite, *case) for case in BAD_SUITES] +
                         [(load_stage, *case) for case in BAD_STAGES])
def test_a_bad_suite_or_stage_is_one_line_naming_the_file(tmp_path: Path, load: Any, text: str, message: str) -> None:
    path = write(tmp_path / "file.yaml", text)
    with pytest.raises(InputError) as caught:
        load(path)
    assert str(caught.value) == f"{path}: {message}"


# lm-eval's `results` block: "<metric>,<filter>" keys, the standard error as "<metric>_stderr,<filter>"
RESULTS = {
    "piqa": {"alias": "piqa", "acc,none": 0.75, "acc_stderr,none": 0.02, "acc_norm,none": 0.5,
             "acc_norm_stderr,none": 0.04},
    "winogrande": {"alias": "winogrande", "acc,none": 0.6, "acc_stderr,none": 0.03},
    "ifeval": {"prompt_level_strict_acc,none": 0.25, "prompt_level_strict_acc_stderr,none": "N/A",
               "inst_level_strict_acc,none": 0.4},
}


def test_a_task_is_read_under_its_metric_or_the_fallback() -> None:
    assert task_score(RESULTS, "piqa", "acc_norm") == {"task": "piqa", "metric": "acc_norm", "score": 0.5,
                                                       "stderr": 0.04}
    assert task_score(RESULTS, "piqa", "acc") == {"task": "piqa", "metric": "acc", "score": 0.75, "stderr": 0.02}
    assert task_score(RESULTS, "winogrande", "acc_norm") == {"task": "winogrande", "metric": "acc", "score": 0.6,
                                                             "stderr": 0.03}
    # lm-eval writes "N/A" where it has no standard error
    assert task_score(RESULTS, "ifeval", "prompt_level_strict_acc")["stderr"] is None
    assert task_score({"t": {"acc,none": 1, "acc_stderr,none": 0}}, "t", "acc") == {
        "task": "t", "metric": "acc", "score": 1.0, "stderr": 0.0}


def test_a_missing_task_or_metric_is_one_line() -> None:
    with pytest.raises(InputError) as caught:
        task_score(RESULTS, "hellaswag", "acc")
    assert str(caught.value) == "lm-eval returned no result for task 'hellaswag'"
    with pytest.raises(InputError) as caught:
        task_score(RESULTS, "ifeval", "acc_norm")
    assert str(caught.value) == ("task 'ifeval' has no 'acc_norm' (lm-eval reports: inst_level_strict_acc, "
                                 "prompt_level_strict_acc)")
    with pytest.raises(InputError) as caught:
        task_score(RESULTS, "winogrande", "f1")  # no fallback for f1
    assert str(caught.value) == "task 'winogrande' has no 'f1' (lm-eval reports: acc)"


def test_dimensions_read_the_run_with_their_shot_count() -> None:
    suite = Suite("s", (Dimension("physical", ("piqa", "winogrande"), 0, "acc_norm"),
                        Dimension("instructions", ("ifeval",), 0, "prompt_level_strict_acc"),
                        Dimension("five-shot", ("piqa",), 5, "acc")))
    five = {"piqa": {"acc,none": 0.9, "acc_stderr,none": 0.01}}
    scores = dimension_scores(suite, {0: RESULTS, 5: five})
    physical = scores["physical"]
    assert physical["score"] == pytest.approx((0.5 + 0.6) / 2)
    assert physical["stderr"] == pytest.approx(math.sqrt(0.04 ** 2 + 0.03 ** 2) / 2)
    assert physical["shots"] == 0 and [t["task"] for t in physical["tasks"]] == ["piqa", "winogrande"]
    assert scores["instructions"] == {"score": 0.25, "stderr": None, "shots": 0, "tasks": [
        {"task": "ifeval", "metric": "prompt_level_strict_acc", "score": 0.25, "stderr": None}]}
    assert scores["five-shot"]["score"] == 0.9 and scores["five-shot"]["stderr"] == pytest.approx(0.01)
    assert scores["five-shot"]["shots"] == 5
    assert list(scores) == ["physical", "instructions", "five-shot"]
