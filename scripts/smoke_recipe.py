"""`python scripts/smoke_recipe.py` runs `recipekit.commands.smoke_recipe` (as `llm-recipes` does)."""

from recipekit.commands.smoke_recipe import main

if __name__ == "__main__":
    main()
