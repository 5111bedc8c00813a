"""`python scripts/compare_runs.py` runs `recipekit.commands.compare_runs` (as `llm-recipes` does)."""

from recipekit.commands.compare_runs import main

if __name__ == "__main__":
    main()
