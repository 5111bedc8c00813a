"""`python scripts/export.py` runs `recipekit.commands.export` (as `llm-recipes export` does)."""

from recipekit.commands.export import main

if __name__ == "__main__":
    main()
