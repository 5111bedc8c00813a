"""scripts/mutation_score.py: mutmut's mutant names to modules, and the score per module."""

from __future__ import annotations

import subprocess
import sys
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
    kept = tmp_path / "results.json"
    kept.write_text('{"recipekit/steps.py": {', encoding="utf-8")  # cut short
    broken = run_cli("scripts/mutation_score.py", "--equivalent", listed, "--results", kept, "--restore",
                     cwd=tmp_path)
    assert broken.returncode == 2 and f"{kept}: not the JSON --write keeps: " in broken.stderr
    assert not (tmp_path / "mutants").exists()
    for done in (out_of_range, not_a_mapping, no_run, broken):
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
    assert planned() == [f"{python} scripts/mutation_score.py --restore",
                         f"{python} -m mutmut run --max-children 2 ",
                         f"{python} scripts/mutation_score.py --recheck --write"]
    assert planned("FRESH=1")[:2] == ["rm -rf mutants", f"{python} -m mutmut run --max-children 2 "]
    assert planned("MODULES=recipekit.steps.* recipekit.text.*")[1] == (
        f"{python} -m mutmut run --max-children 2 'recipekit.steps.*' 'recipekit.text.*'")


def test_the_shipped_equivalent_list_names_each_mutant_once_with_a_reason() -> None:
    from recipekit.files import load_yaml

    path = Path(__file__).parent / "mutation_equivalent.yaml"
    listed = load_yaml(path.read_text(encoding="utf-8"), str(path))  # a key given twice is refused here
    assert listed and all(key.startswith("recipekit.") and "__mutmut_" in key for key in listed)
    assert all(isinstance(why, str) and len(why.split()) >= 5 for why in listed.values())


def meta(exit_codes: dict[str, int | None], hashes: dict[str, str]) -> dict:
    return {"exit_code_by_key": exit_codes, "hash_by_function_name": hashes, "type_check_error_by_key": {},
            "durations_by_key": {}, "estimated_durations_by_key": {}}


