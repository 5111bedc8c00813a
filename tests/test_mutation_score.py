"""scripts/mutation_score.py: mutmut's mutant names to modules, and the score per module."""

from __future__ import annotations

import subprocess
from collections import Counter
from pathlib import Path

import pytest
from conftest import run_cli, script_module

tool = script_module("mutation_score")
module_of, module_score, scores = tool.module_of, tool.module_score, tool.scores


def test_the_tables_per_module_and_per_folder_add_up_the_counts() -> None:
    table = {"recipekit.plan.memory": Counter({"killed": 8, "timeout": 1, "survived": 1}),
             "recipekit.plan.timing": Counter({"killed": 4, "no tests": 4, "equivalent": 2, "suspicious": 1}),
             "recipekit.plan.planner": Counter({"killed": 1, "not checked": 5}),
             "recipekit.steps": Counter({"not checked": 3}),
             "recipekit.commands": Counter({"killed": 1, "skipped": 2})}
    by_module = tool.markdown(table, "module").splitlines()
    assert by_module[0] == ("| module | killed | survived | no test reaches it | equivalent | not run yet | "
                            "other | score |")
    assert by_module[2:] == ["| `commands/__init__.py` | 1 | 0 | 0 | 0 | 0 | 2 | 100.0% |",
                             "| `plan/memory.py` | 9 | 1 | 0 | 0 | 0 | 0 | 90.0% |",
                             "| `plan/planner.py` | 1 | 0 | 0 | 0 | 5 | 0 | 100.0% (partial run) |",
                             "| `plan/timing.py` | 4 | 0 | 4 | 2 | 0 | 1 | 50.0% |",
                             "| `steps.py` | 0 | 0 | 0 | 0 | 3 | 0 | not run |"]
    # plan/: 14 killed of 19 counted (9 + 4 + 1 killed, 1 survived, 4 unreached), 5 not run yet
    assert tool.markdown(table, "folder").splitlines()[2:] == [
        "| `.` | 0 | 0 | 0 | 0 | 3 | 0 | not run |", "| `commands/` | 1 | 0 | 0 | 0 | 0 | 2 | 100.0% |",
        "| `plan/` | 14 | 1 | 4 | 2 | 5 | 1 | 73.7% (partial run) |"]


def test_the_block_between_the_markers_is_replaced_and_a_file_without_them_is_refused(tmp_path: Path) -> None:
    page = tmp_path / "page.md"
    page.write_text(f"# Title\n\n{tool.BEGIN}\nold table\n{tool.END}\n\nafter\n", encoding="utf-8")
    assert tool.with_block(page, "| a |") == f"# Title\n\n{tool.BEGIN}\n| a |\n{tool.END}\n\nafter\n"
    for broken in (f"{tool.END}\n{tool.BEGIN}\n", f"{tool.BEGIN}\n", f"{tool.BEGIN}\n{tool.END}\n{tool.END}\n"):
        page.write_text(broken, encoding="utf-8")
        with pytest.raises(tool.InputError, match=f"page.md: needs one line {tool.BEGIN}"):
            tool.with_block(page, "| a |")
    # the shipped pages hold the markers the tables go into
    for name in tool.DOCS:
        tool.with_block(tool.root() / name, "")


def test_mutant_names_map_to_their_module() -> None:
    assert module_of("recipekit.plan.memory.x_model_states__mutmut_12") == "recipekit.plan.memory"
    assert module_of("recipekit.eval.corpus.xǁScorerǁscore__mutmut_3") == "recipekit.eval.corpus"


def test_equivalent_survivors_leave_the_count_and_killed_ones_stay_killed() -> None:
    statuses = {"m.x_f__mutmut_1": "killed", "m.x_f__mutmut_2": "survived", "m.x_f__mutmut_3": "survived",
                "m.x_g__mutmut_1": "no tests", "n.x_h__mutmut_1": "killed"}
    table = scores(statuses, {"m.x_f__mutmut_3": "same value either way", "n.x_h__mutmut_1": "listed by mistake"})
    assert dict(table["m"]) == {"killed": 1, "survived": 1, "equivalent": 1, "no tests": 1}
    assert dict(table["n"]) == {"killed": 1}


