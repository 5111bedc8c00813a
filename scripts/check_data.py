"""`python scripts/check_data.py` runs `recipekit.commands.check_data` (as `llm-recipes` does)."""

from recipekit.commands.check_data import main

if __name__ == "__main__":
    main()
