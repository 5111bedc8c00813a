"""`python scripts/make_tiny_model.py` runs `recipekit.commands.make_tiny_model` (as `llm-recipes` does)."""

from recipekit.commands.make_tiny_model import main

if __name__ == "__main__":
    main()