def test_a_score_counts_timeouts_as_killed_and_a_module_not_run_has_none() -> None:
    assert module_score(Counter({"killed": 6, "timeout": 1, "survived": 2, "no tests": 1, "equivalent": 5})) == 0.7
    assert module_score(Counter({"not checked": 12, "equivalent": 1})) is None
    assert module_score(Counter({"killed": 3})) == 1.0


def test_bad_flags_files_and_a_missing_run_are_one_line_errors(tmp_path: Path) -> None:
    out_of_range = run_cli("scripts/mutation_score.py", "--min", "90")
    assert out_of_range.returncode == 2 and "--min: must be in [0, 1], got 90" in out_of_range.stderr
    listed = tmp_path / "equivalent.yaml"
    listed.write_text("- a mutant\n", encoding="utf-8")
    not_a_mapping = run_cli("scripts/mutation_score.py", "--equivalent", listed)
    assert not_a_mapping.returncode == 2 and "equivalent.yaml: a list of equivalent mutants is a YAML mapping" in \
        not_a_mapping.stderr
    listed.write_text("{}\n", encoding="utf-8")
    # no pyproject.toml, no mutants/
    no_run = run_cli("scripts/mutation_score.py", "--equivalent", listed, cwd=tmp_path)
    assert no_run.returncode == 2 and "mutmut results failed (run it where pyproject.toml and mutants/ are)" in \
        no_run.stderr
    for done in (out_of_range, not_a_mapping, no_run):
        assert len(done.stderr.strip().splitlines()) == 1 and "Traceback" not in done.stderr


def test_the_readme_shows_the_folder_table_then_each_modules_score_in_short() -> None:
    table = {"recipekit.steps": Counter({"killed": 3, "survived": 1}), "recipekit.text": Counter({"not checked": 4}),
             "recipekit.plan.gpus": Counter({"killed": 2}), "recipekit.plan.fit": Counter({"not checked": 2}),
             "recipekit.plan.memory": Counter({"killed": 9, "no tests": 1, "not checked": 5})}
    shown = tool.tables(table, tool.DOCS["README.md"]).splitlines()
    assert shown[0].startswith("| folder | killed |") and shown[4] == ""
    assert shown[5:] == ["- `.`: `steps.py` 75.0%, 1 not run yet",
                         "- `plan/`: `gpus.py` 100.0%, `memory.py` 90.0% (partial), 1 not run yet"]
    assert tool.tables(table, tool.DOCS["docs/testing.md"]) == tool.markdown(table, "module")


def test_the_survivors_to_test_are_the_unlisted_survived_and_unreached_ones() -> None:
    statuses = {"m.x_f__mutmut_3": "survived", "m.x_f__mutmut_1": "no tests", "m.x_f__mutmut_2": "killed",
                "m.x_g__mutmut_1": "survived", "m.x_g__mutmut_2": "timeout", "m.x_g__mutmut_3": "not checked"}
    assert tool.survivors(statuses, {"m.x_g__mutmut_1": "the same value either way"}) == [
        "m.x_f__mutmut_1", "m.x_f__mutmut_3"]


def test_make_mutate_goes_on_from_the_last_run_rechecks_survivors_and_starts_over_only_when_asked() -> None:
    def planned(*argv: str) -> list[str]:
        done = subprocess.run(["make", "-n", "mutate", *argv], cwd=tool.root(), capture_output=True, text=True,
                              check=True)
        return [line for line in done.stdout.splitlines() if "mutmut" in line or "mutation_score" in line
                or "rm -rf" in line]

    python = ".venv/bin/python"
    assert planned() == [f"{python} -m mutmut run --max-children 2 ",
                         f"{python} scripts/mutation_score.py --recheck --write"]
    assert planned("FRESH=1")[0] == "rm -rf mutants"
    assert planned("MODULES=recipekit.steps.* recipekit.text.*")[0] == (
        f"{python} -m mutmut run --max-children 2 'recipekit.steps.*' 'recipekit.text.*'")


def test_the_shipped_equivalent_list_names_each_mutant_once_with_a_reason() -> None:
    from recipekit.files import load_yaml

    path = Path(__file__).parent / "mutation_equivalent.yaml"
    listed = load_yaml(path.read_text(encoding="utf-8"), str(path))  # a key given twice is refused here
    assert listed and all(key.startswith("recipekit.") and "__mutmut_" in key for key in listed)
    assert all(isinstance(why, str) and len(why.split()) >= 5 for why in listed.values())
