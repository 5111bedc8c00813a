"""`python scripts/mutation_score.py` runs `recipekit.commands.mutation_score` (as `llm-recipes` does)."""

from recipekit.commands.mutation_score import main

if __name__ == "__main__":
    main()
