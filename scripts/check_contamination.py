"""`python scripts/check_contamination.py` runs `recipekit.commands.check_contamination` (as `llm-recipes check
contamination` does)."""

from recipekit.commands.check_contamination import main

if __name__ == "__main__":
    main()
