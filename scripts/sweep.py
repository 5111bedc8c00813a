"""`python scripts/sweep.py` runs `recipekit.commands.sweep` (as `llm-recipes` does)."""

from recipekit.commands.sweep import main

if __name__ == "__main__":
    main()
