"""An lm-evaluation-harness task's rows as the contamination check reads them, from small task folders written here:
each evaluation document (the test split, else the validation split) as ``TASK:POSITION`` and its ``doc_to_text``,
a group's tasks one after the other, a task lm-eval cannot load as one line, and which tasks get indexed.

The expected rows are the JSON lines written below passed through each task's template by hand. Also a registered
set's row text at the edges of its registry entry (a ShareGPT set's renamed system column, answer-like fields of a
set that is not a preference set)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest import write_jsonl

from recipekit.contamination.sources import Row, row_text, task_rows
from recipekit.errors import InputError

QUIZ_TEST = [{"question": "alpha", "choices": ["a", "b"], "answer": 0},
             {"question": "beta", "choices": ["a", "b"], "answer": 1}]
QUIZ_VALIDATION = [{"question": "gamma", "choices": ["a", "b"], "answer": 0}]
DRILL_VALIDATION = [{"question": "delta", "choices": ["a", "b"], "answer": 1},
                    {"question": "epsilon", "choices": ["a", "b"], "answer": 0},
                    {"question": "zeta", "choices": ["a", "b"], "answer": 0}]


def task_yaml(name: str, splits: dict[str, Path], cache: Path, doc_to_text: str, extra: str = "") -> str:
    """A multiple-choice task over local JSON-lines files (``splits``: split name -> file), its dataset cache kept
    under ``cache``."""
    files = "".join(f"    {split}: {json.dumps(str(path))}\n" for split, path in splits.items())
    chosen = "".join(f"{split}_split: {split}\n" for split in splits)
    return (f"task: {name}\ndataset_path: json\ndataset_kwargs:\n  data_files:\n{files}"
            f"  cache_dir: {json.dumps(str(cache))}\n{chosen}output_type: multiple_choice\n"
            f"doc_to_text: {json.dumps(doc_to_text)}\ndoc_to_choice: \"{{{{choices}}}}\"\ndoc_to_target: answer\n"
            + extra)


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    """``quiz`` (a test and a validation split), ``drill`` (a validation split only) and the group ``both``."""
    tasks, data, cache = tmp_path / "tasks", tmp_path / "data", tmp_path / "cache"
    tasks.mkdir()
    quiz = {"test": write_jsonl(data / "quiz_test.jsonl", QUIZ_TEST),
            "validation": write_jsonl(data / "quiz_val.jsonl", QUIZ_VALIDATION)}
    (tasks / "quiz.yaml").write_text(task_yaml("quiz", quiz, cache, "Question: {{question}}?\nAnswer:"),
                                     encoding="utf-8")
    drill = {"validation": write_jsonl(data / "drill_val.jsonl", DRILL_VALIDATION)}
    (tasks / "drill.yaml").write_text(task_yaml("drill", drill, cache, "Drill {{question|upper}}"), encoding="utf-8")
    (tasks / "both.yaml").write_text("group: both\ntask:\n  - quiz\n  - drill\n", encoding="utf-8")
    return tasks


QUIZ_ROWS = [Row("quiz:0", "Question: alpha?\nAnswer:"), Row("quiz:1", "Question: beta?\nAnswer:")]
DRILL_ROWS = [Row("drill:0", "Drill DELTA"), Row("drill:1", "Drill EPSILON"), Row("drill:2", "Drill ZETA")]


def test_a_tasks_test_split_each_row_its_prompt(folder: Path) -> None:
    """The test split is read, not the validation split beside it (whose one row is ``gamma``)."""
    assert task_rows("quiz", str(folder)) == QUIZ_ROWS


def test_a_task_with_no_test_split_gives_its_validation_rows(folder: Path) -> None:
    assert task_rows("drill", str(folder)) == DRILL_ROWS


def test_a_groups_tasks_give_all_their_rows(folder: Path) -> None:
    assert sorted(task_rows("both", str(folder)), key=lambda row: row.id) == sorted(
        QUIZ_ROWS + DRILL_ROWS, key=lambda row: row.id)


def test_a_local_task_is_read_from_an_index_of_its_folder_alone(folder: Path, monkeypatch: pytest.MonkeyPatch
                                                                ) -> None:
    """lm-eval's own tasks (thousands of files, seconds to index) are not indexed for a task of the folder: the one
    task manager built (lm-eval's own class, watched as it is built) knows the folder's three names only."""
    import lm_eval.tasks

    built: list[lm_eval.tasks.TaskManager] = []

    class Watched(lm_eval.tasks.TaskManager):
        def __init__(self, *args: object, **kwargs: object) -> None:
            super().__init__(*args, **kwargs)  # type: ignore[arg-type]
            built.append(self)

    monkeypatch.setattr(lm_eval.tasks, "TaskManager", Watched)
    assert task_rows("quiz", str(folder)) == QUIZ_ROWS
    assert [sorted(manager.all_tasks) for manager in built] == [["both", "drill", "quiz"]]


def failing_task(tmp_path: Path, name: str, raised: str) -> Path:
    """A folder whose task ``name`` fails while lm-eval loads it: its ``process_docs`` raises ``raised``."""
    tasks = tmp_path / "failing"
    tasks.mkdir(exist_ok=True)
    module = f"docs_{name}"
    (tasks / f"{module}.py").write_text(f"def process(dataset):\n    raise {raised}\n", encoding="utf-8")
    data = write_jsonl(tmp_path / "data" / "rows.jsonl", QUIZ_TEST)
    (tasks / f"{name}.yaml").write_text(task_yaml(name, {"test": data}, tmp_path / "cache", "{{question}}",
                                                  f"process_docs: !function {module}.process\n"), encoding="utf-8")
    return tasks


def test_a_task_lm_eval_cannot_load_is_one_line_with_the_errors_first_line(tmp_path: Path) -> None:
    folder = failing_task(tmp_path, "lines", 'ValueError("\\n  the first line\\nthe second line")')
    with pytest.raises(InputError) as caught:
        task_rows("lines", str(folder))
    assert str(caught.value) == "lm-eval cannot load task 'lines' (ValueError: the first line)"


def test_an_error_without_a_message_is_named_by_its_kind(tmp_path: Path) -> None:
    folder = failing_task(tmp_path, "silent", "RuntimeError()")
    with pytest.raises(InputError) as caught:
        task_rows("silent", str(folder))
    assert str(caught.value) == "lm-eval cannot load task 'silent' (RuntimeError)"  # the type once, no empty message


@pytest.mark.integration  # indexes lm-eval's own tasks (thousands of files: seconds)
def test_an_lm_eval_tag_whose_tasks_the_folder_overrides_reads_the_folders_rows(tmp_path: Path) -> None:
    """``ai2_arc`` is a tag of lm-eval's own (arc_easy and arc_challenge); the folder has no ``ai2_arc`` but its own
    arc_easy and arc_challenge, which lm-eval's index lets override its own: the tag is looked up among lm-eval's
    tasks and the folder's together, and its tasks are read from the folder's files (nothing is downloaded)."""
    tasks, cache = tmp_path / "tasks", tmp_path / "cache"
    tasks.mkdir()
    data = write_jsonl(tmp_path / "data" / "arc.jsonl", QUIZ_TEST)
    for name in ("arc_easy", "arc_challenge"):
        (tasks / f"{name}.yaml").write_text(task_yaml(name, {"test": data}, cache, name + ": {{question}}"),
                                            encoding="utf-8")
    assert sorted(task_rows("ai2_arc", str(tasks)), key=lambda row: row.id) == [
        Row("arc_challenge:0", "arc_challenge: alpha"), Row("arc_challenge:1", "arc_challenge: beta"),
        Row("arc_easy:0", "arc_easy: alpha"), Row("arc_easy:1", "arc_easy: beta")]


def test_a_sharegpt_sets_renamed_system_column_is_read() -> None:
    """``columns: {system: ...}`` names the system prompt's column for a ShareGPT set too; a ``system`` field beside
    it is not read."""
    entry = {"formatting": "sharegpt", "columns": {"messages": "turns", "system": "persona"}}
    row = {"turns": [{"from": "human", "value": "Hi"}, {"from": "gpt", "value": "Yo"}], "persona": "P",
           "system": "not this"}
    assert row_text(row, entry, "prompt") == "Hi\nP"
    assert row_text(row, entry, "all") == "Hi\nYo\nP"


def test_chosen_and_rejected_are_answers_of_a_preference_set_only() -> None:
    """A set not marked ``ranking`` has its response column as its answer; ``chosen`` and ``rejected`` fields in
    its rows are not read (a ``ranking`` set's are)."""
    row = {"instruction": "Q", "output": "O", "chosen": "C", "rejected": "R"}
    assert row_text(row, {"formatting": "alpaca"}, "all") == "Q\nO"
    assert row_text(row, {"formatting": "alpaca", "ranking": False}, "all") == "Q\nO"
    assert row_text(row, {"formatting": "alpaca", "ranking": True}, "all") == "Q\nC\nR\nO"


def test_an_alpaca_rows_default_columns_and_missing_fields() -> None:
    """Without ``columns`` the input column is ``input``; a missing instruction or output, and an answer message
    without its content, add nothing."""
    assert row_text({"input": "In", "system": "S"}, {}, "all") == "In\nS"
    assert row_text({"instruction": "Q", "input": "In", "query": "not this"}, {}, "prompt") == "Q\nIn"
    pair = {"instruction": "Q", "chosen": [{"from": "gpt"}, "C"], "rejected": {"value": "R"}}
    assert row_text(pair, {"ranking": True}, "all") == "Q\nC\nR"


@pytest.mark.parametrize("with_folder", [False, True])
def test_one_of_lm_evals_own_tasks_is_looked_up_among_them_with_or_without_a_folder(tmp_path: Path,
                                                                                   with_folder: bool) -> None:
    """Offline, its data cannot come: the error is the hub's, so the task itself was found."""
    from recipekit.data.readers import hub_offline

    with hub_offline(), pytest.raises(InputError) as caught:
        task_rows("arc_easy", str(tmp_path) if with_folder else None)
    assert str(caught.value) == ("lm-eval cannot load task 'arc_easy' (ConnectionError: Couldn't reach "
                                 "'allenai/ai2_arc' on the Hub (OfflineModeIsEnabled))")
