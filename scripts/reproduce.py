"""`python scripts/reproduce.py` runs `recipekit.commands.reproduce` (as `llm-recipes` does)."""

from recipekit.commands.reproduce import main

if __name__ == "__main__":
    main()