def test_kept_results_go_back_only_where_the_function_is_unchanged_and_mutmut_has_no_result(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import json

    monkeypatch.chdir(tmp_path)
    record = tmp_path / "mutants/recipekit/plan/fit.py.meta"
    record.parent.mkdir(parents=True)
    record.write_text(json.dumps(meta({"recipekit.plan.fit.x_same__mutmut_1": None,
                                       "recipekit.plan.fit.x_same__mutmut_2": 0,
                                       "recipekit.plan.fit.x_edited__mutmut_1": None},
                                      {"x_same": "aaa", "x_edited": "new"})), encoding="utf-8")
    kept = {"recipekit/plan/fit.py": {"x_same": ["aaa", [1, 1]], "x_edited": ["old", [1]]},
            "recipekit/steps.py": {"xǁStepǁrun": ["ccc", [None, 36]]}}
    # x_same's first mutant (not run here) comes back; its second keeps this clone's own result; x_edited's hash
    # changed, so its result would be stale; steps.py has no record yet, so all of it goes in for mutmut to sort out
    assert tool.restore(kept) == 2
    assert json.loads(record.read_text(encoding="utf-8"))["exit_code_by_key"] == {
        "recipekit.plan.fit.x_same__mutmut_1": 1, "recipekit.plan.fit.x_same__mutmut_2": 0,
        "recipekit.plan.fit.x_edited__mutmut_1": None}
    new = json.loads((tmp_path / "mutants/recipekit/steps.py.meta").read_text(encoding="utf-8"))
    assert new == meta({"recipekit.steps.xǁStepǁrun__mutmut_1": None, "recipekit.steps.xǁStepǁrun__mutmut_2": 36},
                       {"xǁStepǁrun": "ccc"})
    # what is kept is what mutmut's records hold, numbered from 1, one function to a line; a function with no
    # result yet (x_edited, changed) is left out
    assert tool.kept_results(tool.meta_files()) == {"recipekit/plan/fit.py": {"x_same": ["aaa", [1, 0]]},
                                                    "recipekit/steps.py": {"xǁStepǁrun": ["ccc", [None, 36]]}}
    text = tool.results_json(tool.kept_results(tool.meta_files()))
    assert json.loads(text) == tool.kept_results(tool.meta_files())
    assert '  "x_same": ["aaa", [1, 0]]\n},\n' in text and '"xǁStepǁrun": ["ccc", [null, 36]]' in text
    assert len(text.splitlines()) == 8


@pytest.mark.integration
def test_a_new_clone_goes_on_from_the_kept_results_and_runs_only_the_changed_functions(tmp_path: Path) -> None:
    """mutmut itself on a two-function project: kept with --write, restored into a clone without mutants/, where
    mutmut runs again only the mutants of the function that changed."""
    import json
    import shutil

    (tmp_path / "recipekit").mkdir()
    (tmp_path / "tests").mkdir()
    (tmp_path / "docs").mkdir()
    (tmp_path / "pyproject.toml").write_text('[tool.mutmut]\nsource_paths = ["recipekit"]\n'
                                             'pytest_add_cli_args = ["-p", "no:xdist", "-q"]\n', encoding="utf-8")
    (tmp_path / "recipekit/__init__.py").write_text("", encoding="utf-8")
    source = tmp_path / "recipekit/calc.py"
    source.write_text("def add(a, b):\n    return a + b\n\n\ndef half(a):\n    return a / 2\n", encoding="utf-8")
    (tmp_path / "tests/test_calc.py").write_text(
        "from recipekit.calc import add, half\n\n\ndef test_add():\n    assert add(2, 3) == 5\n\n\n"
        "def test_half():\n    assert half(4) >= 1\n", encoding="utf-8")
    # listed before a test came to kill it (or before its number came to name another mutant)
    (tmp_path / "tests/mutation_equivalent.yaml").write_text(
        "recipekit.calc.x_add__mutmut_1: b plus a is a plus b\n", encoding="utf-8")
    for page in ("README.md", "docs/testing.md"):
        (tmp_path / page).write_text(f"{tool.BEGIN}\n{tool.END}\n", encoding="utf-8")

    def mutmut() -> dict:
        subprocess.run([sys.executable, "-m", "mutmut", "run", "--max-children", "2"], cwd=tmp_path, check=True,
                       capture_output=True)
        return json.loads((tmp_path / "mutants/recipekit/calc.py.meta").read_text(encoding="utf-8"))

    first = mutmut()
    wrote = run_cli("scripts/mutation_score.py", "--write", cwd=tmp_path)
    assert wrote.returncode == 0 and "wrote tests/mutation_results.json" in wrote.stdout
    assert "lists recipekit.calc.x_add__mutmut_1, which a test kills (its function changed" in wrote.stdout
    kept = json.loads((tmp_path / "tests/mutation_results.json").read_text(encoding="utf-8"))
    # add's one mutant (a - b) fails test_add; half's two (a * 2, a / 3) still give at least 1 for 4
    assert kept == {"recipekit/calc.py": {"x_add": [first["hash_by_function_name"]["x_add"], [1]],
                                          "x_half": [first["hash_by_function_name"]["x_half"], [0, 0]]}}
    assert "| `calc.py` | 1 | 2 | 0 | 0 | 0 | 0 | 33.3% |" in (tmp_path / "docs/testing.md").read_text("utf-8")

    shutil.rmtree(tmp_path / "mutants")
    source.write_text(source.read_text(encoding="utf-8").replace("a / 2", "a * 0.5"), encoding="utf-8")
    restored = run_cli("scripts/mutation_score.py", "--restore", cwd=tmp_path)
    assert restored.returncode == 0 and restored.stdout.startswith("restored 3 results from ")
    again = mutmut()
    assert again["exit_code_by_key"]["recipekit.calc.x_add__mutmut_1"] == 1
    # mutmut times each mutant it runs: only half's, the function that changed
    assert sorted(again["durations_by_key"]) == ["recipekit.calc.x_half__mutmut_1", "recipekit.calc.x_half__mutmut_2"]
