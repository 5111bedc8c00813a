"""lm-evaluation-harness's parts one at a time, on a local multiple-choice task and a tiny model built here: the task
manager with a task folder, the check that a suite's tasks exist, one stage run at each shot count (its raw JSON
kept, its results lm-eval's own) and a task lm-eval cannot run as one line."""

from __future__ import annotations

import json
import logging
import socket
from pathlib import Path

import pytest
from conftest import command_module, write_jsonl

from recipekit.errors import InputError
from recipekit.eval.benchmarks import Dimension, Stage, Suite, multiple_choice_task
from recipekit.eval.harness import check_tasks, quiet_progress, run_stage, task_manager

ROWS = [{"question": f"what is {a} plus {b}", "choices": [str(a + b), str(a + b + 1)], "answer": i % 2}
        for i, (a, b) in enumerate([(1, 2), (3, 4), (5, 6)])]


@pytest.fixture(scope="module")
def tasks(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("harness")
    rows = write_jsonl(folder / "rows.jsonl", ROWS)
    (folder / "tasks").mkdir()
    (folder / "tasks" / "sums.yaml").write_text(multiple_choice_task("sums", rows, "{{question}}?"), encoding="utf-8")
    (folder / "tasks" / "broken.yaml").write_text(
        multiple_choice_task("broken", folder / "no_such_rows.jsonl", "{{question}}?"), encoding="utf-8")
    texts = write_jsonl(folder / "texts.jsonl", [{"t": f"{r['question']}? {' '.join(r['choices'])}"} for r in ROWS])
    command_module("tiny-model").main(["--texts", str(texts), "--out", str(folder / "model"), "--vocab-size", "300",
                                       "--hidden", "32", "--intermediate", "64", "--layers", "1", "--heads", "2"])
    return folder


@pytest.fixture(scope="module")
def manager(tasks: Path) -> object:
    return task_manager(str(tasks / "tasks"))


def test_the_manager_knows_lm_evals_tasks_and_the_folders_and_a_missing_folder_is_named(tasks: Path,
                                                                                      manager: object) -> None:
    known = set(manager.all_tasks)  # type: ignore[attr-defined]
    assert {"sums", "broken", "arc_easy", "hellaswag"} <= known
    with pytest.raises(InputError) as raised:
        task_manager(str(tasks / "nowhere"))
    assert str(raised.value) == f"{tasks / 'nowhere'}: no such folder"


def test_a_suite_naming_a_task_nobody_knows_is_one_line_naming_its_dimension(manager: object) -> None:
    good = Suite("s", (Dimension("sums", ("sums",), 0, "acc"), Dimension("science", ("arc_easy",), 5, "acc_norm")))
    assert check_tasks(good, manager, "suite.yaml") is None
    bad = Suite("s", (Dimension("sums", ("sums",), 0, "acc"), Dimension("maths", ("sums", "algebra_x"), 0, "acc")))
    with pytest.raises(InputError) as raised:
        check_tasks(bad, manager, "suite.yaml")
    assert str(raised.value) == ("suite.yaml: dimension 'maths': task 'algebra_x' is not an lm-eval task (nor one in "
                                 "--include-path)")


def test_a_stage_runs_once_per_shot_count_and_keeps_lm_evals_json(tasks: Path, manager: object,
                                                                  tmp_path: Path) -> None:
    suite = Suite("s", (Dimension("zero", ("sums",), 0, "acc"), Dimension("one", ("sums",), 1, "acc")))
    stage = Stage("base", str(tasks / "model"), dtype="float32")
    results = run_stage(stage, suite, manager, tmp_path, limit=None, batch_size="1", device="cpu", seed=3)
    assert sorted(results) == [0, 1]
    for shots in (0, 1):
        raw = json.loads((tmp_path / f"base_{shots}shot.json").read_text(encoding="utf-8"))
        assert raw["results"] == results[shots]
        assert raw["n-shot"]["sums"] == shots
        assert raw["config"]["random_seed"] == 3 and raw["config"]["model_args"]["pretrained"] == str(tasks / "model")
        assert raw["config"]["device"] == "cpu" and raw["config"]["batch_size"] == "1"
        assert [raw["config"][f"{kind}_seed"] for kind in ("random", "numpy", "torch", "fewshot")] == [3] * 4
        assert "samples" not in raw  # no per-document log
        assert raw["n-samples"]["sums"]["effective"] == 3
        assert results[shots]["sums"]["acc,none"] in (0.0, 1 / 3, 2 / 3, 1.0)
    limited = run_stage(stage, Suite("s", (Dimension("zero", ("sums",), 0, "acc"),)), manager, tmp_path / "l",
                        limit=2, batch_size="1", device=None, seed=0)
    raw = json.loads((tmp_path / "l" / "base_0shot.json").read_text(encoding="utf-8"))
    assert raw["n-samples"]["sums"]["effective"] == 2 and list(limited) == [0]
    assert raw["config"]["device"] == "cpu"  # no device named and no GPU here


def test_only_a_chat_stage_formats_its_prompts_with_the_models_chat_template(tasks: Path, manager: object,
                                                                          tmp_path: Path) -> None:
    """A model whose chat template raises when used: its plain stage runs, its chat stage reaches the template."""
    import shutil

    from jinja2.exceptions import TemplateError

    model = tmp_path / "model"
    shutil.copytree(tasks / "model", model)
    config = json.loads((model / "tokenizer_config.json").read_text(encoding="utf-8"))
    config["chat_template"] = "{{ raise_exception('the chat template was applied') }}"
    (model / "tokenizer_config.json").write_text(json.dumps(config), encoding="utf-8")
    suite = Suite("s", (Dimension("zero", ("sums",), 0, "acc"),))
    plain = run_stage(Stage("base", str(model), dtype="float32"), suite, manager, tmp_path / "plain", limit=1,
                      batch_size="1", device="cpu", seed=0)
    assert list(plain) == [0]
    with pytest.raises(TemplateError, match="the chat template was applied"):
        run_stage(Stage("chat", str(model), chat=True, dtype="float32"), suite, manager, tmp_path / "chat", limit=1,
                  batch_size="1", device="cpu", seed=0)


HINT = (" Without network, point lm-eval at a local copy: a task YAML in --include-path with dataset_path: json and "
        "data_files naming your files.")


@pytest.mark.parametrize("hub_answers", [False, True])
def test_a_task_lm_eval_cannot_run_is_one_line_naming_the_stage_its_tasks_and_the_cause(
        tasks: Path, manager: object, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, hub_answers: bool) -> None:
    """The way out without network is named only when the hub cannot be reached (a hub is served here, or its
    port is closed)."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    if hub_answers:
        listener.listen()
    monkeypatch.setenv("HF_ENDPOINT", f"http://127.0.0.1:{listener.getsockname()[1]}")
    for name in ("HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE"):
        monkeypatch.delenv(name, raising=False)
    suite = Suite("s", (Dimension("broken", ("broken",), 0, "acc"), Dimension("more", ("sums",), 0, "acc")))
    try:
        with pytest.raises(InputError) as raised:
            run_stage(Stage("sft", str(tasks / "model"), dtype="float32"), suite, manager, tmp_path, limit=None,
                      batch_size="1", device="cpu", seed=0)
    finally:
        listener.close()
    message = str(raised.value)
    assert message.startswith("stage sft: lm-eval could not run broken, sums: ") and "\n" not in message
    assert "no_such_rows.jsonl" in message  # the innermost cause: the task's data file
    assert message.endswith(".") and message.endswith(HINT) is not hub_answers
    assert not list(tmp_path.iterdir())


def test_quiet_progress_leaves_only_errors_and_no_bars() -> None:
    import datasets
    from transformers.utils import logging as transformers_logging

    logger = logging.getLogger("lm_eval")
    level = logger.level
    try:
        quiet_progress()
        assert logger.level == logging.ERROR
        assert not transformers_logging.is_progress_bar_enabled()
        assert not datasets.is_progress_bar_enabled()
    finally:
        logger.setLevel(level)
        transformers_logging.enable_progress_bar()
        datasets.enable_progress_bars()
