"""scripts/mutation_score.py: mutmut's mutant names to modules, and the score per module."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

from conftest import run_cli, script_module

tool = script_module("mutation_score")
module_of, module_score, scores = tool.module_of, tool.module_score, tool.scores


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
