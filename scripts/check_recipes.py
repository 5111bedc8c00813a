"""`python scripts/check_recipes.py` runs `recipekit.commands.check_recipes` (as `llm-recipes` does)."""

from recipekit.commands.check_recipes import main

if __name__ == "__main__":
    main()
