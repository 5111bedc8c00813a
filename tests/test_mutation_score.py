"""recipekit/commands/mutation_score.py: mutmut's mutant names to modules, and the score per module."""

from __future__ import annotations

from recipekit.commands.mutation_score import module_of, scores


def test_mutant_names_map_to_their_module() -> None:
    assert module_of("recipekit.plan.memory.x_model_states__mutmut_12") == "recipekit.plan.memory"
    assert module_of("recipekit.eval.corpus.xǁScorerǁscore__mutmut_3") == "recipekit.eval.corpus"


def test_equivalent_survivors_leave_the_count_and_killed_ones_stay_killed() -> None:
    statuses = {"m.x_f__mutmut_1": "killed", "m.x_f__mutmut_2": "survived", "m.x_f__mutmut_3": "survived",
                "m.x_g__mutmut_1": "no tests", "n.x_h__mutmut_1": "killed"}
    table = scores(statuses, {"m.x_f__mutmut_3": "same value either way", "n.x_h__mutmut_1": "listed by mistake"})
    assert dict(table["m"]) == {"killed": 1, "survived": 1, "equivalent": 1, "no tests": 1}
    assert dict(table["n"]) == {"killed": 1}
