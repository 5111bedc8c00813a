"""`python scripts/plan.py` runs `recipekit.commands.plan` (as `llm-recipes` does)."""

from recipekit.commands.plan import main

if __name__ == "__main__":
    main()
